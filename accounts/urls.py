from django.urls import path

from accounts import views, views_billing, views_consent

app_name = "accounts"

urlpatterns = [
    path("", views.dashboard_view, name="dashboard"),
    path("login/", views.login_view, name="login"),
    path("login/2fa/", views.login_2fa_view, name="login_2fa"),
    path("logout/", views.logout_view, name="logout"),
    path("password-reset/", views.password_reset_view, name="password_reset"),
    path(
        "password-reset/<uidb64>/<token>/",
        views.password_reset_confirm_view,
        name="password_reset_confirm",
    ),
    path("profile/", views.profile_view, name="profile"),
    path("profile/2fa/", views.twofactor_view, name="twofactor"),
    path("profile/2fa/verify/", views.staff_verify_view, name="login_2fa_staff"),
    path("profile/2fa/disable/", views.twofactor_disable_view, name="twofactor_disable"),
    path("customers/<int:customer_id>/", views.customer_view, name="customer"),
    path("customers/<int:customer_id>/members/", views.members_view, name="members"),
    path(
        "customers/<int:customer_id>/members/<int:membership_id>/",
        views.member_update_view,
        name="member_update",
    ),
    path("customers/<int:customer_id>/api-keys/", views.apikeys_view, name="apikeys"),
    path(
        "customers/<int:customer_id>/api-keys/<int:key_id>/rotate/",
        views.apikey_rotate_view,
        name="apikey_rotate",
    ),
    path(
        "customers/<int:customer_id>/api-keys/<int:key_id>/revoke/",
        views.apikey_revoke_view,
        name="apikey_revoke",
    ),
    path("customers/<int:customer_id>/audit/", views.audit_view, name="audit"),
    path("customers/<int:customer_id>/invoices/", views_billing.invoices_view, name="invoices"),
    path(
        "customers/<int:customer_id>/invoices/<int:invoice_id>/",
        views_billing.invoice_view,
        name="invoice",
    ),
    path(
        "customers/<int:customer_id>/invoices/<int:invoice_id>/pdf/",
        views_billing.invoice_pdf_view,
        name="invoice_pdf",
    ),
    path(
        "customers/<int:customer_id>/invoices/<int:invoice_id>/pay/",
        views_billing.invoice_pay_view,
        name="invoice_pay",
    ),
    path(
        "customers/<int:customer_id>/invoices/<int:invoice_id>/credit/",
        views_billing.invoice_credit_view,
        name="invoice_credit",
    ),
    path(
        "customers/<int:customer_id>/invoices/<int:invoice_id>/mark-paid/",
        views_billing.invoice_mark_paid_view,
        name="invoice_mark_paid",
    ),
    # The customer's say over their data (accounts/views_consent.py).
    path(
        "customers/<int:customer_id>/support-access/",
        views_consent.support_grants_view,
        name="support_grants",
    ),
    path(
        "customers/<int:customer_id>/support-access/<int:grant_id>/revoke/",
        views_consent.support_grant_revoke_view,
        name="support_grant_revoke",
    ),
    path("customers/<int:customer_id>/rights/", views_consent.rights_view, name="rights"),
    path(
        "customers/<int:customer_id>/rights/restriction/",
        views_consent.restriction_view,
        name="restriction",
    ),
    path("customers/<int:customer_id>/rights/consent/", views_consent.consent_view, name="consent"),
    path(
        "customers/<int:customer_id>/rights/requests/",
        views_consent.data_request_create_view,
        name="data_request_create",
    ),
    path("customers/<int:customer_id>/dpa/", views_consent.dpa_view, name="dpa"),
    path(
        "staff/data-requests/", views_consent.staff_data_requests_view, name="staff_data_requests"
    ),
    path(
        "staff/data-requests/<int:request_id>/close/",
        views_consent.staff_data_request_close_view,
        name="staff_data_request_close",
    ),
    path("staff/dpa/", views_consent.staff_dpa_view, name="staff_dpa"),
    path("payments/local/<str:token>/", views_billing.payment_local_view, name="payment_local"),
    path("payments/callback/", views_billing.payment_callback_view, name="payment_callback"),
    path("staff/customers/", views.staff_customers_view, name="staff_customers"),
    path("staff/customers/new/", views.staff_customer_create_view, name="staff_customer_create"),
    path("staff/audit/", views.staff_audit_view, name="staff_audit"),
    path("staff/api-keys/", views.staff_apikeys_view, name="staff_apikeys"),
    path(
        "staff/api-keys/<int:key_id>/rotate/",
        views.staff_apikey_rotate_view,
        name="staff_apikey_rotate",
    ),
    path(
        "staff/api-keys/<int:key_id>/revoke/",
        views.staff_apikey_revoke_view,
        name="staff_apikey_revoke",
    ),
]

# Exports, closure and erasure receipts; the staff inventory and retention report.
from accounts.urls_privacy import urlpatterns as privacy_urls  # noqa: E402

urlpatterns += privacy_urls
