"""The export: one zip with data.json (validated against docs/export-schema.json) and the
invoices' PDFs, in the object store, downloadable 7 days by the customer's own users only."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts import billing, consent
from accounts.actor import Actor
from accounts.models import (
    AccountClosure,
    ApiKey,
    AuditEvent,
    ConsentPurpose,
    Customer,
    DataExport,
    DataSubjectRequest,
    Invoice,
    RestoreScope,
    Role,
    SupportScope,
)
from accounts.privacy import closure, export
from accounts.privacy.registry import categories as registered
from accounts.services import create_api_key
from accounts.webhooks import EVENTS
from api.models import WebhookDelivery
from api.webhooks import services as webhook_services
from backups.models import (
    BackupPolicy,
    BackupRun,
    ContentExport,
    Destination,
    ItemKind,
    RestoreItem,
    RestoreOrder,
)
from backups.services import content_export, restores, runs
from hosting.models import Database, DnsRecord, Domain, IdentityVerification, ResourceStatus
from hosting.services import domains, mail
from infra import objectstore
from tests.conftest import drain
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
DOCS = Path(__file__).parent.parent / "docs"
SCHEMA = json.loads((DOCS / "export-schema.json").read_text())
NIGHT = timezone.now() - timedelta(hours=2)


def build(customer, owner) -> DataExport:
    requested = export.request_export(Actor(owner), customer)
    assert export.request_export(Actor(owner), customer) == requested  # one at a time
    assert export.build_export(requested.pk) == DataExport.Status.READY
    assert export.build_export(requested.pk) == "skipped"
    requested.refresh_from_db()
    return requested


def document_of(done: DataExport) -> dict:
    with zipfile.ZipFile(io.BytesIO(objectstore.default_store().get(done.object_key))) as archive:
        return json.loads(archive.read("data.json"))


@pytest.fixture
def invoice(customer_a, tariff):
    return billing.issue_invoice(
        Actor.system(), customer_a, [("Gendannelse", 50000)], reference="test"
    )


@pytest.fixture
def exported(customer_a, owner_a, invoice):
    return build(customer_a, owner_a), invoice


@pytest.fixture
def every_category(hosted, customer_a, owner_a, staff_admin, tariff, settings):
    """Rows in every category the inventory exports, made through the services."""
    actor, (webhotel, _home) = Actor(owner_a), hosted
    closure.close_account(Actor(staff_admin), customer_a)  # a closure the customer took back
    closure.reopen_account(Actor(staff_admin), customer_a)
    mail.save_alias(
        actor, webhotel.mail_domains.get(), local_part="kontakt", destinations=["info@alfa.dk"]
    )
    drain()
    create_api_key(actor, customer_a, name="deploy")
    domain = domains.register_domain(actor, customer_a, name="alfa-shop.dk")
    domains.save_record(actor, domain.zone, name="www", type="A", value="192.0.2.1")
    domains.verify_identity_with_eid(actor, customer_a, cpr="150385-4711", name="Mette Hansen")
    BackupPolicy.objects.create(customer=customer_a, name="Alfa")
    for run in runs.plan_night(runs.night_of(NIGHT), now=NIGHT, customer=customer_a):
        assert runs.execute(run.pk) == "done", BackupRun.objects.get(pk=run.pk).error
    restores.quote(actor, customer_a, kind="webhotel", item_id=webhotel.pk, destination="download")
    content = content_export.request_content_export(actor, customer_a)
    assert content_export.build_content_export(content.pk) == "ready"
    settings.HAVN_WEBHOOK_ALLOW_PRIVATE = True
    endpoint, _secret = webhook_services.create_endpoint(
        actor, customer_a, url="http://127.0.0.1:9/hook", events=["export.ready"]
    )
    webhook_services.attempt(webhook_services.send_test(actor, endpoint).pk)  # refused: logged
    consent.grant_support_access(
        actor,
        customer_a,
        scopes=["files", "mail"],
        expires_at=timezone.now() + timedelta(days=3),
        note="Ticket 4411",
    )
    consent.record_consent(actor, customer_a, ConsentPurpose.MARKETING, given=True)
    consent.accept_dpa(actor, customer_a, version=consent.current_dpa())
    consent.file_data_request(actor, customer_a, kind="access", message="What do you hold?")


@pytest.fixture
def exported_in_full(every_category, customer_a, owner_a, invoice):
    return build(customer_a, owner_a), invoice


def test_the_archive_holds_every_category_and_the_invoices(exported_in_full, customer_a):
    done, invoice = exported_in_full
    assert done.object_key == f"exports/{customer_a.uuid}/{done.uuid}.zip"
    assert done.expires_at == done.ready_at + timedelta(days=7)
    data = objectstore.default_store().get(done.object_key)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document = json.loads(archive.read("data.json"))
        pdf = archive.read(f"invoices/{invoice.number}.pdf")
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert pdf.startswith(b"%PDF")
    categories = document["categories"]
    # Rows in every category, so that every definition in the schema was checked against data.
    exporting = {c.key for c in registered() if c.export is not None}
    assert set(categories) == exporting
    # (Not erasure receipts: the purge writes one, and after the purge there is no export.)
    assert categories["accounts.privacy_records"]["data"].pop("receipts") == []
    for key, entry in categories.items():
        data = entry["data"]
        lists = [data] if isinstance(data, list) else [v for v in data.values() if type(v) is list]
        assert data and all(lists), key
    assert categories["accounts.profile"]["data"]["name"] == customer_a.name
    assert categories["accounts.api_keys"]["data"][0]["name"] == "deploy"
    [webhotel] = categories["hosting.content"]["data"]
    assert webhotel["primary_domain"] == "alfa.dk"
    assert webhotel["mail_domains"][0]["mailboxes"][0]["address"] == "info@alfa.dk"
    assert webhotel["mail_domains"][0]["aliases"][0]["address"] == "kontakt@alfa.dk"
    [domain] = categories["hosting.domains"]["data"]
    assert {"name": "www", "type": "A", "value": "192.0.2.1"}.items() <= (
        domain["dns"]["records"][0].items()
    )
    assert categories["accounts.invoices"]["data"][0]["number"] == invoice.number
    [identity] = categories["hosting.identity"]["data"]
    assert identity["status"] == "approved" and "150385" not in json.dumps(document)
    [webhook] = categories["api.webhooks"]["data"]
    assert "secret" not in json.dumps(webhook) and webhook["deliveries"][0]["attempts"][0]["error"]
    [grant] = categories["accounts.support_grants"]["data"]
    assert grant["scopes"] == ["files", "mail"] and grant["note"] == "Ticket 4411"
    assert categories["accounts.consent"]["data"]["consents"][0]["given"] is True
    assert categories["accounts.dpa"]["data"][0]["version"] == consent.current_dpa().version
    assert categories["accounts.data_requests"]["data"][0]["kind"] == "access"
    [content] = categories["backups.content_exports"]["data"]
    assert {item["kind"] for item in content["items"]} == {"webhotel", "mailbox", "database"}
    assert AuditEvent.objects.filter(action="export.ready", customer=customer_a).exists()


def test_the_schema_defines_every_exported_category_and_nothing_else():
    """A category added to the inventory fails here until the schema defines it."""
    exporting = {c.key for c in registered() if c.export is not None}
    categories = SCHEMA["properties"]["categories"]
    assert set(categories["required"]) == set(categories["properties"]) == exporting
    assert categories["additionalProperties"] is False
    for key, entry in categories["properties"].items():
        assert entry["properties"]["data"], key  # no category whose data is anything


def test_the_schema_rejects_a_malformed_document(exported):
    done, _invoice = exported
    document = document_of(done)
    jsonschema.validate(document, SCHEMA)
    broken = [
        lambda d: d["categories"]["accounts.profile"]["data"].pop("uuid"),
        lambda d: d["categories"].update({"shop.orders": d["categories"]["accounts.users"]}),
        lambda d: d["categories"].pop("api.webhooks"),
        lambda d: d["categories"]["accounts.users"]["data"][0].update(password="x"),
        lambda d: d["categories"]["accounts.invoices"]["data"][0].update(net="500.00"),
        lambda d: d["categories"]["accounts.exports"]["data"][0].update(status="lost"),
    ]
    for breaking in broken:
        copy = json.loads(json.dumps(document))
        breaking(copy)
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(copy, SCHEMA)


ENUMS = {
    "customer_kind": Customer.Kind,
    "customer_status": Customer.Status,
    "role": Role,
    "api_key_access": ApiKey.Access,
    "data_export_status": DataExport.Status,
    "invoice_kind": Invoice.Kind,
    "invoice_status": Invoice.Status,
    "closure_status": AccountClosure.Status,
    "resource_status": ResourceStatus,
    "domain_status": Domain.Status,
    "identity_method": IdentityVerification.Method,
    "identity_status": IdentityVerification.Status,
    "item_kind": ItemKind,
    "backup_run_status": BackupRun.Status,
    "restore_scope": RestoreScope,
    "restore_destination": Destination,
    "restore_order_status": RestoreOrder.Status,
    "restore_item_status": RestoreItem.Status,
    "content_export_status": ContentExport.Status,
    "webhook_delivery_status": WebhookDelivery.Status,
    "support_scope": SupportScope,
    "consent_purpose": ConsentPurpose,
    "data_request_kind": DataSubjectRequest.Kind,
    "data_request_status": DataSubjectRequest.Status,
}


def test_the_schemas_enumerations_are_the_models_choices():
    for name, choices in ENUMS.items():
        assert SCHEMA["$defs"][name]["enum"] == list(choices.values), name
    assert SCHEMA["$defs"]["webhook_event"]["enum"] == list(EVENTS)
    assert SCHEMA["$defs"]["language"]["enum"] == [code for code, _name in settings.LANGUAGES]
    assert SCHEMA["$defs"]["database_engine"]["enum"] == list(Database.Engine.values)
    assert SCHEMA["$defs"]["dns_record_type"]["enum"] == list(DnsRecord.Type.values)


def test_the_privacy_page_lists_every_category():
    """docs/privacy.md's record of processing names every registered category in the registry's
    own words: purpose, legal basis and retention."""
    page = (DOCS / "privacy.md").read_text()
    rows = {
        line.split("|")[1].strip().strip("`"): line
        for line in page.splitlines()
        if line.startswith("| `") and "GDPR" in line
    }
    assert set(rows) == {category.key for category in registered()}
    for category in registered():
        for words in (category.purpose, category.legal_basis, category.retention):
            assert f"| {words} |" in rows[category.key], (category.key, str(words))


def test_download_by_the_owner_is_audited_and_others_get_404(
    exported, customer_a, owner_a, owner_b, logged_in
):
    done, _invoice = exported
    url = f"/customers/{customer_a.pk}/privacy/exports/{done.uuid}/download/"
    response = logged_in(owner_a).get(url)
    assert response.status_code == 200
    assert zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content))).namelist()
    assert AuditEvent.objects.filter(action="export.downloaded", customer=customer_a).exists()
    # Another customer's owner, with their own customer id or with A's: 404 either way.
    assert logged_in(owner_b).get(url).status_code == 404
    assert (
        logged_in(owner_b)
        .get(
            f"/customers/{owner_b.memberships.get().customer_id}/privacy/exports/{done.uuid}/download/"
        )
        .status_code
        == 404
    )
    billing_user = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    assert logged_in(billing_user).get(url).status_code == 404


def test_an_expired_link_is_404_and_the_archive_goes(exported, customer_a, owner_a, logged_in):
    done, _invoice = exported
    url = f"/customers/{customer_a.pk}/privacy/exports/{done.uuid}/download/"
    later = done.expires_at + timedelta(seconds=1)
    DataExport.objects.filter(pk=done.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert logged_in(owner_a).get(url).status_code == 404
    assert export.expire_exports(later) == 1
    assert objectstore.default_store().stat(done.object_key) is None


def test_only_owners_and_admins_request_exports(customer_a, staff_admin):
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    for user in (technical, staff_admin):
        with pytest.raises(PermissionDenied):
            export.request_export(Actor(user), customer_a)
