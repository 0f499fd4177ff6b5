"""The backup writer: chunk -> dedup -> compress+seal (worker threads) -> packs (uploader threads).

Order of writes: packs, then an index file after every ``index_every`` packs (so the packs of an
interrupted run are indexed and reused by the next run), then the last index file, then the
snapshot object -- last, and only while our shared lock is still held.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from .chunker import Chunker
from .crypto import blob_id
from .errors import EngineError
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
        self._lock = None
        self._threads: list[threading.Thread] = []

    # -- context manager --

    def __enter__(self) -> BackupSession:
        repo = self.repo
        kind, sid = self.source["kind"], self.source["id"]
        self._lock = repo.lock(exclusive=False, purpose=f"backup {kind} {sid}")
        try:
            repo.refresh_index()
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
        self._work: queue.Queue = queue.Queue(maxsize=2 * repo.workers)
        self._uploads: queue.Queue = queue.Queue(maxsize=1)
        self._pack = PackBuilder()
        self._pack_mutex = threading.Lock()
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
        (``entry.size`` None = not known in advance; otherwise a different length is warned)."""
        entry = Entry.coerce(entry, "file")
        ids, size = [], 0
        for chunk in self._chunker.chunks(stream):
            ids.append(self._store_blob(chunk, DATA))
            size += len(chunk)
            self.bytes_read += len(chunk)
            self._tick()
        if entry.size is not None and size != entry.size:  # None: unknown (a dump)
            self.warn(entry.path, f"size changed while reading: {entry.size} -> {size}", False)
        entry.size = size
        entry.content = ids
        self.files += 1
        self._add_entry(entry)
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

    def _add_entry(self, entry: Entry) -> None:
        self.bytes_total += entry.size if entry.type == "file" else 0
        for chunk in self._tree.feed(entry.to_line()):
            self._tree_ids.append(self._store_blob(chunk, TREE))
        self._tick()

    def _store_blob(self, data: bytes, type_: int) -> bytes:
        bid = blob_id(self.repo.keys, data)
        # _known before the index: uploaders add to the index first, then discard from _known.
        if bid in self._known or bid in self.repo.index:
            return bid
        self._known.add(bid)
        self.blobs_new += 1
        self.bytes_new += len(data)
        self._put(self._work, (bid, type_, data))
        return bid

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
        if self._failure is not None:
            raise EngineError(f"backup pipeline failed: {self._failure!r}") from self._failure

    def _commit(self) -> None:
        for chunk in self._tree.finish():
            self._tree_ids.append(self._store_blob(chunk, TREE))
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
        for bid, type_, data in self._items(self._work, self._inputs_done):
            if self._abort.is_set():
                continue
            sealed = encode_blob(keys, bid, data)
            with self._pack_mutex:
                self._pack.add(bid, type_, sealed, len(data))
                full = None
                if self._pack.size >= pack_size:
                    full, self._pack = self._pack, PackBuilder()
            if full is not None:
                self._put(self._uploads, full)

    def _uploader(self) -> None:
        repo = self.repo
        for builder in self._items(self._uploads, self._packs_done):
            if self._abort.is_set():
                continue
            pack_id, data, entries = builder.finish(repo.keys)
            repo._put(pack_key(pack_id), data)
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
