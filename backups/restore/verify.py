"""Reading back what a restore wrote: one command on the destination ``lstat``s every restored
path (NUL-separated names on its stdin) and hashes every regular file with SHA-256; the result
is compared with the snapshot and with the digests taken while streaming."""

from __future__ import annotations

from django.utils.translation import gettext as _

from backups.engine import Entry

from . import tarstream
from .commands import records, tail
from .errors import RestoreFailed, RestoreVerificationFailed

ENCODING = "utf-8"

# Python 3 is on every hosting server (the Havn agent runs on it). Per name, 7 NUL-terminated
# fields: kind (f, d, l, o; ! when missing), mode (octal), uid, gid, size, mtime in ns, and the
# SHA-256 of a file or the target of a link (or the error).
SCRIPT = r"""
import hashlib, os, stat, sys
os.chdir(sys.argv[1])
out = sys.stdout.buffer
for name in sys.stdin.buffer.read().split(b"\0")[:-1]:
    try:
        st = os.lstat(name)
        kind, extra = b"o", b""
        if stat.S_ISREG(st.st_mode):
            kind, digest = b"f", hashlib.sha256()
            with os.fdopen(os.open(name, os.O_RDONLY | os.O_NOFOLLOW), "rb", 0) as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            extra = digest.hexdigest().encode()
        elif stat.S_ISDIR(st.st_mode):
            kind = b"d"
        elif stat.S_ISLNK(st.st_mode):
            kind, extra = b"l", os.readlink(name)
        fields = [kind, b"%o" % stat.S_IMODE(st.st_mode), b"%d" % st.st_uid, b"%d" % st.st_gid,
                  b"%d" % st.st_size, b"%d" % st.st_mtime_ns, extra]
    except OSError as exc:
        fields = [b"!", b"", b"", b"", b"", b"", str(exc.strerror).encode()]
    out.write(b"\0".join(fields) + b"\0")
"""
KINDS = {"file": b"f", "dir": b"d", "symlink": b"l"}


def _names(entries: list[Entry]):
    batch = bytearray()
    for e in entries:
        batch += e.path.encode(ENCODING, "surrogateescape") + b"\0"
        if len(batch) >= 65536:
            yield bytes(batch)
            batch = bytearray()
    if batch:
        yield bytes(batch)


def _problems(entry: Entry, fields: list[bytes], digest, same_owner: bool) -> list[str]:
    kind, mode, uid, gid, size, mtime, extra = fields
    if kind == b"!":
        return [_("missing (%(error)s)") % {"error": extra.decode(errors="replace")}]
    if kind != KINDS[entry.type]:
        return [_("is not a %(type)s") % {"type": entry.type}]
    problems = []
    if entry.type == "file":
        if int(size) != entry.size:
            problems.append(
                _("size %(size)s, not %(expected)d")
                % {"size": size.decode(), "expected": entry.size}
            )
        elif digest is None or extra.decode() != digest[1]:
            problems.append(_("content differs"))
    if entry.type == "symlink" and extra != entry.target.encode(ENCODING, "surrogateescape"):
        problems.append(_("link target differs"))
    if entry.type != "symlink" and int(mode, 8) != tarstream.restored_mode(entry, same_owner):
        problems.append(
            _("mode %(mode)s, not %(expected)o")
            % {"mode": mode.decode(), "expected": tarstream.restored_mode(entry, same_owner)}
        )
    if int(mtime) != entry.mtime:
        problems.append(_("modification time differs"))
    if same_owner and (int(uid), int(gid)) != (entry.uid, entry.gid):
        problems.append(
            _("owner %(uid)s:%(gid)s, not %(euid)d:%(egid)d")
            % {"uid": uid.decode(), "gid": gid.decode(), "euid": entry.uid, "egid": entry.gid}
        )
    return problems


def verify(runner, dest_root: str, entries: list[Entry], digests: dict, same_owner: bool):
    """Raise RestoreVerificationFailed listing every path that differs from the snapshot."""
    where = f"{runner.where}:{dest_root}"
    command = runner.start(["python3", "-c", SCRIPT, dest_root], stdin=_names(entries))
    mismatches: list[tuple[str, str]] = []
    checked = 0
    try:
        try:
            for entry, fields in zip(entries, records(command.read, 7), strict=False):
                checked += 1
                for problem in _problems(entry, fields, digests.get(entry.path), same_owner):
                    mismatches.append((entry.path, problem))
        except ValueError:  # output cut off in the middle of a record, or garbled
            checked = -1
        while command.read(65536):  # whatever is left, so that the command can exit
            pass
        status, stderr = command.wait()
    finally:
        command.close()
    if status != 0 or checked != len(entries):
        raise RestoreFailed(where, _("Reading the restored files back"), tail(stderr))
    if mismatches:
        raise RestoreVerificationFailed(where, mismatches)
