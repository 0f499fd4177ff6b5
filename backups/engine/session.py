"""The backup writer: chunk (caller's thread) -> blob id, dedup, compress+seal (worker threads)
-> packs (uploader threads).

Blob ids are computed by the workers, so a file's entry is complete only when its chunks have been
hashed; entries wait in a queue in the caller's order and go into the tree in that order (the tree
does not depend on the thread timing).

Order of writes: packs, then an index file after every ``index_every`` packs (so the packs of an
interrupted run are indexed and reused by the next run), then the last index file, then the
snapshot object -- last, and only while our shared lock is still held.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque

from .chunker import Chunker
from .crypto import blob_id
from .errors import EngineError, RepositoryLocked
from .index import PackRecord, write_index
from .pack import DATA, TREE, PackBuilder, encode_blob, pack_key
from .snapshot import Entry, Snapshot, encode_snapshot

log = logging.getLogger(__name__)
MAX_WARNINGS = 1000
COUNTERS = (
    "files",
    "dirs",
    "symlinks",
    "files_reused",
    "bytes_read",
    "bytes_reused",
    "bytes_new",
    "bytes_stored",
    "blobs_new",
    "packs_uploaded",
    "bytes_uploaded",
)


class BackupSession:
    progress_interval = 0.5  # seconds between progress callbacks

    def __init__(self, repo, source: dict, parent, tags: list[str], progress=None):
        self.repo = repo
        self.source = source
        self.parent = parent
        self.tags = tags
        self.progress = progress
        for name in COUNTERS:
            setattr(self, name, 0)
        self.bytes_total = 0
        self.warnings: list[dict] = []
        self.warnings_total = 0
        self.incomplete = False
        self.snapshot: Snapshot | None = None
        self.packs_adopted = 0  # packs of earlier runs indexed from their headers at commit
        self._lock = None
        self._threads: list[threading.Thread] = []

    # -- context manager --

    def __enter__(self) -> BackupSession:
        repo = self.repo
        kind, sid = self.source["kind"], self.source["id"]
        # The lock's settle wait runs beside the caller's read-only work (the parent tree, the
        # listing); the uploaders and the commit confirm it before anything is written.
        purpose = f"backup {kind} {sid}"
        self._lock = repo.lock(exclusive=False, purpose=purpose, settle_in_background=True)
        try:
            repo.refresh_index()
            # Packs a killed run (or a damaged index file) left unindexed: their blobs are
            # re-used, and this run's index file covers them (docs/backup-format.md §5).
            repo.adopt_unindexed()
        except BaseException:
            self._lock.release()
            raise
        self.started = repo.clock()
        self._t0 = time.monotonic()
        self._last_progress = 0.0
        self._chunker = Chunker(repo.chunker_params)
        self._tree = Chunker(repo.tree_chunker_params).feeder()
        self._tree_ids: list[bytes] = []
        self._known: set[bytes] = set()  # new blobs not yet in an uploaded pack
        self._pending: deque[_Pending] = deque()  # entries not yet in the tree, in order
        self._resolved = threading.Condition()  # a worker filled a pending entry's last id
        self._work: queue.Queue = queue.Queue(maxsize=2 * repo.workers)
        self._uploads: queue.Queue = queue.Queue(maxsize=1)
        self._pack = PackBuilder()
        self._pack_mutex = threading.Lock()
        self._seq = 0  # chunks handed to the workers
        self._next_seq = 1  # the next chunk to go into the pack
        self._sealed: dict[int, tuple | None] = {}  # sealed out of order, waiting for their turn
        self._mutex = threading.Lock()
        self._unindexed: list[PackRecord] = []
        self.index_files: list[str] = []
        self._failure: BaseException | None = None
        self._abort = threading.Event()
        self._inputs_done = threading.Event()
        self._packs_done = threading.Event()
        for i in range(repo.workers):
            self._start(self._worker, f"havn-seal-{i}")
        for i in range(repo.uploaders):
            self._start(self._uploader, f"havn-upload-{i}")
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                try:
                    self._commit()
                except BaseException:
                    self._stop(abort=True)
                    raise
            else:
                self._stop(abort=True)
        finally:
            self._lock.release()
        return False

    # -- the caller's API --

    def add_dir(self, entry) -> Entry:
        entry = Entry.coerce(entry, "dir")
        self.dirs += 1
        self._add_entry(entry)
        return entry

    def add_symlink(self, entry) -> Entry:
        entry = Entry.coerce(entry, "symlink")
        self.symlinks += 1
        self._add_entry(entry)
        return entry

    def add_file(self, entry, stream) -> Entry:
        """Read ``stream`` to its end, storing the content blobs that are new; returns the entry
        (``entry.size`` None = not known in advance; otherwise a different length is warned).
        The workers fill ``entry.content`` as they hash the chunks: it is complete at commit."""
        entry = Entry.coerce(entry, "file")
        entry.content = ids = []
        pending = _Pending(entry)
        size = 0
        for chunk in self._chunker.chunks(stream):
            ids.append(None)  # the worker puts the id here
            self._queue(pending, len(ids) - 1, DATA, chunk)
            size += len(chunk)
            self.bytes_read += len(chunk)
            self._tick()
        if entry.size is not None and size != entry.size:  # None: unknown (a dump)
            self.warn(entry.path, f"size changed while reading: {entry.size} -> {size}", False)
        entry.size = size
        self.files += 1
        with self._resolved:
            pending.chunks = len(ids)
        self._add_entry(entry, pending)
        return entry

    def reuse_file(self, entry, parent_entry) -> bool:
        """Take the parent's content without reading, if size, mtime and inode are unchanged and
        every blob is still indexed; False means: call add_file() instead."""
        entry = Entry.coerce(entry, "file")
        p = parent_entry
        if p.type != "file" or (entry.size, entry.mtime, entry.inode) != (
            p.size,
            p.mtime,
            p.inode,
        ):
            return False
        index, known = self.repo.index, self._known
        if not all(c in known or c in index for c in p.content):
            return False
        entry.content = list(p.content)
        self.files += 1
        self.files_reused += 1
        self.bytes_reused += entry.size
        self._add_entry(entry)
        return True

    def warn(self, path, message: str, incomplete: bool = True) -> None:
        """Record a problem with ``path``; ``incomplete`` marks the snapshot as not complete."""
        self.warnings_total += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append({"path": str(path), "message": message})
        self.incomplete = self.incomplete or incomplete

    def counters(self) -> dict:
        out = {name: getattr(self, name) for name in COUNTERS}
        out.update(
            bytes_total=self.bytes_total,
            warnings_total=self.warnings_total,
            duration=round(time.monotonic() - self._t0, 3),
        )
        return out

    # -- internals: main thread --

    def _add_entry(self, entry: Entry, pending: _Pending | None = None) -> None:
        self.bytes_total += entry.size if entry.type == "file" else 0
        if pending is not None or self._pending:
            self._pending.append(pending or _Pending(entry, 0))
            self._flush_pending()
        else:
            self._add_line(entry)
        self._tick()

    def _add_line(self, entry: Entry) -> None:
        for chunk in self._tree.feed(entry.to_line()):
            self._tree_ids.append(self._store_tree_blob(chunk))

    def _flush_pending(self, wait: bool = False) -> None:
        """Put the entries whose ids are all known into the tree, in order; ``wait``: all."""
        pending = self._pending
        while pending:
            if not pending[0].complete:
                if not wait:
                    return
                with self._resolved:
                    self._resolved.wait_for(lambda: pending[0].complete, timeout=0.2)
                self._raise_failure()
                continue
            self._add_line(pending.popleft().entry)

    def _is_new(self, bid: bytes, size: int) -> bool:
        """Claim ``bid`` for this session unless it is stored or claimed already."""
        with self._mutex:  # uploaders add to the index, then discard from _known, under it
            if bid in self._known or bid in self.repo.index:
                return False
            self._known.add(bid)
            self.blobs_new += 1
            self.bytes_new += size
            return True

    def _store_tree_blob(self, data: bytes) -> bytes:
        bid = blob_id(self.repo.keys, data)
        if self._is_new(bid, len(data)):
            self._queue(None, bid, TREE, data)
        return bid

    def _queue(self, pending, slot, type_: int, data: bytes) -> None:
        """Hand a chunk to the workers, numbered: packs get the blobs in this order."""
        self._seq += 1
        self._put(self._work, (self._seq, pending, slot, type_, data))

    def _tick(self) -> None:
        if self.progress is None:
            return
        now = time.monotonic()
        if now - self._last_progress >= self.progress_interval:
            self._last_progress = now
            self.progress(self.counters())

    def _put(self, q: queue.Queue, item) -> None:
        while True:
            self._raise_failure()
            try:
                q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _raise_failure(self) -> None:
        if isinstance(self._failure, RepositoryLocked):  # the lock was withdrawn while settling
            raise self._failure
        if self._failure is not None:
            raise EngineError(f"backup pipeline failed: {self._failure!r}") from self._failure

    def _commit(self) -> None:
        self._lock.confirm()
        adopted, self.repo.adopted = list(self.repo.adopted.values()), {}
        with self._mutex:  # indexed with this run's packs: nothing before the confirmation
            self._unindexed[:0] = adopted
        self.packs_adopted = len(adopted)
        self._flush_pending(wait=True)
        for chunk in self._tree.finish():
            self._tree_ids.append(self._store_tree_blob(chunk))
        self._stop(abort=False)
        self._raise_failure()
        self._lock.check_held()
        summary = {
            **self.counters(),
            "complete": not self.incomplete,
            "warnings": self.warnings,
        }
        snap = Snapshot(
            id="",
            time=self.started,
            source=self.source,
            tree=self._tree_ids,
            parent=self.parent.id if self.parent else None,
            summary=summary,
            tags=self.tags,
        )
        snap.id, sealed = encode_snapshot(self.repo.keys, snap)
        self.repo._put(f"snapshots/{snap.id}", sealed)
        self.bytes_uploaded += len(sealed)
        self.snapshot = snap
        if self.progress is not None:
            self.progress(self.counters())

    def _stop(self, abort: bool) -> None:
        """Normal: let the threads finish every queued blob and pack, then index the rest.
        Abort: drop what is queued, wait for uploads in flight, index the packs already stored."""
        if abort:
            self._abort.set()
        self._inputs_done.set()
        for t in self._threads[: self.repo.workers]:
            t.join()
        if not abort and self._failure is None:
            with self._pack_mutex:
                last, self._pack = self._pack, PackBuilder()
            if len(last):
                self._put(self._uploads, last)
        self._packs_done.set()
        for t in self._threads:
            t.join()
        with self._mutex:
            batch, self._unindexed = self._unindexed, []
        if batch and (not abort or self.repo.index_on_abort):
            try:
                self._write_index(batch)
                batch = []
            except Exception:
                if not abort:
                    raise
                log.exception("could not index the packs of an aborted backup")
        if batch:  # the in-memory index names packs no index file covers: reload next time
            self.repo._index_dirty = True

    # -- internals: threads --

    def _start(self, target, name: str) -> None:
        t = threading.Thread(target=self._run, args=(target,), name=name, daemon=True)
        self._threads.append(t)
        t.start()

    def _run(self, target) -> None:
        try:
            target()
        except BaseException as exc:
            with self._mutex:
                if self._failure is None:
                    self._failure = exc
            self._abort.set()

    @staticmethod
    def _items(q: queue.Queue, done: threading.Event):
        while True:
            try:
                yield q.get(timeout=0.05)
            except queue.Empty:
                if done.is_set() and q.empty():  # nothing is put after ``done`` is set
                    return

    def _worker(self) -> None:
        keys, pack_size = self.repo.keys, self.repo.pack_size
        for seq, pending, slot, type_, data in self._items(self._work, self._inputs_done):
            if self._abort.is_set():
                continue
            if pending is None:  # a tree blob, hashed and claimed by the caller's thread
                bid, new = slot, True
            else:  # hashlib releases the GIL: ids are computed on both cores
                bid = blob_id(keys, data)
                pending.entry.content[slot] = bid
                new = self._is_new(bid, len(data))
                with self._resolved:
                    pending.hashed += 1
                    if pending.complete:
                        self._resolved.notify()
            blob = (bid, type_, encode_blob(keys, bid, data), len(data)) if new else None
            full = []
            with self._pack_mutex:  # into the pack in the caller's order, whoever sealed first
                self._sealed[seq] = blob
                while self._next_seq in self._sealed:
                    blob = self._sealed.pop(self._next_seq)
                    self._next_seq += 1
                    if blob is not None:
                        self._pack.add(*blob)
                        if self._pack.size >= pack_size:
                            full.append(self._pack)
                            self._pack = PackBuilder()
            for pack in full:
                self._put(self._uploads, pack)

    def _uploader(self) -> None:
        repo = self.repo
        for builder in self._items(self._uploads, self._packs_done):
            if self._abort.is_set():
                continue
            self._lock.confirm()  # nothing is written under a lock that is not confirmed
            pack_id, data, entries = builder.finish(repo.keys)
            repo._put(pack_key(pack_id), data, sha256=bytes.fromhex(pack_id))
            record = PackRecord(pack_id, len(data), entries)
            with self._mutex:
                repo.index.add_pack(record)
                for e in entries:
                    self._known.discard(e.blob_id)
                self.packs_uploaded += 1
                self.bytes_stored += len(data)
                self.bytes_uploaded += len(data)
                self._unindexed.append(record)
                batch = None
                if len(self._unindexed) >= repo.index_every:
                    batch, self._unindexed = self._unindexed, []
            del data
            if batch:
                self._write_index(batch)

    def _write_index(self, batch: list[PackRecord]) -> None:
        try:
            names = write_index(self.repo, batch)
        except BaseException:
            with self._mutex:  # keep them for the final (or abort) index attempt
                self._unindexed[:0] = batch
            raise
        with self._mutex:
            self.repo.index.files.update(names)
            self.index_files += names


class _Pending:
    """An entry waiting for its blob ids: ``chunks`` is set (under the session's ``_resolved``
    lock) when the caller has read the whole file, ``hashed`` counts the ids the workers put."""

    __slots__ = ("entry", "chunks", "hashed")

    def __init__(self, entry: Entry, chunks: int | None = None):
        self.entry, self.chunks, self.hashed = entry, chunks, 0

    @property
    def complete(self) -> bool:
        return self.chunks is not None and self.hashed == self.chunks
