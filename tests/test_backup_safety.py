"""A run cut off midway leaves no partial snapshot, and the next run reuses what was stored."""

import base64
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from backups.models import BackupRun, Snapshot
from backups.services import runs
from backups.services.repositories import open_repository

pytestmark = pytest.mark.django_db
NIGHT = date(2026, 11, 20)


def sshd_connection_of(pid: int) -> int | None:
    """The per-connection sshd process (``sshd: user@notty``) above a remote command."""
    while pid > 1:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        if cmdline.startswith(b"sshd:"):
            return pid
        pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    return None


def cut_after_first_pack(store, packs: str, deadline: float = 60.0) -> threading.Thread:
    """Once tar streams and the first pack is stored, hold tar and kill its SSH connection."""

    def tar_pid() -> int | None:
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and (entry / "cmdline").read_bytes().startswith(
                    b"tar\0--create"
                ):
                    return int(entry.name)
            except OSError:
                continue
        return None

    def watch():
        end = time.monotonic() + deadline
        while time.monotonic() < end:
            tar = tar_pid()
            if tar and any(True for _ in store.list(packs)):
                os.kill(tar, signal.SIGSTOP)  # hold the stream mid-way, whatever the speed
                connection = sshd_connection_of(tar)
                if connection:
                    os.kill(connection, signal.SIGKILL)
                os.kill(tar, signal.SIGKILL)
                return
            time.sleep(0.01)

    thread = threading.Thread(target=watch)
    thread.start()
    return thread


def test_a_cut_connection_leaves_no_snapshot_and_the_next_run_reuses_the_upload(
    s3_store,
    hosted,
    customer_a,
):
    _webhotel, home = hosted
    (home / "big.bin").write_bytes(os.urandom(96 * 1024 * 1024))
    [web] = [run for run in runs.plan_night(NIGHT) if run.kind == "webhotel"]
    cutter = cut_after_first_pack(s3_store, f"customers/{customer_a.uuid}/packs/")
    status = runs.execute(web.pk)
    cutter.join()
    assert status in ("queued", "failed"), BackupRun.objects.get(pk=web.pk).error
    assert not Snapshot.objects.filter(kind="webhotel").exists()
    repo = open_repository(customer_a)
    assert not [s for s in repo.snapshots() if s.source["kind"] == "webhotel"]
    uploaded_before = sum(
        info.size for info in s3_store.list(f"customers/{customer_a.uuid}/packs/")
    )

    BackupRun.objects.filter(pk=web.pk).update(status="queued")
    assert runs.execute(web.pk) == "done"
    web.refresh_from_db()
    snapshot = open_repository(customer_a).load_snapshot(web.snapshot_id)
    assert (
        b"".join(open_repository(customer_a).read_file(snapshot, "public_html/big.bin"))
        == (home / "big.bin").read_bytes()
    )
    # What the cut run had stored was indexed on abort and is not uploaded again.
    assert web.bytes_stored <= 96 * 1024 * 1024 + 8 * 1024 * 1024 - uploaded_before
    assert uploaded_before > 0


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_leaves_no_snapshot_and_the_stale_run_is_resumed(
    s3_store,
    hosted,
    customer_a,
    settings,
    tmp_path,
):
    _webhotel, home = hosted
    (home / "big.bin").write_bytes(os.urandom(128 * 1024 * 1024))
    [web] = [run for run in runs.plan_night(NIGHT) if run.kind == "webhotel"]
    database = connection.settings_dict
    environment = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "infra.settings_test",
        "DATABASE_URL": f"postgres://{database['USER']}@{database['HOST']}:{database['PORT']}/"
        f"{database['NAME']}",
        "HAVN_OBJECTSTORE_URL": settings.HAVN_OBJECTSTORE_URL,
        "HAVN_S3_ENDPOINT_URL": settings.HAVN_S3_ENDPOINT_URL,
        "HAVN_S3_ACCESS_KEY": settings.HAVN_S3_ACCESS_KEY,
        "HAVN_S3_SECRET_KEY": settings.HAVN_S3_SECRET_KEY,
        "HAVN_S3_PATH_STYLE": "1",
        "HAVN_SSH_KEY_FILE": settings.HAVN_SSH_KEY_FILE,
        "HAVN_VAR_DIR": str(tmp_path),
        # The worker must unwrap the same repository keys: hand it this process's platform key.
        "HAVN_PLATFORM_KEYS": "k1:" + base64.b64encode(settings.HAVN_PLATFORM_KEYS["k1"]).decode(),
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); "
            f"from backups.services import runs; runs.execute({web.pk})",
        ],
        env=environment,
    )
    packs = f"customers/{customer_a.uuid}/packs/"
    deadline = time.monotonic() + 60
    while not any(True for _ in s3_store.list(packs)) and time.monotonic() < deadline:
        assert worker.poll() is None, "the run ended before it could be killed"
        time.sleep(0.01)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    web.refresh_from_db()
    assert web.status == "running" and not web.snapshot_id
    assert not Snapshot.objects.exists()
    assert not [
        s for s in open_repository(customer_a).snapshots() if s.source["kind"] == "webhotel"
    ]

    assert runs.resume_stale(now=timezone.now() + timedelta(hours=3)) == 1
    assert runs.execute(web.pk) == "done"
    web.refresh_from_db()
    snapshot = open_repository(customer_a).load_snapshot(web.snapshot_id)
    assert (
        b"".join(open_repository(customer_a).read_file(snapshot, "public_html/big.bin"))
        == (home / "big.bin").read_bytes()
    )
