"""Reading what a restore needs from the repository: a check before anything is written (every
content blob indexed, lengths adding up, every pack present at its indexed size), blobs read
ahead in order by a few threads, and whole files spooled before they are sent."""

from __future__ import annotations

import hashlib
import tempfile
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

from django.utils.translation import gettext as _

from backups.engine import BlobNotFound, Entry, IntegrityError
from backups.engine.pack import pack_key

from .errors import RestoreSourceDamaged

MiB = 1024 * 1024
READERS = 4  # blob reads in flight (object-store latency dominates)
READ_AHEAD = 64 * MiB  # plaintext bytes read ahead at most
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


class BlobReader:
    """The content blobs of ``entries``' files, in order: ``next()`` returns the next one's
    plaintext (authenticated by the engine), raising its BlobNotFound or IntegrityError."""

    def __init__(self, repo, entries: list[Entry], readers: int = READERS):
        self._repo = repo
        index = repo.index
        self._todo = (
            (bid, loc.raw_length if (loc := index.lookup(bid)) else 0)
            for e in entries
            if e.type == "file"
            for bid in e.content
        )
        self._pool = ThreadPoolExecutor(readers, thread_name_prefix="havn-restore-read")
        self._ahead: deque = deque()
        self._ahead_bytes = 0

    def _fill(self) -> None:
        while len(self._ahead) < 1024 and (self._ahead_bytes < READ_AHEAD or not self._ahead):
            item = next(self._todo, None)
            if item is None:
                return
            bid, size = item
            self._ahead.append((self._pool.submit(self._repo.read_blob, bid), size))
            self._ahead_bytes += size

    def next(self) -> bytes:
        self._fill()
        future, size = self._ahead.popleft()
        self._ahead_bytes -= size
        return future.result()

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
