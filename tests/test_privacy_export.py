"""The export: one zip with data.json (validated against docs/export-schema.json) and the
invoices' PDFs, in the object store, downloadable 7 days by the customer's own users only."""

import io
import json
import zipfile
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts import billing
from accounts.actor import Actor
from accounts.models import AuditEvent, DataExport, Role
from accounts.privacy import export
from accounts.services import create_api_key
from hosting.services import domains
from infra import objectstore
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db
SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "export-schema.json").read_text())


@pytest.fixture
def exported(hosted, customer_a, owner_a, tariff):
    create_api_key(Actor(owner_a), customer_a, name="deploy")
    domain = domains.register_domain(Actor(owner_a), customer_a, name="alfa-shop.dk")
    domains.save_record(Actor(owner_a), domain.zone, name="www", type="A", value="192.0.2.1")
    invoice = billing.issue_invoice(
        Actor.system(), customer_a, [("Gendannelse", 50000)], reference="test"
    )
    requested = export.request_export(Actor(owner_a), customer_a)
    assert export.request_export(Actor(owner_a), customer_a) == requested  # one at a time
    assert export.build_export(requested.pk) == DataExport.Status.READY
    assert export.build_export(requested.pk) == "skipped"
    requested.refresh_from_db()
    return requested, invoice


def test_the_archive_holds_every_category_and_the_invoices(exported, customer_a):
    done, invoice = exported
    assert done.object_key == f"exports/{customer_a.uuid}/{done.uuid}.zip"
    assert done.expires_at == done.ready_at + timedelta(days=7)
    data = objectstore.default_store().get(done.object_key)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        document = json.loads(archive.read("data.json"))
        pdf = archive.read(f"invoices/{invoice.number}.pdf")
    jsonschema.validate(document, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert pdf.startswith(b"%PDF")
    categories = document["categories"]
    assert categories["accounts.profile"]["data"]["name"] == customer_a.name
    assert categories["accounts.api_keys"]["data"][0]["name"] == "deploy"
    [webhotel] = categories["hosting.content"]["data"]
    assert webhotel["primary_domain"] == "alfa.dk"
    assert webhotel["mail_domains"][0]["mailboxes"][0]["address"] == "info@alfa.dk"
    [domain] = categories["hosting.domains"]["data"]
    assert {"name": "www", "type": "A", "value": "192.0.2.1"}.items() <= (
        domain["dns"]["records"][0].items()
    )
    assert categories["accounts.invoices"]["data"][0]["number"] == invoice.number
    assert AuditEvent.objects.filter(action="export.ready", customer=customer_a).exists()


def test_the_schema_rejects_a_malformed_document(exported):
    done, _invoice = exported
    with zipfile.ZipFile(io.BytesIO(objectstore.default_store().get(done.object_key))) as archive:
        document = json.loads(archive.read("data.json"))
    del document["categories"]["accounts.profile"]["data"]["uuid"]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(document, SCHEMA)


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
