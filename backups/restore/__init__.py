"""The restore engine: moves the bytes of a snapshot back onto a server (``tar --extract`` over
SSH, or locally), into a database, or into a downloadable archive. A library with no models;
the restore orders (quotes, invoices, tasks) drive it. docs/restore.md.

Every function takes an opened ``backups.engine.Repository``. Opening one for a customer whose
keys were destroyed raises ``backups.services.repositories.KeysDestroyed`` before any of this
runs: that is the "keys are gone" error callers show.

    repo = open_repository(customer)
    snapshot = repo.load_snapshot(snapshot_id)
    entries = select_entries(repo, snapshot, ["public_html/images"])
    result = restore_to_server(repo, snapshot, entries, target=ssh_target(server),
                               dest_root="/var/www/alfa", same_owner=True)
"""

from .archive import FORMATS, build_archive
from .dump import load_command, restore_dump
from .errors import (
    NotEnoughRoom,
    RestoreCancelled,
    RestoreError,
    RestoreFailed,
    RestorePathNotFound,
    RestoreSourceDamaged,
    RestoreVerificationFailed,
    RestoreWriteFailed,
    UnsafePath,
)
from .results import ArchiveResult, RestoreResult
from .selection import select_entries
from .server import restore_to_server

__all__ = [
    "FORMATS",
    "ArchiveResult",
    "NotEnoughRoom",
    "RestoreCancelled",
    "RestoreError",
    "RestoreFailed",
    "RestorePathNotFound",
    "RestoreResult",
    "RestoreSourceDamaged",
    "RestoreVerificationFailed",
    "RestoreWriteFailed",
    "UnsafePath",
    "build_archive",
    "load_command",
    "restore_dump",
    "restore_to_server",
    "select_entries",
]
