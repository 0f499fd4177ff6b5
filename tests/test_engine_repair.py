"""The repository survives damage and dead runs (issue 15, item 3): a damaged index file is named,
skipped and rebuilt from the packs' headers; a damaged config says so; packs of a killed run are
re-used by the next run; stale locks and old unindexed packs are cleaned. LocalStore in a temp
folder, no database."""

import io
import logging
import os
import time
from datetime import timedelta

import pytest

from backups.engine import (
    PruneError,
    RepoKeys,
    Repository,
    RepositoryDamaged,
    WrongKeys,
    check,
    clean,
    list_locks,
    prune,
    repair_index,
)
from backups.engine.locks import LOCK_AAD
from backups.engine.pack import object_id, seal_json
from backups.engine.repair import read_pack_header
from tests.test_engine import SOURCE, CountingStore, backup, fentry, rand, read_back

KiB, MiB = 1024, 1024 * 1024
KW = {"pack_size": 256 * KiB, "index_every": 1, "lock_settle": 0}


@pytest.fixture
def store(tmp_path):
    return CountingStore(tmp_path / "store")


def new_repo(store, **kw) -> Repository:
    return Repository(store, "customers/a", RepoKeys.generate(), **{**KW, **kw}).init()


def reopen(repo, **kw) -> Repository:
    return Repository(repo.store, repo.prefix, repo.keys, **{**KW, **kw}).open()


def flip(store, key: str, at: int = 40) -> None:
    path = store.root / key
    data = bytearray(path.read_bytes())
    data[at % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def pack_blobs(repo) -> dict[str, list[tuple[bytes, int]]]:
    """pack id -> [(blob id, sealed length)] of every pack on the store, from its header."""
    out = {}
    for name, size in repo._list("packs/"):
        pack_id = name.rpartition("/")[2]
        out[pack_id] = [(e.blob_id, e.length) for e in read_pack_header(repo, pack_id, size).blobs]
    return out


def index_names(repo) -> list[str]:
    return [name for name, _size in repo._list("index/")]


def test_a_damaged_index_file_is_named_skipped_and_rebuilt_from_the_packs(store, caplog):
    repo = new_repo(store)
    files = {f"f{i}": rand(200 * KiB, i) for i in range(6)}
    snap = backup(repo, files).snapshot
    names = index_names(repo)
    assert len(names) > 2
    bad = names[1]
    flip(store, f"customers/a/index/{bad}")

    with caplog.at_level(logging.WARNING, logger="backups.engine.index"):
        again = reopen(repo)  # opens: the damaged file is skipped, not fatal
    assert bad in again.index.damaged
    assert f"index/{bad}" in caplog.text
    for path, data in files.items():  # its packs are found from their headers
        assert read_back(again, snap, path) == data
    report = check(again)
    assert any(bad in e for e in report.errors), report.errors
    with pytest.raises(PruneError, match="repair-index"):
        prune(reopen(repo))

    fixed = repair_index(reopen(repo))
    assert fixed.index_files_damaged == [bad] and fixed.index_files_removed == [bad]
    assert fixed.packs_reindexed and not fixed.packs_unreadable
    healthy = reopen(repo)
    assert not healthy.index.damaged
    report = check(healthy, 100)
    assert report.ok and not report.warnings, report
    assert not prune(healthy).has_work


def test_a_backup_indexes_what_a_damaged_index_file_named(store):
    repo = new_repo(store)
    files = {f"f{i}": rand(200 * KiB, i) for i in range(4)}
    first = backup(repo, files)
    bad = index_names(repo)[0]
    flip(store, f"customers/a/index/{bad}")
    again = reopen(repo)
    before = store.put_bytes
    second = backup(again, files, first.snapshot)
    assert second.snapshot is not None and second.packs_uploaded == 0
    assert store.put_bytes - before < 16 * KiB  # an index file and the snapshot
    # Every pack is named by a readable index file again: only the damaged file is left over.
    healthy = reopen(repo)
    assert set(healthy.index.damaged) == {bad}
    healthy.index.damaged.clear()
    assert healthy.adopt_unindexed() == []


def test_a_damaged_config_says_damaged_not_wrong_keys(store):
    repo = new_repo(store)
    backup(repo, {"x": rand(10 * KiB, 1)})
    flip(store, "customers/a/config")
    with pytest.raises(RepositoryDamaged, match="config object .* is damaged"):
        reopen(repo)
    with pytest.raises(WrongKeys):  # other keys are still told apart
        Repository(store, "customers/a", RepoKeys.generate(), lock_settle=0).open()


def test_packs_of_a_killed_run_are_reused_by_the_next_run(store):
    kw = {"index_on_abort": False, "index_every": 100}  # a kill writes no index at all
    repo = new_repo(store, **kw)
    files = {f"f{i}": rand(300 * KiB, 10 + i) for i in range(16)}

    class Killed(Exception):
        pass

    with pytest.raises(Killed), repo.backup(SOURCE) as s:
        for i, (path, data) in enumerate(files.items()):
            if i == 12:
                deadline = time.monotonic() + 10
                while s.packs_uploaded < 6 and time.monotonic() < deadline:
                    time.sleep(0.01)  # let the uploaders store what was sealed
                raise Killed
            s.add_file(fentry(path, data, inode=i + 1), io.BytesIO(data))
    stored = store.put_bytes
    assert s.packs_uploaded >= 6 and not index_names(repo)

    before = pack_blobs(repo)
    second = backup(reopen(repo, **kw), files)
    assert second.packs_adopted == s.packs_uploaded
    after = pack_blobs(repo)
    new_packs = set(after) - set(before)
    stored_ids = {bid for blobs in before.values() for bid, _length in blobs}
    again = sum(n for p in new_packs for bid, n in after[p] if bid in stored_ids)
    assert stored > MiB and again == 0, (again, stored)
    for path, data in files.items():
        assert read_back(reopen(repo), second.snapshot, path) == data
    report = check(reopen(repo), 100)
    assert report.ok and not report.warnings, report


def dead_lock(repo) -> str:
    """A lock of a process that no longer runs on this host (a killed worker)."""
    info = {
        "version": 1,
        "exclusive": False,
        "hostname": repo.hostname,
        "pid": 2**22 + 7,
        "created": "2026-01-01T00:00:00.000000Z",
        "refreshed": "2099-01-01T00:00:00.000000Z",
        "purpose": "backup webhotel 7",
    }
    sealed = seal_json(repo.keys, info, LOCK_AAD)
    repo._put(f"locks/{object_id(sealed)}", sealed)
    return object_id(sealed)


def test_clean_removes_dead_locks_and_only_old_unindexed_packs(store):
    repo = new_repo(store, index_on_abort=False, index_every=100)
    keep = backup(repo, {"keep": rand(300 * KiB, 1)}).snapshot
    with pytest.raises(RuntimeError), repo.backup(SOURCE) as s:
        s.add_file(fentry("lost", rand(900 * KiB, 2)), io.BytesIO(rand(900 * KiB, 2)))
        deadline = time.monotonic() + 10
        while s.packs_uploaded < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise RuntimeError("killed")
    assert s.packs_uploaded
    lock = dead_lock(repo)
    assert not os.path.exists(f"/proc/{2**22 + 7}")

    young = clean(reopen(repo))  # default grace: the packs may be a live run's
    assert young.locks_removed == [lock] and young.packs_deleted == []
    assert young.packs_young == s.packs_uploaded
    assert list_locks(repo) == ([], [])

    old = clean(reopen(repo), orphan_grace=timedelta(0))
    assert len(old.packs_deleted) == s.packs_uploaded
    report = check(reopen(repo), 100)
    assert report.ok and not report.warnings, report
    assert read_back(reopen(repo), keep, "keep") == rand(300 * KiB, 1)
