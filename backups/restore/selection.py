"""Which entries a restore writes, and the rule that keeps every one of them inside the
destination root (checked before anything is written)."""

from __future__ import annotations

from collections import deque
from dataclasses import replace

from django.utils.translation import gettext as _

from backups.engine import BlobNotFound, Entry, IntegrityError

from .errors import RestorePathNotFound, RestoreSourceDamaged, UnsafePath

MAX_LINK_HOPS = 40  # as the kernel's limit on following symbolic links


def normalize(path: str) -> str:
    """``"/public_html/img/"`` -> ``"public_html/img"``; the root (``""``, ``"/"``) -> ``""``."""
    parts = [p for p in path.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafePath(path, _("the path contains “..”"))
    return "/".join(parts)


def _ancestors(path: str):
    parts = path.split("/")
    for i in range(1, len(parts)):
        yield "/".join(parts[:i])


def read_tree(repo, snapshot) -> list[Entry]:
    try:
        return list(repo.iter_tree(snapshot))
    except (BlobNotFound, IntegrityError) as exc:
        raise RestoreSourceDamaged(snapshot.id, None, str(exc)) from exc


def select_entries(repo, snapshot, paths: list[str] | None = None) -> list[Entry]:
    """The whole tree (``paths`` None), or the given files and folders (a folder brings
    everything below it), with the folders above them, in tree order. The folders above make
    tar replace a symbolic link planted on the destination instead of writing through it.

    Raises RestorePathNotFound naming the paths that are not in the snapshot, and
    RestoreSourceDamaged when the snapshot's file list cannot be read."""
    tree = read_tree(repo, snapshot)
    wanted = None if paths is None else {normalize(p) for p in paths}
    if wanted is None or "" in wanted:
        return tree
    present = {e.path for e in tree}
    missing = sorted(p for p in wanted if p not in present)
    if missing:
        raise RestorePathNotFound(missing, snapshot.id)
    above = {a for p in wanted for a in _ancestors(p)}
    return [
        e
        for e in tree
        if e.path in wanted or e.path in above or any(a in wanted for a in _ancestors(e.path))
    ]


def _escapes(path: str, target: str, links: dict[str, str]) -> bool:
    """Whether the link at ``path`` resolves outside the root, following the links being
    restored with it (``links``: path -> target). Components that are not links count as
    folders. A loop counts as escaping."""
    if target.startswith("/"):
        return True
    stack = path.split("/")[:-1]
    pending = deque(target.split("/"))
    hops = 0
    while pending:
        part = pending.popleft()
        if part in ("", "."):
            continue
        if part == "..":
            if not stack:
                return True
            stack.pop()
            continue
        stack.append(part)
        link = links.get("/".join(stack))
        if link is not None:
            hops += 1
            if hops > MAX_LINK_HOPS or link.startswith("/"):
                return True
            stack.pop()
            pending.extendleft(reversed(link.split("/")))
    return False


def check_paths(entries: list[Entry]) -> None:
    """Refuse (UnsafePath) any entry that would land outside the root: an absolute path, an
    empty, ``.`` or ``..`` component, a NUL, a path below a link being restored, or a link
    whose target leads out of the root (absolute, or through ``..`` and other links)."""
    links = {e.path: e.target or "" for e in entries if e.type == "symlink"}
    for e in entries:
        path = e.path
        if not isinstance(path, str) or not path or "\x00" in path:
            raise UnsafePath(str(path), _("the path is empty or contains a NUL byte"))
        if path.startswith("/"):
            raise UnsafePath(path, _("the path is absolute"))
        if any(part in ("", ".", "..") for part in path.split("/")):
            raise UnsafePath(path, _("the path contains “..”, “.” or an empty name"))
        if e.type not in ("file", "dir", "symlink"):
            raise UnsafePath(path, _("unknown entry type %(type)s") % {"type": e.type})
        if any(a in links for a in _ancestors(path)):
            raise UnsafePath(path, _("it lies below a symbolic link"))
        if e.type == "symlink":
            target = e.target or ""
            if not target or "\x00" in target:
                raise UnsafePath(path, _("the link has no target"))
            if _escapes(path, target, links):
                raise UnsafePath(path, _("the link points outside the restore"))


def with_ancestors(entries: list[Entry]) -> list[Entry]:
    """The entries sorted parents first, plus a folder (0755, the child's owner and time) for
    every ancestor missing from them, so that each parent travels in the stream."""
    by_path = {e.path: e for e in entries}
    for e in list(by_path.values()):
        for a in _ancestors(e.path):
            if a not in by_path:
                by_path[a] = Entry(
                    path=a, type="dir", mode=0o755, uid=e.uid, gid=e.gid, size=0, mtime=e.mtime
                )
    return sorted(by_path.values(), key=lambda e: e.path.split("/"))


def prepared(entries: list[Entry]) -> list[Entry]:
    """Checked (check_paths), completed (with_ancestors) copies of the caller's entries."""
    entries = [replace(e) for e in entries]
    check_paths(entries)
    return with_ancestors(entries)
