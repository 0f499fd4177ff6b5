"""The test rig's servers are real: SSH to a live sshd, S3 over HTTP to moto's server."""

import base64
import shlex

import paramiko
import pytest


def ssh_client(sshd, host_key=None):
    """A client that trusts only ``host_key`` (default: the server's real key)."""
    client = paramiko.SSHClient()
    if host_key is not None:
        client.get_host_keys().add(f"[{sshd.host}]:{sshd.port}", host_key.get_name(), host_key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    return client


def real_host_key(sshd):
    key_type, blob = sshd.host_key_line.split()[:2]
    return paramiko.PKey.from_type_string(key_type, base64.b64decode(blob))


def connect(client, sshd):
    client.connect(
        sshd.host,
        sshd.port,
        username=sshd.user,
        pkey=sshd.client_key,
        allow_agent=False,
        look_for_keys=False,
        timeout=10,
    )


def run(client, command):
    _, stdout, stderr = client.exec_command(command, timeout=10)
    status = stdout.channel.recv_exit_status()
    return status, stdout.read().decode(), stderr.read().decode()


def test_ssh_exec_with_pinned_host_key(sshd):
    with ssh_client(sshd, real_host_key(sshd)) as client:
        connect(client, sshd)
        assert run(client, "echo hello from sshd") == (0, "hello from sshd\n", "")
        target = sshd.root / "written-over-ssh.txt"
        status, _, err = run(client, f"printf 'rig ok' > {shlex.quote(str(target))}")
        assert (status, err) == (0, "")
    assert target.read_text() == "rig ok"


def test_ssh_rejects_wrong_host_key(sshd):
    # Any other valid ed25519 key will do as the "wrong" pinned host key.
    client = ssh_client(sshd, sshd.client_key)
    with client, pytest.raises(paramiko.BadHostKeyException):
        connect(client, sshd)


def test_ssh_rejects_unknown_host(sshd):
    client = ssh_client(sshd)
    with client, pytest.raises(paramiko.SSHException) as excinfo:
        connect(client, sshd)
    assert not isinstance(excinfo.value, paramiko.BadHostKeyException)
    assert "not found in known_hosts" in str(excinfo.value)


def test_sshd_restart(sshd):
    sshd.stop()
    assert not sshd.running
    sshd.start()
    with ssh_client(sshd, real_host_key(sshd)) as client:
        connect(client, sshd)
        assert run(client, "echo back")[1] == "back\n"


def test_s3_round_trip(s3_server, s3_bucket):
    s3 = s3_server.client()
    body = bytes(range(256)) * 1000
    s3.put_object(Bucket=s3_bucket, Key="dir/blob.bin", Body=body)

    assert s3.get_object(Bucket=s3_bucket, Key="dir/blob.bin")["Body"].read() == body
    assert s3.head_object(Bucket=s3_bucket, Key="dir/blob.bin")["ContentLength"] == len(body)
    listing = s3.list_objects_v2(Bucket=s3_bucket, Prefix="dir/")
    assert [(o["Key"], o["Size"]) for o in listing["Contents"]] == [("dir/blob.bin", len(body))]
