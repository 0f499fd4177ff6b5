"""URLs of the privacy pages (accounts/views_privacy.py), in the accounts namespace."""

from django.urls import path

from accounts import views_privacy

urlpatterns = [
    path("customers/<int:customer_id>/privacy/", views_privacy.privacy_view, name="privacy"),
    path(
        "customers/<int:customer_id>/privacy/exports/",
        views_privacy.export_request_view,
        name="privacy_export",
    ),
    path(
        "customers/<int:customer_id>/privacy/exports/<uuid:export_uuid>/download/",
        views_privacy.export_download_view,
        name="privacy_export_download",
    ),
    path(
        "customers/<int:customer_id>/privacy/close/",
        views_privacy.close_view,
        name="privacy_close",
    ),
    path(
        "customers/<int:customer_id>/privacy/reopen/",
        views_privacy.reopen_view,
        name="privacy_reopen",
    ),
    path(
        "customers/<int:customer_id>/privacy/receipt/",
        views_privacy.receipt_view,
        name="privacy_receipt",
    ),
    path(
        "privacy/receipts/<str:token>/",
        views_privacy.receipt_public_view,
        name="privacy_receipt_public",
    ),
    path(
        "staff/privacy/inventory/",
        views_privacy.staff_inventory_view,
        name="staff_privacy_inventory",
    ),
    path(
        "staff/privacy/retention/",
        views_privacy.staff_retention_view,
        name="staff_privacy_retention",
    ),
    path(
        "staff/privacy/closures/",
        views_privacy.staff_closures_view,
        name="staff_privacy_closures",
    ),
]
