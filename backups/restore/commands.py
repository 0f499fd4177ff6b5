"""Commands on the destination, over SSH or locally, through the sources' runner (one pooled
connection per restore): a stdin the caller's thread fills, and NUL-separated output records."""

from __future__ import annotations

import queue
from collections.abc import Iterator

from backups import sources

PIECE = 256 * 1024  # bytes per write into the channel
QUEUED = 16  # pieces waiting for the feeder thread at most


class StdinClosed(Exception):
    """The command stopped reading its stdin (it exited or the connection broke)."""


class Stdin:
    """A command's stdin written from the caller's thread (so progress and cancellation
    callbacks run there): pieces go through a bounded queue to the command's feeder thread."""

    def __init__(self):
        self._queue: queue.Queue = queue.Queue(maxsize=QUEUED)
        self._buffer = bytearray()
        self.command = None

    def __iter__(self) -> Iterator[bytes]:  # the feeder thread
        while (piece := self._queue.get()) is not None:
            yield piece

    def write(self, data: bytes) -> None:
        self._buffer += data
        if len(self._buffer) >= PIECE:
            self._put(bytes(self._buffer))
            self._buffer.clear()

    def close(self) -> None:
        """Send what is buffered, then end of file."""
        if self._buffer:
            self._put(bytes(self._buffer))
            self._buffer.clear()
        self._put(None)

    def _put(self, item) -> None:
        while True:
            if self.command is not None and self.command.feed_error is not None:
                raise StdinClosed(str(self.command.feed_error))
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue


def start_with_stdin(runner, argv: list[str]):
    """(command, stdin): a command whose stdin the caller writes with ``stdin.write``."""
    stdin = Stdin()
    command = runner.start(argv, stdin=stdin)
    stdin.command = command
    return command, stdin


def records(read, fields: int) -> Iterator[list[bytes]]:
    """Records of ``fields`` NUL-terminated fields from ``read(n)`` until it returns b""."""
    pending: list[bytes] = []
    tail = b""
    while data := read(1 << 20):
        parts = (tail + data).split(b"\0")
        tail = parts.pop()
        pending += parts
        whole = len(pending) - len(pending) % fields
        for i in range(0, whole, fields):
            yield pending[i : i + fields]
        pending = pending[whole:]
    if pending or tail:
        raise ValueError("output ended in the middle of a record")


def run(runner, argv: list[str], stdin=None) -> tuple[int, bytes, bytes]:
    """(exit status, stdout, stderr) of a short command."""
    command = runner.start(argv, stdin=stdin)
    try:
        out = b"".join(iter(lambda: command.read(65536), b""))
        status, stderr = command.wait()
    finally:
        command.close()
    return status, out, stderr


def tail(stderr: bytes) -> str:
    return stderr.decode(errors="replace").strip()[-2000:]


Runner = sources._Runner  # one SSH connection (or the local transport) for all commands
