"""Havn's backup repository engine: a library (no Django models) the ``backups`` app drives.

Format and rules: docs/backup-format.md. Entry points::

    repo = Repository(store, "customers/<uuid>/", RepoKeys.from_bytes(unwrapped)).open()
    with repo.backup({"kind": "webhotel", "id": 7, "name": "example.dk", "host": "web1"},
                     parent=previous) as session:
        session.add_dir(...); session.add_file(entry, stream); session.reuse_file(entry, old)
    snapshot = session.snapshot
"""

from .check import CheckReport, check
from .chunker import ChunkerParams
from .crypto import RepoKeys, blob_id, seal, unseal
from .errors import (
    BlobNotFound,
    EngineError,
    EntryNotFound,
    IntegrityError,
    LockLost,
    PruneError,
    RepositoryDamaged,
    RepositoryExists,
    RepositoryLocked,
    RepositoryNotFound,
    WrongKeys,
)
from .locks import Lock, LockInfo, list_locks, remove_stale_locks
from .prune import PrunePlan, forget, plan_prune, prune
from .repair import CleanReport, RepairReport, adopt_packs, clean, repair_index
from .repository import Repository
from .retention import keep
from .session import BackupSession
from .snapshot import Entry, Snapshot

__all__ = [
    "BackupSession",
    "CleanReport",
    "BlobNotFound",
    "CheckReport",
    "ChunkerParams",
    "EngineError",
    "Entry",
    "EntryNotFound",
    "IntegrityError",
    "Lock",
    "LockInfo",
    "LockLost",
    "PruneError",
    "PrunePlan",
    "RepairReport",
    "RepoKeys",
    "Repository",
    "RepositoryDamaged",
    "RepositoryExists",
    "RepositoryLocked",
    "RepositoryNotFound",
    "Snapshot",
    "WrongKeys",
    "adopt_packs",
    "blob_id",
    "check",
    "clean",
    "forget",
    "keep",
    "list_locks",
    "plan_prune",
    "prune",
    "remove_stale_locks",
    "repair_index",
    "seal",
    "unseal",
]
