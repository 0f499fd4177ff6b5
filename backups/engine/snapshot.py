"""File entries, trees and snapshot objects.

A tree is the JSON-lines serialization of a snapshot's entries, cut by content-defined chunking into
``tree`` blobs (so the unchanged parts of a tree dedup from night to night). A snapshot object
``snapshots/<sha256 of the object>`` (sealed JSON, aad ``havn-snapshot``) names the tree blobs.
"""

from __future__ import annotations

import base64
import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .pack import object_id, seal_json, unseal_json

SNAPSHOT_AAD = b"havn-snapshot"
ENTRY_TYPES = ("file", "dir", "symlink")
SOURCE_KINDS = ("webhotel", "database", "mailbox", "server")


def _name_to_json(obj: dict, key: str, value) -> None:
    """Names are UTF-8 strings; names that are not valid UTF-8 go base64 in ``<key>_b64``."""
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            value.encode("utf-8")
            obj[key] = value
            return
        except UnicodeEncodeError:  # lone surrogates from os.fsdecode of non-UTF-8 bytes
            raw = os.fsencode(value)
    try:
        obj[key] = raw.decode("utf-8")
    except UnicodeDecodeError:
        obj[key + "_b64"] = base64.b64encode(raw).decode("ascii")


def _name_from_json(obj: dict, key: str) -> str | None:
    if key in obj:
        return obj[key]
    if key + "_b64" in obj:
        return os.fsdecode(base64.b64decode(obj[key + "_b64"]))
    return None


@dataclass(slots=True)
class Entry:
    """One tree entry. ``path`` is relative to the source root; ``mtime`` in nanoseconds."""

    path: str
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    size: int | None = 0
    mtime: int = 0
    inode: int = 0
    target: str | None = None
    content: list[bytes] = field(default_factory=list)

    def to_json(self) -> dict:
        obj: dict = {}
        _name_to_json(obj, "path", self.path)
        obj.update(
            type=self.type,
            mode=self.mode,
            uid=self.uid,
            gid=self.gid,
            size=self.size,
            mtime=self.mtime,
            inode=self.inode,
        )
        if self.target is not None:
            _name_to_json(obj, "target", self.target)
        if self.type == "file":
            obj["content"] = [c.hex() for c in self.content]
        return obj

    def to_line(self) -> bytes:
        line = json.dumps(self.to_json(), separators=(",", ":"), ensure_ascii=False)
        return line.encode() + b"\n"

    @classmethod
    def from_json(cls, obj: dict) -> Entry:
        return cls(
            path=_name_from_json(obj, "path"),
            type=obj["type"],
            mode=obj.get("mode", 0),
            uid=obj.get("uid", 0),
            gid=obj.get("gid", 0),
            size=obj.get("size", 0),
            mtime=obj.get("mtime", 0),
            inode=obj.get("inode", 0),
            target=_name_from_json(obj, "target"),
            content=[bytes.fromhex(c) for c in obj.get("content", ())],
        )

    @classmethod
    def coerce(cls, entry, type_: str) -> Entry:
        """Accept an Entry or a dict of its fields; check the type and the relative path."""
        if isinstance(entry, dict):
            entry = cls(**{"type": type_, **entry})
        else:
            entry = cls(**{f: getattr(entry, f) for f in cls.__slots__})
        if entry.type != type_:
            raise ValueError(f"{entry.path!r}: expected a {type_} entry, got {entry.type}")
        path = entry.path
        if isinstance(path, bytes):
            entry.path = path = os.fsdecode(path)
        if isinstance(entry.target, bytes):
            entry.target = os.fsdecode(entry.target)
        if not path or path.startswith("/") or "\x00" in path:
            raise ValueError(f"entry path must be relative and non-empty: {path!r}")
        return entry


def parse_tree_lines(chunks):
    """Yield entries from an iterator of tree blob plaintexts (lines may span blobs)."""
    rest = b""
    for data in chunks:
        lines = (rest + data).split(b"\n")
        rest = lines.pop()
        for line in lines:
            if line:
                yield Entry.from_json(json.loads(line))
    if rest.strip():
        yield Entry.from_json(json.loads(rest))


def utc_iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


@dataclass
class Snapshot:
    id: str
    time: datetime
    source: dict
    tree: list[bytes]
    parent: str | None = None
    summary: dict = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return bool(self.summary.get("complete", False))

    def to_json(self) -> dict:
        return {
            "version": 1,
            "time": utc_iso(self.time),
            "source": self.source,
            "tree": [t.hex() for t in self.tree],
            "parent": self.parent,
            "summary": self.summary,
            "tags": list(self.tags),
        }

    @classmethod
    def from_json(cls, id_: str, obj: dict) -> Snapshot:
        return cls(
            id=id_,
            time=parse_time(obj["time"]),
            source=obj["source"],
            tree=[bytes.fromhex(t) for t in obj["tree"]],
            parent=obj.get("parent"),
            summary=obj.get("summary", {}),
            tags=obj.get("tags", []),
        )


def encode_snapshot(keys, snap: Snapshot) -> tuple[str, bytes]:
    sealed = seal_json(keys, snap.to_json(), SNAPSHOT_AAD)
    return object_id(sealed), sealed


def decode_snapshot(keys, id_: str, sealed: bytes) -> Snapshot:
    return Snapshot.from_json(id_, unseal_json(keys, sealed, SNAPSHOT_AAD))
