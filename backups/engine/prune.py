"""forget (delete snapshot objects) and prune (mark and sweep under an exclusive lock).

Mark: every blob reachable from the remaining snapshots (their tree blobs and every content blob the
trees name). Sweep, pack by pack: no used blob -> delete; used share below ``repack_threshold`` (or
a small pack, when there are several) -> copy its used blobs (still sealed) into new packs, then
delete it; otherwise keep. Write order: new packs -> new index (kept + new packs) -> delete the old
index files -> delete the packs. A crash at any point leaves every needed blob indexed and stored.

Object lock (S3 retention on packs, index files and snapshots): an object still under retention
cannot be deleted yet. It is kept and counted (``kept_by_lock``), never an error; a later forget or
prune deletes it once its retention has ended. An index file that must be kept also keeps every
pack it names, so no index on the store ever names a pack that is gone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from infra.objectstore import ObjectLocked

from .errors import IntegrityError, PruneError
from .index import PackRecord, list_index_files, read_index_files, write_index
from .pack import PackBuilder, PackEntry, decode_blob, header_size, pack_key
from .snapshot import parse_tree_lines

log = logging.getLogger(__name__)


class Forgotten(list):
    """The full ids of the snapshots deleted; ``kept_by_lock``: {id: retained until (or None)}
    of those object lock keeps for now (a later forget deletes them)."""

    def __init__(self, ids=(), kept_by_lock: dict[str, datetime | None] | None = None):
        super().__init__(ids)
        self.kept_by_lock = kept_by_lock or {}


def forget(repo, ids) -> Forgotten:
    """Delete snapshot objects (by full id or unique prefix); returns the full ids deleted."""
    out = Forgotten()
    with repo.lock(exclusive=False, purpose="forget"):
        full = [repo.load_snapshot(i).id for i in ids]
        for sid in full:
            try:
                repo._delete(f"snapshots/{sid}")
            except ObjectLocked as exc:
                out.kept_by_lock[sid] = exc.until
                log.info("snapshot %s %s", sid[:12], _kept_text(exc.until))
            else:
                out.append(sid)
    return out


def _kept_text(until: datetime | None) -> str:
    return f"kept until {until.isoformat() if until else 'an unknown date'} by object lock"


@dataclass
class PrunePlan:
    snapshot_ids: frozenset[str]
    index_files: frozenset[str]
    blobs_used: int = 0
    packs_keep: list[str] = field(default_factory=list)
    packs_repack: dict[str, list[PackEntry]] = field(default_factory=dict)  # pack -> blobs to copy
    packs_delete: list[str] = field(default_factory=list)  # indexed, nothing used
    packs_unindexed: list[str] = field(default_factory=list)  # on the store, in no index
    packs_missing_unused: list[str] = field(default_factory=list)  # indexed, gone, not needed
    keep_records: list[PackRecord] = field(default_factory=list)
    bytes_total: int = 0
    bytes_used: int = 0
    bytes_freed: int = 0  # estimate: deleted packs + the unused part of repacked packs
    packs_written: list[str] = field(default_factory=list)  # filled by prune()
    # Filled by prune(): objects (names below the repository) object lock keeps for now.
    kept_by_lock: dict[str, datetime | None] = field(default_factory=dict)

    @property
    def fingerprint(self) -> tuple:
        return self.snapshot_ids, self.index_files

    @property
    def has_work(self) -> bool:
        return bool(
            self.packs_repack
            or self.packs_delete
            or self.packs_unindexed
            or self.packs_missing_unused
        )

    @property
    def kept_until(self) -> datetime | None:
        """The latest retention date of the objects kept by object lock."""
        return max((d for d in self.kept_by_lock.values() if d is not None), default=None)

    def summary(self) -> dict:
        until = self.kept_until
        return {
            "kept_by_lock": len(self.kept_by_lock),
            "kept_until": until.isoformat() if until else None,
            "snapshots": len(self.snapshot_ids),
            "blobs_used": self.blobs_used,
            "packs_keep": len(self.packs_keep),
            "packs_repack": len(self.packs_repack),
            "packs_delete": len(self.packs_delete) + len(self.packs_unindexed),
            "bytes_total": self.bytes_total,
            "bytes_used": self.bytes_used,
            "bytes_freed": self.bytes_freed,
        }


def _fingerprint(repo) -> tuple:
    return frozenset(repo.snapshot_ids()), frozenset(list_index_files(repo))


def _load_records(repo, names) -> dict[str, PackRecord]:
    """Every pack the index files name, with the union of their blob entries."""
    records: dict[str, PackRecord] = {}
    try:
        loaded = list(read_index_files(repo, names))
    except IntegrityError as exc:
        raise PruneError(f"{exc}; repair the index first (manage.py backup repair-index)") from None
    for _name, packs in loaded:
        for p in packs:
            have = records.get(p.id)
            if have is None:
                records[p.id] = PackRecord(p.id, p.size, list(p.blobs))
            else:
                seen = {e.blob_id for e in have.blobs}
                have.blobs += [e for e in p.blobs if e.blob_id not in seen]
    return records


def plan_prune(repo, repack_threshold: float = 0.5, *, _locked: bool = False) -> PrunePlan:
    """Work out what prune would do (under a shared lock unless the caller holds one)."""
    lock = None if _locked else repo.lock(exclusive=False, purpose="prune plan")
    try:
        snapshot_ids = repo.snapshot_ids()  # snapshots before the index: never miss new data
        names = list_index_files(repo)
        records = _load_records(repo, names)
        view = repo.view(records.values())
        index = view.index
        infos = list(repo._list_info("packs/"))
        on_store = {i.key.rpartition("/")[2]: i.size for i in infos}
        cutoff = repo.clock() - repo.orphan_grace  # younger unindexed packs may be a live run's
        young = {
            i.key.rpartition("/")[2]
            for i in infos
            if i.modified is not None and i.modified > cutoff
        }

        used: set[bytes] = set()
        missing: list[str] = []
        for sid in snapshot_ids:
            snap = repo.load_snapshot(sid)
            absent = [t for t in snap.tree if t not in index]
            if absent:
                raise PruneError(f"snapshot {sid[:12]}: tree blob {absent[0].hex()} not indexed")
            used.update(snap.tree)
            for entry in parse_tree_lines(view.read_blobs(snap.tree)):
                for c in entry.content:
                    if c not in index:
                        missing.append(f"snapshot {sid[:12]} {entry.path}: blob {c.hex()}")
                    used.add(c)
        if missing:
            raise PruneError(f"{len(missing)} needed blobs are not indexed, e.g. {missing[0]}")

        plan = PrunePlan(frozenset(snapshot_ids), frozenset(names), blobs_used=len(used))
        plan.packs_unindexed = sorted(set(on_store) - set(records) - young)
        plan.bytes_freed = sum(on_store[p] for p in plan.packs_unindexed)
        claimed: set[bytes] = set()
        candidates = []
        small = {p.id for p in records.values() if p.size < repo.pack_size // 4}
        for pack_id in sorted(records):
            p = records[pack_id]
            plan.bytes_total += p.size
            used_entries = [e for e in p.blobs if e.blob_id in used]
            used_bytes = sum(e.length for e in used_entries)
            if pack_id not in on_store:
                if used_entries:  # only if no other pack holds them, checked below
                    candidates.append((p, "missing"))
                else:
                    plan.packs_missing_unused.append(pack_id)
                continue
            data_bytes = max(1, p.size - header_size(len(p.blobs)))
            is_small = len(small) > 1 and pack_id in small
            if used_entries and used_bytes >= repack_threshold * data_bytes and not is_small:
                plan.packs_keep.append(pack_id)
                plan.keep_records.append(p)
                claimed.update(e.blob_id for e in p.blobs)
            else:
                candidates.append((p, "sweep"))
        for p, why in candidates:
            todo = [e for e in p.blobs if e.blob_id in used and e.blob_id not in claimed]
            if why == "missing":
                if todo:
                    raise PruneError(f"pack {p.id} is missing and holds needed blobs")
                plan.packs_missing_unused.append(p.id)
            elif todo:
                claimed.update(e.blob_id for e in todo)
                plan.packs_repack[p.id] = todo
                plan.bytes_freed += p.size - sum(e.length for e in todo)
            else:
                plan.packs_delete.append(p.id)
                plan.bytes_freed += p.size
        plan.bytes_used = sum(records[b].size for b in plan.packs_keep) + sum(
            e.length for todo in plan.packs_repack.values() for e in todo
        )
        return plan
    finally:
        if lock is not None:
            lock.release()


def prune(repo, plan: PrunePlan | None = None, *, dry_run=False, repack_threshold=0.5):
    """Carry out ``plan`` (re-planned if the repository changed since) under an exclusive lock."""
    with repo.lock(exclusive=True, purpose="prune") as lock:
        if plan is None or plan.fingerprint != _fingerprint(repo):
            plan = plan_prune(repo, repack_threshold, _locked=True)
        if dry_run or not plan.has_work:
            return plan
        keys = repo.keys
        new_records: list[PackRecord] = []

        def flush(builder: PackBuilder) -> None:
            pack_id, data, entries = builder.finish(keys)
            repo._put(pack_key(pack_id), data)
            new_records.append(PackRecord(pack_id, len(data), entries))
            plan.packs_written.append(pack_id)

        builder = PackBuilder()
        for pack_id, todo in plan.packs_repack.items():
            data = repo._get(pack_key(pack_id))
            for e in todo:
                sealed = data[e.offset : e.offset + e.length]
                decode_blob(keys, e.blob_id, sealed, e.raw_length)  # never copy a damaged blob
                builder.add(e.blob_id, e.type, sealed, e.raw_length)
                if builder.size >= repo.pack_size:
                    flush(builder)
                    builder = PackBuilder()
        if len(builder):
            flush(builder)
        lock.check_held()
        write_index(repo, plan.keep_records + new_records)
        lock.check_held()
        kept_index: dict[str, datetime | None] = {}
        for name in sorted(plan.index_files):
            try:
                repo._delete(f"index/{name}")
            except ObjectLocked as exc:
                kept_index[name] = exc.until
                plan.kept_by_lock[f"index/{name}"] = exc.until
        doomed = plan.packs_delete + list(plan.packs_repack) + plan.packs_unindexed
        for _name, until, packs in _named_packs(repo, kept_index):
            for p in set(doomed) & packs:  # a kept index file must not name a deleted pack
                plan.kept_by_lock[pack_key(p)] = until
            doomed = [p for p in doomed if p not in packs]
        for exc in repo.store.delete_many([repo.prefix + pack_key(p) for p in doomed]):
            plan.kept_by_lock[exc.key.removeprefix(repo.prefix)] = exc.until
        if plan.kept_by_lock:
            log.info("prune: %d objects %s", len(plan.kept_by_lock), _kept_text(plan.kept_until))
        repo.refresh_index(full=True)
        return plan


def _named_packs(repo, index_files: dict[str, datetime | None]):
    """(name, retained until, {pack ids}) of each index file."""
    for name, packs in read_index_files(repo, list(index_files)):
        yield name, index_files[name], {p.id for p in packs}
