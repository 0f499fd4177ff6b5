"""Nightly runs end to end: hosting on the sshd sandbox → backups into S3 (the moto server)."""

from datetime import date, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.utils import timezone

from accounts.actor import Actor
from backups.models import BackupRun, RepositoryKey, Snapshot
from backups.services import runs
from backups.services.repositories import open_repository
from tests.factories import CustomerFactory, MembershipFactory, ServerFactory, WebhotelFactory

pytestmark = pytest.mark.django_db
NIGHT = date(2026, 11, 20)


def run_all(night=NIGHT) -> list[BackupRun]:
    for run in runs.plan_night(night):
        assert runs.execute(run.pk) in ("done", "partial"), BackupRun.objects.get(pk=run.pk).error
    return list(BackupRun.objects.filter(night=night).order_by("kind"))


def test_a_night_backs_up_every_item_and_the_store_reads_back(s3_store, hosted, customer_a):
    webhotel, home = hosted
    done = run_all()
    assert sorted(run.kind for run in done) == ["database", "mailbox", "server", "webhotel"]
    assert {run.status for run in done} == {"done"}
    web = next(run for run in done if run.kind == "webhotel")
    # 100 pages, the photo, the default index.html and the agent's webhotel.json
    assert web.files == 103 and web.bytes_read >= 3 * 1024 * 1024
    assert Snapshot.objects.filter(customer=customer_a).count() == 3
    repo = open_repository(customer_a)
    snapshot = repo.load_snapshot(web.snapshot_id)
    restored = b"".join(repo.read_file(snapshot, "public_html/photo.jpg"))
    assert restored == (home / "photo.jpg").read_bytes()
    keys = [info.key for info in s3_store.list("")]
    assert any(key.startswith(f"customers/{customer_a.uuid}/packs/") for key in keys)
    assert any(key.startswith("keys/") for key in keys)
    assert RepositoryKey.objects.get(customer=customer_a).wrapped.startswith("k1:")


def test_the_server_configuration_goes_to_the_provider_repository_without_customer_data(
    s3_store, hosted, sandbox_server
):
    (Path(sandbox_server.root) / "etc").mkdir()
    (Path(sandbox_server.root) / "etc" / "havn.conf").write_text("workers = 4\n")
    [server_run] = [run for run in run_all() if run.kind == "server"]
    assert (server_run.customer, server_run.item_id) == (None, sandbox_server.pk)
    assert Snapshot.objects.get(snapshot_id=server_run.snapshot_id).customer is None
    provider = open_repository(None)
    snapshot = provider.load_snapshot(server_run.snapshot_id)
    paths = {entry.path for entry in provider.iter_tree(snapshot)}
    assert "etc/havn.conf" in paths
    # Webhotels, databases, mail and certificates are the customers': rebuilt from the database.
    assert not {p.split("/")[0] for p in paths} & {"webhotels", "databases", "mail", "certs"}
    assert b"".join(provider.read_file(snapshot, "etc/havn.conf")) == b"workers = 4\n"


def test_a_one_percent_night_reads_only_what_changed(s3_store, hosted):
    _webhotel, home = hosted
    run_all()
    (home / "page7.html").write_text("<h1>Ny side</h1>\n")
    second = run_all(NIGHT + timedelta(days=1))
    web = next(run for run in second if run.kind == "webhotel")
    assert web.status == "done"
    assert web.bytes_read < 1024  # only page7.html was read; the 3 MiB photo was not
    assert web.bytes_new < 64 * 1024


def test_a_run_happens_once_per_item_and_night(s3_store, hosted):
    run_all()
    assert runs.plan_night(NIGHT) == []  # all done: nothing is queued again
    run = BackupRun.objects.first()
    assert runs.execute(run.pk) == "skipped"
    assert BackupRun.objects.filter(night=NIGHT).count() == 4  # 3 items and the server


def test_planning_follows_the_policy_window(s3_store, hosted):
    night_time = timezone.make_aware(timezone.datetime(2026, 11, 21, 2, 30))
    day_time = timezone.make_aware(timezone.datetime(2026, 11, 21, 14, 0))
    assert runs.plan_night(now=day_time) == []
    planned = runs.plan_night(now=night_time)
    assert len(planned) == 4 and {run.night for run in planned} == {date(2026, 11, 20)}


def test_an_unreachable_server_is_retried_and_a_missed_window_is_reported(
    s3_store, hosted, sshd, staff_admin
):
    from infra import ssh

    [web] = [run for run in runs.plan_night(NIGHT) if run.kind == "webhotel"]
    sshd.stop()
    ssh.pool.close_all()
    try:
        assert runs.execute(web.pk) == "queued"
    finally:
        sshd.start()
    assert not Snapshot.objects.exists()
    later = timezone.make_aware(timezone.datetime(2026, 11, 23, 9, 0))
    assert runs.report_problems(now=later) == 4  # 3 items and the server's configuration
    assert "missed" in BackupRun.objects.get(pk=web.pk).error
    assert staff_admin.email in mail.outbox[0].to
    assert runs.report_problems(now=later) == 0  # reported once


def test_customers_have_separate_repositories(s3_store, hosted, customer_a):
    other = CustomerFactory()
    MembershipFactory(customer=other)
    run_all()
    repo_a, repo_b = open_repository(customer_a), open_repository(other)
    assert repo_a.snapshots() and not repo_b.snapshots()
    assert (
        RepositoryKey.objects.get(customer=customer_a).wrapped
        != RepositoryKey.objects.get(customer=other).wrapped
    )


def test_an_on_demand_backup_is_one_run_a_day(s3_store, hosted, owner_a, customer_b):
    webhotel, _home = hosted
    run = runs.request_backup(Actor(owner_a), "webhotel", webhotel.pk)
    assert run.on_demand and runs.request_backup(Actor(owner_a), "webhotel", webhotel.pk) == run
    assert runs.execute(run.pk) == "done"
    outsider = MembershipFactory(customer=customer_b).user
    with pytest.raises(PermissionDenied):
        runs.request_backup(Actor(outsider), "webhotel", webhotel.pk)


def test_a_failed_on_demand_backup_can_be_asked_for_again(s3_store, hosted, owner_a):
    webhotel, _home = hosted
    run = runs.request_backup(Actor(owner_a), "webhotel", webhotel.pk)
    BackupRun.objects.filter(pk=run.pk).update(status="failed", error="simulated")
    again = runs.request_backup(Actor(owner_a), "webhotel", webhotel.pk)
    assert again.pk == run.pk and again.status == "queued" and not again.error


def test_runs_wait_for_a_slot_under_the_server_and_store_caps(s3_store, hosted, settings):
    settings.HAVN_BACKUP_PER_STORE = 1
    [web] = [run for run in runs.plan_night(NIGHT) if run.kind == "webhotel"]
    cache.add("backup-store-slot:0", -1, 60)  # another run writes to the store
    try:
        assert runs.execute(web.pk) == "waiting"
        assert BackupRun.objects.get(pk=web.pk).dispatched_at is None  # for a later dispatch
        assert cache.get(f"backup-slot:{web.server_id}:0") is None  # the server slot is given back
    finally:
        cache.delete("backup-store-slot:0")
    assert runs.execute(web.pk) == "done"
    assert cache.get("backup-store-slot:0") is None


def test_dispatch_sends_only_what_the_caps_have_room_for(
    settings, django_capture_on_commit_callbacks
):
    settings.HAVN_BACKUP_PER_SERVER, settings.HAVN_BACKUP_PER_STORE = 2, 5
    one, two = ServerFactory(), ServerFactory()
    for i in range(8):
        WebhotelFactory(server=one if i < 6 else two)
    planned = runs.plan_night(NIGHT, enqueue=False)
    assert len(planned) == 10  # 8 webhotels and 2 servers' configuration
    with django_capture_on_commit_callbacks() as sent:
        assert runs.dispatch() == 4  # two per server: the server caps bind before the store's
    assert len(sent) == 4
    dispatched = BackupRun.objects.filter(dispatched_at__isnull=False)
    assert sorted(dispatched.values_list("server_id", flat=True)) == [one.pk] * 2 + [two.pk] * 2
    assert runs.dispatch() == 0  # the room is taken by what was sent
    first = dispatched.order_by("pk").first()
    BackupRun.objects.filter(pk=first.pk).update(status="done")  # one ends: room for one more
    assert runs.dispatch() == 1
    later = timezone.now() + runs.DISPATCH_TTL + timedelta(minutes=1)
    assert runs.dispatch(now=later) == 4  # messages lost on the way are sent again


def test_an_on_demand_run_is_sent_before_the_night(settings, owner_a, customer_a):
    settings.HAVN_BACKUP_PER_STORE = 1
    server = ServerFactory()
    nightly = WebhotelFactory(server=server, customer=customer_a)
    asked = WebhotelFactory(server=server, customer=customer_a)
    runs.plan_night(NIGHT, enqueue=False)
    run = runs.request_backup(Actor(owner_a), "webhotel", asked.pk)
    assert runs.dispatch() == 1
    assert BackupRun.objects.get(dispatched_at__isnull=False).pk == run.pk
    assert not BackupRun.objects.filter(item_id=nightly.pk, dispatched_at__isnull=False).exists()
