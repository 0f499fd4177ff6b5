"""What the restore engine raises on purpose. Messages are for people (they reach the panel):
they name the path, the snapshot and what to do; the attributes carry the same facts for code."""

from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _


def shown(path: str) -> str:
    """A path fit for a message: bytes that are not UTF-8 appear as ``\\xNN``."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


class RestoreError(Exception):
    """Base class of every error the restore engine raises on purpose."""


class RestorePathNotFound(RestoreError):
    """A path asked for is not in the snapshot (``paths``: every one that is not)."""

    def __init__(self, paths: list[str], snapshot_id: str):
        self.paths, self.snapshot_id = paths, snapshot_id
        message = _("“%(path)s” is not in snapshot %(snapshot)s.") % {
            "path": shown(paths[0]),
            "snapshot": snapshot_id[:12],
        }
        if len(paths) > 1:
            message += " " + _("%(count)d more paths are not in it either.") % {
                "count": len(paths) - 1
            }
        super().__init__(message)


class UnsafePath(RestoreError):
    """An entry would be written outside the destination root; nothing was written."""

    def __init__(self, path: str, reason: str):
        self.path, self.reason = path, reason
        super().__init__(
            _("Refusing to restore “%(path)s”: %(reason)s. Nothing was written.")
            % {"path": shown(path), "reason": reason}
        )


class NotEnoughRoom(RestoreError):
    """The destination has less free space than the restore needs; nothing was written."""

    def __init__(self, where: str, needed: int, available: int):
        self.where, self.needed, self.available = where, needed, available
        super().__init__(
            _(
                "Not enough room on %(where)s: the restore needs %(needed)s, %(available)s are "
                "free. Nothing was written; free some space and try again."
            )
            % {
                "where": shown(where),
                "needed": filesizeformat(needed),
                "available": filesizeformat(available),
            }
        )


class RestoreSourceDamaged(RestoreError):
    """The snapshot's objects are missing or corrupt (``path``: the first file affected, None
    for the snapshot's file list). Raised before writing when the damage can be seen without
    reading the content (missing or truncated objects); otherwise before the damaged file is
    written, after the files before it were restored whole."""

    def __init__(self, snapshot_id: str, path: str | None, detail: str, files_done: int = 0):
        self.snapshot_id, self.path, self.detail = snapshot_id, path, detail
        self.files_done = files_done
        where = _("its file list") if path is None else _("“%(path)s”") % {"path": shown(path)}
        message = _("Snapshot %(snapshot)s is damaged at %(where)s (%(detail)s).") % {
            "snapshot": snapshot_id[:12],
            "where": where,
            "detail": detail,
        }
        if files_done:
            message += " " + _(
                "The %(count)d files before it were restored whole; that file and the rest "
                "were not."
            ) % {"count": files_done}
        else:
            message += " " + _("Nothing was written.")
        super().__init__(message)


class RestoreWriteFailed(RestoreError):
    """The destination refused a write (disk full, quota, a folder in the way); the stream
    was stopped. ``paths``: the files tar reported, first one first."""

    def __init__(self, where: str, paths: list[str], detail: str, files_done: int):
        self.where, self.paths, self.detail, self.files_done = where, paths, detail, files_done
        first = shown(paths[0]) if paths else "?"
        super().__init__(
            _(
                "Writing “%(path)s” on %(where)s failed: %(detail)s. The restore stopped "
                "after sending %(count)d files."
            )
            % {"path": first, "where": shown(where), "detail": detail, "count": files_done}
        )


class RestoreFailed(RestoreError):
    """A command on the destination failed for another reason (``detail``: its error output)."""

    def __init__(self, where: str, what: str, detail: str):
        self.where, self.what, self.detail = where, what, detail
        super().__init__(
            _("%(what)s failed on %(where)s: %(detail)s")
            % {"what": what, "where": shown(where), "detail": detail}
        )


class RestoreCancelled(RestoreError):
    """``cancelled()`` said stop; the stream was ended between two files."""

    def __init__(self, files_done: int, bytes_done: int):
        self.files_done, self.bytes_done = files_done, bytes_done
        super().__init__(
            _("The restore was cancelled after %(count)d files (%(size)s).")
            % {"count": files_done, "size": filesizeformat(bytes_done)}
        )


class RestoreVerificationFailed(RestoreError):
    """What landed differs from the snapshot. ``mismatches``: (path, what differs)."""

    def __init__(self, where: str, mismatches: list[tuple[str, str]]):
        self.where, self.mismatches = where, mismatches
        listed = "; ".join(f"{shown(path)}: {problem}" for path, problem in mismatches[:10])
        more = len(mismatches) - 10
        message = _("%(count)d restored paths on %(where)s differ from the snapshot: %(list)s") % {
            "count": len(mismatches),
            "where": shown(where),
            "list": listed,
        }
        if more > 0:
            message += " " + _("(and %(count)d more)") % {"count": more}
        super().__init__(message)
