"""One tar.zst of a customer's live content, written as a stream (docs/privacy.md).

Each tree (a webhotel's home, a Maildir) is read as one ``tar --create`` from its server (over
SSH, or locally for the local transport, through ``backups.sources``) and re-packed member by
member under its folder; each database dump (the dump command's stdout, or the sandbox's JSON
file) becomes one member. Memory stays bounded: file contents are copied in pieces, and a dump is
spooled to a temporary file first because a tar header needs its size.
"""

from __future__ import annotations

import copy
import posixpath
import shlex
import shutil
import tarfile
import tempfile
import time

import zstandard

from backups.sources import DumpFailed, DumpSpec, SourceError

TAR_TREE = (
    "tar",
    "--create",
    "--file=-",
    "--format=gnu",
    "--numeric-owner",
    "--one-file-system",
    "--ignore-failed-read",  # unreadable or vanished files: a warning, exit status 0
    "--hard-dereference",  # every hard link as a full file
)
PIECE = 1024 * 1024
ZSTD_LEVEL = 3


class _Output:
    """Bytes from a running command as a file-like ``read(n)`` (short reads are fine)."""

    def __init__(self, command):
        self.read = command.read


def member_name(folder: str, name: str) -> str | None:
    """``name`` from the server's tar placed below ``folder``; None for a name that would climb
    out of it (``..``), which GNU tar never sends for ``-C root .``."""
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        return None
    return posixpath.join(folder, *parts)


class ContentArchive:
    """Write with ``add_tree`` and ``add_dump``, then ``close()`` (ends the tar and the zstd
    frame; ``out`` stays open)."""

    def __init__(self, out):
        self._zstd = zstandard.ZstdCompressor(level=ZSTD_LEVEL).stream_writer(out, closefd=False)
        # Open until close(): the archive's lifetime is the caller's.
        self._tar = tarfile.open(  # noqa: SIM115
            fileobj=self._zstd, mode="w|", format=tarfile.GNU_FORMAT
        )
        self.files = 0
        self.bytes = 0

    def close(self) -> None:
        self._tar.close()
        self._zstd.close()

    def _add(self, info: tarfile.TarInfo, data=None) -> None:
        self._tar.addfile(info, data)
        if info.isreg():
            self.files += 1
            self.bytes += info.size

    def add_tree(self, runner, root: str, folder: str) -> None:
        """Everything below ``root`` on the runner's host, under ``folder``."""
        command = runner.start([*TAR_TREE, "-C", root, "."])
        try:
            try:
                with tarfile.open(fileobj=_Output(command), mode="r|", bufsize=PIECE) as source:
                    self._repack(source, folder)
            except tarfile.TarError as exc:  # cut off or empty: the command's status says why
                while command.read(PIECE):
                    pass
                status, stderr = command.wait()
                raise _failed(runner, f"tar of {root}", status or 2, stderr, exc) from None
            while command.read(PIECE):  # the padding after the end-of-archive blocks
                pass
            status, stderr = command.wait()
        finally:
            command.close()
        if status not in (0, 1):  # 1: a file changed as it was read
            raise _failed(runner, f"tar of {root}", status, stderr)

    def _repack(self, source: tarfile.TarFile, folder: str) -> None:
        for member in source:
            name = member_name(folder, member.name)
            if name is None:
                continue
            info = copy.copy(member)
            info.name = name
            info.pax_headers = {}
            self._add(info, source.extractfile(member) if member.isreg() else None)

    def add_dump(self, runner, spec: DumpSpec, name: str) -> None:
        """A database dump as the one member ``name``."""
        with tempfile.TemporaryFile() as spool:
            if runner.client is None and spec.path is not None:
                with open(spec.path, "rb") as source:
                    shutil.copyfileobj(source, spool, PIECE)
            else:
                argv = list(spec.command) if spec.command else ["cat", "--", spec.path]
                command = runner.start(argv)
                try:
                    while piece := command.read(PIECE):
                        spool.write(piece)
                    status, stderr = command.wait()
                finally:
                    command.close()
                if status != 0:
                    raise DumpFailed(f"{runner.where}: {shlex.join(argv)}", status, stderr)
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = spool.tell(), 0o600, int(time.time())
            spool.seek(0)
            self._add(info, spool)


def _failed(runner, what: str, status: int, stderr: bytes, exc=None) -> SourceError:
    detail = stderr.decode(errors="replace").strip()[-2000:]
    return SourceError(f"{runner.where}: {what} failed (status {status}): {detail or exc}")
