"""Content-defined chunking with pyfastcdc (FastCDC 2020).

Files and dumps are cut into chunks of ``min_size``..``max_size`` bytes (average about
``avg_size + min_size``, as FastCDC skips the first ``min_size`` bytes of every chunk); anything
not longer than ``min_size`` is a single chunk. The gear table is perturbed by a per-repository seed
kept in the (sealed) config, so chunk boundaries do not reveal file contents across repositories.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass

from pyfastcdc import FastCDC

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True)
class ChunkerParams:
    min_size: int = 256 * KiB
    avg_size: int = 1 * MiB
    max_size: int = 4 * MiB
    seed: int = 0

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ChunkerParams:
        return cls(**{k: int(data[k]) for k in ("min_size", "avg_size", "max_size", "seed")})


# Trees (JSON lines of file entries) use small chunks, so one changed file re-stores ~64 KiB.
TREE_PARAMS = ChunkerParams(min_size=16 * KiB, avg_size=64 * KiB, max_size=256 * KiB)


def _read_up_to(stream, n: int) -> bytes:
    """Read until n bytes or end of stream (streams such as SSH channels return short reads)."""
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class _Prefixed:
    """A readinto() stream that yields ``head`` first, then the rest of ``stream``."""

    def __init__(self, head: bytes, stream):
        self._head = memoryview(head)
        self._stream = stream
        self._readinto = getattr(stream, "readinto", None)

    def readinto(self, buf) -> int:
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        if self._readinto is not None:
            return self._readinto(buf) or 0
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)


class Chunker:
    """Cuts streams into chunks. Not thread-safe: one per thread (the session's caller thread)."""

    def __init__(self, params: ChunkerParams):
        self.params = params
        self._cdc = FastCDC(
            params.avg_size,
            min_size=params.min_size,
            max_size=params.max_size,
            seed=params.seed,
        )

    def chunks(self, stream) -> Iterator[bytes]:
        """Yield independent ``bytes`` chunks of a binary stream, holding at most ~2 max_size."""
        head = _read_up_to(stream, self.params.min_size + 1)
        if len(head) <= self.params.min_size:
            if head:
                yield head
            return
        for chunk in self._cdc.cut_stream(_Prefixed(head, stream)):
            # chunk.data points into pyfastcdc's reused buffer: copy before it leaves this thread.
            yield bytes(chunk.data)

    def feeder(self) -> StreamFeeder:
        return StreamFeeder(self)


class StreamFeeder:
    """Incremental chunking of data produced piecewise (tree lines): feed(), then finish().

    FastCDC restarts at every cut point, so cutting the buffered tail again later gives exactly
    the chunks that cutting the whole stream at once would give.
    """

    def __init__(self, chunker: Chunker):
        self._chunker = chunker
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self._buf += data
        if len(self._buf) < 2 * self._chunker.params.max_size:
            return []
        chunks = [bytes(c.data) for c in self._chunker._cdc.cut_buf(self._buf)]
        tail = chunks.pop()
        del self._buf[: len(self._buf) - len(tail)]
        return chunks

    def finish(self) -> list[bytes]:
        buf, self._buf = bytes(self._buf), bytearray()
        if len(buf) <= self._chunker.params.min_size:
            return [buf] if buf else []
        return [bytes(c.data) for c in self._chunker._cdc.cut_buf(buf)]
