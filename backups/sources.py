"""What a backup reads: webhotel trees, maildirs and database dumps, over SSH or locally.

A library the backup services call with plain arguments (no models); docs/backup-sources.md.

Trees: one ``find -printf`` listing (NUL-separated), compared with the parent snapshot by path;
unchanged files (same size, mtime and inode) reuse the parent's blobs without being read, and
only new or changed files are streamed in one ``tar`` archive (the list of names goes to tar's
stdin) and handed member by member to ``session.add_file``. Directories and symlinks come from
the listing. Dumps: a command's stdout (``mysqldump``, ``pg_dump``, ``cat``) becomes one file.

The same commands run over an SSH channel (``target``) or as local processes (``target=None``).
"""

from __future__ import annotations

import os
import posixpath
import re
import shlex
import subprocess
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import ExitStack, closing, suppress
from dataclasses import asdict, dataclass, field

import paramiko

from backups.engine import Entry
from backups.tarstream import TarError, TarReader
from infra import ssh
from infra.logging import get_logger

log = get_logger(__name__)

# %y type, %P path below the root, %m permission bits (octal), %U uid, %G gid, %s size,
# %T@ mtime (seconds with a fraction), %i inode, %l symlink target: NUL-terminated fields.
FIND_FORMAT = r"%y\0%P\0%m\0%U\0%G\0%s\0%T@\0%i\0%l\0"
FIND_FIELDS = 9
TAR_CREATE = (
    "tar",
    "--create",
    "--file=-",
    "--format=gnu",
    "--numeric-owner",
    "--ignore-failed-read",  # unreadable or vanished files: a warning, exit status 0
    "--hard-dereference",  # every hard link as a full file (each name is a separate entry)
    "--no-recursion",
    # Positional options, before --files-from: names are NUL-terminated, taken literally
    # (no option parsing of names starting with "-", no unquoting of backslashes).
    "--null",
    "--verbatim-files-from",
    "--no-unquote",
)
STREAM_BUFSIZE = 1024 * 1024  # reads from the tar stream: whatever the channel holds, up to this
MAX_STDERR = 4 * 1024 * 1024  # stderr kept per command (tar prints a line per problem file)
MAX_WARNINGS = 1000  # warnings kept in a summary (the session counts them all)
ENCODING = "utf-8"  # remote names are bytes: decoded with surrogateescape, so they round-trip

KIND = {"f": "file", "d": "dir", "l": "symlink"}


class SourceError(Exception):
    """The source could not be read (listing failed, tar failed); the session must fail."""


class DumpFailed(SourceError):
    """A dump command exited with a non-zero status; ``stderr`` holds its error output."""

    def __init__(self, command: str, exit_status: int, stderr: bytes):
        self.command, self.exit_status, self.stderr = command, exit_status, stderr
        tail = stderr[-2000:].decode(errors="replace").strip()
        super().__init__(f"{command[:200]} exited with status {exit_status}: {tail}")


@dataclass
class SourceSummary:
    """What one source contributed to a session."""

    files_listed: int = 0  # regular files in the listing (or 1 for a dump)
    dirs: int = 0
    symlinks: int = 0
    files_reused: int = 0  # unchanged: the parent's blobs, not read
    files_streamed: int = 0  # read through tar (or the dump command) and chunked
    bytes_streamed: int = 0
    files_skipped: int = 0  # listed but not stored (vanished, unreadable, changed type)
    list_seconds: float = 0.0
    stream_seconds: float = 0.0
    warnings: list[dict] = field(default_factory=list)  # {"path", "message"}, first MAX_WARNINGS
    warnings_total: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


# -- paths on a server (plain arguments: the profile and root of hosting.Server) --------------


def webhotel_path(profile: str, root: str, system_user: str) -> str:
    """The webhotel's home: ``<root>/webhotels/<user>`` (sandbox), ``/var/www/<user>`` (debian)."""
    if profile == "sandbox":
        return posixpath.join(root, "webhotels", system_user)
    return posixpath.join("/var/www", system_user)


def maildir_path(profile: str, root: str, address: str) -> str:
    """The mailbox's Maildir: ``<root>/mail/<domain>/<local>/Maildir`` (sandbox) or below
    ``/var/vmail`` (debian)."""
    local, domain = address.rsplit("@", 1)
    base = posixpath.join(root, "mail") if profile == "sandbox" else "/var/vmail"
    return posixpath.join(base, domain, local, "Maildir")


# What Havn writes per customer on a server, rebuilt from the database by the agent: left out of
# the server's configuration backup, so that the provider's repository holds no customer data.
SERVER_CONFIG_EXCLUDE = {
    "sandbox": ("webhotels", "databases", "mail", "certs"),
    "debian": (
        "nginx/sites-available/havn-*",
        "nginx/sites-enabled/havn-*",
        "php/*/fpm/pool.d/havn-*",
        "postfix/havn",
        "dovecot/havn-passwd*",
        "ssl/havn",
    ),
}


def server_config(profile: str, root: str) -> tuple[str, tuple[str, ...]]:
    """The server's own configuration and what to leave out of it: ``/etc`` (debian), or the
    sandbox's root folder, without the per-customer files of ``SERVER_CONFIG_EXCLUDE``."""
    path = root if profile == "sandbox" else "/etc"
    return path, SERVER_CONFIG_EXCLUDE[profile]


@dataclass(frozen=True)
class DumpSpec:
    name: str  # the file entry in the snapshot
    command: tuple[str, ...] | None = None
    path: str | None = None  # a file to copy as it is (sandbox databases)


def dump_spec(profile: str, root: str, engine: str, database: str) -> DumpSpec:
    """How to dump a database: ``mysqldump`` / ``pg_dump`` (debian), the JSON file (sandbox)."""
    if profile == "sandbox":
        path = posixpath.join(root, "databases", engine, f"{database}.json")
        return DumpSpec(name=f"{database}.json", path=path)
    if engine == "mariadb":
        argv = ("mysqldump", "--single-transaction", "--quick", "--routines", database)
        return DumpSpec(name=f"{database}.sql", command=argv)
    if engine == "postgresql":
        return DumpSpec(name=f"{database}.dump", command=("pg_dump", "--format=custom", database))
    raise ValueError(f"unknown database engine {engine!r}")


# -- running a command over SSH or locally -----------------------------------------------------


class _Command:
    """A running command: ``read(n)`` its stdout (short reads, b"" at the end), stdin fed from a
    thread (so a long list of names cannot deadlock against the output), stderr drained by
    another thread; ``wait()`` -> (exit status, stderr)."""

    def __init__(self, stdin: Iterable[bytes] | None):
        self._stdin = stdin
        self._err: list[bytes] = []
        self._err_size = 0
        self._threads: list[threading.Thread] = []
        self.feed_error: BaseException | None = None

    def _start_threads(self) -> None:
        self._thread(self._drain_stderr, "havn-stderr")
        if self._stdin is not None:
            self._thread(self._feed, "havn-stdin")

    def _thread(self, target, name: str) -> None:
        t = threading.Thread(target=target, name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _feed(self) -> None:
        try:
            for piece in self._stdin:
                self._write(piece)
        except Exception as exc:  # the command exited early: its status tells why
            self.feed_error = exc
        finally:
            self._close_stdin()

    def _keep_stderr(self, data: bytes) -> None:
        if self._err_size < MAX_STDERR:
            self._err.append(data)
            self._err_size += len(data)

    def _join(self) -> None:
        for t in self._threads:
            t.join()

    @property
    def stderr(self) -> bytes:
        return b"".join(self._err)


class _RemoteCommand(_Command):
    def __init__(self, client: ssh.SshClient, argv: Sequence[str], stdin, timeout: float | None):
        super().__init__(stdin)
        line = shlex.join(["env", "LC_ALL=C", *argv])
        self.command = line
        # Names that are not valid UTF-8 travel as the bytes they were (surrogateescape).
        self.timeout = client.options.command_timeout if timeout is None else timeout
        self.channel = client.open_exec(line.encode(ENCODING, "surrogateescape"), timeout=timeout)
        self.target = str(client.target)
        if stdin is None:
            self.channel.shutdown_write()
        self._closed = False
        self._start_threads()

    def read(self, n: int) -> bytes:
        try:
            return self.channel.recv(n)
        except TimeoutError:
            raise ssh.CommandTimeout(self.command, self.timeout) from None
        except (EOFError, OSError, paramiko.SSHException) as exc:  # the connection broke
            raise ssh.TransientSshError(
                f"{self.target}: connection lost during {self.command[:120]!r}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc

    def _write(self, data: bytes) -> None:
        self.channel.sendall(data)

    def _close_stdin(self) -> None:
        if not self.channel.closed:
            self.channel.shutdown_write()

    def _drain_stderr(self) -> None:
        while not self._closed:
            try:
                data = self.channel.recv_stderr(65536)
            except TimeoutError:
                continue  # quiet stderr; the stdout side enforces the deadline
            except Exception:
                return
            if not data:
                return
            self._keep_stderr(data)

    def wait(self) -> tuple[int, bytes]:
        status = self.channel.recv_exit_status()
        self._closed = self.channel.closed
        self._join()
        if status == -1:
            raise ssh.TransientSshError(f"{self.target}: connection lost during {self.command!r}")
        return status, self.stderr

    def close(self) -> None:
        self._closed = True
        with suppress(Exception):  # a broken connection cannot say goodbye
            self.channel.close()


class _LocalCommand(_Command):
    def __init__(self, argv: Sequence[str], stdin, timeout: float | None):
        super().__init__(stdin)
        self.command = shlex.join(argv)
        self.timeout = timeout
        self.proc = subprocess.Popen(  # noqa: S603 -- fixed programs, no shell
            list(argv),
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "LC_ALL": "C"},
        )
        self.read = self.proc.stdout.read1
        self._start_threads()

    def _write(self, data: bytes) -> None:
        self.proc.stdin.write(data)

    def _close_stdin(self) -> None:
        with suppress(OSError):
            self.proc.stdin.close()

    def _drain_stderr(self) -> None:
        for data in iter(lambda: self.proc.stderr.read1(65536), b""):
            self._keep_stderr(data)

    def wait(self) -> tuple[int, bytes]:
        try:
            status = self.proc.wait(self.timeout)
        except subprocess.TimeoutExpired:
            raise ssh.CommandTimeout(self.command, self.timeout) from None
        self._join()
        return status, self.stderr

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                with suppress(OSError):
                    pipe.close()


class _Runner:
    """Starts commands on one host: over one SSH connection from the pool, or locally."""

    def __init__(self, stack: ExitStack, target, client, pool, timeout):
        self.timeout = timeout
        self.client = client
        if client is None and target is not None:
            self.client = stack.enter_context((pool or ssh.pool).session(target))
        self.where = str(self.client.target) if self.client else "local"

    def start(self, argv: Sequence[str], stdin: Iterable[bytes] | None = None) -> _Command:
        if self.client is not None:
            return _RemoteCommand(self.client, argv, stdin, self.timeout)
        return _LocalCommand(argv, stdin, self.timeout)


class _Reader:
    """A file-like ``read(n)`` over a command's stdout (short reads are fine)."""

    def __init__(self, command: _Command):
        self.read = command.read


# -- stderr of find and tar --------------------------------------------------------------------

_ESCAPES = {
    ord("\\"): 0x5C,
    ord("n"): 0x0A,
    ord("t"): 0x09,
    ord("r"): 0x0D,
    ord("a"): 0x07,
    ord("b"): 0x08,
    ord("f"): 0x0C,
    ord("v"): 0x0B,
    ord("'"): 0x27,
    ord('"'): 0x22,
    ord("?"): 0x3F,
}
_OCTAL = re.compile(rb"[0-7]{1,3}")


def unquote(text: bytes) -> bytes:
    """Undo GNU tar's and find's ``escape``/``locale`` quoting of names in the C locale
    (``\\n``, ``\\\\``, ``\\377``...), giving the name's bytes."""
    out, i, n = bytearray(), 0, len(text)
    while i < n:
        c = text[i]
        if c == 0x5C and i + 1 < n:
            octal = _OCTAL.match(text, i + 1)
            if octal:
                out.append(int(octal.group(), 8) & 0xFF)
                i = octal.end()
                continue
            if text[i + 1] in _ESCAPES:
                out.append(_ESCAPES[text[i + 1]])
                i += 2
                continue
        out.append(c)
        i += 1
    return bytes(out)


def _decode(name: bytes) -> str:
    return name.decode(ENCODING, "surrogateescape")


def _encode(name: str) -> bytes:
    return name.encode(ENCODING, "surrogateescape")


def find_problems(stderr: bytes, root: str) -> list[tuple[str, str]]:
    """``find: '<path>': <message>`` lines -> (path relative to the root, message)."""
    prefix = _encode(root.rstrip("/") + "/")
    problems = []
    for line in stderr.splitlines():
        if not line.startswith(b"find: "):
            continue
        body = line[6:]
        quoted = re.match(rb"^'((?:[^'\\]|\\.)*)': (.*)$", body)
        if quoted:
            name, message = unquote(quoted.group(1)), quoted.group(2)
            name = name[len(prefix) :] if name.startswith(prefix) else name
        else:
            name, message = b"", body
        problems.append((_decode(name) or ".", message.decode(errors="replace")))
    return problems


def tar_problems(stderr: bytes, names: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """``tar: <name>: <message>`` lines -> ({name: [messages]}, other lines). A name in tar's
    quoting may contain ": ", so the first split whose name is one we asked for wins."""
    by_name: dict[str, list[str]] = {}
    other: list[str] = []
    for line in stderr.splitlines():
        body = line[5:] if line.startswith(b"tar: ") else line
        if not body or body.startswith(b"Exiting with failure status"):
            continue
        for match in re.finditer(rb": ", body):
            name = _decode(unquote(body[: match.start()]))
            if name in names:
                message = body[match.end() :].decode(errors="replace")
                by_name.setdefault(name, []).append(message.removeprefix("Warning: "))
                break
        else:
            other.append(body.decode(errors="replace"))
    return by_name, other


def _vanished(message: str) -> bool:
    return "No such file or directory" in message or "removed before we read" in message


# -- listing -----------------------------------------------------------------------------------


def _ns(stamp: bytes) -> int:
    """``%T@`` (``-315619200.5000000000``: whole seconds, then the fraction) -> nanoseconds."""
    seconds, _, fraction = stamp.partition(b".")
    return int(seconds) * 1_000_000_000 + int((fraction + b"000000000")[:9])


def parse_listing(stream_read, root: str) -> Iterator[Entry]:
    """Entries from ``find -printf FIND_FORMAT`` output, read by ``stream_read(n)``. The first
    record is the root itself (an empty ``%P``): checked, not yielded."""
    rest: list[bytes] = []
    tail = b""
    first = True
    while True:
        data = stream_read(1 << 20)
        if not data:
            break
        parts = (tail + data).split(b"\0")
        tail = parts.pop()
        fields = rest + parts if rest else parts
        whole = len(fields) - len(fields) % FIND_FIELDS
        for i in range(0, whole, FIND_FIELDS):
            kind, path, mode, uid, gid, size, mtime, inode, link = fields[i : i + FIND_FIELDS]
            if first:
                first = False
                if path == b"":
                    if kind != b"d":
                        raise SourceError(f"{root} is not a directory")
                    continue
            type_ = KIND[kind.decode()]
            yield Entry(
                path=_decode(path),
                type=type_,
                mode=int(mode, 8),
                uid=int(uid),
                gid=int(gid),
                size=int(size) if type_ == "file" else 0,
                mtime=_ns(mtime),
                inode=int(inode),
                target=_decode(link) if type_ == "symlink" else None,
            )
        rest = fields[whole:]
    if rest or tail:
        raise SourceError(f"listing of {root} ended in the middle of a record")
    if first:
        raise SourceError(f"listing of {root} is empty (is it a directory?)")


def _list_tree(
    runner: _Runner, root: str, warn, meanwhile=None, exclude: Sequence[str] = ()
) -> list[Entry]:
    """The tree below ``root`` (one file system, -xdev), sorted by path; problems -> ``warn``.
    ``meanwhile()`` runs after ``find`` has been started, while it walks the tree. ``exclude``:
    patterns relative to ``root`` (``find -path`` globs) that are left out with all below them."""
    pruned = []
    for pattern in exclude:
        pruned += ["-o"] if pruned else []
        pruned += ["-path", posixpath.join(root, pattern)]
    argv = [
        "find",
        root,
        "-xdev",
        *(["(", *pruned, ")", "-prune", "-o"] if pruned else []),
        "(",
        "-type",
        "f",
        "-o",
        "-type",
        "d",
        "-o",
        "-type",
        "l",
        ")",
        "-printf",
        FIND_FORMAT,
    ]
    command = runner.start(argv)
    try:
        if meanwhile is not None:
            meanwhile()
        try:
            entries = list(parse_listing(command.read, root))
        except SourceError as exc:
            status, stderr = command.wait()
            detail = stderr.decode(errors="replace").strip()[-2000:]
            raise SourceError(f"{runner.where}: cannot list {root}: {detail or exc}") from None
        status, stderr = command.wait()
    finally:
        command.close()
    for path, message in find_problems(stderr, root):
        warn(path, message, incomplete=not _vanished(message))
    if status not in (0, 1):  # 1: some entries could not be read, reported above
        detail = stderr.decode(errors="replace").strip()[-2000:]
        raise SourceError(f"{runner.where}: find {root} exited with status {status}: {detail}")
    entries.sort(key=lambda e: e.path)
    return entries


# -- streaming changed files -------------------------------------------------------------------


def _names_input(entries: Sequence[Entry]) -> Iterator[bytes]:
    batch: list[bytes] = []
    size = 0
    for entry in entries:
        name = _encode(entry.path) + b"\0"
        batch.append(name)
        size += len(name)
        if size >= 65536:
            yield b"".join(batch)
            batch, size = [], 0
    if batch:
        yield b"".join(batch)


class _TarFeed:
    """One ``tar --create`` of the given files, consumed in the same order: ``take(entry)``
    stores the entry if tar delivered it; ``finish()`` turns tar's stderr into warnings."""

    def __init__(self, runner: _Runner, root: str, entries: Sequence[Entry], tree):
        self.tree = tree
        self.root = root
        self.expected = {e.path for e in entries}
        self.missing: list[Entry] = []
        argv = [*TAR_CREATE, "-C", root, "--files-from=-"]
        self.command = runner.start(argv, stdin=_names_input(entries))
        self.where = runner.where
        self._peek = None
        self._peek_name = None
        self.tar = TarReader(self.command.read, STREAM_BUFSIZE)
        try:
            self._advance()  # the first member, or None (no output: every file vanished)
        except BaseException:
            self.command.close()
            raise

    def _advance(self) -> None:
        try:
            self._peek = self.tar.next()
        except TarError as exc:  # cut off in the middle, or a member we refuse
            raise self._broken(exc) from exc
        self._peek_name = _decode(self._peek.name) if self._peek is not None else None

    def _broken(self, exc: TarError) -> SourceError:
        """The stream cannot be read on: the command's status (or lost connection) says why."""
        self._drain()
        status, stderr = self.command.wait()
        if status in (0, 1):
            return SourceError(f"{self.where}: tar stream of {self.root} unreadable: {exc}")
        return self._failure(status, stderr, exc)

    def _drain(self) -> None:
        while self.command.read(65536):
            pass

    def _failure(self, status: int, stderr: bytes, exc: Exception | None = None) -> SourceError:
        detail = stderr.decode(errors="replace").strip()[-2000:]
        return SourceError(
            f"{self.where}: tar of {self.root} failed (status {status}): {detail or exc}"
        )

    def take(self, entry: Entry) -> None:
        member, name = self._peek, self._peek_name
        if member is None or name != entry.path:
            if member is not None and name not in self.expected:
                raise SourceError(f"tar sent {name!r}, which was not asked for")
            self.missing.append(entry)  # tar skipped it: vanished or unreadable
            return
        tree, summary = self.tree, self.tree.summary
        if not member.isreg():
            kind = chr(member.type)
            tree.warn(entry.path, f"changed type after the listing; not stored ({kind!r})")
            summary.files_skipped += 1
        else:
            if member.size != entry.size or member.mtime != entry.mtime // 1_000_000_000:
                tree.warn(entry.path, "changed after the listing; stored as read", False)
            entry.size = member.size  # what tar sends; the listing's mtime forces a re-read
            try:
                stored = tree.session.add_file(entry, self.tar)
            except TarError as exc:  # the stream ended inside this file
                raise self._broken(exc) from exc
            summary.files_streamed += 1
            summary.bytes_streamed += stored.size
        self._advance()

    def finish(self) -> None:
        if self._peek is not None:
            raise SourceError(f"tar sent {self._peek_name!r} out of order")
        self._drain()  # the padding after the end-of-archive blocks
        status, stderr = self.command.wait()  # a lost connection raises TransientSshError
        if status not in (0, 1):  # 1: "file changed as we read it"; 2: fatal
            raise self._failure(status, stderr)
        by_name, other = tar_problems(stderr, self.expected)
        for entry in self.missing:
            messages = by_name.pop(entry.path, None) or ["vanished before it was read"]
            self.tree.warn(entry.path, "; ".join(messages), not _vanished(messages[0]))
            self.tree.summary.files_skipped += 1
        for name, messages in by_name.items():  # delivered, but "file changed as we read it"
            torn = any("shrank" in m for m in messages)
            self.tree.warn(name, "; ".join(messages), torn)
        for line in other:
            self.tree.warn(".", f"tar: {line}", False)

    def close(self) -> None:
        self.command.close()


class _Tree:
    """Warnings go to the session and to the summary (paths relative to the source root)."""

    def __init__(self, session, summary: SourceSummary):
        self.session, self.summary = session, summary

    def warn(self, path: str, message: str, incomplete: bool = True) -> None:
        self.session.warn(path, message, incomplete)
        self.summary.warnings_total += 1
        if len(self.summary.warnings) < MAX_WARNINGS:
            self.summary.warnings.append({"path": path, "message": message})


def _parent_files(parent_entries) -> dict[str, Entry]:
    if parent_entries is None:
        return {}
    values = parent_entries.values() if isinstance(parent_entries, Mapping) else parent_entries
    return {e.path: e for e in values if e.type == "file"}


def _unchanged(entry: Entry, old: Entry | None) -> bool:
    return old is not None and (entry.size, entry.mtime, entry.inode) == (
        old.size,
        old.mtime,
        old.inode,
    )


def backup_tree(
    session,
    *,
    root_path: str,
    target: ssh.SshTarget | None = None,
    parent_entries: Mapping[str, Entry] | Iterable[Entry] | None = None,
    client: ssh.SshClient | None = None,
    pool: ssh.SshPool | None = None,
    timeout: float | None = None,
    exclude: Sequence[str] = (),
) -> SourceSummary:
    """Back up the tree below ``root_path`` (a webhotel home, a Maildir) into ``session``.

    Over SSH with ``target`` (a connection from ``pool``, default ``ssh.pool``) or an open
    ``client``; with neither, ``root_path`` is a local folder (the local transport).
    ``parent_entries``: the parent snapshot's entries (``repo.iter_tree(parent)`` or
    ``repo.tree_dict(parent)``). ``timeout``: the longest wait for output of one command.
    ``exclude``: ``find -path`` globs relative to ``root_path`` left out with all below them.
    Files that vanish or cannot be read become warnings (``session.warn``); a listing or tar
    that fails as a whole raises SourceError (or an ``ssh`` error), failing the session.
    """
    summary = SourceSummary()
    tree = _Tree(session, summary)
    old: dict[str, Entry] = {}

    def read_parent() -> None:  # while the server runs find: the parent's tree blobs
        old.update(_parent_files(parent_entries))

    with ExitStack() as stack:
        runner = _Runner(stack, target, client, pool, timeout)
        started = time.monotonic()
        entries = _list_tree(runner, root_path, tree.warn, meanwhile=read_parent, exclude=exclude)
        summary.list_seconds = round(time.monotonic() - started, 3)
        changed = [e for e in entries if e.type == "file" and not _unchanged(e, old.get(e.path))]
        changed_paths = {e.path for e in changed}
        summary.files_listed = sum(e.type == "file" for e in entries)
        log.info(
            "backup.tree_listed",
            where=runner.where,
            root=root_path,
            entries=len(entries),
            changed=len(changed),
            seconds=summary.list_seconds,
        )
        started = time.monotonic()
        retry: list[Entry] = []
        feed = None
        if changed:
            feed = stack.enter_context(closing(_TarFeed(runner, root_path, changed, tree)))
        for entry in entries:  # sorted by path: a stable tree from night to night
            if entry.type == "dir":
                session.add_dir(entry)
                summary.dirs += 1
            elif entry.type == "symlink":
                session.add_symlink(entry)
                summary.symlinks += 1
            elif entry.path in changed_paths:
                feed.take(entry)
            elif session.reuse_file(entry, old[entry.path]):
                summary.files_reused += 1
            else:  # the parent's blobs are no longer indexed: read it after all
                retry.append(entry)
        if feed is not None:
            feed.finish()
        if retry:
            tree.warn(".", f"{len(retry)} unchanged files re-read: their blobs are gone", False)
            with closing(_TarFeed(runner, root_path, retry, tree)) as again:
                for entry in retry:
                    again.take(entry)
                again.finish()
        summary.stream_seconds = round(time.monotonic() - started, 3)
    log.info("backup.tree_done", root=root_path, **_counts(summary))
    return summary


def _counts(summary: SourceSummary) -> dict:
    out = summary.as_dict()
    out.pop("warnings")
    return out


# -- dumps -------------------------------------------------------------------------------------


def backup_dump(
    session,
    *,
    name: str,
    command: Sequence[str] | None = None,
    path: str | None = None,
    target: ssh.SshTarget | None = None,
    client: ssh.SshClient | None = None,
    pool: ssh.SshPool | None = None,
    timeout: float | None = None,
) -> SourceSummary:
    """Stream a database dump into ``session`` as one file entry ``name`` (chunked by the engine).

    Give ``command`` (argv, e.g. ``dump_spec(...).command``: ``mysqldump ...``, ``pg_dump ...``)
    or ``path`` (a file copied as it is, e.g. a sandbox database's JSON). Over SSH with
    ``target``/``client``, else locally. A non-zero exit status raises DumpFailed with the
    command's stderr: do not let the session commit then (the exception does that)."""
    if (command is None) == (path is None):
        raise ValueError("give exactly one of command and path")
    summary = SourceSummary(files_listed=1)
    tree = _Tree(session, summary)
    started = time.monotonic()
    # size None: not known before the dump is read (the engine records what it read).
    entry = Entry(path=name, type="file", mode=0o600, size=None, mtime=time.time_ns())
    with ExitStack() as stack:
        runner = _Runner(stack, target, client, pool, timeout)
        if runner.client is None and path is not None:
            stream = stack.enter_context(open(path, "rb"))  # noqa: SIM115
            running = None
        else:
            argv = list(command) if command is not None else ["cat", "--", path]
            running = runner.start(argv)
            stack.callback(running.close)
            stream = _Reader(running)
        stored = session.add_file(entry, stream)  # an error here closes the command (stack)
        if running is not None:
            status, stderr = running.wait()
            if status != 0:
                raise DumpFailed(f"{runner.where}: {shlex.join(argv)}", status, stderr)
            if stderr.strip():
                tree.warn(name, stderr.decode(errors="replace").strip()[-2000:], False)
    summary.files_streamed = 1
    summary.bytes_streamed = stored.size
    summary.stream_seconds = round(time.monotonic() - started, 3)
    log.info("backup.dump_done", name=name, bytes=stored.size, seconds=summary.stream_seconds)
    return summary


__all__ = [
    "DumpFailed",
    "DumpSpec",
    "SourceError",
    "SourceSummary",
    "backup_dump",
    "backup_tree",
    "dump_spec",
    "find_problems",
    "maildir_path",
    "parse_listing",
    "server_config",
    "tar_problems",
    "unquote",
    "webhotel_path",
]
