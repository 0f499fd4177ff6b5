"""Downloadable archives of snapshot entries, streamed with bounded memory into any writable
binary file (no seeking): ``tar.zst`` (exact names, modes, owners and nanosecond times) or
``zip`` (for everyone; streaming mode, zip64 when needed)."""

from __future__ import annotations

import hashlib
import stat
import struct
import time
import zipfile
from typing import BinaryIO

import zstandard
from django.utils.translation import gettext as _

from backups.engine import Entry

from . import tarstream
from .errors import RestoreCancelled
from .results import ArchiveResult, Progress
from .selection import prepared
from .source import BlobReader, check_blobs, file_pieces

FORMATS = ("tar.zst", "zip")
ZSTD_LEVEL = 3
ZIP_LEVEL = 1  # deflate level: the archive is made while the customer waits
DOS_RANGE = ((1980, 1, 1, 0, 0, 0), (2107, 12, 31, 23, 59, 58))  # what a zip header can hold


class _Sink:
    """Counts and hashes what goes to ``out``."""

    def __init__(self, out: BinaryIO):
        self.out, self.size, self.digest = out, 0, hashlib.sha256()

    def write(self, data) -> int:
        self.out.write(data)
        self.digest.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        flush = getattr(self.out, "flush", None)
        if flush is not None:
            flush()


def zip_name(entry: Entry) -> str:
    """Zip names are Unicode: bytes that are not UTF-8 appear as ``\\xNN`` (tar.zst keeps them)."""
    name = entry.path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return name + "/" if entry.type == "dir" else name


def _zip_info(entry: Entry) -> zipfile.ZipInfo:
    seconds = entry.mtime // 1_000_000_000
    moment = min(max(tuple(time.gmtime(seconds))[:6], DOS_RANGE[0]), DOS_RANGE[1])
    info = zipfile.ZipInfo(zip_name(entry), date_time=moment)
    kind = {"file": stat.S_IFREG, "dir": stat.S_IFDIR, "symlink": stat.S_IFLNK}[entry.type]
    mode = 0o777 if entry.type == "symlink" else entry.mode & 0o7777
    info.external_attr = (kind | mode) << 16 | (0x10 if entry.type == "dir" else 0)
    # Info-ZIP's extended timestamp (UTC seconds): unzip restores the time from it exactly.
    info.extra = struct.pack("<HHBl", 0x5455, 5, 1, max(-(2**31), min(seconds, 2**31 - 1)))
    info.compress_type = zipfile.ZIP_DEFLATED if entry.type == "file" else zipfile.ZIP_STORED
    info.file_size = entry.size if entry.type == "file" else 0
    return info


def build_archive(
    repo,
    snapshot,
    entries: list[Entry],
    out: BinaryIO,
    *,
    fmt: str,
    progress=None,
    cancelled=None,
) -> ArchiveResult:
    """Write ``entries`` of ``snapshot`` as one archive into ``out`` (only ``write`` is used).

    Checked before the first byte like a restore (UnsafePath, RestoreSourceDamaged); damage
    found while reading, or ``cancelled()`` (polled between files), raises RestoreSourceDamaged
    or RestoreCancelled and leaves ``out`` holding an incomplete archive: discard it.
    ``progress(done_bytes, total_bytes, files_done)`` at most twice a second."""
    if fmt not in FORMATS:
        raise ValueError(_("Unknown archive format %(fmt)s.") % {"fmt": fmt})
    entries = prepared(entries)
    check_blobs(repo, snapshot, entries)
    files = [e for e in entries if e.type == "file"]
    tracker = Progress(progress, sum(e.size for e in files))
    sink = _Sink(out)
    reader = BlobReader(repo, entries)
    try:
        if fmt == "tar.zst":
            _write_tar_zst(sink, snapshot, entries, reader, tracker, cancelled)
        else:
            _write_zip(sink, snapshot, entries, reader, tracker, cancelled)
    finally:
        reader.close()
    sink.flush()
    tracker.finish()
    return ArchiveResult(
        files=len(files),
        bytes=tracker.bytes,
        bytes_written=sink.size,
        sha256=sink.digest.hexdigest(),
        seconds=tracker.seconds,
        dirs=sum(e.type == "dir" for e in entries),
        symlinks=sum(e.type == "symlink" for e in entries),
    )


def _check_cancel(cancelled, tracker: Progress) -> None:
    if cancelled is not None and cancelled():
        raise RestoreCancelled(tracker.files, tracker.bytes)


def _write_tar_zst(sink, snapshot, entries, reader, tracker, cancelled) -> None:
    compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    with compressor.stream_writer(sink, closefd=False) as z:
        for entry in entries:
            _check_cancel(cancelled, tracker)
            z.write(tarstream.header(entry, tarstream.restored_mode(entry, same_owner=True)))
            if entry.type != "file":
                continue
            for data in file_pieces(reader, snapshot, entry):
                z.write(data)
                tracker.add(len(data))
            z.write(tarstream.padding(entry.size))
            tracker.add(files=1)
        z.write(tarstream.END)


def _write_zip(sink, snapshot, entries, reader, tracker, cancelled) -> None:
    with zipfile.ZipFile(sink, "w", compresslevel=ZIP_LEVEL, allowZip64=True) as archive:
        for entry in entries:
            _check_cancel(cancelled, tracker)
            info = _zip_info(entry)
            if entry.type == "dir":
                archive.writestr(info, b"")
            elif entry.type == "symlink":
                archive.writestr(info, entry.target.encode("utf-8", "surrogateescape"))
            else:
                with archive.open(info, "w") as f:
                    for data in file_pieces(reader, snapshot, entry):
                        f.write(data)
                        tracker.add(len(data))
                tracker.add(files=1)
