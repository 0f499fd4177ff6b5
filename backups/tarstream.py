"""A lean reader for the tar stream a backup asks for: ``tar --create --format=gnu``.

``tarfile`` costs more CPU per member than everything else a small file needs (three buffering
layers, a field parser per header field), and the backup reads it in the one thread that feeds the
whole pipeline. This reader handles what GNU tar emits for a list of regular files: 512-byte
ustar/GNU headers (octal or base-256 numbers, the ustar name prefix), GNU long names (``L``) and
long link names (``K``), and pax extended headers (``x``: path, size, mtime) in case a tar writes
them. Members of other types (a file that became a directory, a symlink or a FIFO after the
listing) are returned with their type so the caller can skip them. Sparse members (``S``), volume
labels, multi-volume continuations and global pax headers are refused with ``TarError``: they are
never produced for the files a backup names, and their data layout differs.

Content is read with ``read(n)`` / ``readinto(buf)`` straight from the command's stdout; the
caller must read (or ``skip``) a member before asking for the next one.
"""

from __future__ import annotations

BLOCK = 512
REGULAR = frozenset(b"0\x007")  # regular file (old style NUL), contiguous file
_REFUSED = {
    ord("S"): "a GNU sparse file",
    ord("V"): "a volume label",
    ord("M"): "a multi-volume continuation",
    ord("g"): "a global pax header",
}
_GNU_MAGIC = b"ustar  \x00"
_USTAR_MAGIC = b"ustar\x0000"
_ZERO_BLOCK = bytes(BLOCK)


class TarError(Exception):
    """The stream is not the tar we asked for: cut off, damaged, or a member type we refuse."""


def _number(field: bytes) -> int:
    """A header number: octal ASCII (NUL/space padded) or GNU base-256 (first byte 0x80/0xff)."""
    if field and field[0] & 0x80:
        value = int.from_bytes(field[1:], "big")
        if field[0] == 0xFF:  # negative (a time before 1970)
            value -= 1 << (8 * (len(field) - 1))
        return value
    text = field.split(b"\x00", 1)[0].strip()
    try:
        return int(text, 8) if text else 0
    except ValueError:
        raise TarError(f"bad number {field!r} in a tar header") from None


def _cstring(field: bytes) -> bytes:
    return field.split(b"\x00", 1)[0]


class TarMember:
    """One member: ``name`` (bytes), ``type`` (the typeflag byte), ``size``, ``mtime``."""

    __slots__ = ("name", "type", "size", "mtime")

    def __init__(self, name: bytes, type_: int, size: int, mtime: int):
        self.name, self.type, self.size, self.mtime = name, type_, size, mtime

    def isreg(self) -> bool:
        return self.type in REGULAR

    def __repr__(self) -> str:
        return f"TarMember({self.name!r}, {chr(self.type)!r}, size={self.size})"


class TarReader:
    """Members of a tar stream read by ``read(n)`` (short reads are fine; b"" at the end)."""

    def __init__(self, read, bufsize: int = 256 * 1024):
        self._read = read
        self._bufsize = bufsize
        self._buf = b""
        self._pos = 0
        self._left = 0  # content bytes of the current member not read yet
        self._pad = 0  # padding after the current member's content
        self.received = 0  # bytes read from the stream so far

    # -- buffered input --

    def _more(self) -> bool:
        data = self._read(self._bufsize)
        if not data:
            return False
        self.received += len(data)
        rest = self._buf[self._pos :]
        self._buf, self._pos = (rest + data if rest else data), 0
        return True

    def _take(self, n: int) -> bytes:
        """Exactly n bytes (n <= a few blocks), or TarError if the stream ends first."""
        while len(self._buf) - self._pos < n:
            if not self._more():
                raise TarError("the tar stream ended in the middle of a member")
        start = self._pos
        self._pos += n
        return self._buf[start : self._pos]

    def _discard(self, n: int) -> None:
        while n:
            have = len(self._buf) - self._pos
            if not have and not self._more():
                raise TarError("the tar stream ended in the middle of a member")
            step = min(n, len(self._buf) - self._pos)
            self._pos += step
            n -= step

    # -- members --

    def next(self) -> TarMember | None:
        """The next member, or None at the end of the archive (the first zero block)."""
        if self._left or self._pad:
            self.skip()
        long_name = long_size = long_mtime = None
        while True:
            if self._pos == len(self._buf) and not self._more():
                if self.received == 0:
                    return None  # no output at all: the command's exit status tells why
                raise TarError("the tar stream ended without its end-of-archive blocks")
            header = self._take(BLOCK)
            if header == _ZERO_BLOCK:
                return None
            self._check(header)
            type_ = header[156]
            size = _number(header[124:136])
            if type_ in _REFUSED:
                raise TarError(f"tar sent {_REFUSED[type_]} ({_cstring(header[:100])!r})")
            if type_ in (ord("L"), ord("K"), ord("x")):
                data = _cstring(self._take(size)) if type_ != ord("x") else self._take(size)
                self._discard(-size % BLOCK)
                if type_ == ord("L"):
                    long_name = data
                elif type_ == ord("x"):
                    fields = _pax_records(data)
                    long_name = fields.get(b"path", long_name)
                    if b"size" in fields:
                        long_size = int(fields[b"size"])
                    if b"mtime" in fields:
                        long_mtime = int(float(fields[b"mtime"]))
                continue  # K: a long link target, which a backup does not use
            name = long_name if long_name is not None else self._name(header)
            if long_size is not None:
                size = long_size
            mtime = long_mtime if long_mtime is not None else _number(header[136:148])
            if type_ == ord("5") or (type_ in REGULAR and name.endswith(b"/")):
                type_, name = ord("5"), name.rstrip(b"/")
            has_data = type_ in REGULAR or type_ not in b"123456"
            self._left = size if has_data else 0
            self._pad = -self._left % BLOCK
            return TarMember(name, type_, size, mtime)

    @staticmethod
    def _check(header: bytes) -> None:
        stored = _number(header[148:156])
        actual = sum(header) - sum(header[148:156]) + 8 * 32
        if stored != actual:
            raise TarError("a tar header's checksum does not match (not a tar stream?)")

    @staticmethod
    def _name(header: bytes) -> bytes:
        name = _cstring(header[:100])
        if header[257:265] == _USTAR_MAGIC:
            prefix = _cstring(header[345:500])
            if prefix:
                name = prefix + b"/" + name
        return name

    def skip(self) -> None:
        """Pass over what is left of the current member's content and its padding."""
        self._discard(self._left + self._pad)
        self._left = self._pad = 0

    # -- the current member's content --

    def read(self, n: int = -1) -> bytes:
        if n < 0:
            n = self._left
        n = min(n, self._left)
        if not n:
            return b""
        have = len(self._buf) - self._pos
        if not have:
            if not self._more():
                raise TarError("the tar stream ended in the middle of a member")
            have = len(self._buf) - self._pos
        n = min(n, have)
        start = self._pos
        self._pos += n
        self._left -= n
        if not self._left:
            self._discard(self._pad)
            self._pad = 0
        return self._buf[start : start + n]

    def readinto(self, buf) -> int:
        """Copy up to len(buf) content bytes into ``buf``; large reads skip the own buffer."""
        want = min(len(buf), self._left)
        if not want:
            return 0
        have = len(self._buf) - self._pos
        if have:
            n = min(want, have)
            buf[:n] = self._buf[self._pos : self._pos + n]
            self._pos += n
        else:
            data = self._read(want)  # at most ``want``: no copy into our buffer
            if not data:
                raise TarError("the tar stream ended in the middle of a member")
            self.received += len(data)
            n = len(data)
            buf[:n] = data
        self._left -= n
        if not self._left:
            self._discard(self._pad)
            self._pad = 0
        return n


def _pax_records(data: bytes) -> dict[bytes, bytes]:
    """``"<len> <key>=<value>\\n"`` records of a pax extended header."""
    fields, pos = {}, 0
    while pos < len(data) and data[pos : pos + 1] != b"\x00":
        space = data.find(b" ", pos)
        if space < 0:
            raise TarError("bad pax header record")
        try:
            length = int(data[pos:space])
        except ValueError:
            raise TarError("bad pax header record length") from None
        record = data[space + 1 : pos + length - 1]  # without the trailing newline
        key, _, value = record.partition(b"=")
        fields[key] = value
        if length <= 0:
            raise TarError("bad pax header record length")
        pos += length
    return fields
