"""backups.sources against the real OpenSSH server of the ``sshd`` fixture and locally: one
``find`` listing, a ``tar`` stream of only the changed files, dumps; the engine is real too."""

import io
import json
import os
import random
import shutil
import stat
import subprocess
import tarfile
import tempfile
import uuid
from pathlib import Path

import pytest

from backups import sources
from backups.engine import RepoKeys, Repository
from backups.engine.chunker import Chunker, ChunkerParams
from backups.tarstream import TarError, TarReader
from infra import ssh
from infra.objectstore import LocalStore

MiB = 1024 * 1024
SMALL_DIRS, SMALL_PER_DIR = 10, 40  # 400 small files
LONG = "n" * 180  # names long enough for GNU long-name headers and a >64 KiB list of names


@pytest.fixture(scope="module")
def pool():
    pool = ssh.SshPool()
    yield pool
    pool.close_all()


@pytest.fixture(params=["ssh", "local"])
def transport(request, sshd, pool):
    """Keyword arguments for the sources: over SSH to the sshd fixture, or the local transport.
    Both see the same folder (the fixture's sshd runs on this machine)."""
    if request.param == "local":
        return {}
    target = ssh.SshTarget(
        host=sshd.host,
        port=sshd.port,
        user=sshd.user,
        host_key=sshd.host_key_line,
        private_key_path=sshd.client_key_path,
    )
    return {"target": target, "pool": pool}


@pytest.fixture
def tree(sshd):
    root = sshd.root / uuid.uuid4().hex
    root.mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def repo(tmp_path):
    return Repository(LocalStore(tmp_path / "store"), "customers/test", RepoKeys.generate()).init()


def webhotel(name="example.dk"):
    return {"kind": "webhotel", "id": 7, "name": name, "host": "web1"}


def build_tree(root: Path) -> None:
    for d in range(SMALL_DIRS):
        folder = root / "public_html" / f"dir{d}"
        folder.mkdir(parents=True)
        for i in range(SMALL_PER_DIR):
            name = f"{LONG}-{i}.html" if d == 0 else f"page{i}.html"
            (folder / name).write_bytes(f"<p>page {d}/{i}</p>\n".encode() * (i + 1))
    (root / "big.bin").write_bytes(os.urandom(5 * MiB))
    (root / "empty.txt").write_bytes(b"")
    (root / "link").symlink_to("big.bin")
    (root / "dangling").symlink_to("does/not/exist")
    (root / "empty_dir").mkdir()
    (root / "new\nline.txt").write_bytes(b"newline in the name\n")
    (Path(os.fsdecode(bytes(root) + b"/bad-\xff\xfe.txt"))).write_bytes(b"not UTF-8\n")
    (root / "-starts-with-dash").write_bytes(b"dash\n")
    (root / "back\\slash and space ").write_bytes(b"backslash\n")
    deep = root / "a" / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / ("f" * 120)).write_bytes(b"deep\n")
    (root / "hard1").write_bytes(b"hard link\n")
    os.link(root / "hard1", root / "hard2")
    private = root / "private.php"
    private.write_bytes(b"<?php secret();\n")
    private.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(private, 1234, 5678)


def walk(root: Path) -> dict[str, os.stat_result]:
    """Relative path -> lstat of everything below ``root`` (names decoded as the sources do)."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(folder, name)
            found[os.path.relpath(path, root)] = os.lstat(path)
    return found


def assert_restores(repo, snapshot, root: Path) -> None:
    """Every entry of the snapshot equals the tree on disk: names, metadata and bytes."""
    on_disk = walk(root)
    entries = {e.path: e for e in repo.iter_tree(snapshot)}
    assert set(entries) == set(on_disk)
    for path, entry in entries.items():
        st = on_disk[path]
        kind = {stat.S_IFREG: "file", stat.S_IFDIR: "dir", stat.S_IFLNK: "symlink"}
        assert entry.type == kind[stat.S_IFMT(st.st_mode)], path
        assert (entry.mode, entry.uid, entry.gid, entry.inode) == (
            stat.S_IMODE(st.st_mode),
            st.st_uid,
            st.st_gid,
            st.st_ino,
        ), path
        assert entry.mtime == st.st_mtime_ns, path
        full = os.path.join(root, path)
        if entry.type == "file":
            assert entry.size == st.st_size, path
            assert b"".join(repo.read_entry(entry)) == Path(full).read_bytes(), path
        elif entry.type == "symlink":
            assert entry.target == os.readlink(full), path


def test_tree_full_then_incremental(transport, tree, repo):
    build_tree(tree)
    with repo.backup(webhotel()) as session:
        first = sources.backup_tree(session, root_path=str(tree), **transport)
    snap = session.snapshot
    files = sum(1 for p, st in walk(tree).items() if stat.S_ISREG(st.st_mode))
    assert first.files_listed == first.files_streamed == files == SMALL_DIRS * SMALL_PER_DIR + 10
    assert first.files_reused == 0 and first.warnings == [] and snap.complete
    assert (first.dirs, first.symlinks) == (SMALL_DIRS + 5, 2)
    assert first.bytes_streamed == session.bytes_read > 5 * MiB
    assert_restores(repo, snap, tree)
    hard = {e.path: e for e in repo.iter_tree(snap) if e.path.startswith("hard")}
    assert [b"".join(repo.read_entry(e)) for e in hard.values()] == [b"hard link\n"] * 2

    # One percent of the small files change (content and size), one is only touched, one is
    # new and one is deleted: exactly the new, changed and touched files are read again.
    changed = [tree / "public_html" / f"dir{d}" / f"page{d}.html" for d in range(1, 5)]
    for path in changed:
        path.write_bytes(path.read_bytes() + b"<p>changed</p>\n")
    touched = tree / "public_html" / "dir5" / "page0.html"
    st = touched.stat()
    os.utime(touched, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    (tree / "public_html" / "new.html").write_bytes(b"<p>new</p>\n")
    (tree / "empty.txt").unlink()
    streamed = len(changed) + 2
    with repo.backup(webhotel(), parent=snap) as session:
        second = sources.backup_tree(
            session, root_path=str(tree), parent_entries=repo.iter_tree(snap), **transport
        )
    assert second.files_listed == files
    assert second.files_streamed == streamed
    assert second.files_reused == session.files_reused == files - streamed
    assert second.bytes_streamed == session.bytes_read < 64 * 1024  # big.bin was not read
    assert session.snapshot.parent == snap.id and session.snapshot.complete
    assert_restores(repo, session.snapshot, tree)


def test_vanished_file_is_a_warning(transport, tree, repo, monkeypatch):
    (tree / "stays.txt").write_bytes(b"stays\n")
    (tree / "vanishes.txt").write_bytes(b"vanishes\n")
    (tree / "z-last.txt").write_bytes(b"last\n")
    listed = sources._list_tree

    def list_then_delete(*args, **kwargs):
        entries = listed(*args, **kwargs)
        (tree / "vanishes.txt").unlink()  # between the listing and tar
        return entries

    monkeypatch.setattr(sources, "_list_tree", list_then_delete)
    with repo.backup(webhotel()) as session:
        summary = sources.backup_tree(session, root_path=str(tree), **transport)
    assert summary.files_listed == 3
    assert (summary.files_streamed, summary.files_skipped) == (2, 1)
    [warning] = summary.warnings
    assert warning["path"] == "vanishes.txt"
    assert "No such file or directory" in warning["message"]
    assert session.snapshot.summary["warnings"] == summary.warnings
    # A vanished file was deleted, not missed: the snapshot is still complete.
    assert session.snapshot.complete
    assert_restores(repo, session.snapshot, tree)


@pytest.fixture
def open_tree():
    """A tree outside pytest's private temp folder, so an unprivileged user can reach it."""
    root = Path(tempfile.mkdtemp(prefix="havn-sources-"))
    root.chmod(0o755)
    yield root
    for folder, dirs, _files in os.walk(root):
        for name in dirs:
            os.chmod(os.path.join(folder, name), 0o700)
    shutil.rmtree(root)


def test_unreadable_files_and_folders_are_warnings(open_tree, repo, monkeypatch):
    """Permission denied, for real: root reads everything, so the local transport's commands
    run as ``nobody`` here (through setpriv) when the suite runs as root."""
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("setpriv is needed to drop root")
        start = sources._LocalCommand.__init__
        nobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

        def as_nobody(self, argv, stdin, timeout):
            start(self, [*nobody, *argv], stdin, timeout)

        monkeypatch.setattr(sources._LocalCommand, "__init__", as_nobody)
    (open_tree / "readable.txt").write_bytes(b"ok\n")
    secret = open_tree / "secret\nname.txt"
    secret.write_bytes(b"secret\n")
    secret.chmod(0)
    closed = open_tree / "closed"
    closed.mkdir()
    (closed / "inside.txt").write_bytes(b"inside\n")
    closed.chmod(0)
    with repo.backup(webhotel()) as session:
        summary = sources.backup_tree(session, root_path=str(open_tree))
    problems = {w["path"]: w["message"] for w in summary.warnings}
    assert problems == {
        "closed": "Permission denied",
        "secret\nname.txt": "Cannot open: Permission denied",
    }
    assert (summary.files_streamed, summary.files_skipped) == (1, 1)
    snap = session.snapshot
    assert not snap.complete  # something that exists could not be read
    assert {e.path for e in repo.iter_tree(snap)} == {"closed", "readable.txt"}


def test_missing_root_fails(transport, tree, repo):
    with pytest.raises(sources.SourceError, match="No such file or directory"):  # noqa: SIM117
        with repo.backup(webhotel()) as session:
            sources.backup_tree(session, root_path=str(tree / "nope"), **transport)
    assert repo.snapshot_ids() == []


def test_failing_dump_fails_the_session(transport, repo):
    command = ["sh", "-c", "echo '-- partial'; echo 'mysqldump: Got error: 1045' >&2; exit 1"]
    source = {"kind": "database", "id": 3, "name": "shop", "host": "web1"}
    with pytest.raises(sources.DumpFailed, match="Got error: 1045") as failed:  # noqa: SIM117
        with repo.backup(source) as session:
            sources.backup_dump(session, name="shop.sql", command=command, **transport)
    assert failed.value.exit_status == 1
    assert repo.snapshot_ids() == []  # no snapshot of a failed dump


def test_dump_streams_a_command_and_a_file(transport, tree, repo):
    spec = sources.dump_spec("sandbox", str(tree), "mariadb", "shop")
    path = Path(spec.path)
    path.parent.mkdir(parents=True)
    record = {"engine": "mariadb", "name": "shop", "rows": ["x" * 100] * 30_000}
    path.write_text(json.dumps(record))
    source = {"kind": "database", "id": 3, "name": "shop", "host": "web1"}
    with repo.backup(source) as session:
        summary = sources.backup_dump(session, name=spec.name, path=spec.path, **transport)
        generated = sources.backup_dump(
            session, name="generated.sql", command=["seq", "1", "1000000"], **transport
        )
    snap = session.snapshot
    assert snap.complete and session.warnings == []
    assert summary.bytes_streamed == path.stat().st_size > 2 * MiB
    assert b"".join(repo.read_file(snap, "shop.json")) == path.read_bytes()
    # 6.9 MB: more than the largest chunk (4 MiB), so it is stored as several chunks whatever
    # the repository's random chunker seed.
    expected = "".join(f"{i}\n" for i in range(1, 1_000_001)).encode()
    assert b"".join(repo.read_file(snap, "generated.sql")) == expected
    assert generated.bytes_streamed == len(expected)
    entry = next(e for e in repo.iter_tree(snap) if e.path == "generated.sql")
    assert (entry.size, entry.mode, len(entry.content) > 1) == (len(expected), 0o600, True)


def test_paths_and_dump_commands():
    assert sources.webhotel_path("sandbox", "/srv/s", "u1") == "/srv/s/webhotels/u1"
    assert sources.webhotel_path("debian", "/", "u1") == "/var/www/u1"
    assert sources.maildir_path("sandbox", "/srv/s", "ann@ex.dk") == "/srv/s/mail/ex.dk/ann/Maildir"
    assert sources.maildir_path("debian", "/", "ann@ex.dk") == "/var/vmail/ex.dk/ann/Maildir"
    my = sources.dump_spec("debian", "/", "mariadb", "shop")
    assert my == sources.DumpSpec(
        "shop.sql", ("mysqldump", "--single-transaction", "--quick", "--routines", "shop")
    )
    assert sources.dump_spec("debian", "/", "postgresql", "shop").command == (
        "pg_dump",
        "--format=custom",
        "shop",
    )


def test_quoted_names_in_error_output():
    assert sources.unquote(rb"a\nb\\c\377\303\246\'") == b"a\nb\\c\xff\xc3\xa6'"
    by_name, other = sources.tar_problems(
        b"tar: a: b\\n: Warning: Cannot stat: No such file or directory\n"
        b"tar: x.log: file changed as we read it\n"
        b"tar: Exiting with failure status due to previous errors\n"
        b"tar: something else\n",
        {"a: b\n", "x.log"},
    )
    assert by_name == {
        "a: b\n": ["Cannot stat: No such file or directory"],
        "x.log": ["file changed as we read it"],
    }
    assert other == ["something else"]
    assert sources.find_problems(b"find: '/r/w/bad\\377': Permission denied\n", "/r/w") == [
        (os.fsdecode(b"bad\xff"), "Permission denied")
    ]


def test_long_list_of_names_does_not_deadlock(transport, tree, repo):
    """The names go to tar's stdin from a thread while its output is read: a list far larger
    than the pipe and SSH window buffers (here ~2.4 MB) must not block either side."""
    folder = tree / ("x" * 240)
    folder.mkdir()
    for i in range(5_000):
        (folder / f"{'y' * 235}{i}").write_bytes(b"%d\n" % i)
    with repo.backup(webhotel()) as session:
        summary = sources.backup_tree(session, root_path=str(tree), **transport)
    assert summary.files_streamed == 5_000 and summary.warnings == []
    entries = {e.path: e for e in repo.iter_tree(session.snapshot)}
    last = entries[f"{'x' * 240}/{'y' * 235}4999"]
    assert b"".join(repo.read_entry(last)) == b"4999\n"


def test_unchanged_file_whose_blobs_are_gone_is_read_again(transport, tree, repo):
    for name in ("a.txt", "b.txt", "c.txt"):
        (tree / name).write_bytes(name.encode() * 1000)
    with repo.backup(webhotel()) as session:
        sources.backup_tree(session, root_path=str(tree), **transport)
    parent = list(repo.iter_tree(session.snapshot))
    for entry in parent:
        if entry.path == "b.txt":
            entry.content = [b"\0" * 32]  # a blob no index knows (as if pruned)
    with repo.backup(webhotel(), parent=session.snapshot) as session:
        summary = sources.backup_tree(
            session, root_path=str(tree), parent_entries=parent, **transport
        )
    assert (summary.files_reused, summary.files_streamed) == (2, 1)
    assert summary.warnings == [
        {"path": ".", "message": "1 unchanged files re-read: their blobs are gone"}
    ]
    assert_restores(repo, session.snapshot, tree)


# -- the lean tar reader (backups/tarstream.py) ------------------------------------------------


def _gnu_tar(folder: Path, names: list[bytes], *extra: str) -> bytes:
    """What the backup's ``tar`` sends for ``names`` (relative to ``folder``)."""
    argv = [*sources.TAR_CREATE, *extra, "-C", str(folder), "--files-from=-"]
    done = subprocess.run(argv, input=b"".join(n + b"\0" for n in names), capture_output=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _short_reads(data: bytes, seed: int = 1):
    """``read(n)`` over ``data`` returning pieces of random length, like an SSH channel."""
    rnd, pos = random.Random(seed), 0

    def read(n: int) -> bytes:
        nonlocal pos
        piece = data[pos : pos + min(n, rnd.randint(1, 70_000))]
        pos += len(piece)
        return piece

    return read


def _members(data: bytes) -> list[tuple[bytes, str, bytes, int]]:
    reader, out = TarReader(_short_reads(data), bufsize=4096), []
    while (member := reader.next()) is not None:
        body = b""
        if member.isreg():
            chunker = Chunker(ChunkerParams(min_size=64 * 1024, avg_size=128 * 1024, max_size=MiB))
            body = b"".join(chunker.chunks(reader))  # read() first, then readinto()
        out.append((member.name, chr(member.type), body, member.mtime))
    return out


def test_tar_reader_reads_long_and_non_utf8_names_as_gnu_tar_writes_them(tmp_path):
    folder = tmp_path / "t"
    folder.mkdir()
    files = {
        os.fsencode(LONG) + b".html": b"<p>long</p>" * 50,  # an "L" long-name header
        b"caf\xe9 \n.txt": b"latin-1 name with a newline",  # not UTF-8
        b"empty": b"",
        b"big.bin": random.Random(3).randbytes(700_000),  # several chunks, padding
    }
    for name, data in files.items():
        (folder / os.fsdecode(name)).write_bytes(data)
        os.utime(folder / os.fsdecode(name), (0, 1_600_000_000))
    (folder / "d").mkdir()
    (folder / "link").symlink_to("big.bin")
    got = _members(_gnu_tar(folder, [*files, b"d", b"link"]))
    assert [(n, b, m) for n, t, b, m in got if t == "0"] == [
        (name, data, 1_600_000_000) for name, data in files.items()
    ]
    assert [(n, t) for n, t, _b, _m in got if t != "0"] == [(b"d", "5"), (b"link", "2")]


def test_tar_reader_reads_pax_headers(tmp_path):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("ø/" + "p" * 120)  # non-ASCII and long: a pax "path" record
        info.size, info.mtime = 5, 1_700_000_000
        tar.addfile(info, io.BytesIO(b"hello"))
    got = _members(buf.getvalue())
    assert got == [(("ø/" + "p" * 120).encode(), "0", b"hello", 1_700_000_000)]


def test_tar_reader_refuses_sparse_members_and_broken_streams(tmp_path):
    folder = tmp_path / "s"
    folder.mkdir()
    with open(folder / "sparse", "wb") as f:
        f.truncate(4 * MiB)
        f.seek(3 * MiB)
        f.write(b"data")
    with pytest.raises(TarError, match="sparse"):
        _members(_gnu_tar(folder, [b"sparse"], "--sparse"))
    (folder / "plain").write_bytes(b"x" * 5000)
    whole = _gnu_tar(folder, [b"plain"])
    with pytest.raises(TarError, match="in the middle of a member"):
        _members(whole[:3000])  # cut inside the file
    with pytest.raises(TarError, match="without its end-of-archive"):
        _members(whole[: 512 + 5120])  # cut right after the member
    damaged = bytearray(whole)
    damaged[10] ^= 0x01  # a flipped bit in the header's name
    with pytest.raises(TarError, match="checksum"):
        _members(bytes(damaged))
    assert _members(b"") == []  # no output at all: the command's status says why
