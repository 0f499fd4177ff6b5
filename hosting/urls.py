from django.urls import path

from hosting.views import domains, mail, operations, servers, webhotels

app_name = "hosting"

CUSTOMER = "customers/<int:customer_id>/"

urlpatterns = [
    # A customer's hosting.
    path(f"{CUSTOMER}webhotels/", webhotels.webhotels_view, name="webhotels"),
    path(f"{CUSTOMER}webhotels/<int:webhotel_id>/", webhotels.webhotel_view, name="webhotel"),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/suspend/",
        webhotels.webhotel_suspend_view,
        name="webhotel_suspend",
    ),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/delete/",
        webhotels.webhotel_delete_view,
        name="webhotel_delete",
    ),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/databases/new/",
        webhotels.database_create_view,
        name="database_create",
    ),
    path(
        f"{CUSTOMER}databases/<int:database_id>/reset-password/",
        webhotels.database_reset_password_view,
        name="database_reset_password",
    ),
    path(
        f"{CUSTOMER}databases/<int:database_id>/delete/",
        webhotels.database_delete_view,
        name="database_delete",
    ),
    path(
        f"{CUSTOMER}webhotels/<int:webhotel_id>/mail-domains/new/",
        webhotels.maildomain_create_view,
        name="maildomain_create",
    ),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/", webhotels.maildomain_view, name="maildomain"
    ),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/delete/",
        webhotels.maildomain_delete_view,
        name="maildomain_delete",
    ),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/mailboxes/new/",
        mail.mailbox_create_view,
        name="mailbox_create",
    ),
    path(f"{CUSTOMER}mailboxes/<int:mailbox_id>/", mail.mailbox_view, name="mailbox"),
    path(
        f"{CUSTOMER}mailboxes/<int:mailbox_id>/delete/",
        mail.mailbox_delete_view,
        name="mailbox_delete",
    ),
    path(
        f"{CUSTOMER}mail-domains/<int:maildomain_id>/aliases/new/",
        mail.alias_create_view,
        name="alias_create",
    ),
    path(f"{CUSTOMER}aliases/<int:alias_id>/", mail.alias_view, name="alias"),
    path(f"{CUSTOMER}aliases/<int:alias_id>/delete/", mail.alias_delete_view, name="alias_delete"),
    path(f"{CUSTOMER}operations/", operations.operations_view, name="operations"),
    path(
        f"{CUSTOMER}operations/<int:operation_id>/retry/",
        operations.operation_retry_view,
        name="operation_retry",
    ),
    # A customer's domains, their DNS, and the registrant's identity checks.
    path(f"{CUSTOMER}domains/", domains.domains_view, name="domains"),
    path(
        f"{CUSTOMER}domains/transfer-in/",
        domains.domain_transfer_in_view,
        name="domain_transfer_in",
    ),
    path(f"{CUSTOMER}domains/<int:domain_id>/", domains.domain_view, name="domain"),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/renew/", domains.domain_renew_view, name="domain_renew"
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/transfer-code/",
        domains.domain_transfer_code_view,
        name="domain_transfer_code",
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/release/",
        domains.domain_release_view,
        name="domain_release",
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/dnssec/",
        domains.domain_dnssec_view,
        name="domain_dnssec",
    ),
    path(
        f"{CUSTOMER}domains/<int:domain_id>/records/new/",
        domains.dns_record_create_view,
        name="dns_record_create",
    ),
    path(f"{CUSTOMER}dns-records/<int:record_id>/", domains.dns_record_view, name="dns_record"),
    path(
        f"{CUSTOMER}dns-records/<int:record_id>/delete/",
        domains.dns_record_delete_view,
        name="dns_record_delete",
    ),
    path(f"{CUSTOMER}identity/", domains.identity_view, name="identity"),
    path(f"{CUSTOMER}identity/mitid/", domains.identity_eid_view, name="identity_eid"),
    path(f"{CUSTOMER}identity/document/", domains.identity_upload_view, name="identity_upload"),
    # Staff: servers and plans.
    path("staff/servers/", servers.servers_view, name="servers"),
    path("staff/servers/<int:server_id>/", servers.server_view, name="server"),
    path(
        "staff/servers/<int:server_id>/confirm-host-key/",
        servers.server_confirm_host_key_view,
        name="server_confirm_host_key",
    ),
    path("staff/plans/", servers.plans_view, name="plans"),
    path("staff/plans/<int:plan_id>/", servers.plan_view, name="plan"),
    # Staff: the ID documents of .dk registrants.
    path("staff/identity-checks/", domains.identity_reviews_view, name="identity_reviews"),
    path(
        "staff/identity-checks/<int:verification_id>/decide/",
        domains.identity_decide_view,
        name="identity_decide",
    ),
    path(
        "staff/identity-checks/<int:verification_id>/document/",
        domains.identity_document_view,
        name="identity_document",
    ),
]
