"""Repository locks: ``locks/<sha256 of the object>``, sealed JSON (aad ``havn-lock``).

Shared locks (backup, check, forget) coexist; an exclusive lock (prune) excludes every other lock.
A lock is stale when it was not refreshed for ``stale_after`` (30 minutes by default) or when it
names this host and a process id that no longer runs. Object stores offer no compare-and-swap, so
acquiring is: list locks -> refuse on conflict -> write ours -> wait ``settle`` -> list again ->
if a conflicting lock appeared, delete ours and refuse (both contenders may back off; nobody
proceeds wrongly as long as a listing issued after a PUT completed shows that object, which S3 and
the local store guarantee). See docs/backup-format.md for the remaining race windows.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from .errors import IntegrityError, LockLost, RepositoryLocked
from .pack import object_id, seal_json, unseal_json
from .snapshot import parse_time, utc_iso

LOCK_AAD = b"havn-lock"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockInfo:
    id: str
    exclusive: bool
    hostname: str
    pid: int
    created: datetime
    refreshed: datetime
    purpose: str = ""

    def to_json(self) -> dict:
        return {
            "version": 1,
            "exclusive": self.exclusive,
            "hostname": self.hostname,
            "pid": self.pid,
            "created": utc_iso(self.created),
            "refreshed": utc_iso(self.refreshed),
            "purpose": self.purpose,
        }

    def is_stale(self, now: datetime, stale_after: timedelta, hostname: str) -> bool:
        if now - self.refreshed > stale_after:
            return True
        return self.hostname == hostname and not _pid_alive(self.pid)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def list_locks(repo) -> tuple[list[LockInfo], list[str]]:
    """All readable locks, and the ids of locks that could not be read (ignored, never honoured)."""
    locks, bad = [], []
    for name, _size in repo._list("locks/"):
        try:
            obj = unseal_json(repo.keys, repo._get(f"locks/{name}"), LOCK_AAD)
            locks.append(
                LockInfo(
                    id=name,
                    exclusive=bool(obj["exclusive"]),
                    hostname=obj["hostname"],
                    pid=int(obj["pid"]),
                    created=parse_time(obj["created"]),
                    refreshed=parse_time(obj["refreshed"]),
                    purpose=obj.get("purpose", ""),
                )
            )
        except repo.not_found:
            continue  # removed between list and get
        except (IntegrityError, KeyError, ValueError, TypeError):
            bad.append(name)
    return locks, bad


def remove_stale_locks(repo) -> list[str]:
    """Delete stale and unreadable locks; returns their ids."""
    now = repo.clock()
    locks, bad = list_locks(repo)
    gone = [lk.id for lk in locks if lk.is_stale(now, repo.lock_stale_after, repo.hostname)]
    gone += bad
    for name in gone:
        repo._delete(f"locks/{name}")
    return gone


class Lock:
    """A held lock; refreshes itself in a daemon thread until released (a context manager)."""

    def __init__(self, repo, exclusive: bool, purpose: str = ""):
        self.repo = repo
        self.exclusive = exclusive
        self.purpose = purpose
        self.id: str | None = None
        self.created: datetime | None = None
        self.last_refresh = 0.0  # monotonic time of the last successful write
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._settling: threading.Thread | None = None
        self._settle_error: RepositoryLocked | None = None
        self._mutex = threading.Lock()

    def _conflicts(self, ours: set[str]) -> list[LockInfo]:
        repo = self.repo
        now = repo.clock()
        locks, _bad = list_locks(repo)
        return [
            lk
            for lk in locks
            if lk.id not in ours
            and (self.exclusive or lk.exclusive)
            and not lk.is_stale(now, repo.lock_stale_after, repo.hostname)
        ]

    def _write(self) -> str:
        repo = self.repo
        now = repo.clock()
        info = LockInfo(
            "", self.exclusive, repo.hostname, os.getpid(), self.created or now, now, self.purpose
        )
        sealed = seal_json(repo.keys, info.to_json(), LOCK_AAD)
        name = object_id(sealed)
        repo._put(f"locks/{name}", sealed)
        self.created = info.created
        self.last_refresh = time.monotonic()
        return name

    def acquire(self, settle_in_background: bool = False) -> Lock:
        """List, write ours, settle, list again (see the module's docstring). With
        ``settle_in_background`` the settle wait and second listing run in a thread and the
        caller may do read-only work meanwhile: it must call ``confirm()`` before it writes."""
        conflicts = self._conflicts(set())
        if conflicts:
            raise _refusal(conflicts)
        self.id = self._write()
        if settle_in_background:
            self._settling = threading.Thread(
                target=self._settle_quietly, name="havn-lock-settle", daemon=True
            )
            self._settling.start()
        else:
            self._settle()
        self._thread = threading.Thread(target=self._refresher, name="havn-lock", daemon=True)
        self._thread.start()
        return self

    def _settle(self) -> None:
        if self.repo.lock_settle:
            time.sleep(self.repo.lock_settle)
        conflicts = self._conflicts({self.id})
        if conflicts:
            with self._mutex:
                self.repo._delete(f"locks/{self.id}")
                self.id = None
            raise _refusal(conflicts)

    def _settle_quietly(self) -> None:
        try:
            self._settle()
        except RepositoryLocked as exc:
            self._settle_error = exc
        except Exception as exc:  # the store failed: not confirmed, so nothing may be written
            self._settle_error = RepositoryLocked(f"could not confirm the lock: {exc!r}")

    def confirm(self) -> None:
        """Wait for a background settle; raise RepositoryLocked if the lock was withdrawn."""
        if self._settling is not None:
            self._settling.join()
        if self._settle_error is not None:
            raise self._settle_error

    def refresh(self) -> None:
        """Write a fresh lock object, then delete the previous one."""
        with self._mutex:
            if self.id is None:
                return
            old = self.id
            self.id = self._write()
            self.repo._delete(f"locks/{old}")

    def _refresher(self) -> None:
        interval = self.repo.lock_refresh_interval.total_seconds()
        while not self._stop.wait(interval):
            try:
                self.refresh()
            except Exception:  # keep trying; check_held() decides whether we may still commit
                log.exception("refreshing repository lock failed")

    def check_held(self) -> None:
        """Raise LockLost unless our lock is fresh and still on the store."""
        if self.id is None:
            raise LockLost("lock not held")
        age = time.monotonic() - self.last_refresh
        margin = self.repo.lock_stale_after.total_seconds() - 60
        if age > margin or self.repo._stat(f"locks/{self.id}") is None:
            raise LockLost(f"lock {self.id[:12]} went stale or was removed; not committing")

    def release(self) -> None:
        self._stop.set()
        if self._settling is not None:
            self._settling.join()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)
        with self._mutex:
            if self.id is not None:
                with contextlib.suppress(Exception):
                    self.repo._delete(f"locks/{self.id}")
                self.id = None

    def __enter__(self) -> Lock:
        return self.acquire() if self.id is None else self

    def __exit__(self, *exc) -> None:
        self.release()


def _refusal(conflicts: list[LockInfo]) -> RepositoryLocked:
    who = ", ".join(
        f"{'exclusive' if c.exclusive else 'shared'} lock {c.id[:12]} by "
        f"{c.hostname} pid {c.pid} ({c.purpose}) since {utc_iso(c.created)}"
        for c in conflicts
    )
    return RepositoryLocked(f"repository is locked: {who}")


def lock_repository(repo, exclusive: bool, purpose: str = "") -> Lock:
    return Lock(repo, exclusive, purpose).acquire()


def default_hostname() -> str:
    return socket.gethostname()
