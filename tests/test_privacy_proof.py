"""The proof of erasure (docs/privacy.md): a unique canary string planted in every kind of a
customer's data, backups included, is found nowhere after the purge — not in any table of the
database, the servers' trees, the object store (raw, or decrypted with every key left) or the
application logs — except in the invoices the law makes Havn keep. The erased customer's backups
can no longer be restored; another customer's still can."""

import json
import logging
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from accounts import billing
from accounts.actor import Actor
from accounts.models import Invoice, RestoreScope
from accounts.privacy import closure as closures
from accounts.privacy import purge
from accounts.services import create_api_key, update_customer
from backups.models import BackupRun, RepositoryKey, RestoreItem
from backups.services import restores, runs
from backups.services.repositories import KeysDestroyed, open_repository
from hosting.services import domains, webhotels
from tests.conftest import drain
from tests.factories import PASSWORD, PlanFactory

pytestmark = pytest.mark.django_db
KEPT_TABLES = {"accounts_invoice", "accounts_invoiceline"}


def tables_holding(needle: str) -> dict[str, int]:
    """Every table with rows whose text (all columns, cast as one row) holds ``needle``."""
    found = {}
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            quoted = connection.ops.quote_name(table)
            query = f"SELECT count(*) FROM {quoted} t WHERE t::text LIKE %s"  # noqa: S608
            cursor.execute(query, [f"%{needle}%"])
            if count := cursor.fetchone()[0]:
                found[table] = count
    return found


def files_holding(root: Path, needle: str) -> list[str]:
    data = needle.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and data in p.read_bytes()]


def objects_holding(store, needle: str) -> list[str]:
    """Objects whose raw bytes hold ``needle``, and snapshot files that do once decrypted with
    every repository key still in the database."""
    data = needle.encode()
    hits = [info.key for info in store.list("") if data in store.get(info.key)]
    for row in RepositoryKey.objects.filter(destroyed_at__isnull=True):
        repo = open_repository(row.customer, store)
        for snapshot in repo.snapshots():
            for entry in repo.iter_tree(snapshot):
                if entry.type == "file" and data in b"".join(repo.read_entry(entry)):
                    hits.append(f"{row.customer}:{snapshot.id}:{entry.path}")
    return hits


def back_up(night) -> None:
    for run in runs.plan_night(night):
        assert runs.execute(run.pk) in ("done", "partial"), BackupRun.objects.get(pk=run.pk).error


@pytest.fixture
def other_customer(sandbox_server, customer_b, owner_b):
    webhotel = webhotels.create_webhotel(
        Actor(owner_b), customer_b, primary_domain="beta.dk", plan=PlanFactory()
    )
    drain()
    home = Path(sandbox_server.root) / "webhotels" / webhotel.system_user / "public_html"
    (home / "beta.html").write_text("Beta's own page\n")
    return webhotel


def test_a_canary_in_every_kind_of_data_is_gone_after_the_purge(
    s3_store, hosted, other_customer, customer_a, owner_a, staff_support, tariff, sshd, caplog
):
    caplog.set_level(logging.INFO)
    canary = f"canary{uuid.uuid4().hex}"
    webhotel, home = hosted
    server_root = Path(webhotel.server.root)
    actor = Actor(owner_a)
    # Profile (and so the invoice's buyer snapshot), the owner's name, an API key's label.
    update_customer(actor, customer_a, name=f"Alfa {canary}", address=f"Kanarievej {canary}")
    owner_a.full_name = canary
    owner_a.save(update_fields=["full_name"])
    create_api_key(actor, customer_a, name=f"key {canary}")
    invoice = billing.issue_invoice(actor, customer_a, [("Gendannelse", 50000)], reference="r")
    # A webhotel file, a database row, a mail, a DNS record.
    (home / "canary.html").write_text(f"<p>{canary}</p>\n")
    [db_file] = (server_root / "databases").rglob("*.json")
    db = json.loads(db_file.read_text())
    db_file.write_text(json.dumps({**db, "rows": [{"id": 1, "note": canary}]}))
    maildir = server_root / "mail" / "alfa.dk" / "info" / "Maildir" / "new"
    (maildir / "1700000001.M2.havn").write_text(f"Subject: hej\n\n{canary}\n")
    domain = domains.register_domain(actor, customer_a, name="alfa-kanarie.dk")
    domains.save_record(actor, domain.zone, name="@", type="TXT", value=canary)
    # Backups of both customers.
    back_up(runs.night_of(invoice.issued_at) - timedelta(days=1))
    store = s3_store
    assert tables_holding(canary).keys() - KEPT_TABLES  # planted in the live tables
    assert files_holding(server_root, canary)
    assert any(":" in hit for hit in objects_holding(store, canary))  # found once decrypted

    closure = closures.close_account(actor, customer_a, reauthenticated_password=PASSWORD)
    drain()
    purge.purge(closure, now=closure.purge_after + timedelta(minutes=1))

    assert set(tables_holding(canary)) == {"accounts_invoice"}
    assert Invoice.objects.get(pk=invoice.pk).buyer_name == f"Alfa {canary}"
    assert files_holding(Path(sshd.root), canary) == []
    assert objects_holding(store, canary) == []
    assert not [key for key in (i.key for i in store.list("")) if str(customer_a.uuid) in key]
    assert canary not in caplog.text

    # The erased customer's backups cannot be restored, with a clear reason.
    with pytest.raises(KeysDestroyed):
        open_repository(customer_a)
    with pytest.raises(ValidationError, match="erased"):
        restores.repository_of(customer_a)
    # Another customer's restore still works.
    owner_b = other_customer.customer.memberships.get().user
    order = restores.quote(
        Actor(owner_b),
        other_customer.customer,
        kind="webhotel",
        item_id=other_customer.pk,
        destination="download",
        archive_format="zip",
    )
    order = restores.accept(Actor(owner_b), order)
    restores.waive(Actor(staff_support), order, reason="Proof of erasure test, ticket 1.")
    [item] = RestoreItem.objects.filter(order=order)
    assert restores.execute_item(item.pk) == "done"
    order.refresh_from_db()
    assert order.status == "done" and b"Beta's own page" in _unzipped(store.get(order.archive_key))
    assert order.scope == RestoreScope.WEBHOTEL


def _unzipped(data: bytes) -> bytes:
    import io
    import zipfile

    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return b"".join(archive.read(name) for name in archive.namelist())
