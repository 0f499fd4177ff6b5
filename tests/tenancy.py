"""The tenancy harness's registry: how to reach every panel URL and API endpoint with another
customer's objects. Adding a URL or an endpoint without an entry here fails the suite
(tests/test_tenancy.py), so each new one is checked for cross-customer access from day one."""

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.core import signing
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from accounts.models import (
    AccountClosure,
    ApiKey,
    AuditEvent,
    ConsentRecord,
    Customer,
    DataExport,
    DataSubjectRequest,
    DpaAcceptance,
    ErasureReceipt,
    Invoice,
    InvoiceLine,
    Membership,
    Role,
    SupportGrant,
)
from accounts.services import create_api_key
from api.models import WebhookDelivery, WebhookEndpoint
from backups.models import (
    BackupRun,
    ContentExport,
    RestoreItem,
    RestoreOrder,
    ServerRecovery,
    Snapshot,
)
from backups.services.content_export import LINK_SALT as CONTENT_LINK_SALT
from backups.services.runs import night_of
from hosting.models import (
    Certificate,
    Database,
    DnsRecord,
    DnsZone,
    Domain,
    IdentityVerification,
    MailAlias,
    Mailbox,
    MailDomain,
    Operation,
)
from infra import secretbox
from tests.factories import CustomerFactory, MembershipFactory, PlanFactory, WebhotelFactory

# Strings that exist only in customer B's rows: no response to anyone of customer A may hold one.
FOREIGN_MARKERS = (
    "FOREIGN-CUSTOMER",
    "foreign-owner@beta.example",
    "FOREIGN-KEY",
    "foreign-webhotel.dk",
    "foreign-mail.dk",
    "whforeign",
    "foreign-zone.dk",
    "FOREIGN-TXT",
    "FOREIGN-REF",
    "FOREIGN-INVOICE",
    "FOREIGN-PATH",
    "FOREIGN-HOOK",
    "FOREIGN-GRANT",
    "FOREIGN-REQUEST",
    "FOREIGN-RECEIPT",
)


@dataclass
class World:
    """Customer A with a member of every role and an API key; customer B with its own rows."""

    a: Customer
    b: Customer
    a_members: dict[str, object]  # role -> user
    b_membership: Membership
    b_key: ApiKey
    a_token: str
    b_hosting: dict[str, object]  # model name -> customer B's row
    plan: object

    @classmethod
    def build(cls) -> "World":
        from accounts.actor import Actor

        a = CustomerFactory(name="Own Customer")
        b = CustomerFactory(name="FOREIGN-CUSTOMER", email="billing@beta.example")
        a_members = {role: MembershipFactory(customer=a, role=role).user for role in Role.values}
        b_membership = MembershipFactory(
            customer=b, role=Role.OWNER, user__email="foreign-owner@beta.example"
        )
        b_key, _ = create_api_key(Actor(b_membership.user), b, name="FOREIGN-KEY")
        _a_key, a_token = create_api_key(
            Actor(a_members[Role.OWNER]), a, name="own key", access=ApiKey.Access.READ_WRITE
        )
        return cls(a, b, a_members, b_membership, b_key, a_token, _hosting_of(b), PlanFactory())

    def snapshot_b(self) -> tuple:
        """Customer B's rows, to prove that nothing a foreign caller did changed them."""
        rows = [
            Customer.objects.filter(pk=self.b.pk),
            Membership.objects.filter(customer=self.b),
            ApiKey.objects.filter(customer=self.b),
            # Every run and snapshot of B, so that a backup started for B shows as a new row.
            BackupRun.objects.filter(customer=self.b).order_by("pk"),
            Snapshot.objects.filter(customer=self.b).order_by("pk"),
            RestoreOrder.objects.filter(customer=self.b).order_by("pk"),
            RestoreItem.objects.filter(order__customer=self.b).order_by("pk"),
            # Consent, grants, DPA acceptances and requests of B, so that a new one shows.
            SupportGrant.objects.filter(customer=self.b).order_by("pk"),
            ConsentRecord.objects.filter(customer=self.b).order_by("pk"),
            DpaAcceptance.objects.filter(customer=self.b).order_by("pk"),
            DataSubjectRequest.objects.filter(customer=self.b).order_by("pk"),
            DataExport.objects.filter(customer=self.b).order_by("pk"),
            ContentExport.objects.filter(customer=self.b).order_by("pk"),
            AccountClosure.objects.filter(customer=self.b).order_by("pk"),
            *(type(row).objects.filter(pk=row.pk) for row in self.b_hosting.values()),
        ]
        return tuple(tuple(queryset.values_list()) for queryset in rows)


def _hosting_of(customer) -> dict[str, object]:
    """One of each hosting resource for the customer, named with foreign markers."""
    webhotel = WebhotelFactory(
        customer=customer, primary_domain="foreign-webhotel.dk", system_user="whforeign"
    )
    database = Database.objects.create(
        webhotel=webhotel,
        engine="mariadb",
        name="whforeign_db",
        user="whforeign_db",
        password_verifier="*0",
    )
    mail_domain = MailDomain.objects.create(webhotel=webhotel, name="foreign-mail.dk")
    mailbox = Mailbox.objects.create(
        mail_domain=mail_domain, local_part="box", password_hash="{ARGON2ID}x"
    )
    alias = MailAlias.objects.create(
        mail_domain=mail_domain, local_part="alias", destinations=["box@foreign-mail.dk"]
    )
    operation = Operation.objects.create(
        customer=customer,
        server=webhotel.server,
        action="webhotel.ensure",
        target="foreign-webhotel.dk",
        params={"id": webhotel.pk},
        status="failed",
    )
    domain = Domain.objects.create(customer=customer, name="foreign-zone.dk", status="active")
    zone = DnsZone.objects.create(domain=domain)
    record = DnsRecord.objects.create(zone=zone, name="@", type="TXT", value='"FOREIGN-TXT"')
    certificate = Certificate.objects.create(
        webhotel=webhotel,
        domain="foreign-webhotel.dk",
        domains=["foreign-webhotel.dk"],
        not_after=timezone.now(),
        fingerprint="0" * 64,
    )
    verification = IdentityVerification.objects.create(
        customer=customer, method="eid", status="approved", reference="FOREIGN-REF"
    )
    now = timezone.now()
    backup_run = BackupRun.objects.create(
        customer=customer,
        server=webhotel.server,
        kind="webhotel",
        item_id=webhotel.pk,
        item_name="foreign-webhotel.dk",
        night=night_of(now),
        status="failed",
        error="SshError: cannot read /var/www/whforeign (foreign-webhotel.dk)",
        started_at=now,
        finished_at=now,
    )
    snapshot = Snapshot.objects.create(
        customer=customer,
        snapshot_id="f0" * 32,
        kind="webhotel",
        item_id=webhotel.pk,
        item_name="foreign-webhotel.dk",
        server_name=webhotel.server.name,
        taken_at=now,
        files=12,
        size=4_000_000,
        stored=1_000_000,
    )
    invoice = Invoice.objects.create(
        customer=customer,
        number="2026-900001",
        year=2026,
        sequence=900001,
        issued_at=now,
        due_at=now,
        buyer_name=customer.name,
        buyer_address="FOREIGN-INVOICE street 1",
        vat_rate=25,
        net=10000,
        vat=2500,
        gross=12500,
        reference="FOREIGN-INVOICE restore",
    )
    InvoiceLine.objects.create(
        invoice=invoice, position=1, description="FOREIGN-INVOICE", quantity=1, unit_price=1, net=1
    )
    recovery = ServerRecovery.objects.create(server=webhotel.server, point_in_time=now)
    order = RestoreOrder.objects.create(
        customer=customer,
        scope="webhotel",
        destination="download",
        expires_at=now + timedelta(days=3),
        gross=12500,
        archive_key=f"downloads/{customer.uuid}/foreign.tar.zst",
        archive_format="tar.zst",
        archive_expires_at=now + timedelta(days=3),
    )
    RestoreItem.objects.create(
        order=order,
        kind="webhotel",
        item_id=webhotel.pk,
        item_name="foreign-webhotel.dk",
        snapshot_id=snapshot.snapshot_id,
        taken_at=now,
        paths=["FOREIGN-PATH"],
    )
    grant = SupportGrant.objects.create(
        customer=customer,
        scopes=["files"],
        expires_at=now + timedelta(days=1),
        note="FOREIGN-GRANT",
    )
    data_request = DataSubjectRequest.objects.create(
        customer=customer, kind="erasure", message="FOREIGN-REQUEST", due_at=now
    )
    # Privacy (accounts/privacy/): an export ready to download, a closure in its grace period
    # and an erasure receipt of B.
    data_export = DataExport.objects.create(
        customer=customer,
        status=DataExport.Status.READY,
        object_key=f"exports/{customer.uuid}/FOREIGN-EXPORT.zip",
        ready_at=now,
        expires_at=now + timedelta(days=7),
    )
    content_export = ContentExport.objects.create(
        customer=customer,
        status=ContentExport.Status.READY,
        object_key=f"exports/{customer.uuid}/content-FOREIGN-EXPORT.tar.zst",
        items=[{"kind": "webhotel", "name": "foreign-webhotel.dk", "path": "webhotels/x"}],
        size=1,
        ready_at=now,
        expires_at=now + timedelta(days=7),
    )
    closure = AccountClosure.objects.create(customer=customer, purge_after=now + timedelta(weeks=8))
    receipt = ErasureReceipt.objects.create(
        customer=customer, closure=closure, erased=[{"key": "x", "label": "FOREIGN-RECEIPT"}]
    )
    webhook = WebhookEndpoint.objects.create(
        customer=customer,
        url="https://foreign-hook.example/FOREIGN-HOOK",
        secret_sealed=secretbox.seal("whsec_FOREIGN-HOOK"),
        events=["operation.done"],
        description="FOREIGN-HOOK",
    )
    webhook_delivery = WebhookDelivery.objects.create(
        endpoint=webhook, event="operation.done", body='{"data": "FOREIGN-HOOK"}'
    )
    audit_event = AuditEvent.objects.create(
        customer=customer, action="test.foreign", target="FOREIGN-REF", actor_label="system"
    )
    return {
        "auditevent": audit_event,
        "webhook": webhook,
        "webhookdelivery": webhook_delivery,
        "supportgrant": grant,
        "datarequest": data_request,
        "dataexport": data_export,
        "contentexport": content_export,
        "closure": closure,
        "receipt": receipt,
        "recovery": recovery,
        "restoreorder": order,
        "webhotel": webhotel,
        "database": database,
        "maildomain": mail_domain,
        "mailbox": mailbox,
        "alias": alias,
        "operation": operation,
        "domain": domain,
        "zone": zone,
        "record": record,
        "certificate": certificate,
        "verification": verification,
        "backuprun": backup_run,
        "snapshot": snapshot,
        "invoice": invoice,
    }


# --- The panel ------------------------------------------------------------------------------------

PUBLIC, OWN, CUSTOMER, STAFF = "public", "own", "customer", "staff"


@dataclass(frozen=True)
class PanelEntry:
    """``kind``: public (anyone), own (the logged-in user's own pages), customer (one customer's
    pages; ``kwargs`` gives the URL arguments that point at a customer's objects) or staff."""

    kind: str
    kwargs: Callable[[World, Customer], dict] = field(default=lambda world, customer: {})
    methods: tuple[str, ...] = ("get",)
    post_data: dict = field(default_factory=dict)


def _customer_kwargs(world, customer):
    return {"customer_id": customer.pk}


def _membership_kwargs(world, customer):
    membership = world.b_membership if customer == world.b else customer.memberships.first()
    return {"customer_id": customer.pk, "membership_id": membership.pk}


def _key_kwargs(world, customer):
    key = world.b_key if customer == world.b else customer.api_keys.first()
    return {"customer_id": customer.pk, "key_id": key.pk}


def _hosting_kwargs(key, arg):
    """Customer B's row of ``key``. For customer A the same foreign row under A's own number, which
    must not be found either (each view looks its rows up within the customer of the URL)."""

    def kwargs(world, customer):
        return {"customer_id": customer.pk, arg: world.b_hosting[key].pk}

    return kwargs


def _server_kwargs(world, customer):
    return {"server_id": world.b_hosting["webhotel"].server_id}


def _plan_kwargs(world, customer):
    return {"plan_id": world.plan.pk}


_WEBHOTEL = _hosting_kwargs("webhotel", "webhotel_id")
_DATABASE = _hosting_kwargs("database", "database_id")
_MAILDOMAIN = _hosting_kwargs("maildomain", "maildomain_id")
_MAILBOX = _hosting_kwargs("mailbox", "mailbox_id")
_ALIAS = _hosting_kwargs("alias", "alias_id")
_DOMAIN = _hosting_kwargs("domain", "domain_id")
_RECORD = _hosting_kwargs("record", "record_id")


def _backup_item_kwargs(world, customer):
    return {
        "customer_id": customer.pk,
        "kind": "webhotel",
        "item_id": world.b_hosting["webhotel"].pk,
    }


_INVOICE = _hosting_kwargs("invoice", "invoice_id")
_WEBHOOK = _hosting_kwargs("webhook", "webhook_id")
_ORDER = _hosting_kwargs("restoreorder", "order_id")


def _snapshot_kwargs(world, customer):
    return {**_backup_item_kwargs(world, customer), "snapshot_id": "f0" * 32}


def _verification_kwargs(world, customer):
    return {"verification_id": world.b_hosting["verification"].pk}


_SERVER_DATA = {
    "name": "evil",
    "address": "127.0.0.1",
    "ssh_port": "22",
    "ssh_user": "root",
    "role": "combined",
    "capacity": "1",
    "status": "retired",
    "transport": "local",
    "profile": "sandbox",
    "root": "/tmp/evil",
}
_PLAN_DATA = {
    "name": "Free",
    "disk_quota_mb": "100000",
    "max_databases": "100",
    "max_mailboxes": "100",
    "price_dkk": "0.00",
    "active": "on",
}

PANEL: dict[str, PanelEntry] = {
    "set_language": PanelEntry(PUBLIC, methods=("post",), post_data={"language": "en"}),
    "accounts:login": PanelEntry(PUBLIC),
    "accounts:login_2fa": PanelEntry(PUBLIC),
    "accounts:logout": PanelEntry(PUBLIC, methods=("post",)),
    "accounts:password_reset": PanelEntry(PUBLIC),
    "accounts:password_reset_confirm": PanelEntry(
        PUBLIC, kwargs=lambda world, customer: {"uidb64": "MQ", "token": "bad-token"}
    ),
    "accounts:dashboard": PanelEntry(OWN),
    "accounts:profile": PanelEntry(OWN),
    "accounts:twofactor": PanelEntry(OWN),
    "accounts:login_2fa_staff": PanelEntry(OWN),
    "accounts:twofactor_disable": PanelEntry(OWN, methods=("post",)),
    "accounts:customer": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"name": "Taken over"}
    ),
    "accounts:members": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"email": "x@example.dk", "role": "owner"}
    ),
    "accounts:member_update": PanelEntry(CUSTOMER, _membership_kwargs, ("post",), {"remove": "1"}),
    "accounts:apikeys": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"name": "stolen", "access": "read"}
    ),
    "accounts:apikey_revoke": PanelEntry(CUSTOMER, _key_kwargs, ("post",)),
    "accounts:apikey_rotate": PanelEntry(CUSTOMER, _key_kwargs, ("post",)),
    "accounts:audit": PanelEntry(CUSTOMER, _customer_kwargs),
    "accounts:invoices": PanelEntry(CUSTOMER, _customer_kwargs),
    "accounts:invoice": PanelEntry(CUSTOMER, _INVOICE),
    "accounts:invoice_pdf": PanelEntry(CUSTOMER, _INVOICE),
    "accounts:invoice_pay": PanelEntry(CUSTOMER, _INVOICE, ("post",)),
    "accounts:invoice_credit": PanelEntry(CUSTOMER, _INVOICE, ("post",), {"reason": "stolen"}),
    "accounts:invoice_mark_paid": PanelEntry(CUSTOMER, _INVOICE, ("post",)),
    "accounts:payment_local": PanelEntry(
        PUBLIC, lambda world, customer: {"token": "forged"}, ("get", "post"), {"approve": "1"}
    ),
    "accounts:payment_callback": PanelEntry(PUBLIC, methods=("post",), post_data={"token": "x"}),
    "accounts:staff_customers": PanelEntry(STAFF),
    "accounts:staff_dpa": PanelEntry(
        STAFF, methods=("get", "post"), post_data={"version": "9.9", "text": "Stolen"}
    ),
    "accounts:staff_customer_create": PanelEntry(STAFF, methods=("get", "post")),
    "accounts:staff_audit": PanelEntry(STAFF),
    "accounts:staff_apikeys": PanelEntry(
        STAFF, methods=("get", "post"), post_data={"name": "stolen", "access": "read_write"}
    ),
    "accounts:staff_apikey_rotate": PanelEntry(
        STAFF, lambda world, customer: {"key_id": world.b_key.pk}, ("post",)
    ),
    "accounts:staff_apikey_revoke": PanelEntry(
        STAFF, lambda world, customer: {"key_id": world.b_key.pk}, ("post",)
    ),
    "accounts:privacy": PanelEntry(CUSTOMER, _customer_kwargs),
    "accounts:privacy_export": PanelEntry(CUSTOMER, _customer_kwargs, ("post",)),
    "accounts:privacy_export_download": PanelEntry(
        CUSTOMER,
        lambda world, customer: {
            "customer_id": customer.pk,
            "export_uuid": world.b_hosting["dataexport"].uuid,
        },
    ),
    "accounts:privacy_close": PanelEntry(
        CUSTOMER, _customer_kwargs, ("post",), {"password": "x", "confirm": "on"}
    ),
    "accounts:privacy_reopen": PanelEntry(CUSTOMER, _customer_kwargs, ("post",)),
    "accounts:privacy_receipt": PanelEntry(CUSTOMER, _customer_kwargs),
    "accounts:privacy_receipt_public": PanelEntry(
        PUBLIC, lambda world, customer: {"token": "forged"}
    ),
    "accounts:staff_privacy_inventory": PanelEntry(STAFF),
    # Content exports of B: B's export under B's customer and under A's own, and a valid signed
    # link to B's archive.
    "backups:content_exports": PanelEntry(CUSTOMER, _customer_kwargs, ("get", "post")),
    "backups:content_export_link": PanelEntry(
        CUSTOMER,
        lambda world, customer: {
            "customer_id": customer.pk,
            "export_uuid": world.b_hosting["contentexport"].uuid,
        },
        ("post",),
    ),
    "backups:content_export_download": PanelEntry(
        CUSTOMER,
        lambda world, customer: {
            "customer_id": customer.pk,
            "token": signing.dumps(
                {"export": str(world.b_hosting["contentexport"].uuid), "customer": world.b.pk},
                salt=CONTENT_LINK_SALT,
            ),
        },
    ),
    "accounts:staff_privacy_retention": PanelEntry(STAFF),
    "accounts:staff_privacy_closures": PanelEntry(STAFF),
    # Hosting: the plan is not known here, so a webhotel's creation stops at the form (its
    # customer is refused before that); every other write sends data that would change B's rows.
    "hosting:webhotels": PanelEntry(
        CUSTOMER, _customer_kwargs, ("get", "post"), {"primary_domain": "taken-over.dk"}
    ),
    "hosting:webhotel": PanelEntry(
        CUSTOMER, _WEBHOTEL, ("get", "post"), {"php_version": "8.2", "extra_domains": "evil.dk"}
    ),
    "hosting:webhotel_suspend": PanelEntry(CUSTOMER, _WEBHOTEL, ("post",), {"suspended": "1"}),
    "hosting:webhotel_delete": PanelEntry(CUSTOMER, _WEBHOTEL, ("post",), {"confirm": "1"}),
    "hosting:database_create": PanelEntry(
        CUSTOMER, _WEBHOTEL, ("post",), {"engine": "mariadb", "suffix": "stolen"}
    ),
    "hosting:database_reset_password": PanelEntry(CUSTOMER, _DATABASE, ("post",)),
    "hosting:database_delete": PanelEntry(CUSTOMER, _DATABASE, ("post",), {"confirm": "1"}),
    "hosting:maildomain_create": PanelEntry(
        CUSTOMER, _WEBHOTEL, ("post",), {"name": "stolen-mail.dk"}
    ),
    "hosting:maildomain": PanelEntry(CUSTOMER, _MAILDOMAIN),
    "hosting:maildomain_delete": PanelEntry(CUSTOMER, _MAILDOMAIN, ("post",), {"confirm": "1"}),
    "hosting:mailbox_create": PanelEntry(
        CUSTOMER, _MAILDOMAIN, ("post",), {"local_part": "stolen", "quota_mb": "20"}
    ),
    "hosting:mailbox": PanelEntry(
        CUSTOMER,
        _MAILBOX,
        ("get", "post"),
        {"quota_mb": "20", "password": "taken-over-password", "suspended": "on"},
    ),
    "hosting:mailbox_delete": PanelEntry(CUSTOMER, _MAILBOX, ("post",), {"confirm": "1"}),
    "hosting:alias_create": PanelEntry(
        CUSTOMER,
        _MAILDOMAIN,
        ("post",),
        {"local_part": "alias", "destinations": "evil@example.dk"},
    ),
    "hosting:alias": PanelEntry(
        CUSTOMER, _ALIAS, ("get", "post"), {"destinations": "evil@example.dk"}
    ),
    "hosting:alias_delete": PanelEntry(CUSTOMER, _ALIAS, ("post",)),
    "hosting:operations": PanelEntry(CUSTOMER, _customer_kwargs),
    "hosting:operation_retry": PanelEntry(
        CUSTOMER, _hosting_kwargs("operation", "operation_id"), ("post",)
    ),
    # Domains: every write sends data that would change B's domain, zone or records.
    "hosting:domains": PanelEntry(
        CUSTOMER,
        _customer_kwargs,
        ("get", "post"),
        {"name": "taken-over.com", "years": "1", "whois_privacy": "on", "hosted_dns": "on"},
    ),
    "hosting:domain_transfer_in": PanelEntry(
        CUSTOMER, _customer_kwargs, ("post",), {"name": "stolen.com", "auth_code": "AAAA-BBBB"}
    ),
    "hosting:domain": PanelEntry(
        CUSTOMER, _DOMAIN, ("get", "post"), {"name_servers": "ns1.evil.example"}
    ),
    "hosting:domain_renew": PanelEntry(CUSTOMER, _DOMAIN, ("post",), {"years": "1"}),
    "hosting:domain_transfer_code": PanelEntry(CUSTOMER, _DOMAIN, ("post",)),
    "hosting:domain_release": PanelEntry(CUSTOMER, _DOMAIN, ("post",), {"confirm": "1"}),
    "hosting:domain_dnssec": PanelEntry(CUSTOMER, _DOMAIN, ("post",), {"enabled": "1"}),
    "hosting:dns_record_create": PanelEntry(
        CUSTOMER,
        _DOMAIN,
        ("post",),
        {"name": "www", "type": "A", "value": "192.0.2.66", "ttl": "3600"},
    ),
    "hosting:dns_record": PanelEntry(
        CUSTOMER,
        _RECORD,
        ("get", "post"),
        {"name": "@", "type": "TXT", "value": '"changed"', "ttl": "3600"},
    ),
    "hosting:dns_record_delete": PanelEntry(CUSTOMER, _RECORD, ("post",)),
    "hosting:identity": PanelEntry(CUSTOMER, _customer_kwargs),
    "hosting:identity_eid": PanelEntry(
        CUSTOMER, _customer_kwargs, ("post",), {"cpr": "010203-1234", "name": "Mallory"}
    ),
    "hosting:identity_upload": PanelEntry(CUSTOMER, _customer_kwargs, ("post",)),
    "hosting:identity_reviews": PanelEntry(STAFF),
    "hosting:identity_decide": PanelEntry(
        STAFF, _verification_kwargs, ("post",), {"decision": "approve"}
    ),
    "hosting:identity_document": PanelEntry(STAFF, _verification_kwargs),
    "hosting:servers": PanelEntry(STAFF, methods=("get", "post"), post_data=_SERVER_DATA),
    "hosting:server": PanelEntry(
        STAFF, _server_kwargs, ("get", "post"), {**_SERVER_DATA, "name": "web-evil"}
    ),
    "hosting:server_confirm_host_key": PanelEntry(
        STAFF, _server_kwargs, ("post",), {"fingerprint": "SHA256:evil"}
    ),
    "hosting:plans": PanelEntry(STAFF, methods=("get", "post"), post_data=_PLAN_DATA),
    "hosting:plan": PanelEntry(STAFF, _plan_kwargs, ("get", "post"), _PLAN_DATA),
    # Backups: B's items by kind and id, under B's customer and under A's own.
    "backups:overview": PanelEntry(CUSTOMER, _customer_kwargs),
    "backups:item": PanelEntry(CUSTOMER, _backup_item_kwargs),
    "backups:back_up_now": PanelEntry(CUSTOMER, _backup_item_kwargs, ("post",)),
    "backups:tonight": PanelEntry(STAFF),
    "backups:server_history": PanelEntry(STAFF, _server_kwargs),
    # Restores: B's snapshot and order under B's customer and under A's own.
    "backups:restore": PanelEntry(
        CUSTOMER,
        _snapshot_kwargs,
        ("get", "post"),
        {"destination": "download", "archive_format": "zip"},
    ),
    "backups:orders": PanelEntry(CUSTOMER, _customer_kwargs),
    "backups:order": PanelEntry(CUSTOMER, _ORDER),
    "backups:accept": PanelEntry(CUSTOMER, _ORDER, ("post",)),
    "backups:pay": PanelEntry(CUSTOMER, _ORDER, ("post",)),
    "backups:cancel": PanelEntry(CUSTOMER, _ORDER, ("post",)),
    "backups:waive": PanelEntry(CUSTOMER, _ORDER, ("post",), {"reason": "stolen by tenancy"}),
    "backups:link": PanelEntry(CUSTOMER, _ORDER, ("post",)),
    "backups:download": PanelEntry(
        PUBLIC, kwargs=lambda world, customer: {"token": "forged-token"}
    ),
    "backups:recoveries": PanelEntry(STAFF),
    # Prometheus' scrape endpoint: a bearer token, no session (404 while no token is set).
    "backups:metrics": PanelEntry(PUBLIC),
    # Webhooks: B's endpoint under B's customer and under A's own.
    "webhooks:list": PanelEntry(
        CUSTOMER,
        _customer_kwargs,
        ("get", "post"),
        {"url": "https://192.0.2.1/stolen", "events": "operation.done", "active": "on"},
    ),
    "webhooks:webhook": PanelEntry(
        CUSTOMER,
        _WEBHOOK,
        ("get", "post"),
        {"url": "https://192.0.2.1/stolen", "events": "backup.failed"},
    ),
    "webhooks:test": PanelEntry(CUSTOMER, _WEBHOOK, ("post",)),
    "webhooks:delete": PanelEntry(CUSTOMER, _WEBHOOK, ("post",)),
    # Support access, consent, restriction, requests and the DPA of B, under B and under A.
    "accounts:support_grants": PanelEntry(
        CUSTOMER,
        _customer_kwargs,
        ("get", "post"),
        {"scopes": "files", "expires_at": "2099-01-01T00:00", "note": "stolen"},
    ),
    "accounts:support_grant_revoke": PanelEntry(
        CUSTOMER, _hosting_kwargs("supportgrant", "grant_id"), ("post",)
    ),
    "accounts:rights": PanelEntry(CUSTOMER, _customer_kwargs),
    "accounts:restriction": PanelEntry(
        CUSTOMER, _customer_kwargs, ("post",), {"restricted": "1", "reason": "stolen"}
    ),
    "accounts:consent": PanelEntry(
        CUSTOMER, _customer_kwargs, ("post",), {"purpose": "marketing", "given": "1"}
    ),
    "accounts:data_request_create": PanelEntry(
        CUSTOMER, _customer_kwargs, ("post",), {"kind": "erasure", "message": "stolen"}
    ),
    "accounts:dpa": PanelEntry(CUSTOMER, _customer_kwargs, ("get", "post"), {"version": "1"}),
    "accounts:staff_data_requests": PanelEntry(STAFF),
    "accounts:staff_data_request_close": PanelEntry(
        STAFF,
        lambda world, customer: {"request_id": world.b_hosting["datarequest"].pk},
        ("post",),
        {"status": "done", "note": "stolen"},
    ),
    "backups:recovery": PanelEntry(
        STAFF, lambda world, customer: {"recovery_id": world.b_hosting["recovery"].pk}
    ),
}


def panel_url_names(urlconf=None) -> set[str]:
    """Every named URL of the panel (the API is enumerated from its schema instead)."""
    names: set[str] = set()

    def walk(patterns, namespace):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, pattern.namespace or namespace)
            elif isinstance(pattern, URLPattern):
                name = f"{namespace}:{pattern.name}" if namespace else pattern.name
                names.add(name or f"<unnamed {pattern.pattern}>")

    walk(get_resolver(urlconf).url_patterns, None)
    return {name for name in names if not name.startswith("api:")}


# --- The API --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiEntry:
    """``params`` fills the path with customer B's objects; ``body`` is what a write sends.
    ``catalog`` marks shared, non-customer data (plans) that everyone may read; ``public``
    what anyone may read without credentials (the OpenAPI document); ``multipart`` sends the
    body as a form upload instead of JSON."""

    params: Callable[[World], dict] = field(default=lambda world: {})
    body: Callable[[World], dict] = field(default=lambda world: {})
    catalog: bool = False
    public: bool = False
    multipart: bool = False


def _b(key):
    return lambda world: {"id": world.b_hosting[key].pk}


API: dict[str, ApiEntry] = {
    "/api/v1/me": ApiEntry(body=lambda w: {"full_name": "Changed"}),
    "/api/v1/customers": ApiEntry(
        body=lambda w: {
            "name": "New",
            "address": "Gade 1",
            "postal_code": "1000",
            "city": "København",
            "email": "new@example.dk",
        }
    ),
    "/api/v1/customers/{id}": ApiEntry(
        params=lambda w: {"id": w.b.pk}, body=lambda w: {"name": "Taken over"}
    ),
    "/api/v1/memberships": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "email": "x@example.dk", "role": "owner"}
    ),
    "/api/v1/memberships/{id}": ApiEntry(
        params=lambda w: {"id": w.b_membership.pk}, body=lambda w: {"role": "billing"}
    ),
    "/api/v1/api-keys": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "name": "stolen", "access": "read_write"}
    ),
    "/api/v1/api-keys/{id}": ApiEntry(params=lambda w: {"id": w.b_key.pk}),
    "/api/v1/api-keys/{id}/rotate": ApiEntry(params=lambda w: {"id": w.b_key.pk}),
    "/api/v1/webhooks": ApiEntry(
        body=lambda w: {
            "customer": w.b.pk,
            "url": "https://192.0.2.1/stolen",
            "events": ["operation.done"],
        }
    ),
    "/api/v1/webhooks/{id}": ApiEntry(_b("webhook"), lambda w: {"active": False}),
    "/api/v1/webhooks/{id}/test": ApiEntry(_b("webhook")),
    "/api/v1/webhooks/{id}/deliveries": ApiEntry(_b("webhook")),
    "/api/v1/webhotels": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "primary_domain": "new.dk", "plan": w.plan.pk}
    ),
    "/api/v1/webhotels/{id}": ApiEntry(_b("webhotel"), lambda w: {"php_version": "8.2"}),
    "/api/v1/webhotels/{id}/suspend": ApiEntry(_b("webhotel")),
    "/api/v1/webhotels/{id}/unsuspend": ApiEntry(_b("webhotel")),
    "/api/v1/databases": ApiEntry(
        body=lambda w: {"webhotel": w.b_hosting["webhotel"].pk, "engine": "mariadb", "suffix": "x"}
    ),
    "/api/v1/databases/{id}": ApiEntry(_b("database")),
    "/api/v1/databases/{id}/reset-password": ApiEntry(_b("database")),
    "/api/v1/mail-domains": ApiEntry(
        body=lambda w: {"webhotel": w.b_hosting["webhotel"].pk, "name": "new-mail.dk"}
    ),
    "/api/v1/mail-domains/{id}": ApiEntry(_b("maildomain")),
    "/api/v1/mailboxes": ApiEntry(
        body=lambda w: {"mail_domain": w.b_hosting["maildomain"].pk, "local_part": "x"}
    ),
    "/api/v1/mailboxes/{id}": ApiEntry(_b("mailbox"), lambda w: {"quota_mb": 20}),
    "/api/v1/aliases": ApiEntry(
        body=lambda w: {
            "mail_domain": w.b_hosting["maildomain"].pk,
            "local_part": "y",
            "destinations": ["a@b.dk"],
        }
    ),
    "/api/v1/aliases/{id}": ApiEntry(_b("alias"), lambda w: {"destinations": ["c@d.dk"]}),
    "/api/v1/operations": ApiEntry(),
    "/api/v1/domains": ApiEntry(body=lambda w: {"customer": w.b.pk, "name": "stolen.com"}),
    "/api/v1/domains/{id}": ApiEntry(_b("domain"), lambda w: {"auto_renew": False}),
    "/api/v1/domains/{id}/renew": ApiEntry(_b("domain"), lambda w: {"years": 1}),
    "/api/v1/domains/{id}/transfer-code": ApiEntry(_b("domain")),
    "/api/v1/domains/{id}/whois": ApiEntry(_b("domain")),
    "/api/v1/domains/{id}/zone": ApiEntry(_b("domain")),
    "/api/v1/dns-records": ApiEntry(
        body=lambda w: {
            "domain": w.b_hosting["domain"].pk,
            "name": "www",
            "type": "A",
            "value": "192.0.2.1",
        }
    ),
    "/api/v1/dns-records/{id}": ApiEntry(_b("record"), lambda w: {"value": '"changed"'}),
    "/api/v1/certificates": ApiEntry(),
    "/api/v1/certificates/{id}": ApiEntry(_b("certificate")),
    "/api/v1/identity-verifications": ApiEntry(),
    "/api/v1/identity-verifications/{id}": ApiEntry(_b("verification")),
    "/api/v1/identity-verifications/eid": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "cpr": "010203-1234", "name": "Mallory"}
    ),
    "/api/v1/operations/{id}": ApiEntry(_b("operation")),
    "/api/v1/operations/{id}/retry": ApiEntry(_b("operation")),
    "/api/v1/plans": ApiEntry(
        body=lambda w: {
            "name": "Cheap",
            "disk_quota_mb": 1,
            "max_databases": 1,
            "max_mailboxes": 1,
            "price_dkk": "1.00",
        }
    ),
    "/api/v1/plans/{id}": ApiEntry(
        lambda w: {"id": w.plan.pk}, lambda w: {"price_dkk": "0.00"}, catalog=True
    ),
    "/api/v1/servers": ApiEntry(body=lambda w: {"name": "evil", "address": "127.0.0.1"}),
    "/api/v1/servers/{id}": ApiEntry(
        lambda w: {"id": w.b_hosting["webhotel"].server_id}, lambda w: {"capacity": 1}
    ),
    "/api/v1/servers/{id}/refresh-host-key": ApiEntry(
        lambda w: {"id": w.b_hosting["webhotel"].server_id}
    ),
    "/api/v1/servers/{id}/confirm-host-key": ApiEntry(
        lambda w: {"id": w.b_hosting["webhotel"].server_id}, lambda w: {"fingerprint": "x"}
    ),
    "/api/v1/snapshots": ApiEntry(),
    "/api/v1/snapshots/{id}": ApiEntry(_b("snapshot")),
    "/api/v1/backup-runs": ApiEntry(
        body=lambda w: {"kind": "webhotel", "item_id": w.b_hosting["webhotel"].pk}
    ),
    "/api/v1/backup-runs/{id}": ApiEntry(_b("backuprun")),
    "/api/v1/restore-orders": ApiEntry(
        body=lambda w: {
            "customer": w.b.pk,
            "kind": "webhotel",
            "item_id": w.b_hosting["webhotel"].pk,
            "destination": "download",
        }
    ),
    "/api/v1/restore-orders/{id}": ApiEntry(_b("restoreorder")),
    "/api/v1/exports": ApiEntry(body=lambda w: {"customer": w.b.pk}),
    "/api/v1/exports/{id}": ApiEntry(_b("dataexport")),
    "/api/v1/exports/{id}/download": ApiEntry(_b("dataexport")),
    "/api/v1/content-exports": ApiEntry(body=lambda w: {"customer": w.b.pk}),
    "/api/v1/content-exports/{id}": ApiEntry(_b("contentexport")),
    "/api/v1/content-exports/{id}/download-link": ApiEntry(_b("contentexport")),
    "/api/v1/closures": ApiEntry(body=lambda w: {"customer": w.b.pk, "password": "x"}),
    "/api/v1/closures/{id}": ApiEntry(_b("closure")),
    "/api/v1/closures/{id}/reopen": ApiEntry(_b("closure")),
    "/api/v1/erasure-receipts": ApiEntry(),
    "/api/v1/erasure-receipts/{id}": ApiEntry(_b("receipt")),
    "/api/v1/restore-orders/{id}/accept": ApiEntry(_b("restoreorder")),
    "/api/v1/restore-orders/{id}/pay": ApiEntry(_b("restoreorder")),
    "/api/v1/restore-orders/{id}/cancel": ApiEntry(_b("restoreorder")),
    "/api/v1/restore-orders/{id}/waive": ApiEntry(
        _b("restoreorder"), lambda w: {"reason": "stolen by tenancy"}
    ),
    "/api/v1/restore-orders/{id}/download-link": ApiEntry(_b("restoreorder")),
    "/api/v1/invoices": ApiEntry(),
    "/api/v1/invoices/{id}": ApiEntry(_b("invoice")),
    "/api/v1/invoices/{id}/pdf": ApiEntry(_b("invoice")),
    "/api/v1/invoices/{id}/pay": ApiEntry(_b("invoice")),
    "/api/v1/invoices/{id}/credit": ApiEntry(_b("invoice"), lambda w: {"reason": "stolen"}),
    "/api/v1/invoices/{id}/mark-paid": ApiEntry(_b("invoice")),
    "/api/v1/domains/transfer-in": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "name": "taken.dk", "auth_code": "x"}
    ),
    "/api/v1/identity-verifications/document": ApiEntry(
        body=lambda w: {
            "customer": w.b.pk,
            "document": SimpleUploadedFile("id.pdf", b"%PDF-1.4 FOREIGN"),
        },
        multipart=True,
    ),
    "/api/v1/identity-verifications/{id}/decide": ApiEntry(
        _b("verification"), lambda w: {"approved": True}
    ),
    "/api/v1/identity-verifications/{id}/document": ApiEntry(_b("verification")),
    "/api/v1/dpa-versions": ApiEntry(
        catalog=True, body=lambda w: {"version": "9.9", "text": "Stolen"}
    ),
    "/api/v1/snapshots/{id}/entries": ApiEntry(_b("snapshot")),
    "/api/v1/audit-events": ApiEntry(),
    "/api/v1/audit-events/{id}": ApiEntry(_b("auditevent")),
    "/api/v1/server-recoveries": ApiEntry(
        body=lambda w: {
            "server": w.b_hosting["webhotel"].server_id,
            "at": (timezone.now() - timedelta(hours=1)).isoformat(),
        }
    ),
    "/api/v1/server-recoveries/{id}": ApiEntry(_b("recovery")),
    "/api/v1/support-grants": ApiEntry(
        body=lambda w: {
            "customer": w.b.pk,
            "scopes": ["files"],
            "expires_at": (timezone.now() + timedelta(days=1)).isoformat(),
        }
    ),
    "/api/v1/support-grants/{id}": ApiEntry(_b("supportgrant")),
    "/api/v1/support-grants/{id}/revoke": ApiEntry(_b("supportgrant")),
    "/api/v1/consents": ApiEntry(
        body=lambda w: {"customer": w.b.pk, "purpose": "marketing", "given": True}
    ),
    "/api/v1/processing-restrictions/{id}": ApiEntry(
        lambda w: {"id": w.b.pk}, lambda w: {"restricted": True, "reason": "stolen"}
    ),
    "/api/v1/data-requests": ApiEntry(body=lambda w: {"customer": w.b.pk, "kind": "erasure"}),
    "/api/v1/data-requests/{id}": ApiEntry(_b("datarequest")),
    "/api/v1/data-requests/{id}/close": ApiEntry(
        _b("datarequest"), lambda w: {"status": "done", "note": "stolen"}
    ),
    "/api/v1/dpa": ApiEntry(catalog=True),
    "/api/v1/schema/": ApiEntry(catalog=True, public=True),
    "/api/v1/dpa-acceptances": ApiEntry(body=lambda w: {"customer": w.b.pk, "version": "1.0"}),
}
