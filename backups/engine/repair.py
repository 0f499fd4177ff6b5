"""Repair and clean-up: index packs from their own headers, replace damaged index files, and
remove what dead runs left behind (stale locks, packs no index names, unfinished uploads).

A pack carries its own index (the sealed header at its end, docs/backup-format.md §3), so the
index files can always be rebuilt from the packs: ``adopt_packs`` reads the headers of the packs
no (readable) index file names -- the packs of a killed run, or those a damaged index file
named -- and adds them to the in-memory index; a backup session then writes an index file for
them, so the next run re-uses them instead of uploading their blobs again. ``repair_index`` does
that under an exclusive lock and deletes the damaged index files.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from infra.objectstore import ObjectLocked

from .errors import IntegrityError, PruneError
from .index import PackRecord, write_index
from .pack import header_span, pack_key, parse_pack_tail

log = logging.getLogger(__name__)
TAIL_GUESS = 64 * 1024  # one ranged GET holds the header of a pack of ~1,300 blobs


@dataclass
class RepairReport:
    index_files_damaged: list[str] = field(default_factory=list)  # names, with why below
    index_files_removed: list[str] = field(default_factory=list)
    index_files_written: list[str] = field(default_factory=list)
    packs_reindexed: list[str] = field(default_factory=list)
    packs_unreadable: dict[str, str] = field(default_factory=dict)  # pack -> why (header)
    kept_by_lock: dict[str, datetime | None] = field(default_factory=dict)

    def summary(self) -> dict:
        return {
            "index_files_damaged": len(self.index_files_damaged),
            "index_files_removed": len(self.index_files_removed),
            "packs_reindexed": len(self.packs_reindexed),
            "packs_unreadable": len(self.packs_unreadable),
        }


def read_pack_header(repo, pack_id: str, size: int) -> PackRecord:
    """The pack's record from its authenticated header (one or two ranged GETs)."""
    key = pack_key(pack_id)
    tail = repo._get_range(key, max(0, size - TAIL_GUESS), min(size, TAIL_GUESS))
    span = header_span(tail, size)
    if span > len(tail):
        tail = repo._get_range(key, size - span, span)
    if len(tail) < span:
        raise IntegrityError(f"pack {pack_id} is shorter than its listing says")
    return PackRecord(pack_id, size, parse_pack_tail(repo.keys, tail, size))


def unindexed_packs(repo, index) -> list[tuple[str, int, datetime | None]]:
    """(pack id, size, written at) of the packs on the store that ``index`` does not name."""
    known = index.packs()
    out = []
    for info in repo._list_info("packs/"):
        folder, _, pack_id = info.key.rpartition("/")
        if folder == pack_id[:2] and pack_id not in known:
            out.append((pack_id, info.size, info.modified))
    return out


def adopt_packs(repo, index=None) -> tuple[list[PackRecord], dict[str, str]]:
    """Read the headers of the packs ``index`` (default: the repository's) does not name and
    add them to it. Returns (their records, {pack: why} of those whose header is unreadable).
    Read-only: writing an index file for them is the caller's business."""
    index = repo.index if index is None else index
    todo = unindexed_packs(repo, index)
    if not todo:
        return [], {}

    def read(item):
        pack_id, size, _modified = item
        try:
            return read_pack_header(repo, pack_id, size), None
        except (IntegrityError, repo.not_found) as exc:
            return pack_id, f"{type(exc).__name__}: {exc}"

    records, bad = [], {}
    with ThreadPoolExecutor(max_workers=8) as pool:
        for result, why in pool.map(read, todo):
            if why is None:
                index.add_pack(result)
                records.append(result)
            else:
                bad[result] = why
                log.warning("pack %s of %s: header unreadable: %s", result, repo.prefix, why)
    if records:
        log.info("indexed %d packs of %s from their headers", len(records), repo.prefix)
    return records, bad


def repair_index(repo) -> RepairReport:
    """Under an exclusive lock: index every pack no readable index file names from its header,
    write an index file for them, then delete the damaged index files (whose packs are all
    covered again: a damaged file's packs that are gone from the store were lost already)."""
    report = RepairReport()
    with repo.lock(exclusive=True, purpose="repair index") as lock:
        index = repo.refresh_index(full=True)
        report.index_files_damaged = sorted(index.damaged)
        repo.adopt_unindexed()
        records = list(repo.adopted.values())
        report.packs_unreadable = dict(repo.unreadable_packs)
        report.packs_reindexed = [r.id for r in records]
        lock.check_held()
        if records:
            report.index_files_written = write_index(repo, records)
        for name in report.index_files_damaged:
            try:
                repo._delete(f"index/{name}")
            except ObjectLocked as exc:
                report.kept_by_lock[f"index/{name}"] = exc.until
            else:
                report.index_files_removed.append(name)
        repo.refresh_index(full=True)
    return report


@dataclass
class CleanReport:
    locks_removed: list[str] = field(default_factory=list)
    packs_deleted: list[str] = field(default_factory=list)
    packs_young: int = 0  # unindexed, but younger than the grace: maybe a live run's
    uploads_aborted: int = 0
    repair: RepairReport | None = None

    def summary(self) -> dict:
        return {
            "locks_removed": len(self.locks_removed),
            "packs_deleted": len(self.packs_deleted),
            "packs_young": self.packs_young,
            "uploads_aborted": self.uploads_aborted,
            **(self.repair.summary() if self.repair else {}),
        }


def clean(repo, orphan_grace: timedelta | None = None) -> CleanReport:
    """What dead runs leave behind, removed after a safe delay: stale locks (not refreshed for
    ``lock_stale_after``, or of a dead process on this host), multipart uploads older than the
    grace, and packs that no index file names and that were written more than ``orphan_grace``
    (default ``repo.orphan_grace``) ago -- a live run refreshes its lock well within that, so
    such a pack belongs to a run that is gone. Damaged index files are repaired first (their
    packs would look unindexed). Under an exclusive lock (RepositoryLocked if a run holds one)."""
    grace = repo.orphan_grace if orphan_grace is None else orphan_grace
    report = CleanReport(locks_removed=repo.remove_stale_locks())
    report.uploads_aborted = repo.store.abort_stale_uploads(repo.prefix, grace)
    repo.refresh_index(full=True)
    if repo.index.damaged:
        report.repair = repair_index(repo)
    with repo.lock(exclusive=True, purpose="clean") as lock:
        index = repo.refresh_index(full=True)
        if index.damaged:
            raise PruneError(f"damaged index files remain: {sorted(index.damaged)}")
        cutoff = repo.clock() - grace
        doomed = []
        for pack_id, _size, modified in unindexed_packs(repo, index):
            if modified is None or modified <= cutoff:
                doomed.append(pack_id)
            else:
                report.packs_young += 1
        lock.check_held()
        for exc in repo.store.delete_many([repo.prefix + pack_key(p) for p in doomed]):
            doomed.remove(exc.key.removeprefix(repo.prefix).rpartition("/")[2])
        report.packs_deleted = doomed
    return report
