"""check: structural consistency, and on request re-reading and authenticating a share of packs."""

from __future__ import annotations

import hashlib
import math
import random
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from .crypto import blob_id
from .errors import EngineError, IntegrityError
from .index import PackRecord, decode_index, list_index_files
from .pack import decode_blob, header_size, pack_key, parse_pack
from .snapshot import parse_tree_lines

MAX_MISSING_PER_SNAPSHOT = 20


@dataclass
class CheckReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    snapshots_checked: int = 0
    index_files: int = 0
    packs_total: int = 0
    packs_checked: int = 0  # downloaded and verified
    blobs_checked: int = 0
    bytes_read: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def check(repo, read_data_percent: float = 0, *, seed: int | None = None) -> CheckReport:
    report = CheckReport()
    with repo.lock(exclusive=False, purpose="check"):
        snapshot_ids = repo.snapshot_ids()
        records = _check_index(repo, report)
        on_store = _check_packs(repo, records, report)
        repo = repo.view(records.values())  # read with exactly what the index files say
        for sid in snapshot_ids:
            _check_snapshot(repo, sid, report)
        if read_data_percent > 0:
            candidates = sorted(set(records) & set(on_store))
            n = min(len(candidates), math.ceil(len(candidates) * read_data_percent / 100))
            sample = random.Random(seed).sample(candidates, n)  # noqa: S311 -- not crypto
            with ThreadPoolExecutor(max_workers=4) as pool:
                for errors, blobs, size in pool.map(lambda p: _read_pack(repo, records[p]), sample):
                    report.errors += errors
                    report.blobs_checked += blobs
                    report.bytes_read += size
                    report.packs_checked += 1
    return report


def _check_index(repo, report: CheckReport) -> dict[str, PackRecord]:
    records: dict[str, PackRecord] = {}
    for name in list_index_files(repo):
        report.index_files += 1
        try:
            sealed = repo._get(f"index/{name}")
            if hashlib.sha256(sealed).hexdigest() != name:
                report.errors.append(f"index {name}: content does not match its name")
            packs = decode_index(repo.keys, sealed)
        except (EngineError, KeyError, ValueError, TypeError) as exc:
            report.errors.append(f"index {name}: unreadable ({exc})")
            continue
        for p in packs:
            have = records.get(p.id)
            if have is not None and (have.size, have.blobs) != (p.size, p.blobs):
                report.errors.append(f"pack {p.id}: index files disagree about it")
            records.setdefault(p.id, p)
    return records


def _check_packs(repo, records, report: CheckReport) -> dict[str, int]:
    on_store = {}
    for name, size in repo._list("packs/"):
        folder, _, pack_id = name.rpartition("/")
        if folder != pack_id[:2]:
            report.warnings.append(f"stray object packs/{name}")
            continue
        on_store[pack_id] = size
    report.packs_total = len(records)
    for pack_id, p in sorted(records.items()):
        size = on_store.get(pack_id)
        if size is None:
            report.errors.append(f"pack {pack_id}: missing (the index lists {len(p.blobs)} blobs)")
            continue
        expected = sum(e.length for e in p.blobs) + header_size(len(p.blobs))
        if size != p.size or size != expected:
            report.errors.append(
                f"pack {pack_id}: {size} bytes on the store, index says {p.size} ({expected})"
            )
        end = 0
        for e in sorted(p.blobs, key=lambda e: e.offset):
            if e.offset < end:
                report.errors.append(f"pack {pack_id}: blob {e.blob_id.hex()} overlaps another")
            end = e.offset + e.length
    for pack_id in sorted(set(on_store) - set(records)):
        report.warnings.append(f"pack {pack_id}: not indexed (prune removes it)")
    return on_store


def _check_snapshot(repo, sid: str, report: CheckReport) -> None:
    try:
        snap = repo.load_snapshot(sid)
    except (EngineError, KeyError, ValueError, TypeError) as exc:
        report.errors.append(f"snapshot {sid}: unreadable ({exc})")
        return
    report.snapshots_checked += 1
    absent = [t.hex() for t in snap.tree if t not in repo.index]
    if absent:
        report.errors.append(f"snapshot {sid}: tree blobs not indexed: {', '.join(absent[:5])}")
        return
    missing = 0
    try:
        for entry in parse_tree_lines(repo.read_blob(t) for t in snap.tree):
            for c in entry.content:
                if c not in repo.index:
                    missing += 1
                    if missing <= MAX_MISSING_PER_SNAPSHOT:
                        report.errors.append(
                            f"snapshot {sid}: {entry.path!r}: blob {c.hex()} not indexed"
                        )
    except (EngineError, KeyError, ValueError, TypeError) as exc:
        report.errors.append(f"snapshot {sid}: tree unreadable ({exc})")
    if missing > MAX_MISSING_PER_SNAPSHOT:
        report.errors.append(f"snapshot {sid}: {missing} blobs not indexed in all")


def _read_pack(repo, record: PackRecord) -> tuple[list[str], int, int]:
    errors: list[str] = []
    pid = record.id
    try:
        data = repo._get(pack_key(pid))
    except repo.not_found:
        return [f"pack {pid}: vanished while checking"], 0, 0
    if hashlib.sha256(data).hexdigest() != pid:
        errors.append(f"pack {pid}: SHA-256 does not match its name (damaged)")
    try:
        entries = parse_pack(repo.keys, data)
    except IntegrityError as exc:
        return errors + [f"pack {pid}: header: {exc}"], 0, len(data)
    if sorted(entries, key=lambda e: e.offset) != sorted(record.blobs, key=lambda e: e.offset):
        errors.append(f"pack {pid}: header and index disagree")
    checked = 0
    for e in entries:
        try:
            plain = decode_blob(repo.keys, e.blob_id, data[e.offset : e.offset + e.length])
            if len(plain) != e.raw_length or blob_id(repo.keys, plain) != e.blob_id:
                errors.append(f"pack {pid}: blob {e.blob_id.hex()}: content does not match its id")
        except IntegrityError as exc:
            errors.append(f"pack {pid}: blob {e.blob_id.hex()}: {exc}")
        checked += 1
    return errors, checked, len(data)
