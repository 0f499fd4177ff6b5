"""infra.ssh against the real OpenSSH server of the ``sshd`` fixture; paramiko is not mocked."""

import logging
import os
import shlex
import signal
import subprocess
import tarfile
import threading
import time

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from infra import ssh

FAST = ssh.SshOptions(connect_timeout=5, banner_timeout=5, auth_timeout=5, channel_timeout=5)


def target(sshd, **changes) -> ssh.SshTarget:
    fields = {
        "host": sshd.host,
        "port": sshd.port,
        "user": sshd.user,
        "host_key": sshd.host_key_line,
        "pkey": sshd.client_key,
    }
    return ssh.SshTarget(**(fields | changes))


def public_line(private_key) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .decode()
    )


def retry_events(caplog) -> list:
    """Retry log events; the test sets ``caplog.set_level(logging.INFO, "infra.ssh")``."""
    return [r for r in caplog.records if "ssh.connect_retry" in str(r.msg)]


def accepted_logins(sshd) -> int:
    return sshd.log_path.read_text().count("Accepted publickey")


@pytest.fixture
def client(sshd):
    with ssh.connect(target(sshd), FAST) as client:
        yield client


def test_pinned_key_connects_and_runs_echo(sshd, client):
    assert client.run("echo hello") == ssh.Result(0, b"hello\n", b"")
    assert client.transport.remote_cipher == ssh.FAST_CIPHER
    # A key file works as well as a loaded key.
    by_path = target(sshd, pkey=None, private_key_path=sshd.client_key_path)
    with ssh.connect(by_path, FAST) as other:
        assert other.run_checked("printf %s ok").stdout == b"ok"


def test_stdin_round_trip(client):
    data = os.urandom(3 * 1024 * 1024)  # beyond the 2 MiB window: stdin and stdout interleave
    result = client.run("cat", stdin=data, timeout=30)
    assert (result.exit_status, result.stdout == data, result.stderr) == (0, True, b"")
    assert client.run("wc -c").stdout.strip() == b"0"  # no stdin: EOF at once
    assert client.run("head -c 3", stdin=data).stdout == data[:3]  # stops reading early


def test_non_zero_exit(client):
    assert client.run("exit 3").exit_status == 3
    with pytest.raises(ssh.CommandFailed, match="status 3: oops") as excinfo:
        client.run_checked("echo oops >&2; exit 3")
    assert (excinfo.value.exit_status, excinfo.value.stderr) == (3, b"oops\n")


@pytest.mark.parametrize(
    "other_key",
    [ed25519.Ed25519PrivateKey.generate(), ec.generate_private_key(ec.SECP256R1())],
    ids=["changed", "unknown-type"],
)
def test_other_host_key_is_refused(sshd, caplog, other_key):
    caplog.set_level(logging.INFO, logger="infra.ssh")
    pinned = public_line(other_key)
    logins = accepted_logins(sshd)
    started = time.monotonic()
    with pytest.raises(ssh.HostKeyMismatch) as excinfo:
        ssh.connect(target(sshd, host_key=pinned), FAST)
    message = str(excinfo.value)
    assert ssh.fingerprint(pinned) in message
    assert ssh.fingerprint(sshd.host_key_line) in message
    assert time.monotonic() - started < 2 and not retry_events(caplog)
    assert accepted_logins(sshd) == logins  # never authenticated, so nothing ran


def test_fetch_host_key_and_fingerprint(sshd, tmp_path):
    line = ssh.fetch_host_key(sshd.host, sshd.port, timeout=5)
    assert line == sshd.host_key_line
    (tmp_path / "key.pub").write_text(line + "\n")
    keygen = subprocess.run(
        ["ssh-keygen", "-lf", str(tmp_path / "key.pub")], check=True, capture_output=True, text=True
    )
    assert ssh.fingerprint(line) == keygen.stdout.split()[1]
    assert ssh.fingerprint(line).startswith("SHA256:") and not line.endswith("=")


def test_put_file_is_atomic_with_mode(sshd, client, tmp_path):
    folder = sshd.root / "put"
    folder.mkdir(exist_ok=True)
    dest = folder / "site.conf"
    dest.write_text("old")
    with dest.open() as old_reader:
        old_inode = dest.stat().st_ino
        client.put_file(b"new contents", str(dest), 0o640)
        assert old_reader.read() == "old"  # replaced by rename, not rewritten in place
    assert dest.read_bytes() == b"new contents"
    assert (dest.stat().st_mode & 0o777, dest.stat().st_ino != old_inode) == (0o640, True)

    local = tmp_path / "local.bin"
    local.write_bytes(b"\x00" * 100_000)
    client.put_file(local, str(folder / "blob"), mode=0o600)
    assert (folder / "blob").read_bytes() == local.read_bytes()
    assert (folder / "blob").stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in folder.iterdir()) == ["blob", "site.conf"]  # no temp files

    with pytest.raises(ssh.SshError):
        client.put_file(b"x", str(folder / "missing-dir" / "f"))


def test_command_timeout(client):
    started = time.monotonic()
    with pytest.raises(ssh.CommandTimeout) as excinfo:
        client.run("sleep 5", timeout=1)
    assert isinstance(excinfo.value, TimeoutError)
    assert time.monotonic() - started < 2.5
    assert client.run("echo still usable").stdout == b"still usable\n"


def test_open_exec_streams_a_tar_archive(sshd, client):
    tree = sshd.root / "tree"
    (tree / "www").mkdir(parents=True, exist_ok=True)
    (tree / "www" / "index.html").write_bytes(b"<h1>hej</h1>")
    (tree / "big.bin").write_bytes(os.urandom(3_000_000))
    with client.open_exec(f"tar -C {shlex.quote(str(tree))} -cf - . && echo done >&2") as channel:
        with tarfile.open(fileobj=channel.makefile("rb"), mode="r|") as archive:
            sizes = {m.name: m.size for m in archive if m.isfile()}
        assert channel.recv_exit_status() == 0
        assert channel.makefile_stderr("rb").read() == b"done\n"
    assert sizes == {"./www/index.html": 12, "./big.bin": 3_000_000}


def test_connect_retries_until_sshd_is_back(sshd, caplog):
    caplog.set_level(logging.INFO, logger="infra.ssh")
    options = ssh.SshOptions(connect_timeout=5, attempts=8, backoff=0.2, max_backoff=0.5)
    sshd.stop()
    restarter = threading.Timer(1.0, sshd.start)
    try:
        with pytest.raises(ssh.TransientSshError):  # refused, retried, given up
            ssh.connect(target(sshd), ssh.SshOptions(attempts=2, backoff=0.01))
        restarter.start()
        started = time.monotonic()
        with ssh.connect(target(sshd), options) as client:
            assert client.run("echo back").stdout == b"back\n"
        assert time.monotonic() - started >= 0.9
        assert len(retry_events(caplog)) >= 2
    finally:
        restarter.cancel()
        if restarter.is_alive():
            restarter.join()
        sshd.start()


def test_wrong_client_key_fails_fast_without_retry(sshd, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="infra.ssh")
    key_path = tmp_path / "stranger"
    key_path.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.OpenSSH,
            serialization.NoEncryption(),
        )
    )
    stranger = target(sshd, pkey=None, private_key_path=key_path)
    options = ssh.SshOptions(attempts=5, backoff=5.0)  # a retry would take at least 2.5 s
    started = time.monotonic()
    with pytest.raises(ssh.AuthenticationFailed) as excinfo:
        ssh.connect(stranger, options)
    assert time.monotonic() - started < 2
    assert not isinstance(excinfo.value, ssh.TransientSshError)
    assert not retry_events(caplog)


def test_pool_reuses_transport_and_replaces_dead_one(sshd):
    pool = ssh.SshPool(max_per_target=2, options=FAST)
    try:
        with pool.session(target(sshd)) as client:
            first = client.transport
        with pool.session(target(sshd)) as client:
            assert client.transport is first
            server_pid = int(client.run("echo $PPID").stdout)  # sshd process of this connection
        # OpenSSH keeps established connections when the listener restarts; a reboot does not.
        sshd.stop()
        os.kill(server_pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while first.is_active() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not first.is_active()
        sshd.start()
        with pool.session(target(sshd)) as client:
            assert client.transport is not first
            assert client.run("echo fresh").stdout == b"fresh\n"
    finally:
        pool.close_all()
        sshd.start()


def test_pool_caps_connections_per_target(sshd):
    pool = ssh.SshPool(max_per_target=2, options=FAST, acquire_timeout=0.3)
    try:
        with pool.session(target(sshd)) as a, pool.session(target(sshd)) as b:
            assert a.transport is not b.transport
            with pytest.raises(ssh.TransientSshError, match="busy"), pool.session(target(sshd)):
                pass
        with pool.session(target(sshd)) as c:
            assert c.transport in (a.transport, b.transport)
    finally:
        pool.close_all()
    assert not (a.is_active() or b.is_active())
