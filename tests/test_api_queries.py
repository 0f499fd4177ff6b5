"""No N+1 in the API's lists: a page of 20 rows costs as many SQL queries as a page of 2.

The list endpoints come from the OpenAPI schema (every GET that answers a page: a ``Paginated…``
component), so a new list is checked from the day it appears: it needs a seeder in ``SEEDERS``
(rows of its kind for customer A) or its test fails. Each list is read with the customer owner's
API key and, as staff see every customer's rows through other code paths, by a staff
administrator's session.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts.actor import Actor
from accounts.models import (
    AccountClosure,
    AuditEvent,
    ConsentRecord,
    Customer,
    DataExport,
    DataSubjectRequest,
    DpaAcceptance,
    DpaVersion,
    ErasureReceipt,
    Invoice,
    InvoiceLine,
    Role,
    SupportGrant,
    User,
)
from accounts.services import create_api_key
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from backups.models import (
    BackupRun,
    ContentExport,
    RestoreItem,
    RestoreOrder,
    ServerRecovery,
    Snapshot,
)
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
    Plan,
    Server,
)
from infra import secretbox
from tests.factories import (
    CustomerFactory,
    MembershipFactory,
    PlanFactory,
    ServerFactory,
    UserFactory,
    WebhotelFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 22  # more than the larger page
SMALL, LARGE = 2, 20


def list_routes() -> list[str]:
    """Every paginated list endpoint of the API, from its schema."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    routes = []
    for route, operations in schema["paths"].items():
        ok = operations.get("get", {}).get("responses", {}).get("200", {})
        body = ok.get("content", {}).get("application/json", {}).get("schema", {})
        if body.get("$ref", "").startswith("#/components/schemas/Paginated"):
            routes.append(route)
    return sorted(routes)


@dataclass
class Seed:
    """Customer A, its owner, and a server and plan to put A's resources on."""

    customer: Customer
    owner: User
    server: Server
    plan: Plan

    def webhotel(self):
        return WebhotelFactory(customer=self.customer, server=self.server, plan=self.plan)


def _webhotels(seed):
    for _ in range(ROWS):
        seed.webhotel()


def _databases(seed):
    webhotel = seed.webhotel()
    Database.objects.bulk_create(
        Database(webhotel=webhotel, engine="mariadb", name=f"db{i}", user=f"db{i}")
        for i in range(ROWS)
    )


def _mail_domain(seed):
    return MailDomain.objects.create(webhotel=seed.webhotel(), name="mail.example.dk")


def _mail_domains(seed):
    webhotel = seed.webhotel()
    MailDomain.objects.bulk_create(
        MailDomain(webhotel=webhotel, name=f"mail{i}.example.dk") for i in range(ROWS)
    )


def _mailboxes(seed):
    domain = _mail_domain(seed)
    Mailbox.objects.bulk_create(
        Mailbox(mail_domain=domain, local_part=f"box{i}", password_hash="{ARGON2ID}x")
        for i in range(ROWS)
    )


def _aliases(seed):
    domain = _mail_domain(seed)
    MailAlias.objects.bulk_create(
        MailAlias(mail_domain=domain, local_part=f"alias{i}", destinations=["a@example.dk"])
        for i in range(ROWS)
    )


def _operations(seed):
    Operation.objects.bulk_create(
        Operation(
            customer=seed.customer,
            server=seed.server,
            action="webhotel.ensure",
            target=f"site{i}.dk",
            created_by=seed.owner,
        )
        for i in range(ROWS)
    )


def _domain(seed, name):
    domain = Domain.objects.create(customer=seed.customer, name=name, status="active")
    DnsZone.objects.create(domain=domain, dnssec=True)
    return domain


def _domains(seed):
    for i in range(ROWS):
        _domain(seed, f"domain{i}.dk")


def _dns_records(seed):
    zone = _domain(seed, "zone.dk").zone
    DnsRecord.objects.bulk_create(
        DnsRecord(zone=zone, name=f"host{i}", type="A", value=f"192.0.2.{i}") for i in range(ROWS)
    )


def _certificates(seed):
    webhotel = seed.webhotel()
    Certificate.objects.bulk_create(
        Certificate(
            webhotel=webhotel,
            domain=f"site{i}.dk",
            domains=[f"site{i}.dk"],
            not_after=timezone.now(),
            fingerprint=f"{i:064x}",
        )
        for i in range(ROWS)
    )


def _verifications(seed):
    IdentityVerification.objects.bulk_create(
        IdentityVerification(customer=seed.customer, method="eid", status="approved")
        for _ in range(ROWS)
    )


def _plans(seed):
    PlanFactory.create_batch(ROWS)


def _servers(seed):
    ServerFactory.create_batch(ROWS)


def _customers(seed):
    CustomerFactory.create_batch(ROWS)


def _memberships(seed):
    MembershipFactory.create_batch(ROWS, customer=seed.customer, role=Role.TECHNICAL)


def _api_keys(seed):
    for i in range(ROWS):
        create_api_key(Actor(seed.owner), seed.customer, name=f"key {i}")


def _audit_events(seed):
    AuditEvent.objects.bulk_create(
        AuditEvent(
            actor=seed.owner,
            actor_label=seed.owner.email,
            customer=seed.customer,
            action="webhotel.create",
            target=f"site{i}.dk",
        )
        for i in range(ROWS)
    )


def _snapshots(seed):
    now = timezone.now()
    Snapshot.objects.bulk_create(
        Snapshot(
            customer=seed.customer,
            snapshot_id=f"{i:064x}",
            kind="webhotel",
            item_id=i,
            item_name=f"site{i}.dk",
            server_name=seed.server.name,
            taken_at=now,
        )
        for i in range(ROWS)
    )


def _backup_runs(seed):
    BackupRun.objects.bulk_create(
        BackupRun(
            customer=seed.customer,
            server=seed.server,
            kind="webhotel",
            item_id=i,
            item_name=f"site{i}.dk",
            night=date(2026, 1, 1),
            warnings=[{"path": "x", "message": "y"}],
        )
        for i in range(ROWS)
    )


def _invoice(seed, sequence, **fields):
    now = timezone.now()
    invoice = Invoice.objects.create(
        customer=seed.customer,
        number=f"2026-{sequence:06d}",
        year=2026,
        sequence=sequence,
        issued_at=now,
        due_at=now,
        buyer_name=seed.customer.name,
        buyer_address="Vestergade 1",
        vat_rate=25,
        net=10000,
        vat=2500,
        gross=12500,
        **fields,
    )
    InvoiceLine.objects.bulk_create(
        InvoiceLine(
            invoice=invoice, position=p, description="line", quantity=1, unit_price=1, net=1
        )
        for p in (1, 2)
    )
    return invoice


def _invoices(seed):
    """Invoices, every second one credited by a credit note."""
    for i in range(1, ROWS, 2):
        invoice = _invoice(seed, i)
        _invoice(seed, i + 1, kind=Invoice.Kind.CREDIT_NOTE, credits=invoice)


def _restore_orders(seed, recovery=None):
    now = timezone.now()
    for i in range(ROWS):
        order = RestoreOrder.objects.create(
            customer=seed.customer,
            scope="download",
            destination="download",
            expires_at=now,
            recovery=recovery,
            invoice=_invoice(seed, 1000 + i),
        )
        RestoreItem.objects.bulk_create(
            RestoreItem(
                order=order,
                kind="webhotel",
                item_id=item,
                item_name=f"site{item}.dk",
                snapshot_id="f0" * 32,
                taken_at=now,
            )
            for item in (1, 2)
        )


def _server_recoveries(seed):
    recoveries = ServerRecovery.objects.bulk_create(
        ServerRecovery(server=seed.server, point_in_time=timezone.now(), started_by=seed.owner)
        for _ in range(ROWS)
    )
    now = timezone.now()
    RestoreOrder.objects.bulk_create(
        RestoreOrder(
            customer=seed.customer,
            scope="in_place",
            destination="in_place",
            expires_at=now,
            recovery=recovery,
        )
        for recovery in recoveries
    )


def _exports(seed):
    DataExport.objects.bulk_create(
        DataExport(customer=seed.customer, requested_by=seed.owner) for _ in range(ROWS)
    )


def _content_exports(seed):
    ContentExport.objects.bulk_create(
        ContentExport(customer=seed.customer, requested_by=seed.owner) for _ in range(ROWS)
    )


def _closures(seed):
    """Reopened closures (one customer has one live closure at most), each with a receipt."""
    closures = AccountClosure.objects.bulk_create(
        AccountClosure(
            customer=seed.customer,
            status=AccountClosure.Status.REOPENED,
            closed_by=seed.owner,
            purge_after=timezone.now(),
        )
        for _ in range(ROWS)
    )
    ErasureReceipt.objects.bulk_create(
        ErasureReceipt(customer=seed.customer, closure=closure) for closure in closures
    )


def _support_grants(seed):
    SupportGrant.objects.bulk_create(
        SupportGrant(
            customer=seed.customer,
            scopes=["files"],
            expires_at=timezone.now() + timedelta(days=1),
            granted_by=seed.owner,
            revoked_by=seed.owner if i % 2 else None,
            revoked_at=timezone.now() if i % 2 else None,
        )
        for i in range(ROWS)
    )


def _consents(seed):
    ConsentRecord.objects.bulk_create(
        ConsentRecord(
            customer=seed.customer,
            purpose="marketing",
            given=bool(i % 2),
            text_version="1",
            recorded_by=seed.owner,
        )
        for i in range(ROWS)
    )


def _data_requests(seed):
    DataSubjectRequest.objects.bulk_create(
        DataSubjectRequest(
            customer=seed.customer,
            kind="access",
            requester=seed.owner,
            handled_by=seed.owner,
            due_at=timezone.now(),
        )
        for _ in range(ROWS)
    )


def _dpa_versions(seed):
    DpaVersion.objects.bulk_create(
        DpaVersion(version=f"test-{i}", text="text") for i in range(ROWS)
    )


def _dpa_acceptances(seed):
    versions = DpaVersion.objects.bulk_create(
        DpaVersion(version=f"test-{i}", text="text") for i in range(ROWS)
    )
    DpaAcceptance.objects.bulk_create(
        DpaAcceptance(customer=seed.customer, version=version, accepted_by=seed.owner)
        for version in versions
    )


def _endpoint(seed, i=0):
    return WebhookEndpoint.objects.create(
        customer=seed.customer,
        url=f"https://hooks.example.dk/{i}",
        secret_sealed=secretbox.seal("whsec_x"),
        events=["operation.done"],
        created_by=seed.owner,
    )


def _webhooks(seed):
    for i in range(ROWS):
        _endpoint(seed, i)


def _deliveries(seed):
    endpoint = _endpoint(seed)
    deliveries = WebhookDelivery.objects.bulk_create(
        WebhookDelivery(endpoint=endpoint, event="operation.done", body="{}") for _ in range(ROWS)
    )
    WebhookAttempt.objects.bulk_create(
        WebhookAttempt(delivery=delivery, number=n, response_status=500)
        for delivery in deliveries
        for n in (1, 2)
    )
    return {"id": endpoint.pk}


@dataclass(frozen=True)
class Seeder:
    """``build`` makes ``ROWS`` rows of the list's kind and returns the path's parameters.
    ``staff_only``: a customer's key cannot list more than one row (customers) or none."""

    build: Callable[[Seed], dict | None]
    staff_only: bool = False


SEEDERS: dict[str, Seeder] = {
    "/api/v1/aliases": Seeder(_aliases),
    "/api/v1/api-keys": Seeder(_api_keys),
    "/api/v1/audit-events": Seeder(_audit_events),
    "/api/v1/backup-runs": Seeder(_backup_runs),
    "/api/v1/certificates": Seeder(_certificates),
    "/api/v1/closures": Seeder(_closures),
    "/api/v1/consents": Seeder(_consents),
    "/api/v1/content-exports": Seeder(_content_exports),
    "/api/v1/customers": Seeder(_customers, staff_only=True),
    "/api/v1/data-requests": Seeder(_data_requests),
    "/api/v1/databases": Seeder(_databases),
    "/api/v1/dns-records": Seeder(_dns_records),
    "/api/v1/domains": Seeder(_domains),
    "/api/v1/dpa-acceptances": Seeder(_dpa_acceptances),
    "/api/v1/dpa-versions": Seeder(_dpa_versions),
    "/api/v1/erasure-receipts": Seeder(_closures),
    "/api/v1/exports": Seeder(_exports),
    "/api/v1/identity-verifications": Seeder(_verifications),
    "/api/v1/invoices": Seeder(_invoices),
    "/api/v1/mail-domains": Seeder(_mail_domains),
    "/api/v1/mailboxes": Seeder(_mailboxes),
    "/api/v1/memberships": Seeder(_memberships),
    "/api/v1/operations": Seeder(_operations),
    "/api/v1/plans": Seeder(_plans),
    "/api/v1/restore-orders": Seeder(_restore_orders),
    "/api/v1/server-recoveries": Seeder(_server_recoveries, staff_only=True),
    "/api/v1/servers": Seeder(_servers, staff_only=True),
    "/api/v1/snapshots": Seeder(_snapshots),
    "/api/v1/support-grants": Seeder(_support_grants),
    "/api/v1/webhooks": Seeder(_webhooks),
    "/api/v1/webhooks/{id}/deliveries": Seeder(_deliveries),
    "/api/v1/webhotels": Seeder(_webhotels),
}

LIST_ROUTES = list_routes()


def test_every_seeder_names_a_list_endpoint():
    assert SEEDERS.keys() - set(LIST_ROUTES) == set(), "these seeders name no list any more"


def _client(who: str, seed: Seed, logged_in) -> Client:
    if who == "staff":
        return logged_in(UserFactory(staff_role="admin"))
    _key, token = create_api_key(Actor(seed.owner), seed.customer, name="reader")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


def _get(client, url, page_size):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, {"page_size": page_size})
    assert response.status_code == 200, response.content[:500]
    return response.json(), [q["sql"] for q in queries.captured_queries]


@pytest.mark.parametrize("who", ["key", "staff"])
@pytest.mark.parametrize("route", LIST_ROUTES)
def test_a_page_costs_the_same_queries_whatever_its_size(route, who, logged_in):
    seeder = SEEDERS.get(route)
    assert seeder is not None, f"add a seeder for {route} to SEEDERS in this file"
    if seeder.staff_only and who == "key":
        pytest.skip("staff list")
    owner = MembershipFactory(role=Role.OWNER).user
    seed = Seed(owner.memberships.get().customer, owner, ServerFactory(), PlanFactory())
    url = route.format(**(seeder.build(seed) or {}))
    client = _client(who, seed, logged_in)
    _get(client, url, 1)  # the first request's one-off work (the key's last use)

    small, small_queries = _get(client, url, SMALL)
    large, large_queries = _get(client, url, LARGE)

    assert large["count"] >= ROWS and len(large["results"]) == LARGE
    assert len(small["results"]) == SMALL
    assert len(large_queries) == len(small_queries), (
        f"{len(small_queries)} queries for {SMALL} rows, {len(large_queries)} for {LARGE}:\n"
        + "\n".join(large_queries)
    )
