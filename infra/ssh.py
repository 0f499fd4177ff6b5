"""SSH adapter for running actions on hosting servers (paramiko); see docs/ssh.md.

Host keys are pinned (never trusted on first use), authentication is by private key only,
connecting retries transient network errors with backoff; commands are never retried here.
"""

from __future__ import annotations

import atexit
import base64
import errno
import hashlib
import io
import random
import secrets
import select
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

import paramiko
from paramiko.ssh_exception import NoValidConnectionsError

from infra.logging import get_logger

log = get_logger(__name__)
FAST_CIPHER = "aes128-gcm@openssh.com"  # ~1.8x the throughput of aes*-ctr in paramiko
# Streamed commands (tar, dumps) ask for larger SSH packets: paramiko handles every packet in
# Python, so fewer, larger packets cost less CPU per byte (docs/benchmarks.md). None: defaults.
STREAM_MAX_PACKET: int | None = None
STREAM_WINDOW: int | None = None


class SshError(Exception):
    """Base class of everything this module raises."""


class TransientSshError(SshError):
    """Network trouble (refused, reset, timed out, lost); retrying may succeed. Retry an
    operation only if it is idempotent: a command may have run before the connection broke."""


class AuthenticationFailed(SshError):
    pass


class HostKeyMismatch(SshError):
    def __init__(self, target: str, expected: str, presented: str):
        self.expected, self.presented = expected, presented
        super().__init__(
            f"host key of {target} does not match the pinned key: expected {expected}, server "
            f"presented {presented}. Refusing to connect; if the server was reinstalled, confirm "
            "the new fingerprint out of band and update the pinned key."
        )


class CommandFailed(SshError):
    def __init__(self, command: str, exit_status: int, stderr: bytes):
        self.command, self.exit_status, self.stderr = command, exit_status, stderr
        tail = stderr[-2000:].decode(errors="replace").strip()
        super().__init__(f"{command[:120]!r} exited with status {exit_status}: {tail}")


class CommandTimeout(SshError, TimeoutError):
    """The command outlived its deadline and its channel was closed; it may have had effects."""

    def __init__(self, command: str, timeout: float):
        self.command, self.timeout = command, timeout
        super().__init__(f"{command[:120]!r} did not finish within {timeout:g} s")


def parse_host_key(line: str) -> paramiko.PKey:
    """``"ssh-ed25519 AAAA... [comment]"`` -> public key; ValueError if malformed."""
    try:
        key_type, blob = line.split()[:2]
        return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob, validate=True))
    except Exception as exc:
        raise ValueError(f"not an OpenSSH public key line: {line[:40]!r}") from exc


def fingerprint(host_key_line: str) -> str:
    """``SHA256:<base64 without padding>``, as ``ssh-keygen -lf`` prints it."""
    digest = hashlib.sha256(parse_host_key(host_key_line).asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode().rstrip("=")


@dataclass(frozen=True)
class SshTarget:
    host: str
    port: int
    user: str
    host_key: str  # pinned "ssh-ed25519 AAAA..." line (type + base64)
    private_key_path: Path | str | None = None
    pkey: paramiko.PKey | None = field(default=None, repr=False)

    def __post_init__(self):
        if (self.private_key_path is None) == (self.pkey is None):
            raise ValueError("give exactly one of private_key_path and pkey")
        parse_host_key(self.host_key)

    def __str__(self) -> str:
        return f"{self.user}@{self.host}:{self.port}"


@dataclass(frozen=True)
class SshOptions:
    connect_timeout: float = 10.0  # TCP connect and key exchange
    banner_timeout: float = 10.0
    auth_timeout: float = 10.0
    channel_timeout: float = 10.0  # opening a session or SFTP channel
    command_timeout: float = 600.0  # default deadline of run(); idle limit of SFTP/open_exec
    keepalive: int = 15
    attempts: int = 3  # connection attempts; only transient errors are retried
    backoff: float = 0.5  # first retry delay, doubling up to max_backoff, with jitter
    max_backoff: float = 4.0


@dataclass(frozen=True)
class Result:
    exit_status: int
    stdout: bytes
    stderr: bytes


_UNREACHABLE = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.EHOSTDOWN}


def _as_ssh_error(exc: BaseException, target: str) -> SshError:
    """Map paramiko/socket errors. Host key and auth errors are SSHExceptions: check them first."""
    if isinstance(exc, SshError):
        return exc
    if isinstance(exc, paramiko.BadHostKeyException):
        pinned = f"{exc.expected_key.get_name()} {exc.expected_key.get_base64()}"
        return HostKeyMismatch(target, fingerprint(pinned), exc.key.fingerprint)
    if isinstance(exc, paramiko.AuthenticationException):
        return AuthenticationFailed(f"{target}: key authentication failed ({exc})")
    transient = (paramiko.SSHException, EOFError, ConnectionError, TimeoutError)
    if isinstance(exc, transient + (NoValidConnectionsError,)) or (
        isinstance(exc, OSError) and exc.errno in _UNREACHABLE
    ):
        return TransientSshError(f"{target}: {type(exc).__name__}: {exc}")
    return SshError(f"{target}: {type(exc).__name__}: {exc}")


class _PinnedOnly(paramiko.RejectPolicy):
    """RejectPolicy raising HostKeyMismatch (not a retryable SSHException) for unknown keys."""

    def __init__(self, target: SshTarget):
        self.target = target

    def missing_host_key(self, client, hostname, key):
        raise HostKeyMismatch(str(self.target), fingerprint(self.target.host_key), key.fingerprint)


def _transport(sock, **kwargs) -> paramiko.Transport:
    """A Transport preferring the fast AES-GCM cipher when this paramiko has it."""
    transport = paramiko.Transport(sock, **kwargs)
    opts = transport.get_security_options()
    if FAST_CIPHER in opts.ciphers:
        opts.ciphers = (FAST_CIPHER, *(c for c in opts.ciphers if c != FAST_CIPHER))
    return transport


def fetch_host_key(host: str, port: int = 22, timeout: float = 10.0) -> str:
    """The server's host key as a ``"type base64"`` line, read without authenticating.
    Show its ``fingerprint()`` to staff to confirm out of band before pinning it."""
    transport = None
    try:
        transport = _transport(socket.create_connection((host, port), timeout=timeout))
        transport.banner_timeout = timeout
        transport.start_client(timeout=timeout)
        key = transport.get_remote_server_key()
    except Exception as exc:
        raise _as_ssh_error(exc, f"{host}:{port}") from exc
    finally:
        if transport is not None:
            transport.close()
    return f"{key.get_name()} {key.get_base64()}"


class SshClient:
    """One authenticated connection to a target; from ``connect()`` or ``SshPool.session()``."""

    def __init__(self, target: SshTarget, options: SshOptions | None = None):
        self.target, self.options = target, options or SshOptions()
        self._client: paramiko.SSHClient | None = None

    def connect(self) -> SshClient:
        """Connect, retrying transient errors with exponential backoff and jitter."""
        t, o = self.target, self.options
        try:
            pkey = t.pkey if t.pkey is not None else paramiko.PKey.from_path(t.private_key_path)
        except Exception as exc:  # the message must never carry key material
            raise SshError(f"cannot load private key {t.private_key_path}") from exc
        for attempt in range(1, o.attempts + 1):
            try:
                self._client = self._connect_once(pkey)
                break
            except Exception as exc:
                error = _as_ssh_error(exc, str(t))
                if isinstance(error, HostKeyMismatch):
                    log.warning("ssh.host_key_mismatch", target=str(t), error=str(error))
                if not isinstance(error, TransientSshError) or attempt == o.attempts:
                    raise error from exc
                delay = min(o.max_backoff, o.backoff * 2 ** (attempt - 1))
                delay *= random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography
                log.info("ssh.connect_retry", target=str(t), attempt=attempt, error=str(error))
                time.sleep(delay)
        self.transport.set_keepalive(o.keepalive)
        fp, cipher = fingerprint(t.host_key), self.transport.remote_cipher
        log.info("ssh.connected", target=str(t), host_key=fp, cipher=cipher)
        return self

    def _connect_once(self, pkey: paramiko.PKey) -> paramiko.SSHClient:
        t, o = self.target, self.options
        client = paramiko.SSHClient()  # no system known_hosts: only the pinned key is trusted
        key = parse_host_key(t.host_key)
        client.get_host_keys().add(
            t.host if t.port == 22 else f"[{t.host}]:{t.port}", key.get_name(), key
        )
        client.set_missing_host_key_policy(_PinnedOnly(t))
        try:
            client.connect(
                t.host,
                t.port,
                username=t.user,
                pkey=pkey,
                allow_agent=False,
                look_for_keys=False,
                timeout=o.connect_timeout,
                banner_timeout=o.banner_timeout,
                auth_timeout=o.auth_timeout,
                channel_timeout=o.channel_timeout,
                transport_factory=_transport,
            )
        except BaseException:
            client.close()
            raise
        return client

    @property
    def transport(self) -> paramiko.Transport:
        transport = self._client.get_transport() if self._client else None
        if transport is None:
            raise SshError(f"{self.target}: not connected")
        return transport

    def is_active(self) -> bool:
        transport = self._client.get_transport() if self._client else None
        return transport is not None and transport.is_active()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> SshClient:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            error = _as_ssh_error(exc, str(self.target))
            if error is exc:
                raise
            raise error from exc

    def _exec(self, command: str, timeout: float, stream: bool = False) -> paramiko.Channel:
        sizes = {"window_size": STREAM_WINDOW, "max_packet_size": STREAM_MAX_PACKET}
        channel = self.transport.open_session(
            timeout=self.options.channel_timeout, **(sizes if stream else {})
        )
        channel.settimeout(timeout)
        channel.exec_command(command)
        return channel

    def run(
        self, command: str, *, stdin: bytes | None = None, timeout: float | None = None
    ) -> Result:
        """Run a shell command line (quote with ``shlex.join``; pass secrets via ``stdin``).
        Raises CommandTimeout after ``timeout`` s (default ``options.command_timeout``)."""
        timeout = self.options.command_timeout if timeout is None else timeout
        deadline, out, err, pending = time.monotonic() + timeout, [], [], memoryview(stdin or b"")
        with self._errors():
            channel = self._exec(command, timeout)
            try:
                if not pending:
                    channel.shutdown_write()  # EOF, so commands reading stdin do not wait
                while True:
                    if pending and channel.send_ready() and not channel.exit_status_ready():
                        pending = pending[channel.send(bytes(pending[:65536])) :]
                        if not pending:
                            channel.shutdown_write()
                    while channel.recv_ready():
                        out.append(channel.recv(65536))
                    while channel.recv_stderr_ready():
                        err.append(channel.recv_stderr(65536))
                    done = channel.exit_status_ready() and (channel.eof_received or channel.closed)
                    if done and not (channel.recv_ready() or channel.recv_stderr_ready()):
                        break  # unread stdin is dropped if the command exited without it
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise CommandTimeout(command, timeout)
                    # The channel's fileno becomes readable on output, EOF and close.
                    select.select([channel], [], [], min(remaining, 0.02 if pending else 1.0))
                status = channel.recv_exit_status()
                if status == -1 and not self.is_active():
                    raise TransientSshError(f"{self.target}: connection lost during command")
            finally:
                channel.close()
        return Result(status, b"".join(out), b"".join(err))

    def run_checked(self, command: str, **kwargs) -> Result:
        """``run()``, raising CommandFailed on a non-zero exit status."""
        result = self.run(command, **kwargs)
        if result.exit_status != 0:
            raise CommandFailed(command, result.exit_status, result.stderr)
        return result

    def put_file(self, source: bytes | str | Path | IO[bytes], remote_path: str, mode: int = 0o644):
        """Upload bytes, a local path or a binary file atomically: into a temporary file next
        to ``remote_path`` (chmod-ed before any content is written), then posix_rename."""
        remote = PurePosixPath(remote_path)
        tmp = str(remote.with_name(f".{remote.name}.{secrets.token_hex(4)}.tmp"))
        src = io.BytesIO(source) if isinstance(source, bytes) else source
        src = open(source, "rb") if isinstance(source, str | Path) else src  # noqa: SIM115
        try:
            with self._errors(), paramiko.SFTPClient.from_transport(self.transport) as sftp:
                sftp.get_channel().settimeout(self.options.command_timeout)
                try:
                    with sftp.open(tmp, "wb") as f:
                        f.chmod(mode)
                        f.set_pipelined(True)
                        shutil.copyfileobj(src, f, 65536)
                    sftp.posix_rename(tmp, str(remote))
                except BaseException:
                    with suppress(Exception):
                        sftp.remove(tmp)
                    raise
        finally:
            if src is not source:
                src.close()

    def open_exec(self, command: str, *, timeout: float | None = None) -> paramiko.Channel:
        """Start a command whose output is streamed (e.g. ``tar -cf -``); returns its channel.

        Read ``channel.makefile("rb")`` to the end (write ``makefile_stdin("wb")`` and close it
        for EOF), then check ``channel.recv_exit_status()``; stderr is buffered meanwhile
        (``makefile_stderr("rb")``). ``timeout`` limits each read/write, not the transfer.
        """
        with self._errors():
            timeout = self.options.command_timeout if timeout is None else timeout
            return self._exec(command, timeout, stream=True)


def connect(target: SshTarget, options: SshOptions | None = None) -> SshClient:
    return SshClient(target, options).connect()


class SshPool:
    """Reuses live connections per target and caps concurrent ones at ``max_per_target``."""

    def __init__(
        self,
        max_per_target: int = 4,
        options: SshOptions | None = None,
        acquire_timeout: float = 60,
    ):
        self.max_per_target, self.options = max_per_target, options
        self.acquire_timeout = acquire_timeout
        self._lock = threading.Lock()
        self._idle: dict[SshTarget, list[SshClient]] = {}
        self._slots: dict[SshTarget, threading.BoundedSemaphore] = {}

    @contextmanager
    def session(self, target: SshTarget) -> Iterator[SshClient]:
        with self._lock:
            slots = self._slots.setdefault(target, threading.BoundedSemaphore(self.max_per_target))
        if not slots.acquire(timeout=self.acquire_timeout):
            raise TransientSshError(f"{target}: all {self.max_per_target} connections busy")
        client = None
        try:
            client = self._checkout(target)
            yield client
        finally:
            if client is not None and client.is_active():
                with self._lock:
                    self._idle.setdefault(target, []).append(client)
            elif client is not None:
                client.close()
            slots.release()

    def _checkout(self, target: SshTarget) -> SshClient:
        while True:
            with self._lock:
                idle = self._idle.get(target)
                client = idle.pop() if idle else None
            if client is None:
                return connect(target, self.options)
            if client.is_active():
                return client
            client.close()  # broken (server restarted, network dropped): discard it

    def close_all(self) -> None:
        """Close idle connections; those in use go back to the pool when their session ends."""
        with self._lock:
            clients = [client for idle in self._idle.values() for client in idle]
            self._idle.clear()
        for client in clients:
            client.close()


pool = SshPool()
atexit.register(pool.close_all)
