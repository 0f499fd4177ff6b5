"""The content export (issue 6 item 3): the customer's live content — webhotel files, mailboxes
and database dumps, read from the sshd sandbox — in one tar.zst in the store, downloaded through
a signed link only the customer's own users can open, at no charge."""

import hashlib
import io
import shutil
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
import zstandard
from django.urls import reverse
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, Invoice
from accounts.services import create_api_key
from backups.models import ContentExport
from backups.privacy import erase_content_exports, export_content_exports
from backups.services import content_export
from hosting.models import Database

pytestmark = pytest.mark.django_db


def _build(customer, user, django_capture_on_commit_callbacks) -> ContentExport:
    with django_capture_on_commit_callbacks() as queued:
        export = content_export.request_content_export(Actor(user), customer)
    assert len(queued) == 1  # the build task, published on commit
    assert content_export.build_content_export(export.pk) == ContentExport.Status.READY
    assert content_export.build_content_export(export.pk) == "skipped"
    export.refresh_from_db()
    return export


def _members(body: bytes) -> dict[str, bytes | None]:
    """Archive path -> content (None for directories and symlinks)."""
    raw = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(body)).read()
    out = {}
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:") as archive:
        for member in archive:
            data = archive.extractfile(member).read() if member.isreg() else None
            out[member.name] = data
    return out


def _download(client, customer, export) -> bytes:
    link = client.post(reverse("backups:content_export_link", args=[customer.pk, export.uuid]))
    assert link.status_code == 302
    response = client.get(link["Location"])
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('.tar.zst"')
    return b"".join(response.streaming_content)


def test_the_archive_holds_every_file_the_mail_and_the_dump(
    client,
    hosted,
    s3_store,
    sandbox_server,
    customer_a,
    owner_a,
    django_capture_on_commit_callbacks,
):
    webhotel, _public_html = hosted
    invoices = Invoice.objects.filter(customer=customer_a).count()
    export = _build(customer_a, owner_a, django_capture_on_commit_callbacks)
    assert export.object_key == f"exports/{customer_a.uuid}/content-{export.uuid}.tar.zst"
    assert s3_store.stat(export.object_key) == export.size
    assert export.expires_at == export.ready_at + timedelta(days=7)

    client.force_login(owner_a)
    body = _download(client, customer_a, export)
    assert len(body) == export.size and hashlib.sha256(body).hexdigest() == export.sha256
    members = _members(body)

    root = Path(sandbox_server.root)
    home = root / "webhotels" / webhotel.system_user
    files = [p for p in home.rglob("*") if p.is_file()]
    assert len(files) >= 101
    for path in files:
        name = f"webhotels/alfa.dk/{path.relative_to(home)}"
        assert members[name] == path.read_bytes(), name
    message = members["mail/info@alfa.dk/cur/1700000000.M1.havn:2,S"]
    assert message == b"Subject: Hej\n\nHej med dig\n"
    database = Database.objects.get(webhotel=webhotel)
    dump = root / "databases" / database.engine / f"{database.name}.json"
    assert members[f"databases/{database.name}.json"] == dump.read_bytes()
    assert {item["kind"] for item in export.items} == {"webhotel", "mailbox", "database"}

    # Free: no invoice; every step audited.
    assert Invoice.objects.filter(customer=customer_a).count() == invoices
    actions = set(AuditEvent.objects.filter(customer=customer_a).values_list("action", flat=True))
    assert {
        "content_export.requested",
        "content_export.ready",
        "content_export.link_issued",
        "content_export.downloaded",
    } <= actions


def test_forged_expired_and_foreign_links_are_404(
    client,
    hosted,
    s3_store,
    customer_a,
    owner_a,
    customer_b,
    owner_b,
    staff_support,
    logged_in,
    django_capture_on_commit_callbacks,
):
    export = _build(customer_a, owner_a, django_capture_on_commit_callbacks)
    path = content_export.download_link(Actor(owner_a), export)
    token = path.rstrip("/").rsplit("/", 1)[1]
    own = reverse("backups:content_export_download", args=[customer_a.pk, token])
    assert path == own

    client.force_login(owner_a)
    assert client.get(own).status_code == 200
    forged = reverse("backups:content_export_download", args=[customer_a.pk, token[:-2] + "xx"])
    assert client.get(forged).status_code == 404
    # The link under another customer the user belongs to names the wrong customer.
    assert client.get(own.replace(f"/{customer_a.pk}/", f"/{customer_b.pk}/")).status_code == 404

    for stranger in (owner_b, staff_support):  # another customer's owner; staff (no grant counts)
        assert logged_in(stranger).get(own).status_code == 404

    client.force_login(owner_a)
    ContentExport.objects.filter(pk=export.pk).update(expires_at=timezone.now())
    assert client.get(own).status_code == 404

    # The hourly sweep deletes the expired archive.
    assert content_export.sweep() == 1
    export.refresh_from_db()
    assert export.status == ContentExport.Status.EXPIRED
    assert s3_store.stat(f"exports/{customer_a.uuid}/content-{export.uuid}.tar.zst") is None


def test_the_api_accepts_polls_and_links(
    client, hosted, s3_store, customer_a, owner_a, customer_b, owner_b
):
    _key, token = create_api_key(
        Actor(owner_a), customer_a, name="ci", access=ApiKey.Access.READ_WRITE
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    response = client.post("/api/v1/content-exports", {"customer": customer_a.pk}, **auth)
    assert response.status_code == 202 and response.json()["status"] == "queued"
    location = response["Location"]
    assert client.post(f"{location}/download-link", **auth).status_code == 400  # not ready yet
    content_export.build_content_export(response.json()["id"])
    assert client.get(location, **auth).json()["status"] == "ready"
    listed = client.get("/api/v1/content-exports", **auth).json()
    assert [row["id"] for row in listed["results"]] == [response.json()["id"]]
    link = client.post(f"{location}/download-link", **auth).json()
    client.force_login(owner_a)
    assert client.get(link["url"]).status_code == 200

    _key_b, token_b = create_api_key(
        Actor(owner_b), customer_b, name="b", access=ApiKey.Access.READ_WRITE
    )
    foreign = {"HTTP_AUTHORIZATION": f"Bearer {token_b}"}
    assert client.get(location, **foreign).status_code == 404
    assert client.post(f"{location}/download-link", **foreign).status_code == 404
    refused = client.post("/api/v1/content-exports", {"customer": customer_a.pk}, **foreign)
    assert refused.status_code == 404


def test_an_unreadable_item_fails_the_export_with_its_name(
    hosted, s3_store, sandbox_server, customer_a, owner_a, django_capture_on_commit_callbacks
):
    shutil.rmtree(Path(sandbox_server.root) / "mail" / "alfa.dk" / "info" / "Maildir")
    with django_capture_on_commit_callbacks():
        export = content_export.request_content_export(Actor(owner_a), customer_a)
    assert content_export.build_content_export(export.pk) == ContentExport.Status.FAILED
    export.refresh_from_db()
    assert "info@alfa.dk" in export.error and not export.object_key
    assert list(s3_store.list(f"exports/{customer_a.uuid}/")) == []


def test_the_privacy_page_offers_it_and_the_inventory_exports_and_erases_it(
    client, hosted, s3_store, customer_a, owner_a, django_capture_on_commit_callbacks
):
    client.force_login(owner_a)
    page = client.get(reverse("accounts:privacy", args=[customer_a.pk])).content.decode()
    assert 'id="request-content-export"' in page
    with django_capture_on_commit_callbacks(execute=False):
        asked = client.post(reverse("backups:content_exports", args=[customer_a.pk]))
    assert asked.status_code == 302
    export = ContentExport.objects.get(customer=customer_a)
    content_export.build_content_export(export.pk)
    page = client.get(reverse("backups:content_exports", args=[customer_a.pk])).content.decode()
    assert reverse("backups:content_export_link", args=[customer_a.pk, export.uuid]) in page

    assert [row["uuid"] for row in export_content_exports(customer_a)] == [export.uuid]
    erase_content_exports(customer_a, purge=None)
    assert not ContentExport.objects.filter(customer=customer_a).exists()
    assert list(s3_store.list(f"exports/{customer_a.uuid}/content-")) == []
