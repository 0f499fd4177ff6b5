"""Tar members built from snapshot entries: POSIX pax headers carrying the exact names (bytes
that are not UTF-8 included) and mtimes to the nanosecond, which GNU tar restores."""

from __future__ import annotations

import stat
import tarfile

from backups.engine import Entry

BLOCK = 512
END = b"\0" * (2 * BLOCK)  # end-of-archive marker
ENCODING = "utf-8"  # names are str with surrogateescape for bytes that are not UTF-8
TYPES = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE}


def pax_time(ns: int) -> str:
    """Nanoseconds since the epoch as a pax decimal (``-1.5`` is 1.5 s before the epoch)."""
    seconds, fraction = divmod(abs(ns), 1_000_000_000)
    return f"{'-' if ns < 0 else ''}{seconds}.{fraction:09d}"


def restored_mode(entry: Entry, same_owner: bool) -> int:
    """Permission bits as restored: without the original owner a file loses set-user-ID and
    set-group-ID (it would belong to whoever runs tar, e.g. root)."""
    mode = entry.mode & 0o7777
    if entry.type == "file" and not same_owner:
        mode &= ~(stat.S_ISUID | stat.S_ISGID)
    return mode


def header(entry: Entry, mode: int) -> bytes:
    info = tarfile.TarInfo(entry.path)
    info.type = TYPES[entry.type]
    info.size = entry.size if entry.type == "file" else 0
    info.mode = mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = max(0, entry.mtime // 1_000_000_000)  # the pax header has the exact value
    info.linkname = (entry.target or "") if entry.type == "symlink" else ""
    info.pax_headers = {"mtime": pax_time(entry.mtime)}
    return info.tobuf(tarfile.PAX_FORMAT, ENCODING, "surrogateescape")


def padding(size: int) -> bytes:
    return b"\0" * (-size % BLOCK)
