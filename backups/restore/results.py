"""What a finished restore or archive reports, and progress reports at most twice a second."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass(frozen=True)
class RestoreResult:
    """A finished restore. ``verified``: what landed was read back and matched the snapshot
    (False only for a database loaded by its engine, which cannot be compared byte for byte)."""

    files: int
    bytes: int
    seconds: float
    verified: bool = True
    dirs: int = 0
    symlinks: int = 0


@dataclass(frozen=True)
class ArchiveResult:
    """A finished archive: ``bytes_written`` to ``out`` and their ``sha256``; ``bytes`` of file
    content inside; every file was read whole and authenticated (``verified``)."""

    files: int
    bytes: int
    bytes_written: int
    sha256: str
    seconds: float
    dirs: int = 0
    symlinks: int = 0
    verified: bool = True


class Progress:
    """Calls ``callback(done_bytes, total_bytes, files_done)`` at most every ``interval``
    seconds (and once more on ``finish()``)."""

    interval = 0.5

    def __init__(self, callback, total_bytes: int):
        self.callback, self.total = callback, total_bytes
        self.bytes = self.files = 0
        self._last = 0.0
        self._started = time.monotonic()

    def add(self, nbytes: int = 0, files: int = 0) -> None:
        self.bytes += nbytes
        self.files += files
        if self.callback is not None:
            now = time.monotonic()
            if now - self._last >= self.interval:
                self._last = now
                self.callback(self.bytes, self.total, self.files)

    def finish(self) -> None:
        if self.callback is not None:
            self.callback(self.bytes, self.total, self.files)

    @property
    def seconds(self) -> float:
        return round(time.monotonic() - self._started, 3)
