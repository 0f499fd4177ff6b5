from django.urls import path

from hosting import views

app_name = "hosting"

CUSTOMER = "customers/<int:customer_id>/"

urlpatterns = [
    # A customer's hosting.
    path(f"{CUSTOMER}webhotels/", views.webhotels_view, name="webhotels"),
    path(f"{CUSTOMER}webhotels/<int:webhotel_id>/", views.webhotel_view, name="webhotel"),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/suspend/",
        views.webhotel_suspend_view,
        name="webhotel_suspend",
    ),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/delete/",
        views.webhotel_delete_view,
        name="webhotel_delete",
    ),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/databases/new/",
        views.database_create_view,
        name="database_create",
    ),
    path(
        f"{CUSTOMER}databases/<int:database_id>/reset-password/",
        views.database_reset_password_view,
        name="database_reset_password",
    ),
    path(
        f"{CUSTOMER}databases/<int:database_id>/delete/",
        views.database_delete_view,
        name="database_delete",
    ),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/mail-domains/new/",
        views.maildomain_create_view,
        name="maildomain_create",
    ),
    path(f"{CUSTOMER}mail-domains/<int:maildomain_id>/", views.maildomain_view, name="maildomain"),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/delete/",
        views.maildomain_delete_view,
        name="maildomain_delete",
    ),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/mailboxes/new/",
        views.mailbox_create_view,
        name="mailbox_create",
    ),
    path(f"{CUSTOMER}mailboxes/<int:mailbox_id>/", views.mailbox_view, name="mailbox"),
    path(
        f"{CUSTOMER}mailboxes/<int:mailbox_id>/delete/",
        views.mailbox_delete_view,
        name="mailbox_delete",
    ),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/aliases/new/",
        views.alias_create_view,
        name="alias_create",
    ),
    path(f"{CUSTOMER}aliases/<int:alias_id>/", views.alias_view, name="alias"),
    path(f"{CUSTOMER}aliases/<int:alias_id>/delete/", views.alias_delete_view, name="alias_delete"),
    path(f"{CUSTOMER}operations/", views.operations_view, name="operations"),
    path(
        f"{CUSTOMER}operations/<int:operation_id>/retry/",
        views.operation_retry_view,
        name="operation_retry",
    ),
    # A customer's domains, their DNS, and the registrant's identity checks.
    path(f"{CUSTOMER}domains/", views.domains_view, name="domains"),
    path(
        f"{CUSTOMER}domains/transfer-in/",
        views.domain_transfer_in_view,
        name="domain_transfer_in",
    ),
    path(f"{CUSTOMER}domains/<int:domain_id>/", views.domain_view, name="domain"),
    path(f"{CUSTOMER}domains/<int:domain_id>/renew/", views.domain_renew_view, name="domain_renew"),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/transfer-code/",
        views.domain_transfer_code_view,
        name="domain_transfer_code",
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/release/",
        views.domain_release_view,
        name="domain_release",
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/dnssec/",
        views.domain_dnssec_view,
        name="domain_dnssec",
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/records/new/",
        views.dns_record_create_view,
        name="dns_record_create",
    ),
    path(f"{CUSTOMER}dns-records/<int:record_id>/", views.dns_record_view, name="dns_record"),
    path(
        f"{CUSTOMER}dns-records/<int:record_id>/delete/",
        views.dns_record_delete_view,
        name="dns_record_delete",
    ),
    path(f"{CUSTOMER}identity/", views.identity_view, name="identity"),
    path(f"{CUSTOMER}identity/mitid/", views.identity_eid_view, name="identity_eid"),
    path(f"{CUSTOMER}identity/document/", views.identity_upload_view, name="identity_upload"),
    # Staff: servers and plans.
    path("staff/servers/", views.servers_view, name="servers"),
    path("staff/servers/<int:server_id>/", views.server_view, name="server"),
    path(
        "staff/servers/<int:server_id>/confirm-host-key/",
        views.server_confirm_host_key_view,
        name="server_confirm_host_key",
    ),
    path("staff/plans/", views.plans_view, name="plans"),
    path("staff/plans/<int:plan_id>/", views.plan_view, name="plan"),
    # Staff: the ID documents of .dk registrants.
    path("staff/identity-checks/", views.identity_reviews_view, name="identity_reviews"),
    path(
        "staff/identity-checks/<int:verification_id>/decide/",
        views.identity_decide_view,
        name="identity_decide",
    ),
    path(
        "staff/identity-checks/<int:verification_id>/document/",
        views.identity_document_view,
        name="identity_document",
    ),
]
