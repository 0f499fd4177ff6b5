"""Object-lock retention of a repository's data on S3 (moto's server, a bucket with Object Lock):
packs, index files and snapshots are locked, keys and locks never; forget and prune keep what is
still locked, count it, and delete it once its retention has ended."""

import io
import random
import time
from contextlib import nullcontext
from datetime import UTC, datetime, timedelta

import pytest

from backups.engine import RepoKeys, Repository, check, forget, prune
from backups.engine.repository import default_retention
from infra.objectstore import ObjectLocked, S3Store
from tests.test_engine import SOURCE, fentry

RETENTION = timedelta(seconds=4)  # short, so the test can outlive it


def make_store(server, bucket) -> S3Store:
    return S3Store(
        bucket,
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key=server.access_key,
        secret_key=server.secret_key,
        path_style=True,
    )


def backup(repo, files: dict, fail: bool = False):
    with pytest.raises(RuntimeError) if fail else nullcontext(), repo.backup(SOURCE) as s:
        for i, (path, data) in enumerate(files.items()):
            s.add_file(fentry(path, data, inode=i + 1), io.BytesIO(data))
        if fail:  # once a pack is stored (and indexed by the abort), as a cut run leaves it
            deadline = time.monotonic() + 30
            while not s.packs_uploaded and time.monotonic() < deadline:
                time.sleep(0.01)
            raise RuntimeError("cut")
    return s


def head(server, bucket, key) -> dict:
    return server.client().head_object(Bucket=bucket, Key=key)


def wait_past(until: datetime) -> None:
    time.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 1.1)


def test_store_keeps_a_locked_object_and_frees_every_version_of_the_rest(
    s3_server, s3_locked_bucket
):
    store = make_store(s3_server, s3_locked_bucket)
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    store.put("packs/locked", b"data", retain_until=until)
    store.put("locks/free", b"v1")
    store.put("locks/free", b"v2")  # two versions
    with pytest.raises(ObjectLocked) as caught:
        store.delete("packs/locked")
    assert (caught.value.key, caught.value.until) == ("packs/locked", until)
    assert "kept until" in str(caught.value)
    assert store.get("packs/locked") == b"data"  # still there, still the current version
    assert store.delete_many(["packs/locked", "locks/free"])[0].key == "packs/locked"
    versions = s3_server.client().list_object_versions(Bucket=s3_locked_bucket, Prefix="locks/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers")  # bytes freed
    assert [o.key for o in store.list()] == ["packs/locked"]


def test_data_objects_are_locked_keys_config_and_locks_never(s3_server, s3_locked_bucket):
    store = make_store(s3_server, s3_locked_bucket)
    repo = Repository(
        store, "customers/l", RepoKeys.generate(), lock_settle=0, retention=timedelta(days=3)
    ).init()
    store.put("customers/l/keys/repo", b"wrapped key")  # what the services store beside it
    with repo.backup(SOURCE) as s:
        s.add_file(fentry("a", b"abc"), io.BytesIO(b"abc"))
        lock_key = f"customers/l/locks/{s._lock.id}"
        assert "ObjectLockMode" not in head(s3_server, s3_locked_bucket, lock_key)
    keys = [o.key for o in store.list("customers/l/")]
    assert {k.split("/")[2] for k in keys} == {"config", "index", "keys", "packs", "snapshots"}
    soon = datetime.now(UTC) + timedelta(days=3)
    for key in keys:
        meta = head(s3_server, s3_locked_bucket, key)
        if key.split("/")[2] in ("packs", "index", "snapshots"):
            assert meta["ObjectLockMode"] == "COMPLIANCE", key
            assert soon - timedelta(minutes=5) < meta["ObjectLockRetainUntilDate"] <= soon, key
        else:
            assert "ObjectLockMode" not in meta, key


def test_forget_and_prune_keep_locked_objects_until_their_retention_ends(
    s3_server, s3_locked_bucket
):
    store = make_store(s3_server, s3_locked_bucket)
    repo = Repository(
        store,
        "customers/p",
        RepoKeys.generate(),
        lock_settle=0,
        retention=RETENTION,
        pack_size=64 * 1024,  # a pack per blob
    ).init()
    rnd = random.Random(5)
    first = backup(repo, {"old.bin": rnd.randbytes(300_000)}).snapshot
    backup(repo, {"orphan.bin": rnd.randbytes(300_000)}, fail=True)  # packs indexed, no snapshot
    until = datetime.now(UTC) + RETENTION

    forgotten = forget(repo, [first.id])
    assert forgotten == [] and list(forgotten.kept_by_lock) == [first.id]
    assert first.id in repo.snapshot_ids()  # kept, not an error
    plan = prune(repo)  # the aborted run's pack is unused, but it and its index are locked
    assert plan.has_work and plan.kept_by_lock
    assert {k.split("/")[0] for k in plan.kept_by_lock} == {"index", "packs"}
    assert plan.summary()["kept_by_lock"] == len(plan.kept_by_lock)
    for name in plan.kept_by_lock:
        assert store.stat(repo.prefix + name) is not None, name
    assert check(repo.open()).ok  # every kept index names packs that are still there

    wait_past(until)
    assert forget(repo, [first.id]) == [first.id]
    plan = prune(repo)
    assert plan.kept_by_lock == {}
    assert plan.packs_delete or plan.packs_unindexed
    assert repo.snapshot_ids() == []
    assert list(store.list(repo.prefix + "packs/")) == []  # nothing is used any more
    assert check(repo.open()).ok


def test_the_setting_gives_the_default_retention(settings):
    settings.HAVN_BACKUP_RETENTION_LOCK_DAYS = 30
    assert default_retention() == timedelta(days=30)
    settings.HAVN_BACKUP_RETENTION_LOCK_DAYS = 0
    assert default_retention() == timedelta(0)
