"""A repository under a key prefix of an object store: open, read, and start backup sessions."""

from __future__ import annotations

import copy
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from itertools import islice

from infra.objectstore import ObjectInfo, ObjectNotFound, ObjectStore, TransientStoreError

from .chunker import TREE_PARAMS, ChunkerParams, MiB
from .crypto import RepoKeys
from .errors import (
    BlobNotFound,
    EntryNotFound,
    IntegrityError,
    RepositoryDamaged,
    RepositoryExists,
    RepositoryNotFound,
    WrongKeys,
)
from .index import Index, load_index
from .locks import Lock, default_hostname, remove_stale_locks
from .pack import decode_blob, object_id, pack_key, seal_json, unseal_json
from .snapshot import SOURCE_KINDS, Entry, Snapshot, decode_snapshot, parse_tree_lines, utc_iso

CONFIG_AAD = b"havn-config"
FORMAT_VERSION = 1
# Objects put under object-lock retention when the repository has a retention period: the data a
# snapshot needs. Never the config, locks/ (they must be removable at once) or keys.
RETAINED = ("packs/", "index/", "snapshots/")


def default_retention() -> timedelta:
    """``HAVN_BACKUP_RETENTION_LOCK_DAYS`` when Django's settings are configured, else none."""
    try:
        from django.conf import settings
    except ImportError:  # the engine used without Django (the benchmark)
        return timedelta(0)
    days = getattr(settings, "HAVN_BACKUP_RETENTION_LOCK_DAYS", 0) if settings.configured else 0
    return timedelta(days=days)


class Repository:
    """One repository (``<prefix>config``, ``packs/``, ``index/``, ``snapshots/``, ``locks/``)."""

    not_found = ObjectNotFound

    def __init__(
        self,
        store: ObjectStore,
        prefix: str,
        keys: RepoKeys,
        *,
        hostname: str | None = None,
        workers: int | None = None,
        uploaders: int = 2,
        pack_size: int = 16 * MiB,
        index_every: int = 8,
        index_on_abort: bool = True,
        lock_stale_after: timedelta = timedelta(minutes=30),
        lock_refresh_interval: timedelta = timedelta(minutes=5),
        lock_settle: float = 0.2,
        retention: timedelta | None = None,
        orphan_grace: timedelta | None = None,
        clock=None,
    ):
        prefix = prefix.strip("/")
        self.store = store
        self.prefix = f"{prefix}/" if prefix else ""
        self.keys = keys
        self.hostname = hostname or default_hostname()
        self.workers = workers or max(2, min(4, os.cpu_count() or 2))
        self.uploaders = uploaders
        self.pack_size = pack_size
        self.index_every = index_every
        self.index_on_abort = index_on_abort
        self.lock_stale_after = lock_stale_after
        self.lock_refresh_interval = lock_refresh_interval
        self.lock_settle = lock_settle
        # Object-lock retention of packs, index files and snapshots (S3; ignored locally).
        self.retention = default_retention() if retention is None else retention
        self.clock = clock or (lambda: datetime.now(UTC))
        # Packs no index names are deleted (repair.clean, prune) only once this old: twice the
        # stale age, so none can belong to a run that still holds a live lock.
        self.orphan_grace = 2 * lock_stale_after if orphan_grace is None else orphan_grace
        self.config: dict | None = None
        self.index = Index()
        self._index_dirty = False
        self.adopted: dict = {}  # packs indexed from their headers, no index file covers yet
        self.unreadable_packs: dict[str, str] = {}  # unindexed packs whose header is damaged

    def __repr__(self) -> str:
        return f"Repository({self.store!r}, {self.prefix!r})"

    # -- store access (names are relative to the prefix; transient errors are retried) --

    def _retry(self, fn, *args):
        for attempt in range(4):
            try:
                return fn(*args)
            except TransientStoreError:
                if attempt == 3:
                    raise
                time.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    def _put(self, name: str, data: bytes, *, sha256: bytes | None = None) -> None:
        """Store an object; packs, index files and snapshots get ``retention`` (object lock)
        from now on. ``sha256``: the data's digest, if known (a pack's name)."""
        until = None
        if self.retention > timedelta(0) and name.startswith(RETAINED):
            until = datetime.now(UTC) + self.retention  # the real clock: the store checks it
        key = self.prefix + name
        self._retry(lambda: self.store.put(key, data, retain_until=until, sha256=sha256))

    def _get(self, name: str) -> bytes:
        return self._retry(self.store.get, self.prefix + name)

    def _get_range(self, name: str, offset: int, length: int) -> bytes:
        return self._retry(self.store.get_range, self.prefix + name, offset, length)

    def _stat(self, name: str) -> int | None:
        return self._retry(self.store.stat, self.prefix + name)

    def _delete(self, name: str) -> None:
        self._retry(self.store.delete, self.prefix + name)

    def _list(self, sub: str) -> Iterator[tuple[str, int]]:
        """(name below ``sub``, size) of every object under ``<prefix><sub>``."""
        for info in self._list_info(sub):
            yield info.key, info.size

    def _list_info(self, sub: str) -> Iterator[ObjectInfo]:
        """ObjectInfo (key = name below ``sub``) of every object under ``<prefix><sub>``."""
        start = len(self.prefix) + len(sub)
        for info in self.store.list(self.prefix + sub):
            yield ObjectInfo(info.key[start:], info.size, info.modified)

    # -- lifecycle --

    def init(self, chunker: ChunkerParams | None = None) -> Repository:
        """Create the repository: writes the sealed ``config``. Refuses if one exists."""
        if self._stat("config") is not None:
            raise RepositoryExists(f"a repository exists at {self.prefix!r}")
        for sub in ("packs/", "index/", "snapshots/"):
            if next(self._list(sub), None) is not None:
                raise RepositoryExists(f"objects exist under {self.prefix + sub!r}")
        seed = int.from_bytes(os.urandom(8), "big") >> 2
        chunker = chunker or ChunkerParams(seed=seed)
        config = {
            "version": FORMAT_VERSION,
            "id": os.urandom(16).hex(),
            "created": utc_iso(self.clock()),
            "chunker": chunker.to_json(),
            "tree_chunker": {**TREE_PARAMS.to_json(), "seed": chunker.seed},
        }
        self._put("config", seal_json(self.keys, config, CONFIG_AAD))
        self.config = config
        self.index = Index()
        return self

    def open(self) -> Repository:
        """Read the config and load every index file. A config that does not authenticate
        raises WrongKeys if the keys open none of the repository's other objects either, and
        RepositoryDamaged if they do (the config itself is damaged)."""
        try:
            sealed = self._get("config")
        except ObjectNotFound:
            raise RepositoryNotFound(f"no repository at {self.prefix!r}") from None
        try:
            config = unseal_json(self.keys, sealed, CONFIG_AAD)
        except IntegrityError:
            raise self._config_failure() from None
        if config.get("version") != FORMAT_VERSION:
            raise RepositoryNotFound(f"unsupported repository version {config.get('version')}")
        self.config = config
        self.refresh_index(full=True)
        return self

    def _config_failure(self) -> IntegrityError:
        """Tell a damaged config from wrong keys: try the keys on a few other sealed objects."""
        from .index import INDEX_AAD
        from .locks import LOCK_AAD
        from .snapshot import SNAPSHOT_AAD

        tried = 0
        for sub, aad in (("index/", INDEX_AAD), ("snapshots/", SNAPSHOT_AAD), ("locks/", LOCK_AAD)):
            for name, _size in islice(self._list(sub), 2):
                try:
                    unseal_json(self.keys, self._get(sub + name), aad)
                except (IntegrityError, ObjectNotFound):
                    tried += 1
                    continue
                return RepositoryDamaged(
                    f"the config object {self.prefix}config is damaged (the keys open "
                    f"{sub}{name[:12]}…): the repository's data is intact, its config is not"
                )
        if tried:
            return WrongKeys(f"these keys do not open the repository at {self.prefix!r}")
        return WrongKeys(
            f"the config at {self.prefix!r} does not authenticate and there is no other object "
            "to tell by: wrong keys, or a damaged config"
        )

    @property
    def id(self) -> str:
        return self.config["id"]

    @property
    def chunker_params(self) -> ChunkerParams:
        return ChunkerParams.from_json(self.config["chunker"])

    @property
    def tree_chunker_params(self) -> ChunkerParams:
        return ChunkerParams.from_json(self.config["tree_chunker"])

    def refresh_index(self, full: bool = False) -> Index:
        """Load index files written since; start afresh if one disappeared (a prune ran)."""
        if full or self._index_dirty:
            self.index, self._index_dirty, self.adopted = Index(), False, {}
        self.index = load_index(self, self.index)
        if self.index.damaged:  # readers still find every blob: from the packs' headers
            self.adopt_unindexed()
        return self.index

    def adopt_unindexed(self) -> list:
        """Index the packs no readable index file names from their headers, in memory
        (``adopted``: pack id -> PackRecord, until an index file covers them); returns them."""
        from .repair import adopt_packs

        records, self.unreadable_packs = adopt_packs(self, self.index)
        self.adopted.update((r.id, r) for r in records)
        return records

    def view(self, packs) -> Repository:
        """A shallow copy reading through an index of just ``packs`` (PackRecords)."""
        clone = copy.copy(self)
        clone.index = Index()
        for p in packs:
            clone.index.add_pack(p)
        return clone

    def remove_stale_locks(self) -> list[str]:
        return remove_stale_locks(self)

    def lock(
        self, exclusive: bool = False, purpose: str = "", *, settle_in_background: bool = False
    ) -> Lock:
        """Acquire a lock (raises RepositoryLocked); release it or use it as a context manager.
        ``settle_in_background``: see Lock.acquire (call ``confirm()`` before writing)."""
        return Lock(self, exclusive, purpose).acquire(settle_in_background)

    # -- reading --

    def snapshot_ids(self) -> list[str]:
        return [name for name, _size in self._list("snapshots/")]

    def load_snapshot(self, snapshot_id: str) -> Snapshot:
        """By full id or unique prefix (at least 6 hex digits)."""
        if len(snapshot_id) != 64:
            matches = [s for s in self.snapshot_ids() if s.startswith(snapshot_id)]
            if len(snapshot_id) < 6 or len(matches) != 1:
                raise KeyError(f"no unique snapshot {snapshot_id!r}")
            snapshot_id = matches[0]
        sealed = self._get(f"snapshots/{snapshot_id}")
        if object_id(sealed) != snapshot_id:
            raise IntegrityError(f"snapshot {snapshot_id} does not match its name")
        return decode_snapshot(self.keys, snapshot_id, sealed)

    def snapshots(self) -> list[Snapshot]:
        """All snapshots, oldest first."""
        with ThreadPoolExecutor(max_workers=8) as pool:
            snaps = list(pool.map(self.load_snapshot, self.snapshot_ids()))
        return sorted(snaps, key=lambda s: (s.time, s.id))

    def read_blob(self, bid: bytes) -> bytes:
        loc = self.index.lookup(bid)
        if loc is None:
            raise BlobNotFound(f"blob {bid.hex()} is not in the index")
        try:
            sealed = self._get_range(pack_key(loc.pack_id), loc.offset, loc.length)
        except ObjectNotFound:
            raise BlobNotFound(f"pack {loc.pack_id} of blob {bid.hex()} is missing") from None
        if len(sealed) != loc.length:
            raise IntegrityError(f"pack {loc.pack_id} is truncated")
        return decode_blob(self.keys, bid, sealed, loc.raw_length)

    def iter_tree(self, snapshot: Snapshot) -> Iterator[Entry]:
        return parse_tree_lines(self.read_blobs(snapshot.tree))

    def read_blobs(self, ids, ahead: int = 8) -> Iterator[bytes]:
        """``read_blob`` of each id, in order, with up to ``ahead`` fetches in flight (a tree's
        blobs are many small ranged GETs: their latency, not their size, is the cost)."""
        ids = iter(ids)
        with ThreadPoolExecutor(max_workers=ahead, thread_name_prefix="havn-read") as pool:
            queued = deque(pool.submit(self.read_blob, bid) for bid in islice(ids, 2 * ahead))
            while queued:
                data = queued.popleft().result()
                for bid in islice(ids, 1):
                    queued.append(pool.submit(self.read_blob, bid))
                yield data

    def tree_dict(self, snapshot: Snapshot) -> dict[str, Entry]:
        """path -> entry, for comparing tonight's listing with the parent snapshot."""
        return {e.path: e for e in self.iter_tree(snapshot)}

    def read_entry(self, entry: Entry) -> Iterator[bytes]:
        for bid in entry.content:
            yield self.read_blob(bid)

    def read_file(self, snapshot: Snapshot, path: str) -> Iterator[bytes]:
        for entry in self.iter_tree(snapshot):
            if entry.path == path:
                if entry.type != "file":
                    raise EntryNotFound(f"{path!r} is a {entry.type}, not a file")
                return self.read_entry(entry)
        raise EntryNotFound(f"{path!r} is not in snapshot {snapshot.id[:12]}")

    # -- writing --

    def backup(self, source: dict, parent: Snapshot | None = None, *, tags=(), progress=None):
        """A BackupSession: use ``with repo.backup(...) as session:``."""
        from .session import BackupSession

        if self.config is None:
            raise RepositoryNotFound("open() or init() the repository first")
        missing = {"kind", "id", "name", "host"} - set(source)
        if missing or source["kind"] not in SOURCE_KINDS:
            raise ValueError(f"source needs kind in {SOURCE_KINDS}, id, name, host: {source!r}")
        return BackupSession(self, dict(source), parent, list(tags), progress)
