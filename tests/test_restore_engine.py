"""The restore engine (backups/restore) end to end: hosting on the sshd sandbox, backed up by the
nightly runs into S3 (the moto server), restored over SSH (and the local transport) and compared
byte for byte, mode for mode and nanosecond for nanosecond with what was backed up."""

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pytest
import zstandard
from django.utils import timezone

from backups import restore, sources
from backups.engine import Entry, RepoKeys, Repository
from backups.engine.pack import pack_key
from backups.models import BackupRun, RepositoryKey
from backups.restore import server as restore_server
from backups.restore import source as restore_source
from backups.restore import tarstream
from backups.services import runs
from backups.services.repositories import KeysDestroyed, open_repository
from hosting.models import Database
from hosting.transport import ssh_target
from infra import ssh
from infra.objectstore import LocalStore

pytestmark = pytest.mark.django_db
NIGHT = date(2026, 11, 20)
ODD = os.fsdecode(b"bad-\xff\xfe name.txt")  # not UTF-8
NS = 1_700_000_000_123_456_789


def state(root: Path) -> dict[bytes, tuple]:
    """Every path below ``root`` (bytes) -> (kind, mode, mtime ns, content or link target)."""
    out = {}
    base = os.fsencode(root)
    for folder, dirs, files in os.walk(base):
        for name in dirs + files:
            path = os.path.join(folder, name)
            st = os.lstat(path)
            if os.path.islink(path):
                value = ("l", 0, st.st_mtime_ns, os.readlink(path))
            elif os.path.isdir(path):
                value = ("d", st.st_mode & 0o7777, st.st_mtime_ns, None)
            else:
                value = (
                    "f",
                    st.st_mode & 0o7777,
                    st.st_mtime_ns,
                    Path(os.fsdecode(path)).read_bytes(),
                )
            out[os.path.relpath(path, base)] = value
    return out


@dataclass
class Backed:
    repo: Repository
    snapshot: object
    database_snapshot: object
    database: Database
    webroot: Path
    original: dict
    target: object
    server: object


@pytest.fixture
def backed(s3_store, hosted, sandbox_server):
    """The hosted webhotel with folders, modes, nanosecond times, a symlink, an empty file and a
    name that is not UTF-8, backed up by a night's runs."""
    webhotel, home = hosted
    sub = home / "sub" / "deep"
    sub.mkdir(parents=True)
    (sub / "secret.txt").write_bytes(b"only the owner reads this\n")
    (sub / "secret.txt").chmod(0o600)
    (home / "sub" / "run.sh").write_bytes(b"#!/bin/sh\necho hej\n")
    (home / "sub" / "run.sh").chmod(0o755)
    (home / "empty.txt").write_bytes(b"")
    (home / "latest").symlink_to("sub/deep/secret.txt")
    Path(os.fsdecode(os.fsencode(home) + b"/" + os.fsencode(ODD))).write_bytes(b"odd name\n")
    for i, path in enumerate([sub / "secret.txt", home / "sub" / "run.sh", home / "page3.html"]):
        os.utime(path, ns=(NS, NS + i * 1_111))
    os.utime(home / "latest", ns=(NS, NS + 7), follow_symlinks=False)
    (home / "sub").chmod(0o750)
    os.utime(home / "sub", ns=(NS, NS + 99))
    webroot = home.parent
    original = state(webroot)
    for run in runs.plan_night(NIGHT):
        assert runs.execute(run.pk) == "done", BackupRun.objects.get(pk=run.pk).error
    web = BackupRun.objects.get(night=NIGHT, kind="webhotel")
    db = BackupRun.objects.get(night=NIGHT, kind="database")
    repo = open_repository(webhotel.customer)
    return Backed(
        repo=repo,
        snapshot=repo.load_snapshot(web.snapshot_id),
        database_snapshot=repo.load_snapshot(db.snapshot_id),
        database=Database.objects.get(pk=db.item_id),
        webroot=webroot,
        original=original,
        target=ssh_target(sandbox_server),
        server=sandbox_server,
    )


def restore_all(b: Backed, dest: Path, target="ssh", **kw):
    entries = restore.select_entries(b.repo, b.snapshot, None)
    target = b.target if target == "ssh" else None
    return restore.restore_to_server(
        b.repo, b.snapshot, entries, target=target, dest_root=str(dest), **kw
    )


def file_count(b: Backed) -> tuple[int, int]:
    files = [e for e in b.repo.iter_tree(b.snapshot) if e.type == "file"]
    return len(files), sum(e.size for e in files)


# -- in place, side folder, another path, folders --


def test_an_in_place_restore_puts_back_every_byte_mode_and_time(backed):
    b, home = backed, backed.webroot / "public_html"
    (home / "page3.html").write_text("defaced")
    (home / "photo.jpg").unlink()
    shutil.rmtree(home / "sub")
    (home / "empty.txt").chmod(0o666)
    Path(os.fsdecode(os.fsencode(home) + b"/" + os.fsencode(ODD))).unlink()
    (home / "latest").unlink()
    (home / "latest").symlink_to("/etc/passwd")  # replaced, not written through
    (home / "added-later.html").write_text("new since the backup")
    calls = []
    result = restore_all(b, b.webroot, progress=lambda *args: calls.append(args))
    after = state(b.webroot)
    assert after.pop(b"public_html/added-later.html")[3] == b"new since the backup"
    assert after == b.original
    files, size = file_count(b)
    assert (result.files, result.bytes, result.verified) == (files, size, True)
    assert (result.dirs, result.symlinks) == (3, 1)  # public_html, sub, sub/deep; latest
    assert calls[-1] == (size, size, files)


def test_a_restore_to_a_side_folder_and_to_another_webhotel_path(backed):
    b = backed
    side = b.webroot / "restored-2026-11-20"
    restore_all(b, side)
    assert state(side) == b.original
    other = Path(sources.webhotel_path("sandbox", b.server.root, "beta"))
    assert not other.exists()
    restore_all(b, other, target=None)  # the local transport
    assert state(other) == b.original


def test_a_folder_restore_brings_back_that_folder_and_nothing_else(backed):
    b, home = backed, backed.webroot / "public_html"
    shutil.rmtree(home / "sub")
    entries = restore.select_entries(b.repo, b.snapshot, ["/public_html/sub/"])
    assert [e.path for e in entries][:2] == ["public_html", "public_html/sub"]
    side = b.webroot.parent / f"side-{uuid.uuid4().hex[:6]}"
    result = restore.restore_to_server(
        b.repo, b.snapshot, entries, target=b.target, dest_root=str(side)
    )
    assert result.files == 2
    wanted = {k: v for k, v in b.original.items() if k.startswith(b"public_html/sub")}
    got = state(side)
    assert got.pop(b"public_html")[0] == "d"
    assert got == wanted
    restore.restore_to_server(
        b.repo, b.snapshot, entries, target=b.target, dest_root=str(b.webroot)
    )
    assert state(b.webroot) == b.original

    with pytest.raises(restore.RestorePathNotFound) as caught:
        restore.select_entries(b.repo, b.snapshot, ["public_html/nope", "sub", "public_html"])
    assert caught.value.paths == ["public_html/nope", "sub"]
    assert "public_html/nope" in str(caught.value)


def test_a_single_file_restore_replaces_a_folder_link_planted_on_the_destination(backed):
    """Restoring public_html/page1.html must not write through public_html -> elsewhere."""
    b = backed
    elsewhere = b.webroot.parent / f"elsewhere-{uuid.uuid4().hex[:6]}"
    elsewhere.mkdir()
    shutil.rmtree(b.webroot / "public_html")
    (b.webroot / "public_html").symlink_to(elsewhere)
    entries = restore.select_entries(b.repo, b.snapshot, ["public_html/page1.html"])
    restore.restore_to_server(
        b.repo, b.snapshot, entries, target=b.target, dest_root=str(b.webroot)
    )
    assert list(elsewhere.iterdir()) == []
    restored = b.webroot / "public_html" / "page1.html"
    assert not (b.webroot / "public_html").is_symlink()
    assert restored.read_bytes() == b.original[b"public_html/page1.html"][3]


# -- refusals before anything is written --


def crafted_repo(tmp_path, build) -> tuple[Repository, object]:
    repo = Repository(LocalStore(tmp_path / "store"), "customers/x", RepoKeys.generate()).init()
    source = {"kind": "webhotel", "id": 1, "name": "x.dk", "host": "web1"}
    with repo.backup(source) as session:
        session.add_file({"path": "ok.txt", "size": 3, "mode": 0o644}, io.BytesIO(b"ok\n"))
        build(session)
    return repo, session.snapshot


def _file(path):
    return lambda s: s.add_file({"path": path, "size": 4, "mode": 0o644}, io.BytesIO(b"evil"))


def _link(path, target):
    return lambda s: s.add_symlink({"path": path, "target": target})


def _all(*builds):
    def build(session):
        for b in builds:
            b(session)

    return build


@pytest.mark.parametrize(
    "build, bad",
    [
        (_file("../evil"), "../evil"),
        (_file("a/../../evil"), "a/../../evil"),
        (_link("out", "../outside"), "out"),
        (_link("abs", "/etc"), "abs"),
        (_all(_link("a", "."), _link("loop1", "loop2"), _link("loop2", "loop1")), "loop1"),
        # each link alone stays inside; followed through each other they lead out
        (_all(lambda s: s.add_dir({"path": "d"}), _link("d/up", ".."), _link("t", "d/up/..")), "t"),
        (_all(_link("l", "d"), lambda s: s.add_dir({"path": "d"}), _file("l/x")), "l/x"),
    ],
)
def test_entries_that_would_leave_the_root_are_refused_before_anything_is_written(
    tmp_path, build, bad
):
    repo, snapshot = crafted_repo(tmp_path, build)
    entries = restore.select_entries(repo, snapshot, None)
    dest = tmp_path / "dest"
    with pytest.raises(restore.UnsafePath) as caught:
        restore.restore_to_server(repo, snapshot, entries, target=None, dest_root=str(dest))
    assert caught.value.path == bad
    assert not dest.exists() and not (tmp_path / "evil").exists()
    with pytest.raises(restore.UnsafePath):
        restore.build_archive(repo, snapshot, entries, io.BytesIO(), fmt="zip")


def test_an_absolute_entry_path_is_refused_and_remote_tar_refuses_dot_dot_too(tmp_path):
    repo, snapshot = crafted_repo(tmp_path, lambda s: None)
    [ok] = restore.select_entries(repo, snapshot, None)
    forged = Entry(path=str(tmp_path / "evil"), type="file", size=3, content=ok.content)
    with pytest.raises(restore.UnsafePath, match="absolute"):
        restore.restore_to_server(
            repo, snapshot, [ok, forged], target=None, dest_root=str(tmp_path / "dest")
        )
    assert not (tmp_path / "dest").exists() and not (tmp_path / "evil").exists()
    # The extracting command itself (as run on servers) skips such members if one got through.
    stream = b"".join(
        tarstream.header(Entry(path=p, type="file", size=4, mode=0o644), 0o644)
        + b"evil"
        + b"\0" * 508
        for p in ("../evil", "ok")
    )
    dest = tmp_path / "tar" / "dest"
    argv = ["sh", "-c", restore_server.EXTRACT_SCRIPT, "sh", str(dest)]
    done = subprocess.run(
        [*argv, *restore_server.tar_command(False)],
        input=stream + tarstream.END,
        capture_output=True,
    )
    assert done.returncode == 2 and b"Member name contains '..'" in done.stderr
    assert (dest / "ok").read_bytes() == b"evil" and not (tmp_path / "tar" / "evil").exists()


# -- damage, cancellation, room, write failures, verification --


def _pack_of(b: Backed, path: str):
    entry = next(e for e in b.repo.iter_tree(b.snapshot) if e.path == path)
    loc = b.repo.index.lookup(entry.content[0])
    return b.repo.prefix + pack_key(loc.pack_id), loc


@pytest.mark.parametrize("damage", ["truncated", "deleted"])
def test_a_pack_missing_or_truncated_is_reported_before_anything_is_written(
    backed, s3_store, damage
):
    b = backed
    entries = restore.select_entries(b.repo, b.snapshot, None)
    key, _loc = _pack_of(b, "public_html/photo.jpg")
    data = s3_store.get(key)
    if damage == "truncated":
        s3_store.put(key, data[: len(data) // 2])
    else:
        s3_store.delete(key)
    first = next(
        e.path
        for e in entries
        if e.type == "file"
        and any(b.repo.index.lookup(c).pack_id == key.rsplit("/", 1)[1] for c in e.content)
    )
    dest = b.webroot.parent / "side-damaged"
    with pytest.raises(restore.RestoreSourceDamaged) as caught:
        restore.restore_to_server(b.repo, b.snapshot, entries, target=b.target, dest_root=str(dest))
    assert caught.value.snapshot_id == b.snapshot.id and caught.value.path == first
    assert b.snapshot.id[:12] in str(caught.value) and "Nothing was written" in str(caught.value)
    assert not dest.exists()


def test_a_corrupt_byte_stops_before_the_damaged_file_and_names_it(backed, s3_store):
    b = backed
    entries = restore.select_entries(b.repo, b.snapshot, None)
    key, loc = _pack_of(b, "public_html/photo.jpg")
    data = bytearray(s3_store.get(key))
    data[loc.offset + 100] ^= 0x01  # same size: only reading the blob can tell
    s3_store.put(key, bytes(data))
    dest = b.webroot.parent / "side-corrupt"
    with pytest.raises(restore.RestoreSourceDamaged) as caught:
        restore.restore_to_server(b.repo, b.snapshot, entries, target=b.target, dest_root=str(dest))
    assert caught.value.path == "public_html/photo.jpg" and caught.value.files_done > 0
    got = state(dest)
    assert b"public_html/photo.jpg" not in got
    files = [k for k, v in got.items() if v[0] == "f"]
    assert len(files) == caught.value.files_done
    for path in files:  # what landed before the damaged file landed whole
        assert got[path] == b.original[path]


def test_neighbouring_blobs_of_a_pack_are_read_with_one_ranged_get(backed):
    b = backed
    ids = [bid for e in b.repo.iter_tree(b.snapshot) if e.type == "file" for bid in e.content]
    spans = list(restore_source.spans(b.repo.index, ids))
    assert len(spans) < len(ids) / 10  # the small files lie side by side in their pack
    assert [bid for span in spans for bid, _loc in span.blobs] == ids  # in order, each once
    for span in spans:
        assert span.end - span.start <= restore_source.SPAN
        assert all(span.start <= loc.offset < span.end for _bid, loc in span.blobs)


def test_cancelling_ends_the_stream_between_files(backed):
    b = backed
    polls = []

    def cancelled():
        polls.append(1)
        return len(polls) > 30

    dest = b.webroot.parent / "side-cancelled"
    with pytest.raises(restore.RestoreCancelled) as caught:
        restore_all(b, dest, cancelled=cancelled)
    got = {k: v for k, v in state(dest).items() if v[0] == "f"}
    assert 0 < caught.value.files_done == len(got) < file_count(b)[0]
    for path, value in got.items():
        assert value[3] == b.original[path][3]


@pytest.fixture
def tmpfs(sshd):
    """Mount a small tmpfs below the sshd sandbox (needs root); unmounted afterwards."""
    mounted = []

    def mount(**options) -> Path:
        where = sshd.root / f"tmpfs-{uuid.uuid4().hex[:6]}"
        where.mkdir()
        opts = ",".join(f"{k}={v}" for k, v in options.items())
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", opts, "tmpfs", str(where)], check=False
        )
        if done.returncode != 0:
            pytest.skip("mounting a tmpfs needs root")
        mounted.append(where)
        return where

    yield mount
    for where in mounted:
        subprocess.run(["umount", str(where)], check=True)


def test_a_destination_without_room_fails_before_anything_is_written(backed, tmpfs):
    small = tmpfs(size="1m")
    dest = small / "webhotel"
    with pytest.raises(restore.NotEnoughRoom) as caught:
        restore_all(backed, dest)
    assert caught.value.needed > 3 * 1024 * 1024 > caught.value.available
    assert "Not enough room" in str(caught.value)
    assert not dest.exists()


def test_a_write_failure_mid_way_stops_and_names_the_file(backed, tmpfs):
    # 120 files of 256 KiB: far more than the stream holds in flight (the stdin queue and the
    # SSH window), so the stop after tar's first complaint shows in the files sent.
    bulk = backed.webroot.parent / "bulk"
    bulk.mkdir()
    for i in range(120):
        (bulk / f"f{i:03}.bin").write_bytes(os.urandom(256 * 1024))
    pool = ssh.SshPool()
    source = {"kind": "webhotel", "id": "bulk", "name": "bulk.example", "host": "sandbox"}
    try:
        with backed.repo.backup(source) as session:
            sources.backup_tree(session, root_path=str(bulk), target=backed.target, pool=pool)
    finally:
        pool.close_all()
    snapshot = session.snapshot
    entries = restore.select_entries(backed.repo, snapshot, None)
    few_inodes = tmpfs(size="64m", nr_inodes="40")  # room enough, but only ~40 files fit
    with pytest.raises(restore.RestoreWriteFailed) as caught:
        restore.restore_to_server(
            backed.repo,
            snapshot,
            entries,
            target=backed.target,
            dest_root=str(few_inodes / "bulk"),
        )
    assert caught.value.paths and "No space left on device" in caught.value.detail
    assert caught.value.paths[0] in {e.path for e in entries}
    assert caught.value.files_done < 120


def test_a_folder_in_the_way_of_a_file_is_a_write_failure(backed):
    page = backed.webroot / "public_html" / "page5.html"
    page.unlink()
    page.mkdir()
    (page / "keep.txt").write_text("not ours to remove")
    with pytest.raises(restore.RestoreWriteFailed) as caught:
        restore_all(backed, backed.webroot)
    assert caught.value.paths[0] == "public_html/page5.html"
    assert (page / "keep.txt").read_text() == "not ours to remove"


def test_what_changes_after_landing_fails_the_verification(backed):
    b, home = backed, backed.webroot / "public_html"
    total = file_count(b)[1]

    def progress(done, total_bytes, files):
        if done == total_bytes == total and files == file_count(b)[0]:  # tar has finished
            with open(home / "page9.html", "a") as f:  # a live site writes meanwhile
                f.write("x")
            (home / "page8.html").chmod(0o600)

    with pytest.raises(restore.RestoreVerificationFailed) as caught:
        restore_all(b, b.webroot, progress=progress)
    problems = {}
    for path, problem in caught.value.mismatches:
        problems.setdefault(path, []).append(problem)
    assert set(problems) == {"public_html/page9.html", "public_html/page8.html"}
    assert any(p.startswith("size") for p in problems["public_html/page9.html"])
    assert problems["public_html/page8.html"] == ["mode 600, not 644"]


# -- archives --


def test_a_tar_zst_archive_holds_exact_names_bytes_modes_and_times(backed):
    b = backed
    out = io.BytesIO()
    entries = restore.select_entries(b.repo, b.snapshot, None)
    result = restore.build_archive(b.repo, b.snapshot, entries, out, fmt="tar.zst")
    data = out.getvalue()
    assert (result.bytes_written, result.sha256) == (len(data), hashlib.sha256(data).hexdigest())
    assert (result.files, result.bytes) == file_count(b)
    seen = {}
    stream = zstandard.ZstdDecompressor().stream_reader(io.BytesIO(data))
    with tarfile.open(fileobj=stream, mode="r|", encoding="utf-8", errors="surrogateescape") as tar:
        for member in tar:
            path = os.fsencode(member.name.rstrip("/"))
            ns = int(member.pax_headers["mtime"].replace(".", ""))
            if member.issym():
                seen[path] = ("l", 0, ns, os.fsencode(member.linkname))
            elif member.isdir():
                seen[path] = ("d", member.mode, ns, None)
            else:
                seen[path] = ("f", member.mode, ns, tar.extractfile(member).read())
    assert seen == b.original


def test_a_zip_archive_holds_every_file_with_its_mode_and_link(backed):
    b = backed
    out = io.BytesIO()
    entries = restore.select_entries(b.repo, b.snapshot, ["public_html"])
    result = restore.build_archive(b.repo, b.snapshot, entries, out, fmt="zip")
    assert result.sha256 == hashlib.sha256(out.getvalue()).hexdigest()
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        infos = {i.filename: i for i in archive.infolist()}
        for path, (kind, mode, _ns, content) in b.original.items():
            if not path.startswith(b"public_html"):
                continue
            name = path.decode("utf-8", "backslashreplace") + ("/" if kind == "d" else "")
            info = infos.pop(name)
            if kind == "d":
                assert info.external_attr >> 16 & 0o7777 == mode
            elif kind == "f":
                assert archive.read(info) == content
                assert info.external_attr >> 16 & 0o7777 == mode
            else:
                assert archive.read(info) == content and info.external_attr >> 28 == 0o12
        assert infos == {}
    assert "public_html/bad-\\xff\\xfe name.txt" in {i.filename for i in archive.infolist()}
    with pytest.raises(restore.RestoreCancelled):
        restore.build_archive(
            b.repo, b.snapshot, entries, io.BytesIO(), fmt="zip", cancelled=lambda: True
        )


def test_a_file_larger_than_the_memory_spool_is_spooled_to_disk(monkeypatch):
    monkeypatch.setattr(restore_source, "SPOOL_IN_MEMORY", 10)
    pieces = [b"abcdef", b"ghijkl", b"mn"]
    spool = restore_source.Spool(iter(pieces))
    assert spool._file is not None and spool.size == 14
    assert b"".join(spool.pieces()) == b"".join(pieces)
    assert spool.sha256 == hashlib.sha256(b"".join(pieces)).hexdigest()
    spool.close()


# -- databases and keys --


def test_a_sandbox_database_restore_writes_the_dump_back(backed):
    b = backed
    spec = sources.dump_spec("sandbox", b.server.root, b.database.engine, b.database.name)
    dump = Path(spec.path)
    before = dump.read_bytes()
    dump.write_text('{"tables": "wrecked"}')
    result = restore.restore_dump(
        b.repo,
        b.database_snapshot,
        engine=b.database.engine,
        database=b.database.name,
        profile="sandbox",
        root=b.server.root,
        target=b.target,
    )
    assert dump.read_bytes() == before and result.verified and result.files == 1


def test_debian_database_restores_feed_the_dump_to_the_engine():
    assert restore.load_command("mariadb", "alfa_shop") == ("mysql", "alfa_shop")
    assert restore.load_command("postgresql", "alfa_shop") == (
        "pg_restore",
        "--clean",
        "--if-exists",
        "--single-transaction",
        "--dbname=alfa_shop",
    )
    for name in ("-e drop", "x;rm", "host=evil", ""):
        with pytest.raises(ValueError):
            restore.load_command("mariadb", name)
    with pytest.raises(ValueError):
        restore.load_command("oracle", "alfa_shop")


def test_a_customer_whose_keys_were_destroyed_gets_keys_destroyed(backed, customer_a):
    RepositoryKey.objects.filter(customer=customer_a).update(destroyed_at=timezone.now())
    with pytest.raises(KeysDestroyed):
        open_repository(customer_a)
