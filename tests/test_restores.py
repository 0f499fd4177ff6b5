"""Paid restores end to end: back up onto the moto S3 store from the sshd sandbox, damage and
delete, quote, accept, pay, restore, and compare every byte (docs/restore.md)."""

import io
import os
import shutil
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import billing
from accounts.actor import Actor
from accounts.models import Invoice, RestoreScope, TariffVersion
from backups.models import (
    BackupRun,
    RepositoryKey,
    RestoreClaim,
    RestoreItem,
    RestoreOrder,
    ServerRecovery,
    Snapshot,
)
from backups.services import recovery, restores, runs
from hosting.models import Server

NIGHT = timezone.now() - timedelta(hours=2)


def back_up_all() -> None:
    for run in runs.plan_night(runs.night_of(NIGHT), now=NIGHT):
        assert runs.execute(run.pk) in ("done", "partial"), BackupRun.objects.get(pk=run.pk).error


def run_restores() -> list[str]:
    """Carry out queued restore items as the Celery task would, recoveries feeding theirs."""
    statuses = []
    for r in ServerRecovery.objects.filter(status=ServerRecovery.Status.RUNNING):
        recovery.feed(r.pk)
    while queued := list(RestoreItem.objects.filter(status=RestoreItem.Status.QUEUED)):
        statuses += [restores.execute_item(item.pk) for item in queued]
    return statuses


@pytest.fixture
def pay(django_capture_on_commit_callbacks):
    """Pay an order's invoice through the local payment provider, as the customer would."""

    def pay(actor, order):
        token = restores.pay(actor, order).url.split("/")[3]
        with django_capture_on_commit_callbacks(execute=True):
            billing.confirm_payment({"token": token})

    return pay


def tree(path: Path) -> dict[str, tuple]:
    """Every file below ``path`` with its bytes, mode and mtime."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file():
            st = p.stat()
            out[str(p.relative_to(path))] = (p.read_bytes(), st.st_mode, st.st_mtime_ns // 10**9)
    return out


@pytest.fixture
def backed_up(s3_store, hosted, tariff):
    webhotel, home = hosted
    (home / "shop").mkdir()
    for n in range(20):
        (home / "shop" / f"item{n}.php").write_text(f"<?php echo {n};\n" * 50)
    os.chmod(home / "shop" / "item3.php", 0o640)
    before = tree(home)
    back_up_all()
    return webhotel, home, before


def webhotel_snapshot(webhotel) -> Snapshot:
    return Snapshot.objects.get(kind="webhotel", item_id=webhotel.pk)


def test_a_deleted_folder_comes_back_byte_for_byte_after_the_invoice_is_paid(
    pay, backed_up, owner_a, customer_a
):
    webhotel, home, before = backed_up
    shutil.rmtree(home / "shop")
    (home / "page1.html").write_text("vandalised")
    actor = Actor(owner_a)

    order = restores.quote(
        actor,
        customer_a,
        kind="webhotel",
        item_id=webhotel.pk,
        destination="in_place",
        paths=["public_html/shop", "public_html/page1.html"],
    )
    expected = billing.quote_price("file", order.size_bytes)
    assert (order.status, order.scope, order.gross) == ("quoted", "file", expected.gross)
    assert order.size_bytes == sum(len(before[f"shop/item{n}.php"][0]) for n in range(20)) + len(
        before["page1.html"][0]
    )

    order = restores.accept(actor, order)
    assert order.status == "invoiced" and order.invoice.status == Invoice.Status.OPEN
    assert order.invoice.gross == order.gross
    assert run_restores() == []  # nothing runs before the invoice is paid

    pay(actor, order)
    assert run_restores() == ["done"]
    order.refresh_from_db()
    assert order.status == "done" and order.invoice.status == Invoice.Status.PAID
    item = order.items.get()
    assert item.verified and item.files_done == 21
    assert tree(home) == before


def test_a_quote_is_accepted_once_by_its_customer_before_it_expires(
    backed_up, owner_a, owner_b, customer_a
):
    webhotel, _home, _before = backed_up
    order = restores.quote(
        Actor(owner_a), customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )
    with pytest.raises(PermissionDenied):
        restores.accept(Actor(owner_b), order)
    RestoreOrder.objects.filter(pk=order.pk).update(expires_at=timezone.now())
    with pytest.raises(ValidationError, match="expired"):
        restores.accept(Actor(owner_a), order)
    RestoreOrder.objects.filter(pk=order.pk).update(expires_at=timezone.now() + timedelta(days=1))
    restores.accept(Actor(owner_a), order)
    with pytest.raises(ValidationError, match="already"):
        restores.accept(Actor(owner_a), order)
    assert Invoice.objects.filter(customer=customer_a).count() == 1


def test_a_quote_keeps_its_price_when_the_tariff_changes(backed_up, owner_a, customer_a):
    webhotel, _home, _before = backed_up
    order = restores.quote(
        Actor(owner_a), customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )
    old = order.gross
    current = billing.current_tariff()
    TariffVersion.objects.create(
        valid_from=timezone.now(),
        price_per_gb=current.price_per_gb * 2,
        **{f"fee_{scope}": current.fee_for(scope) * 2 for scope in RestoreScope.values},
    )
    assert billing.quote_price("webhotel", order.size_bytes).gross > old
    order = restores.accept(Actor(owner_a), order)
    assert order.invoice.gross == old


def test_a_task_delivered_twice_runs_and_charges_once(pay, backed_up, owner_a, customer_a):
    webhotel, _home, _before = backed_up
    actor = Actor(owner_a)
    order = restores.quote(
        actor, customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )
    pay(actor, restores.accept(actor, order))
    item = order.items.get()
    assert restores.execute_item(item.pk) == "done"
    RestoreItem.objects.filter(pk=item.pk).update(status="queued")  # a redelivered message
    assert restores.execute_item(item.pk) == "skipped"
    assert RestoreClaim.objects.filter(item=item).count() == 1
    assert Invoice.objects.filter(customer=customer_a, kind=Invoice.Kind.INVOICE).count() == 1


def test_a_download_archive_holds_the_snapshot_behind_an_expiring_link(
    pay, backed_up, owner_a, customer_a, client, settings
):
    webhotel, _home, before = backed_up
    actor = Actor(owner_a)
    order = restores.quote(
        actor,
        customer_a,
        kind="webhotel",
        item_id=webhotel.pk,
        destination="download",
        archive_format="zip",
        paths=["public_html"],
    )
    pay(actor, restores.accept(actor, order))
    assert run_restores() == ["done"]
    order.refresh_from_db()
    link = restores.download_link(actor, order)
    response = client.get(link)
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert len(body) == order.archive_size
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        files = {
            n.removeprefix("public_html/"): archive.read(n)
            for n in archive.namelist()
            if not n.endswith("/")
        }
    assert files == {name: data for name, (data, _m, _t) in before.items()}
    assert client.get(link[:-3] + "xyz/").status_code == 404  # tampered
    settings.HAVN_RESTORE_LINK_HOURS = 0
    assert client.get(link).status_code == 404  # expired


def test_a_failed_restore_is_credited_and_says_why(pay, backed_up, owner_a, customer_a, s3_store):
    webhotel, _home, _before = backed_up
    actor = Actor(owner_a)
    order = restores.quote(
        actor, customer_a, kind="webhotel", item_id=webhotel.pk, destination="in_place"
    )
    pay(actor, restores.accept(actor, order))
    for obj in s3_store.list(f"customers/{customer_a.uuid}/packs/"):
        s3_store.delete(obj.key)
    assert run_restores() == ["failed"]
    order.refresh_from_db()
    assert order.status == "failed" and order.error
    assert order.credit_note is not None and -order.credit_note.gross == order.invoice.gross
    order.invoice.refresh_from_db()
    assert order.invoice.status == Invoice.Status.CREDITED


def test_erased_keys_fail_the_restore_with_a_clear_reason(pay, backed_up, owner_a, customer_a):
    webhotel, _home, _before = backed_up
    actor = Actor(owner_a)
    order = restores.quote(
        actor, customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )
    pay(actor, restores.accept(actor, order))
    RepositoryKey.objects.filter(customer=customer_a).update(destroyed_at=timezone.now())
    assert run_restores() == ["failed"]
    assert "erased" in order.items.get().error


def test_staff_waive_a_fee_with_a_reason_and_the_restore_runs_unpaid(
    backed_up, owner_a, staff_support, customer_a
):
    webhotel, _home, _before = backed_up
    order = restores.quote(
        Actor(owner_a), customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )
    order = restores.accept(Actor(owner_a), order)
    with pytest.raises(PermissionDenied):
        restores.waive(Actor(owner_a), order, reason="I would rather not pay for this")
    with pytest.raises(ValidationError):
        restores.waive(Actor(staff_support), order, reason="because")
    order = restores.waive(
        Actor(staff_support), order, reason="The disk failed on our side (ticket 4711)."
    )
    assert -order.credit_note.gross == order.invoice.gross
    assert run_restores() == ["done"]


def test_cancelling_before_the_run_credits_the_invoice(backed_up, owner_a, customer_a):
    webhotel, _home, _before = backed_up
    actor = Actor(owner_a)
    order = restores.accept(
        actor,
        restores.quote(
            actor, customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
        ),
    )
    order = restores.cancel(actor, order)
    assert order.status == "cancelled" and order.credit_note is not None
    assert order.items.get().status == "cancelled"
    with pytest.raises(ValidationError):
        restores.cancel(actor, order)


def test_a_whole_server_comes_back_onto_a_replacement(
    backed_up, sandbox_server, second_sshd, staff_support, customer_a
):
    webhotel, home, before = backed_up
    database = webhotel.databases.get()
    db_file = Path(sandbox_server.root) / "databases" / database.engine / f"{database.name}.json"
    db_before = db_file.read_bytes()
    maildir = Path(sandbox_server.root) / "mail" / "alfa.dk" / "info" / "Maildir"
    mail_before = tree(maildir)
    replacement = Server.objects.create(
        name="sandbox-replacement",
        address=second_sshd.host,
        ssh_port=second_sshd.port,
        ssh_user=second_sshd.user,
        host_key=second_sshd.host_key_line,
        host_key_confirmed_at=timezone.now(),
        transport=Server.Transport.SSH,
        profile=Server.Profile.SANDBOX,
        root=str(second_sshd.root / "srv"),
    )
    shutil.rmtree(sandbox_server.root)  # the crash

    started = recovery.start_recovery(
        Actor(staff_support), sandbox_server, at=timezone.now(), replacement=replacement, parallel=2
    )
    assert started.orders.count() == 1
    assert run_restores().count("done") == 3
    started.refresh_from_db()
    assert started.status == "done"
    report = started.report
    assert (report["restored"], report["failed"]) == (3, 0)
    new_root = Path(replacement.root)
    new_home = new_root / "webhotels" / webhotel.system_user / "public_html"
    assert tree(new_home) == before
    assert (new_root / "databases" / database.engine / f"{database.name}.json").read_bytes() == (
        db_before
    )
    assert tree(new_root / "mail" / "alfa.dk" / "info" / "Maildir") == mail_before
    webhotel.refresh_from_db()
    assert webhotel.server == replacement
    order = started.orders.get()
    assert order.invoice is not None and order.scope == "server"
    assert order.gross == billing.quote_price("server", order.size_bytes).gross
