"""Repository maintenance end to end: retention (forget + prune), check, the catalogue and the
``backup`` management command, against the moto S3 server and the sshd sandbox."""

import hashlib
import io
import os
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import AuditEvent
from backups.engine import forget
from backups.models import BackupPolicy, BackupRun, Snapshot
from backups.services import maintenance, runs
from backups.services.repositories import open_repository
from hosting.services import webhotels
from infra import objectstore
from tests.conftest import drain
from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def webhotel(s3_store, sandbox_server, customer_a, owner_a):
    """One webhotel with a few pages on the sandbox server (no database or mailbox: quick)."""
    wh = webhotels.create_webhotel(
        Actor(owner_a), customer_a, primary_domain="alfa.dk", plan=PlanFactory()
    )
    assert {op.status for op in drain()} == {"done"}
    home = Path(sandbox_server.root) / "webhotels" / wh.system_user / "public_html"
    for n in range(20):
        (home / f"page{n}.html").write_text(f"<h1>Side {n}</h1>\n" * 100)
    return wh, home


def local(day: date, hour: int = 2) -> datetime:
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour))


def night_at(time_machine, moment: datetime, **selection) -> list[BackupRun]:
    """Back up at ``moment`` (the snapshot times follow the clock): that night's runs of the
    customers' items (the server's configuration runs too, into the provider's repository)."""
    time_machine.move_to(moment, tick=True)
    night = runs.night_of(timezone.now())
    for run in runs.plan_night(night, **selection):
        assert runs.execute(run.pk) == "done", BackupRun.objects.get(pk=run.pk).error
    return list(BackupRun.objects.filter(night=night).exclude(kind="server"))


def tree_digests(root: Path) -> dict[str, str]:
    """path (relative to the webhotel, as in the snapshot) -> SHA-256 of every file below."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in root.rglob("*")
        if p.is_file()
    }


def read_everything(repo, snapshot) -> dict[str, str]:
    """Read every file of a snapshot back; path -> SHA-256 (sizes checked against the tree)."""
    out = {}
    for entry in repo.iter_tree(snapshot):
        if entry.type == "file":
            data = b"".join(repo.read_entry(entry))
            assert len(data) == entry.size, entry.path
            out[entry.path] = hashlib.sha256(data).hexdigest()
    return out


GONE = {"kind": "webhotel", "id": "987654", "name": "gone.dk", "host": "web9"}


def snapshot_at(repo, when: datetime, *, source=GONE, partial=False):
    """A snapshot written straight through the engine, dated ``when`` (no SSH: quick)."""
    real_clock, repo.clock = repo.clock, lambda: when
    try:
        with repo.backup(source) as session:
            data = os.urandom(64 * 1024)
            session.add_file({"path": "f.bin", "size": len(data), "inode": 1}, io.BytesIO(data))
            if partial:
                session.warn("private", "permission denied")
    finally:
        repo.clock = real_clock
    return session.snapshot


def test_forget_and_prune_keeps_exactly_the_gfs_set_and_it_reads_back(
    webhotel, customer_a, time_machine
):
    _wh, home = webhotel
    BackupPolicy.objects.create(
        name="tight", customer=customer_a, keep_daily=2, keep_weekly=2, keep_monthly=2
    )
    days = [date(2026, 9, 10), date(2026, 10, 5), date(2026, 10, 20)]
    days += [date(2026, 11, d) for d in (10, 17, 19, 20)]
    taken, expected = {}, {}
    for n, day in enumerate(days):
        for old in home.glob("night-*.bin"):
            old.unlink()
        (home / f"night-{n}.bin").write_bytes(os.urandom(200 * 1024))  # only in this snapshot
        (home / "page0.html").write_text(f"<h1>Nat {n}</h1>\n")
        [run] = night_at(time_machine, local(day))
        taken[day], expected[run.snapshot_id] = run.snapshot_id, tree_digests(home.parent)
    assert Snapshot.objects.filter(customer=customer_a).count() == len(days)

    # 2 daily: 20 and 19 Nov; 2 weekly: ISO weeks 47 (20 Nov, not 17 Nov) and 46 (10 Nov);
    # 2 monthly: November (20 Nov) and October (20 Oct, not 5 Oct). 10 Sep is too old.
    kept_days = {date(2026, 11, d) for d in (20, 19, 10)} | {date(2026, 10, 20)}
    kept = {taken[d] for d in kept_days}
    report = maintenance.forget_and_prune(customer_a, now=local(date(2026, 11, 20), 12))
    entry = report[customer_a]
    assert entry["error"] == "" and entry["skipped_reason"] == ""
    assert entry["forgotten"] == len(days) - len(kept) == 3
    assert entry["packs_deleted"] > 0 and entry["bytes_freed"] > 200 * 1024
    assert entry["kept_by_lock"] == 0 and entry["earliest_unlock"] is None

    repo = open_repository(customer_a)
    assert set(repo.snapshot_ids()) == kept
    assert set(
        Snapshot.objects.filter(customer=customer_a).values_list("snapshot_id", flat=True)
    ) == (kept)
    for snapshot in repo.snapshots():
        assert read_everything(repo, snapshot) == expected[snapshot.id]
    [checked] = maintenance.check_repositories(customer_a, read_data_percent=100).values()
    assert checked["errors"] == [] and checked["packs_read"] == checked["packs"] > 0
    event = AuditEvent.objects.get(action="backup.pruned")
    assert event.customer == customer_a and event.details["forgotten"] == 3

    again = maintenance.forget_and_prune(customer_a, now=local(date(2026, 11, 20), 12))
    assert again[customer_a]["forgotten"] == 0  # retention is idempotent
    assert AuditEvent.objects.filter(action="backup.pruned").count() == 1


def test_snapshots_of_a_deleted_item_are_kept_by_the_default_then_the_customers_policy(
    s3_store, customer_a
):
    repo = open_repository(customer_a)
    repo.lock_settle = 0
    stamps = [datetime(2026, 10, 1, 1, tzinfo=UTC), datetime(2026, 10, 15, 1, tzinfo=UTC)]
    stamps += [datetime(2026, 11, d, 1, tzinfo=UTC) for d in (1, 2, 3)]
    snaps = [snapshot_at(repo, t) for t in stamps]
    later = snapshot_at(repo, datetime(2026, 11, 3, 9, tzinfo=UTC), partial=True)
    now = datetime(2026, 11, 4, tzinfo=UTC)

    # The default policy (7 daily, 4 weekly, 12 monthly) keeps all six.
    assert (
        maintenance.forget_and_prune(customer_a, dry_run=True, now=now)[customer_a]["forgotten"]
        == 0
    )
    BackupPolicy.objects.create(
        name="own", customer=customer_a, keep_daily=2, keep_weekly=1, keep_monthly=1
    )
    dry = maintenance.forget_and_prune(customer_a, dry_run=True, now=now)[customer_a]
    assert dry["forgotten"] == 3 and dry["bytes_freed"] > 3 * 64 * 1024
    assert len(repo.snapshot_ids()) == 6  # a dry run changes nothing
    report = maintenance.forget_and_prune(customer_a, now=now)[customer_a]
    assert report["forgotten"] == 3
    # GFS 2/1/1 keeps 3 Nov 09:00 (partial) and 2 Nov; the newest complete one (3 Nov 01:00)
    # stays as well.
    assert set(repo.snapshot_ids()) == {later.id, snaps[3].id, snaps[4].id}


def test_prune_is_skipped_while_a_backup_holds_a_lock(s3_store, customer_a):
    BackupPolicy.objects.create(
        name="one", customer=customer_a, keep_daily=1, keep_weekly=0, keep_monthly=0
    )
    repo = open_repository(customer_a)
    now = timezone.now()
    for days_ago in (3, 2, 1):
        newest = snapshot_at(repo, now - timedelta(days=days_ago))

    class Interrupted(Exception):
        pass

    source = {"kind": "webhotel", "id": "1", "name": "alfa.dk", "host": "web1"}
    with pytest.raises(Interrupted), repo.backup(source):
        report = maintenance.forget_and_prune(now=now)
        raise Interrupted  # leave without writing a snapshot
    entry = report[customer_a]
    assert entry["error"] == ""
    assert entry["forgotten"] == 2  # forget takes a shared lock: it can go ahead
    assert (
        "prune skipped" in entry["skipped_reason"]
        and "backup webhotel 1" in entry["skipped_reason"]
    )
    assert entry["packs_deleted"] == 0

    entry = maintenance.forget_and_prune(now=now)[customer_a]  # next night
    assert entry["skipped_reason"] == "" and entry["packs_deleted"] >= 2
    assert repo.snapshot_ids() == [newest.id]
    repo.refresh_index(full=True)
    assert read_everything(repo, repo.load_snapshot(newest.id))


@pytest.fixture
def locked_store(s3_server, s3_locked_bucket, settings):
    """Havn's object store on a bucket with S3 Object Lock (retention is set per repository)."""
    settings.HAVN_OBJECTSTORE_URL = f"s3://{s3_locked_bucket}"
    settings.HAVN_S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.HAVN_S3_REGION = s3_server.region
    settings.HAVN_S3_ACCESS_KEY = s3_server.access_key
    settings.HAVN_S3_SECRET_KEY = s3_server.secret_key
    settings.HAVN_S3_PATH_STYLE = True
    objectstore.default_store.cache_clear()
    yield objectstore.default_store()
    objectstore.default_store.cache_clear()


def cut_backup(repo) -> None:
    """A run cut off once a pack is stored: its packs are indexed, no snapshot names them."""

    class Cut(Exception):
        pass

    with pytest.raises(Cut), repo.backup(GONE) as session:
        data = os.urandom(300 * 1024)
        session.add_file({"path": "big.bin", "size": len(data), "inode": 1}, io.BytesIO(data))
        deadline = time.monotonic() + 30
        while not session.packs_uploaded and time.monotonic() < deadline:
            time.sleep(0.01)
        raise Cut


def locked_objects(s3_server, bucket, prefix) -> dict[str, datetime]:
    """Key -> retain-until date of every object under object-lock retention below ``prefix``."""
    client = s3_server.client()
    found = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            meta = client.head_object(Bucket=bucket, Key=item["Key"])
            if "ObjectLockRetainUntilDate" in meta:
                found[item["Key"]] = meta["ObjectLockRetainUntilDate"]
    return found


def test_forget_and_prune_leave_what_object_lock_keeps_and_report_it(
    locked_store, s3_server, s3_locked_bucket, customer_a
):
    BackupPolicy.objects.create(
        name="one", customer=customer_a, keep_daily=1, keep_weekly=0, keep_monthly=0
    )
    repo = open_repository(customer_a)
    repo.lock_settle = 0
    now = timezone.now()
    unlocked_old = snapshot_at(repo, now - timedelta(days=3))
    repo.retention, repo.pack_size = timedelta(days=1), 64 * 1024  # locked from here on
    locked_old = snapshot_at(repo, now - timedelta(days=2))
    cut_backup(repo)
    repo.retention = timedelta(0)
    newest = snapshot_at(repo, now - timedelta(days=1))
    prefix = f"customers/{customer_a.uuid}/"
    locked = locked_objects(s3_server, s3_locked_bucket, prefix)
    assert {key.split("/")[2] for key in locked} == {"packs", "index", "snapshots"}
    packs_before = {o.key for o in locked_store.list(prefix + "packs/")}

    entry = maintenance.forget_and_prune(customer_a, now=now)[customer_a]

    assert entry["error"] == "" and entry["skipped_reason"] == ""
    assert entry["forgotten"] == 1  # the locked one stays: not forgotten, not an error
    assert set(repo.snapshot_ids()) == {locked_old.id, newest.id}
    assert unlocked_old.id not in repo.snapshot_ids()
    # Everything written under retention was due to go (the locked snapshot, its index, the cut
    # run's packs and index; the locked snapshot's packs were repacked) and is still there.
    assert entry["kept_by_lock"] == len(locked)
    assert locked_objects(s3_server, s3_locked_bucket, prefix) == locked
    # Retention dates have whole seconds, and objects written a moment apart may straddle one.
    assert abs(entry["earliest_unlock"] - min(locked.values())) <= timedelta(seconds=1)
    packs_after = {o.key for o in locked_store.list(prefix + "packs/")}
    gone = packs_before - packs_after
    assert gone and entry["packs_deleted"] == len(gone)  # kept packs are not counted
    assert {key for key in locked if "/packs/" in key} <= packs_after
    event = AuditEvent.objects.get(action="backup.pruned")
    assert event.details["kept_by_lock"] == len(locked)
    repo.refresh_index(full=True)
    assert read_everything(repo, repo.load_snapshot(newest.id))

    out = io.StringIO()
    call_command("backup", "forget-prune", "--customer", str(customer_a.pk), stdout=out)
    first = min(locked.values()).astimezone(UTC)
    assert "objects kept by object lock" in out.getvalue()
    assert f"the first may go after {first:%Y-%m-%d %H:%M} UTC" in out.getvalue()


def test_check_finds_a_flipped_byte_in_a_pack(s3_store, s3_server, s3_bucket, customer_a):
    repo = open_repository(customer_a)
    for days_ago in (2, 1):
        snapshot_at(repo, timezone.now() - timedelta(days=days_ago))
    [entry] = maintenance.check_repositories(read_data_percent=100).values()
    assert entry["errors"] == [] and entry["snapshots"] == 2 and entry["packs_read"] >= 2
    call_command("backup", "check", "--read-data", "100", stdout=io.StringIO())

    client = s3_server.client()
    prefix = f"customers/{customer_a.uuid}/packs/"
    key = client.list_objects_v2(Bucket=s3_bucket, Prefix=prefix)["Contents"][0]["Key"]
    data = bytearray(client.get_object(Bucket=s3_bucket, Key=key)["Body"].read())
    data[len(data) // 3] ^= 0x01
    client.put_object(Bucket=s3_bucket, Key=key, Body=bytes(data))

    [entry] = maintenance.check_repositories(customer_a, read_data_percent=100).values()
    pack = key.rpartition("/")[2]
    assert any(pack in error and "damaged" in error for error in entry["errors"])
    out = io.StringIO()
    with pytest.raises(CommandError, match="1 repositories have errors"):
        call_command("backup", "check", "--read-data", "100", stdout=out)
    assert f"ERROR: pack {pack}" in out.getvalue()


def test_rebuild_catalog_follows_the_store(webhotel, customer_a, time_machine):
    fields = ("snapshot_id", "customer_id", "kind", "item_id", "item_name", "server_name")
    fields += ("taken_at", "files", "size", "stored", "complete")
    for day in (date(2026, 11, 18), date(2026, 11, 19), date(2026, 11, 20)):
        night_at(time_machine, local(day))
    catalogue = Snapshot.objects.filter(customer=customer_a).order_by("taken_at")
    before = list(catalogue.values(*fields))
    assert len(before) == 3
    assert maintenance.rebuild_catalog() == 0  # already in step

    catalogue.delete()
    assert maintenance.rebuild_catalog(customer_a) == 3
    assert list(catalogue.values(*fields)) == before

    repo = open_repository(customer_a)
    forget(repo, [before[0]["snapshot_id"]])
    assert maintenance.rebuild_catalog() == 1
    assert list(catalogue.values(*fields)) == before[1:]
    assert AuditEvent.objects.filter(action="backup.catalog_rebuilt").count() == 2


def test_the_backup_command(webhotel, customer_a, sandbox_server):
    wh, home = webhotel
    out = io.StringIO()
    call_command(
        "backup", "run", "--customer", str(customer_a.pk), "--night", "2026-11-19", stdout=out
    )
    [line] = out.getvalue().splitlines()
    assert line.startswith(f"webhotel:{wh.pk} alfa.dk  done  22 files  ")
    assert "MB read/new/stored" in line and line.endswith(" s")

    (home / "page3.html").write_text("ny\n")
    out = io.StringIO()
    call_command(
        "backup", "run", "--server", sandbox_server.name, "--night", "2026-11-20", stdout=out
    )
    assert "  done  " in out.getvalue()
    out = io.StringIO()
    call_command("backup", "run", "--night", "2026-11-20", stdout=out)
    assert out.getvalue().startswith("Nothing to run")

    out = io.StringIO()
    call_command("backup", "ls", "--item", f"webhotel:{wh.pk}", stdout=out)
    header, *rows = out.getvalue().splitlines()
    assert header.split()[:2] == ["taken", "item"] and len(rows) == 2
    assert all(f"webhotel:{wh.pk} alfa.dk" in row and " yes " in row for row in rows)
    out = io.StringIO()
    call_command("backup", "ls", "--customer", str(customer_a.uuid), stdout=out)
    assert len(out.getvalue().splitlines()) == 3

    out = io.StringIO()
    call_command("backup", "forget-prune", "--dry-run", stdout=out)
    # both snapshots were taken today: the daily rule keeps the newer one
    assert out.getvalue().startswith(f"Alfa ApS (#{customer_a.pk}): 2 snapshots, would forget 1")
    out = io.StringIO()
    call_command("backup", "rebuild-catalog", stdout=out)
    assert "0 rows" in out.getvalue()
    out = io.StringIO()
    call_command("backup", "check", stdout=out)
    assert "0 errors" in out.getvalue()

    for bad, message in [
        ((), "(?i)subcommand"),
        (("run", "--night", "20-11-2026"), "not a date"),
        (("run", "--server", "nowhere"), "no server"),
        (("ls", "--item", "website:1"), "KIND:ID"),
        (("ls", "--customer", "999999"), "no customer"),
        (("check", "--read-data", "200"), "0 to 100"),
        (("frobnicate",), "invalid choice"),
    ]:
        with pytest.raises(CommandError, match=message):
            call_command("backup", *bad, stdout=io.StringIO())
