"""The index: which pack holds which blob.

On the store: ``index/<sha256 of the object>`` = sealed JSON (aad ``havn-index``)::

    {"version": 1, "packs": [{"id": "<pack hex>", "size": <pack bytes>, "blobs": [
        ["<blob hex>", "data"|"tree", offset, length, raw_length], ...]}, ...]}

In memory: one dict from the 32-byte blob id to one packed int (pack number, offset, length, raw
length, type), about 140 bytes per blob all told -- a million blobs fit in ~140 MiB.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .errors import IntegrityError
from .pack import TYPE_CODES, TYPE_NAMES, PackEntry, object_id, seal_json, unseal_json

log = logging.getLogger(__name__)

INDEX_AAD = b"havn-index"
MAX_BLOBS_PER_FILE = 100_000
_M32 = 0xFFFFFFFF


@dataclass(frozen=True, slots=True)
class BlobLocation:
    pack_id: str
    type: int
    offset: int
    length: int
    raw_length: int


@dataclass
class PackRecord:
    """One pack as an index file describes it."""

    id: str
    size: int
    blobs: list[PackEntry]


class Index:
    def __init__(self):
        self._blobs: dict[bytes, int] = {}
        self._packs: list[str] = []
        self._pack_no: dict[str, int] = {}
        self.pack_sizes: dict[str, int] = {}
        self.files: set[str] = set()  # names of the index files loaded
        self.damaged: dict[str, str] = {}  # index files skipped: name -> why

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, bid: bytes) -> bool:
        return bid in self._blobs

    def add_pack(self, pack: PackRecord) -> None:
        no = self._pack_no.get(pack.id)
        if no is None:
            no = self._pack_no[pack.id] = len(self._packs)
            self._packs.append(pack.id)
        self.pack_sizes[pack.id] = pack.size
        blobs = self._blobs
        for e in pack.blobs:
            if e.blob_id not in blobs:  # first location wins; duplicates are prune's business
                blobs[e.blob_id] = (
                    no << 97 | e.offset << 65 | e.length << 33 | e.raw_length << 1 | e.type
                )

    def lookup(self, bid: bytes) -> BlobLocation | None:
        v = self._blobs.get(bid)
        if v is None:
            return None
        return BlobLocation(
            self._packs[v >> 97], v & 1, (v >> 65) & _M32, (v >> 33) & _M32, (v >> 1) & _M32
        )

    def packs(self) -> set[str]:
        return set(self._packs)

    def blob_ids(self) -> Iterator[bytes]:
        return iter(self._blobs)


def encode_index(keys, packs: Iterable[PackRecord]) -> tuple[str, bytes]:
    obj = {
        "version": 1,
        "packs": [
            {
                "id": p.id,
                "size": p.size,
                "blobs": [
                    [e.blob_id.hex(), TYPE_NAMES[e.type], e.offset, e.length, e.raw_length]
                    for e in p.blobs
                ],
            }
            for p in packs
        ],
    }
    sealed = seal_json(keys, obj, INDEX_AAD)
    return object_id(sealed), sealed


def decode_index(keys, sealed: bytes, name: str | None = None) -> list[PackRecord]:
    """The pack records of a sealed index file; IntegrityError naming the object (when
    ``name`` is given, its content must also hash to it) if it is damaged."""
    where = f"index/{name}" if name else "index file"
    if name is not None and object_id(sealed) != name:
        raise IntegrityError(f"{where}: content does not match its name (damaged)")
    try:
        obj = unseal_json(keys, sealed, INDEX_AAD)
        return [
            PackRecord(
                p["id"],
                int(p["size"]),
                [
                    PackEntry(bytes.fromhex(b[0]), TYPE_CODES[b[1]], b[2], b[3], b[4])
                    for b in p["blobs"]
                ],
            )
            for p in obj["packs"]
        ]
    except IntegrityError as exc:
        raise IntegrityError(f"{where}: {exc}") from None
    except (KeyError, ValueError, TypeError, IndexError) as exc:
        raise IntegrityError(f"{where}: malformed ({type(exc).__name__}: {exc})") from None


def write_index(repo, packs: list[PackRecord]) -> list[str]:
    """Store index files covering ``packs`` (split at MAX_BLOBS_PER_FILE); returns their names."""
    names, batch, count = [], [], 0
    for p in packs + [None]:
        if p is None or (batch and count + len(p.blobs) > MAX_BLOBS_PER_FILE):
            if batch:
                name, sealed = encode_index(repo.keys, batch)
                repo._put(f"index/{name}", sealed)
                names.append(name)
            batch, count = [], 0
        if p is not None:
            batch.append(p)
            count += len(p.blobs)
    return names


def list_index_files(repo) -> list[str]:
    return [name for name, _size in repo._list("index/")]


def read_index_files(
    repo, names: list[str], *, skip_damaged: bool = False
) -> Iterator[tuple[str, list[PackRecord] | IntegrityError]]:
    """Fetch and decode index files concurrently (object-store latency dominates). A damaged
    file raises IntegrityError naming it, or with ``skip_damaged`` is yielded as that error;
    a file removed since the listing (a prune) is left out."""

    def load(name):
        try:
            return name, decode_index(repo.keys, repo._get(f"index/{name}"), name)
        except repo.not_found:
            return name, None
        except IntegrityError as exc:
            if not skip_damaged:
                raise
            return name, exc

    with ThreadPoolExecutor(max_workers=8) as pool:
        for name, packs in pool.map(load, names):
            if packs is not None:
                yield name, packs


def load_index(repo, index: Index | None = None) -> Index:
    """Load every index file into ``index`` (only the new ones if it was loaded before). A
    damaged file is skipped with a warning and listed in ``index.damaged``: its packs are then
    unindexed, and the next backup (or ``repair_index``) indexes them again from their headers."""
    names = list_index_files(repo)
    if index is None or not index.files <= set(names):
        index = Index()  # some file was removed (prune ran): start afresh
    todo = [n for n in names if n not in index.files and n not in index.damaged]
    for name, packs in read_index_files(repo, todo, skip_damaged=True):
        if isinstance(packs, IntegrityError):
            log.warning("skipping damaged index file of %s: %s", repo.prefix, packs)
            index.damaged[name] = str(packs)
            continue
        for p in packs:
            index.add_pack(p)
        index.files.add(name)
    return index
