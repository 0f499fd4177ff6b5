"""Reading what a restore needs from the repository: a check before anything is written (every
content blob indexed, lengths adding up, every pack present at its indexed size), blobs read
ahead in order by a few threads (neighbouring blobs of a pack in one ranged GET), and whole
files spooled before they are sent."""

from __future__ import annotations

import hashlib
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.utils.translation import gettext as _

from backups.engine import BlobNotFound, Entry, IntegrityError
from backups.engine.index import BlobLocation
from backups.engine.pack import decode_blob, pack_key
from infra.objectstore import ObjectNotFound

from .errors import RestoreSourceDamaged

MiB = 1024 * 1024
READERS = 4  # span reads in flight (object-store latency dominates)
READ_AHEAD = 64 * MiB  # plaintext bytes read ahead at most
SPAN = 8 * MiB  # bytes (stored, and plaintext) of neighbouring blobs in one ranged GET at most
SPAN_GAP = 256 * 1024  # bytes of other blobs a span may read past (and drop) between two
SPOOL_IN_MEMORY = 32 * MiB  # a file larger than this is spooled to a temporary file
PIECE = 256 * 1024


def check_blobs(repo, snapshot, entries: list[Entry]) -> None:
    """Raise RestoreSourceDamaged for the first file whose content cannot be read in full:
    a blob missing from the index, stored lengths that do not add up to the file's size, or a
    pack missing from the store or of another size than indexed. Corrupt bytes inside a pack
    show only when read (see BlobReader)."""
    index = repo.index
    first_user: dict[str, str] = {}  # pack id -> first path that needs it
    for e in entries:
        if e.type != "file":
            continue
        total = 0
        for bid in e.content:
            loc = index.lookup(bid)
            if loc is None:
                detail = _("part of its content is missing from the repository index")
                raise RestoreSourceDamaged(snapshot.id, e.path, detail)
            total += loc.raw_length
            first_user.setdefault(loc.pack_id, e.path)
        if total != e.size:
            detail = _("its stored pieces hold %(stored)d bytes, not %(size)d") % {
                "stored": total,
                "size": e.size,
            }
            raise RestoreSourceDamaged(snapshot.id, e.path, detail)
    packs = list(first_user)
    with ThreadPoolExecutor(max_workers=8) as pool:
        sizes = list(pool.map(lambda p: repo.store.stat(repo.prefix + pack_key(p)), packs))
    for pack, size in zip(packs, sizes, strict=True):
        if size is None:
            detail = _("pack %(pack)s is missing from the store") % {"pack": pack[:12]}
        elif size != index.pack_sizes.get(pack):
            detail = _("pack %(pack)s is truncated or altered") % {"pack": pack[:12]}
        else:
            continue
        raise RestoreSourceDamaged(snapshot.id, first_user[pack], detail)


@dataclass
class _Span:
    """Neighbouring blobs of one pack, fetched with one ranged GET (``pack`` None: blobs
    missing from the index)."""

    pack: str | None
    start: int
    end: int
    blobs: list[tuple[bytes, BlobLocation | None]]
    raw: int  # plaintext bytes


def spans(index, ids) -> Iterator[_Span]:
    """The blob ids in order, grouped into spans: a blob joins the previous one's span when it
    lies in the same pack at most SPAN_GAP bytes after it and the span stays within SPAN, both
    stored and as plaintext (so read-ahead memory stays bounded for well-compressed data)."""
    span = None
    for bid in ids:
        loc = index.lookup(bid)
        if (
            span is not None
            and loc is not None
            and loc.pack_id == span.pack
            and 0 <= loc.offset - span.end <= SPAN_GAP
            and loc.offset + loc.length - span.start <= SPAN
            and span.raw + loc.raw_length <= SPAN
        ):
            span.blobs.append((bid, loc))
            span.end = loc.offset + loc.length
            span.raw += loc.raw_length
            continue
        if span is not None:
            yield span
        if loc is None:
            span = _Span(None, 0, 0, [(bid, None)], 0)
        else:
            span = _Span(loc.pack_id, loc.offset, loc.offset + loc.length, [(bid, loc)], 0)
            span.raw = loc.raw_length
    if span is not None:
        yield span


def read_span(repo, span: _Span) -> list:
    """The plaintext of each blob of ``span``, or the BlobNotFound / IntegrityError that
    reading it raised (blobs before a damaged one are still good)."""
    if span.pack is None:
        return [BlobNotFound(f"blob {bid.hex()} is not in the index") for bid, _ in span.blobs]
    try:
        data = repo._get_range(pack_key(span.pack), span.start, span.end - span.start)
    except ObjectNotFound:
        return [
            BlobNotFound(f"pack {span.pack} of blob {bid.hex()} is missing")
            for bid, _ in span.blobs
        ]
    view = memoryview(data)
    out: list = []
    for bid, loc in span.blobs:
        sealed = view[loc.offset - span.start : loc.offset - span.start + loc.length]
        if len(sealed) != loc.length:
            out.append(IntegrityError(f"pack {span.pack} is truncated"))
            continue
        try:
            out.append(decode_blob(repo.keys, bid, sealed, loc.raw_length))
        except IntegrityError as exc:
            out.append(exc)
    return out


class BlobReader:
    """The content blobs of ``entries``' files, in order: ``next()`` returns the next one's
    plaintext (authenticated by the engine), raising its BlobNotFound or IntegrityError.
    Neighbouring blobs of a pack come in one ranged GET (spans), a few spans in flight."""

    def __init__(self, repo, entries: list[Entry], readers: int = READERS):
        self._repo = repo
        ids = (bid for e in entries if e.type == "file" for bid in e.content)
        self._todo = spans(repo.index, ids)
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="havn-restore-read")
        self._ahead: deque = deque()  # (future of read_span, plaintext bytes)
        self._ahead_bytes = 0
        self._current: deque = deque()  # what is left of the span being handed out

    def _fill(self) -> None:
        while len(self._ahead) < 1024 and (self._ahead_bytes < READ_AHEAD or not self._ahead):
            span = next(self._todo, None)
            if span is None:
                return
            self._ahead.append((self._pool.submit(read_span, self._repo, span), span.raw))
            self._ahead_bytes += span.raw

    def next(self) -> bytes:
        if not self._current:
            self._fill()
            future, size = self._ahead.popleft()
            self._ahead_bytes -= size
            self._current = deque(future.result())
            self._fill()  # the next spans are fetched while this one is handed out
        item = self._current.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def file_pieces(reader: BlobReader, snapshot, entry: Entry) -> Iterator[bytes]:
    """The file's content blob by blob; damage raises RestoreSourceDamaged naming the file."""
    size = 0
    for _bid in entry.content:
        try:
            data = reader.next()
        except (BlobNotFound, IntegrityError) as exc:
            raise RestoreSourceDamaged(snapshot.id, entry.path, str(exc)) from exc
        size += len(data)
        yield data
    if size != entry.size:
        detail = _("its content holds %(read)d bytes, not %(size)d") % {
            "read": size,
            "size": entry.size,
        }
        raise RestoreSourceDamaged(snapshot.id, entry.path, detail)


class Spool:
    """One file's content read whole (and so authenticated whole) before any of it is sent:
    in memory up to SPOOL_IN_MEMORY, then in a temporary file. ``sha256``: of the plaintext."""

    def __init__(self, pieces):
        self.size = 0
        self._digest = hashlib.sha256()
        self._parts: list[bytes] = []
        self._file = None
        try:
            for data in pieces:
                self._add(data)
        except BaseException:
            self.close()
            raise

    def _add(self, data: bytes) -> None:
        self._digest.update(data)
        self.size += len(data)
        if self._file is None and self.size > SPOOL_IN_MEMORY:
            self._file = tempfile.TemporaryFile(prefix="havn-restore-")  # noqa: SIM115
            for part in self._parts:
                self._file.write(part)
            self._parts = []
        if self._file is None:
            self._parts.append(data)
        else:
            self._file.write(data)

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()

    def pieces(self) -> Iterator[bytes]:
        if self._file is None:
            yield from self._parts
            return
        self._file.seek(0)
        while data := self._file.read(4 * PIECE):
            yield data

    def close(self) -> None:
        self._parts = []
        if self._file is not None:
            self._file.close()
            self._file = None
