"""Restoring entries of a snapshot onto a server: one tar stream into ``tar --extract`` over
one SSH channel (or locally), after checks that can fail before anything is written, and a
read-back of everything that landed."""

from __future__ import annotations

import posixpath
from contextlib import ExitStack

from django.utils.translation import gettext as _

from backups import sources
from backups.engine import Entry
from infra import ssh

from . import tarstream
from .commands import Runner, StdinClosed, run, start_with_stdin, tail
from .errors import (
    NotEnoughRoom,
    RestoreCancelled,
    RestoreFailed,
    RestoreSourceDamaged,
    RestoreWriteFailed,
    UnsafePath,
)
from .results import Progress, RestoreResult
from .selection import prepared
from .source import BlobReader, Spool, check_blobs, file_pieces
from .verify import verify

DISK_BLOCK = 4096

# Free bytes at dest_root's nearest existing ancestor; "symlink" if dest_root is a link.
ROOM_SCRIPT = """\
d=$1
while [ ! -e "$d" ] && [ ! -L "$d" ]; do d=$(dirname -- "$d"); done
if [ -L "$1" ]; then echo symlink; exit 0; fi
df -B1 --output=avail -- "$d"
"""

# Create dest_root (not a symbolic link), enter it and replace the shell with tar.
EXTRACT_SCRIPT = """\
set -e
mkdir -p -- "$1"
if [ -L "$1" ]; then echo "tar: $1: destination is a symbolic link" >&2; exit 3; fi
cd -- "$1"
shift
exec "$@"
"""

# GNU tar: no --absolute-names (leading "/" stripped, members with ".." refused), no
# --overwrite (an existing file or link is removed before its member is written, so nothing is
# written through a link found there), no --keep-directory-symlink (a folder member replaces
# a link found in its place), folder modes and times set after their content.
TAR_EXTRACT = (
    "tar",
    "--extract",
    "--file=-",
    "--preserve-permissions",
    "--delay-directory-restore",
    "--warning=no-timestamp",  # times before 1970 or in the future are restored as they were
    "--warning=no-unknown-keyword",  # pax "hdrcharset" of names that are not UTF-8
)


def tar_command(same_owner: bool) -> list[str]:
    owner = ("--same-owner", "--numeric-owner") if same_owner else ("--no-same-owner",)
    return [*TAR_EXTRACT, *owner]


def needed_bytes(entries: list[Entry]) -> int:
    """Disk space the entries take: file sizes rounded up to 4 KiB blocks, a block per folder."""
    total = 0
    for e in entries:
        size = e.size if e.type == "file" else DISK_BLOCK if e.type == "dir" else 0
        total += -(-size // DISK_BLOCK) * DISK_BLOCK
    return total


def check_room(runner, dest_root: str, needed: int) -> None:
    status, out, stderr = run(runner, ["sh", "-c", ROOM_SCRIPT, "sh", dest_root])
    lines = out.decode(errors="replace").split()
    if status != 0 or not lines:
        raise RestoreFailed(runner.where, _("Checking free space"), tail(stderr))
    if lines[-1] == "symlink":
        raise UnsafePath(dest_root, _("the destination is a symbolic link"))
    available = int(lines[-1])
    if available < needed:
        raise NotEnoughRoom(f"{runner.where}:{dest_root}", needed, available)


def _write_failure(where: str, stderr: bytes, names: set[str], files_done: int):
    by_name, other = sources.tar_problems(stderr, names)
    if not by_name and not other:
        return None
    paths = list(by_name)
    detail = "; ".join(by_name[paths[0]]) if paths else "; ".join(other)
    return RestoreWriteFailed(where, paths, detail, files_done)


class _Extraction:
    """One tar stream into one ``tar --extract``; the digests of the files sent."""

    def __init__(self, runner, repo, snapshot, entries, dest_root, same_owner, progress):
        self.runner, self.repo, self.snapshot = runner, repo, snapshot
        self.entries, self.dest_root, self.same_owner = entries, dest_root, same_owner
        self.progress = progress
        self.digests: dict[str, tuple[int, str]] = {}  # path -> (size, sha256)
        self.where = f"{runner.where}:{dest_root}"

    def run(self, cancelled) -> None:
        argv = ["sh", "-c", EXTRACT_SCRIPT, "sh", self.dest_root, *tar_command(self.same_owner)]
        command, stdin = start_with_stdin(self.runner, argv)
        reader = BlobReader(self.repo, self.entries)
        stop: Exception | None = None
        sent_all = False
        try:
            try:
                stop, sent_all = self._stream(stdin, reader, command, cancelled)
                stdin.write(tarstream.END)
                stdin.close()
            except StdinClosed:
                sent_all = False  # tar exited early: its status and stderr tell why
            status, stderr = command.wait()
        finally:
            reader.close()
            command.close()
        if status != 0 or (not sent_all and stop is None):
            names = {e.path for e in self.entries}
            failure = _write_failure(self.where, stderr, names, len(self.digests))
            if failure is None or not failure.paths:
                detail = tail(stderr) or _("exit status %(status)d") % {"status": status}
                raise RestoreFailed(self.where, "tar", detail)
            raise failure
        if stop is not None:
            raise stop

    def _stream(self, stdin, reader, command, cancelled) -> tuple[Exception | None, bool]:
        """Send every entry. Returns (why it stopped early, whether every entry was sent); an
        early stop still ends the archive cleanly, so every file sent lands whole."""
        for entry in self.entries:
            if cancelled is not None and cancelled():
                return RestoreCancelled(len(self.digests), self.progress.bytes), False
            if command.stderr:  # tar complained (disk full, quota...): send nothing more
                return None, False
            mode = tarstream.restored_mode(entry, self.same_owner)
            if entry.type != "file":
                stdin.write(tarstream.header(entry, mode))
                continue
            try:
                spool = Spool(file_pieces(reader, self.snapshot, entry))
            except RestoreSourceDamaged as exc:
                done = len(self.digests)
                return RestoreSourceDamaged(exc.snapshot_id, exc.path, exc.detail, done), False
            try:
                stdin.write(tarstream.header(entry, mode))
                for data in spool.pieces():
                    stdin.write(data)
                    self.progress.add(len(data))
                stdin.write(tarstream.padding(spool.size))
            finally:
                spool.close()
            self.digests[entry.path] = (spool.size, spool.sha256)
            self.progress.add(files=1)
        return None, True


def restore_to_server(
    repo,
    snapshot,
    entries: list[Entry],
    *,
    target: ssh.SshTarget | None,
    dest_root: str,
    progress=None,
    cancelled=None,
    same_owner: bool = False,
    client: ssh.SshClient | None = None,
    pool: ssh.SshPool | None = None,
    timeout: float | None = None,
) -> RestoreResult:
    """Write ``entries`` of ``snapshot`` below ``dest_root`` on ``target`` (None: this machine)
    and read them back. See docs/restore.md.

    Before anything is written: paths are checked (UnsafePath), the content is checked to be
    in the repository (RestoreSourceDamaged), free space is checked (NotEnoughRoom). Then one
    tar stream is extracted; existing files are replaced, others are left alone. Afterwards
    every restored path is compared with the snapshot (RestoreVerificationFailed). A refused
    write stops the stream (RestoreWriteFailed); ``cancelled()`` (polled between files) ends
    it cleanly (RestoreCancelled). ``progress(done_bytes, total_bytes, files_done)`` is called
    at most twice a second, and once more when tar has finished, before the read-back.
    ``same_owner``: restore numeric owners too (needs root). SSH errors propagate
    (``ssh.TransientSshError`` is worth a retry: the restore can simply run again)."""
    if not posixpath.isabs(dest_root):
        raise UnsafePath(dest_root, _("the destination must be an absolute path"))
    dest_root = posixpath.normpath(dest_root)
    entries = prepared(entries)
    check_blobs(repo, snapshot, entries)
    files = [e for e in entries if e.type == "file"]
    tracker = Progress(progress, sum(e.size for e in files))
    with ExitStack() as stack:
        runner = Runner(stack, target, client, pool, timeout)
        check_room(runner, dest_root, needed_bytes(entries))
        extraction = _Extraction(runner, repo, snapshot, entries, dest_root, same_owner, tracker)
        extraction.run(cancelled)
        tracker.finish()
        verify(runner, dest_root, entries, extraction.digests, same_owner)
    return RestoreResult(
        files=len(files),
        bytes=tracker.bytes,
        seconds=tracker.seconds,
        verified=True,
        dirs=sum(e.type == "dir" for e in entries),
        symlinks=sum(e.type == "symlink" for e in entries),
    )
