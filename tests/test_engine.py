"""The backup repository engine (backups/engine): round trips, dedup, incremental, interruption,
check, forget + prune, locks, keys. No database; LocalStore in a temp folder, and one run over S3
(moto's server over HTTP)."""

import io
import os
import random
import time
from datetime import UTC, datetime, timedelta

import pytest

from backups.engine import (
    Entry,
    EntryNotFound,
    IntegrityError,
    LockLost,
    RepoKeys,
    Repository,
    RepositoryExists,
    RepositoryLocked,
    RepositoryNotFound,
    WrongKeys,
    blob_id,
    check,
    forget,
    list_locks,
    plan_prune,
    prune,
    remove_stale_locks,
)
from backups.engine.chunker import Chunker, ChunkerParams
from backups.engine.crypto import seal, unseal
from backups.engine.pack import decode_blob, parse_pack
from infra.objectstore import LocalStore, S3Store

MiB = 1024 * 1024
SOURCE = {"kind": "webhotel", "id": 7, "name": "example.dk", "host": "web1"}


class CountingStore(LocalStore):
    """A LocalStore that counts the bytes put (what an upload would cost)."""

    put_bytes = 0

    def put(self, key, data, **kw):
        self.put_bytes += len(data)
        super().put(key, data, **kw)


class CountingStream(io.BytesIO):
    reads = 0

    def read(self, n=-1):
        self.reads += 1
        return super().read(n)

    readinto = None  # force the read() path, like an SSH channel file


def rand(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def text(n: int, seed: int) -> bytes:
    rnd = random.Random(seed)
    words = [rnd.randbytes(4).hex() for _ in range(300)]
    out = " ".join(rnd.choices(words, k=n // 4)).encode()
    return out[:n]


def make_repo(store, keys=None, **kw) -> Repository:
    kw.setdefault("lock_settle", 0)
    return Repository(store, "customers/a", keys or RepoKeys.generate(), **kw).init()


def reopen(repo: Repository, **kw) -> Repository:
    kw.setdefault("lock_settle", 0)
    return Repository(repo.store, repo.prefix, repo.keys, **kw).open()


def fentry(path, data=b"", **kw) -> Entry:
    defaults = {"mode": 0o644, "uid": 1000, "gid": 1000, "mtime": 1_700_000_000_000_000_000}
    return Entry(path=path, type="file", size=len(data), **{**defaults, **kw})


def backup(repo, files: dict, parent=None, **kw):
    with repo.backup(SOURCE, parent, **kw) as s:
        for i, (path, data) in enumerate(files.items()):
            s.add_file(fentry(path, data, inode=i + 1), io.BytesIO(data))
    return s


def read_back(repo, snap, path) -> bytes:
    return b"".join(repo.read_file(snap, path))


@pytest.fixture
def store(tmp_path):
    return CountingStore(tmp_path / "store")


@pytest.fixture
def repo(store):
    return make_repo(store)


def pack_files(store) -> list:
    return sorted((store.root / "customers/a/packs").rglob("*"), key=str)


def pack_paths(store) -> list:
    return [p for p in pack_files(store) if p.is_file()]


# -- keys, crypto, chunking --


def test_keys_round_trip_and_seal_detects_tampering():
    keys = RepoKeys.generate()
    assert RepoKeys.from_bytes(keys.to_bytes()) == keys
    sealed = seal(keys, b"secret", aad=b"x")
    assert unseal(keys, sealed, aad=b"x") == b"secret"
    for i in range(len(sealed)):
        bad = bytearray(sealed)
        bad[i] ^= 1
        with pytest.raises(IntegrityError):
            unseal(keys, bytes(bad), aad=b"x")
    with pytest.raises(IntegrityError):
        unseal(keys, sealed, aad=b"y")
    with pytest.raises(IntegrityError):
        unseal(RepoKeys.generate(), sealed, aad=b"x")
    with pytest.raises(ValueError):
        RepoKeys.from_bytes(b"short")


def test_chunking_a_stream_matches_chunking_the_whole_buffer():
    params = ChunkerParams(seed=12345)
    data = rand(9 * MiB, 1)
    chunks = list(Chunker(params).chunks(CountingStream(data)))
    assert b"".join(chunks) == data
    assert all(params.min_size <= len(c) <= params.max_size for c in chunks[:-1])
    assert len(chunks) > 3
    # the same bytes fed piecewise (as tree lines are) cut at the same places
    feeder = Chunker(params).feeder()
    fed = []
    for i in range(0, len(data), 100_000):
        fed += feeder.feed(data[i : i + 100_000])
    assert fed + feeder.finish() == chunks
    # small inputs are one chunk; a different seed moves the boundaries
    assert list(Chunker(params).chunks(io.BytesIO(b"x" * 1000))) == [b"x" * 1000]
    other = list(Chunker(ChunkerParams(seed=999)).chunks(io.BytesIO(data)))
    assert [len(c) for c in other] != [len(c) for c in chunks]


# -- round trip, dedup, incremental --


def test_round_trip_of_many_sizes_and_entry_kinds(repo):
    files = {
        "empty": b"",
        "one": b"x",
        "small.html": rand(255 * 1024, 2),
        "photo.jpg": rand(3 * MiB, 3),
        "dump.sql": text(20 * MiB, 4),
    }
    odd = os.fsdecode(b"caf\xe9\nname")  # invalid UTF-8 and a newline
    with repo.backup(SOURCE, tags=["nightly"]) as s:
        s.add_dir({"path": "public_html", "mode": 0o755, "mtime": 5, "inode": 9})
        for i, (name, data) in enumerate(files.items()):
            s.add_file(fentry(f"public_html/{name}", data, inode=100 + i), io.BytesIO(data))
        s.add_file(fentry(odd, b"odd"), io.BytesIO(b"odd"))
        s.add_symlink({"path": "public_html/link", "target": "dump.sql", "mode": 0o777})
    assert s.files == 6 and s.dirs == 1 and s.symlinks == 1
    assert s.bytes_read == sum(map(len, files.values())) + 3
    assert s.bytes_stored < s.bytes_read  # the text compressed

    fresh = reopen(repo)
    [snap] = fresh.snapshots()
    assert snap.id == s.snapshot.id and snap.complete and snap.tags == ["nightly"]
    assert snap.source == SOURCE and snap.summary["files"] == 6
    for name, data in files.items():
        assert read_back(fresh, snap, f"public_html/{name}") == data
    assert read_back(fresh, snap, odd) == b"odd"
    tree = fresh.tree_dict(snap)
    assert tree["public_html"].type == "dir" and tree["public_html"].mode == 0o755
    assert tree["public_html/link"].target == "dump.sql"
    small = tree["public_html/small.html"]
    assert (small.size, small.inode, small.uid, small.mtime) == (
        255 * 1024,
        102,
        1000,
        1_700_000_000_000_000_000,
    )
    assert len(small.content) == 1 and len(tree["public_html/dump.sql"].content) > 4
    assert list(fresh.iter_tree(snap))[0].path == "public_html"  # listing order kept
    with pytest.raises(EntryNotFound):
        fresh.read_file(snap, "public_html")
    with pytest.raises(EntryNotFound):
        fresh.read_file(snap, "nope")
    assert fresh.load_snapshot(snap.id[:8]).id == snap.id


def test_same_content_is_stored_once(repo):
    data = rand(10 * MiB, 5)
    s1 = backup(repo, {"a.bin": data, "copy-of-a.bin": data})
    assert s1.bytes_read == 20 * MiB
    assert 10 * MiB <= s1.bytes_new < 10 * MiB + 64 * 1024
    s2 = backup(repo, {"again.bin": data})
    assert s2.bytes_read == 10 * MiB
    assert s2.bytes_new < 64 * 1024  # only the new tree blob
    assert read_back(repo, s2.snapshot, "again.bin") == data


def test_incremental_reuses_unchanged_files_without_reading_them(repo):
    files = {f"f{i}": rand(100_000 + i, i) for i in range(20)}
    files["big"] = rand(5 * MiB, 99)
    s1 = backup(repo, files)
    parent = s1.snapshot
    old = repo.tree_dict(parent)
    changed = rand(50_000, 1234)
    streams = []
    with repo.backup(SOURCE, parent) as s2:
        for i, (path, data) in enumerate(files.items()):
            entry = fentry(path, data, inode=i + 1)
            if path == "f3":  # changed: new size and mtime
                entry = fentry(path, changed, inode=i + 1, mtime=entry.mtime + 1)
                streams.append(CountingStream(changed))
                s2.add_file(entry, streams[-1])
            else:
                assert s2.reuse_file(entry, old[path])
        moved = fentry("f5", files["f5"], inode=999)  # another inode: not the same file
        assert not s2.reuse_file(moved, old["f5"])
    assert s2.files_reused == 20 and s2.bytes_read == 50_000
    assert s2.bytes_new < 50_000 + 64 * 1024
    snap = s2.snapshot
    assert snap.parent == parent.id
    assert read_back(repo, snap, "f3") == changed
    assert read_back(repo, snap, "big") == files["big"]
    assert read_back(repo, parent, "f3") == files["f3"]


def test_progress_callback_and_warnings(repo):
    seen = []
    with repo.backup(SOURCE, progress=seen.append) as s:
        s.progress_interval = 0
        s.add_file(fentry("grew", b"1234"), io.BytesIO(b"123456"))  # changed while read
        s.warn("secret.txt", "permission denied")
        dump = text(700_000, 8)  # a database dump: length unknown in advance, no warning
        s.add_file(Entry(path="db.sql", type="file", size=None), io.BytesIO(dump))
    assert seen and seen[-1]["files"] == 2 and seen[-1]["bytes_read"] == 6 + 700_000
    snap = s.snapshot
    assert not snap.complete
    assert [w["path"] for w in snap.summary["warnings"]] == ["grew", "secret.txt"]
    assert repo.tree_dict(snap)["grew"].size == 6
    assert read_back(repo, snap, "db.sql") == dump
    assert repo.tree_dict(snap)["db.sql"].size == 700_000


# -- interruption --


@pytest.mark.parametrize("index_on_abort", [True, False], ids=["exception", "killed"])
def test_interrupted_backup_leaves_no_snapshot_and_next_run_reuses_packs(store, index_on_abort):
    kw = {"pack_size": 1 * MiB, "index_every": 2, "index_on_abort": index_on_abort}
    repo = make_repo(store, **kw)
    files = {f"file{i}": rand(1 * MiB, 100 + i) for i in range(24)}
    before = store.put_bytes

    class Cut(Exception):
        pass

    with pytest.raises(Cut), repo.backup(SOURCE) as s:
        for i, (path, data) in enumerate(files.items()):
            if i == 20:
                raise Cut("ssh connection lost")
            s.add_file(fentry(path, data), io.BytesIO(data))
    first_run = store.put_bytes - before
    assert first_run > 8 * MiB  # what was still queued when the cut came is dropped
    assert repo.snapshots() == []
    assert list_locks(repo)[0] == []  # released

    again = reopen(repo, **kw)  # a new process: only what index files say is known
    s2 = backup(again, files)
    assert s2.snapshot is not None
    assert s2.bytes_read == 24 * MiB
    # Re-uploaded: nothing (all stored packs indexed on abort) or, when killed, at most the
    # packs written since the last periodic index (index_every=2 packs of ~1 MiB).
    slack = 64 * 1024 if index_on_abort else 2 * MiB + 64 * 1024
    assert s.bytes_stored + s2.bytes_stored < 24 * MiB + slack
    for path, data in files.items():
        assert read_back(again, s2.snapshot, path) == data
    assert check(again, 100).ok


def test_failing_store_aborts_the_session_without_snapshot(tmp_path):
    class Flaky(LocalStore):
        fail = False

        def put(self, key, data, **kw):
            if self.fail and "/packs/" in key:
                raise OSError("disk full")
            super().put(key, data, **kw)

    store = Flaky(tmp_path)
    repo = make_repo(store, pack_size=MiB)
    store.fail = True
    with pytest.raises(Exception, match="disk full"), repo.backup(SOURCE) as s:
        for i in range(10):
            s.add_file(fentry(f"f{i}", rand(MiB, i)), io.BytesIO(rand(MiB, i)))
    assert repo.snapshots() == []
    store.fail = False
    s = backup(repo, {"x": b"fine"})
    assert read_back(repo, s.snapshot, "x") == b"fine"


def test_session_that_lost_its_lock_writes_no_snapshot(repo):
    with pytest.raises(LockLost), repo.backup(SOURCE) as s:
        s.add_file(fentry("a", b"abc"), io.BytesIO(b"abc"))
        for lock in list_locks(repo)[0]:  # e.g. someone removed it as stale
            repo._delete(f"locks/{lock.id}")
    assert repo.snapshots() == []


# -- check --


def test_check_detects_a_flipped_byte_in_any_pack_and_a_missing_pack(store):
    repo = make_repo(store, pack_size=2 * MiB)
    backup(repo, {f"f{i}": rand(700_000, i) for i in range(8)})
    report = check(repo, 100)
    assert report.ok, report.errors
    packs = pack_paths(store)
    assert len(packs) >= 3 and report.packs_checked == len(packs)
    for path in packs:
        original = path.read_bytes()
        for pos in (0, len(original) // 2, len(original) - 5):
            damaged = bytearray(original)
            damaged[pos] ^= 0x40
            path.write_bytes(bytes(damaged))
            errors = check(repo, 100).errors
            assert any(path.name in e for e in errors), (path.name, pos, errors)
        path.write_bytes(original)
    assert check(repo, 100).ok
    packs[1].unlink()
    report = check(repo)
    assert any(packs[1].name in e and "missing" in e for e in report.errors)


def test_check_sampling_is_deterministic(store):
    repo = make_repo(store, pack_size=MiB)
    backup(repo, {f"f{i}": rand(600_000, i) for i in range(10)})
    a, b = check(repo, 30, seed=1), check(repo, 30, seed=1)
    assert a.ok and a.packs_total >= 3
    assert a.packs_checked == b.packs_checked == -(-a.packs_total * 30 // 100)  # ceil
    assert a.bytes_read == b.bytes_read


# -- forget and prune --


def test_prune_after_forget_keeps_what_snapshots_need(store):
    repo = make_repo(store, pack_size=2 * MiB)
    common = {f"common{i}": rand(600_000, 500 + i) for i in range(4)}
    only1 = {f"old{i}": rand(600_000, 600 + i) for i in range(8)}
    s1 = backup(repo, {**common, **only1})
    s2 = backup(repo, {**common, "new": rand(MiB, 700)})
    s3 = backup(repo, {**common, "newer": text(3 * MiB, 701)})
    before = {p.name for p in pack_paths(store)}

    assert forget(repo, [s1.snapshot.id[:10]]) == [s1.snapshot.id]
    plan = plan_prune(repo)
    assert plan.packs_delete and plan.bytes_freed >= 8 * 600_000
    dry = prune(repo, plan, dry_run=True)
    assert {p.name for p in pack_paths(store)} == before and dry is plan
    prune(repo, plan)

    after = {p.name for p in pack_paths(store)}
    assert not (set(plan.packs_delete) | set(plan.packs_repack)) & after
    assert store.stat(f"customers/a/snapshots/{s1.snapshot.id}") is None
    fresh = reopen(repo, pack_size=2 * MiB)
    for snap, files in ((s2.snapshot, {**common, "new": None}), (s3.snapshot, common)):
        for path in files:
            assert read_back(fresh, snap, path) == (files[path] or rand(MiB, 700))
    assert read_back(fresh, s3.snapshot, "newer") == text(3 * MiB, 701)
    report = check(fresh, 100)
    assert report.ok and not report.warnings, report
    again = plan_prune(fresh)
    assert not again.has_work, again


def test_prune_removes_packs_of_an_interrupted_run_and_repacks(store):
    kw = {"pack_size": MiB, "index_on_abort": False, "index_every": 100}
    repo = make_repo(store, **kw, orphan_grace=timedelta(0))
    keep = backup(repo, {"keep": rand(3 * MiB, 1)})
    with pytest.raises(RuntimeError), repo.backup(SOURCE) as s:
        s.add_file(fentry("lost", rand(4 * MiB, 2)), io.BytesIO(rand(4 * MiB, 2)))
        deadline = time.monotonic() + 10
        while s.packs_uploaded < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        raise RuntimeError("killed")
    assert check(reopen(repo)).warnings  # unindexed packs
    assert not prune(reopen(repo, **kw)).packs_unindexed  # young: maybe a live run's
    plan = prune(reopen(repo, **kw, orphan_grace=timedelta(0)))
    assert plan.packs_unindexed
    report = check(reopen(repo), 100)
    assert report.ok and not report.warnings
    assert read_back(reopen(repo), keep.snapshot, "keep") == rand(3 * MiB, 1)


def test_a_long_lived_repository_does_not_dedup_against_pruned_packs(repo):
    data = rand(2 * MiB, 42)
    first = backup(repo, {"x": data})
    other = reopen(repo)  # another worker forgets and prunes meanwhile
    forget(other, [first.snapshot.id])
    prune(other)
    assert not list(other.store.list("customers/a/packs/"))
    again = backup(repo, {"x": data})  # repo's in-memory index still names the pruned pack
    assert again.bytes_new >= 2 * MiB
    assert read_back(reopen(repo), again.snapshot, "x") == data
    assert check(repo, 100).ok


def test_prune_refuses_while_a_backup_holds_its_shared_lock(repo):
    base = backup(repo, {"a": rand(MiB, 1)})
    forget(repo, [base.snapshot.id])
    other = reopen(repo)  # another worker
    with repo.backup(SOURCE) as s:
        s.add_file(fentry("b", rand(MiB, 2)), io.BytesIO(rand(MiB, 2)))
        with pytest.raises(RepositoryLocked, match="shared lock"):
            prune(other)
    assert read_back(reopen(repo), s.snapshot, "b") == rand(MiB, 2)
    with other.lock(exclusive=True, purpose="prune"), pytest.raises(RepositoryLocked, match="excl"):
        repo.backup(SOURCE).__enter__()
    prune(other)


# -- locks --


def test_stale_locks_are_ignored_and_removed(repo):
    old = reopen(repo, clock=lambda: datetime.now(UTC) - timedelta(hours=1), hostname="gone")
    old.lock(exclusive=True, purpose="crashed prune")._stop.set()  # never refreshed again
    fresh_other = reopen(repo, hostname="web2")
    fresh_other.lock(exclusive=False, purpose="running backup")
    assert len(list_locks(repo)[0]) == 2
    with pytest.raises(RepositoryLocked):
        repo.lock(exclusive=True)
    backup(repo, {"a": b"a"})  # the stale exclusive lock does not block a backup
    assert [lk.purpose for lk in list_locks(repo)[0]].count("crashed prune") == 1
    removed = remove_stale_locks(repo)
    assert len(removed) == 1
    assert [lk.purpose for lk in list_locks(repo)[0]] == ["running backup"]


def test_lock_of_a_dead_process_on_this_host_is_stale(repo):
    lock = repo.lock(exclusive=True)
    lock._stop.set()
    info = list_locks(repo)[0][0]
    dead_pid = 2**22 + 12345  # above pid_max's default: no such process
    assert info.is_stale(datetime.now(UTC), timedelta(minutes=30), repo.hostname) is False
    object.__setattr__(info, "pid", dead_pid)
    assert info.is_stale(datetime.now(UTC), timedelta(minutes=30), repo.hostname)
    assert not info.is_stale(datetime.now(UTC), timedelta(minutes=30), "another-host")


def test_lock_backs_off_when_a_conflicting_lock_appears_while_settling(repo, monkeypatch):
    import backups.engine.locks as locks_module

    rival = reopen(repo, hostname="web9")

    def sleep(_seconds):  # the rival writes its exclusive lock in our settle window
        rival.lock_settle = 0
        locks_module.Lock(rival, True, "rival")._write()

    repo.lock_settle = 0.01
    monkeypatch.setattr(locks_module.time, "sleep", sleep)
    with pytest.raises(RepositoryLocked, match="rival"):
        repo.lock(exclusive=False, purpose="backup")
    assert [lk.purpose for lk in list_locks(repo)[0]] == ["rival"]  # ours was withdrawn


def test_backup_writes_nothing_when_its_lock_is_withdrawn_while_settling(store, monkeypatch):
    """A backup settles its lock in the background while it reads; a rival exclusive lock that
    appears meanwhile makes it fail with RepositoryLocked before any pack is uploaded."""
    import backups.engine.locks as locks_module

    repo = make_repo(store, pack_size=64 * 1024)  # every blob fills a pack: uploads would start
    rival = reopen(repo, hostname="web9")
    settled = []

    def sleep(_seconds):  # runs in the settle thread: the rival prunes in our window
        locks_module.Lock(rival, True, "rival")._write()
        settled.append(True)

    repo.lock_settle = 0.01
    monkeypatch.setattr(locks_module.time, "sleep", sleep)
    with pytest.raises(RepositoryLocked, match="rival"):
        backup(repo, {f"f{i}": rand(300_000, i) for i in range(4)})
    assert settled and pack_paths(store) == [] and repo.snapshot_ids() == []
    assert [lk.purpose for lk in list_locks(repo)[0]] == ["rival"]  # ours was withdrawn


def test_lock_refresh_replaces_the_lock_object(repo):
    lock = repo.lock(exclusive=False)
    first = lock.id
    lock.refresh()
    assert lock.id != first and [lk.id for lk in list_locks(repo)[0]] == [lock.id]
    lock.release()
    assert list_locks(repo)[0] == []


# -- repositories and keys --


def test_init_open_and_wrong_keys(tmp_path):
    store = LocalStore(tmp_path)
    a = Repository(store, "customers/a", RepoKeys.generate(), lock_settle=0).init()
    b = Repository(store, "customers/b", RepoKeys.generate(), lock_settle=0).init()
    with pytest.raises(RepositoryExists):
        Repository(store, "customers/a", a.keys).init()
    with pytest.raises(RepositoryNotFound):
        Repository(store, "customers/c", a.keys).open()
    with pytest.raises(WrongKeys):
        Repository(store, "customers/b", a.keys).open()

    same = b"the same customer file"
    assert blob_id(a.keys, same) != blob_id(b.keys, same)
    sa, sb = backup(a, {"x": same}), backup(b, {"x": same})
    ids_a = {e.content[0] for e in a.iter_tree(sa.snapshot)}
    ids_b = {e.content[0] for e in b.iter_tree(sb.snapshot)}
    assert ids_a.isdisjoint(ids_b)

    [b_pack] = [p for p in (tmp_path / "customers/b/packs").rglob("*") if p.is_file()]
    data = b_pack.read_bytes()
    with pytest.raises(IntegrityError):
        parse_pack(a.keys, data)
    entries = parse_pack(b.keys, data)
    e = entries[0]
    with pytest.raises(IntegrityError):
        decode_blob(a.keys, e.blob_id, data[e.offset : e.offset + e.length])
    with pytest.raises(IntegrityError):  # B's snapshot under A's keys
        snap_name = next(store.list("customers/b/snapshots/")).key.rpartition("/")[2]
        (tmp_path / "customers/a/snapshots" / snap_name).write_bytes(
            (tmp_path / "customers/b/snapshots" / snap_name).read_bytes()
        )
        a.load_snapshot(snap_name)


# -- end to end over S3 --


def test_end_to_end_over_s3(s3_server, s3_bucket):
    store = S3Store(
        s3_bucket,
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key=s3_server.access_key,
        secret_key=s3_server.secret_key,
        path_style=True,
    )
    keys = RepoKeys.generate()
    repo = Repository(store, "customers/e2e", keys, pack_size=2 * MiB, lock_settle=0).init()
    files = {"index.html": text(300_000, 1), "video.mp4": rand(5 * MiB, 2), "empty": b""}
    s1 = backup(repo, files)
    files2 = {**files, "index.html": text(300_001, 3)}
    s2 = backup(repo, files2, parent=s1.snapshot)
    assert s2.bytes_new < 400_000

    repo = Repository(store, "customers/e2e", keys, lock_settle=0).open()
    assert [s.id for s in repo.snapshots()] == [s1.snapshot.id, s2.snapshot.id]
    for path, data in files2.items():
        assert read_back(repo, s2.snapshot, path) == data
    report = check(repo, 100)
    assert report.ok and report.packs_checked >= 3, report
    forget(repo, [s1.snapshot.id])
    prune(repo)
    assert check(repo, 100).ok
    for path, data in files2.items():
        assert read_back(repo, repo.snapshots()[0], path) == data
    assert list(store.list("customers/e2e/locks/")) == []
