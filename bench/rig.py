"""The servers a benchmark run talks to, started like the test fixtures start them.

- a private OpenSSH server on a free 127.0.0.1 port with its own host key and a generated client
  key (``tests.fixtures.sshd``'s ``SshdServer`` and config);
- moto's standalone S3 server over HTTP (as ``tests.fixtures.s3`` runs it).

Plus CPU accounting of processes from ``/proc`` (the sshd tree and moto are not our children's
children we wait for, so ``getrusage`` cannot see them).
"""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import time
from pathlib import Path

from tests.fixtures.s3 import S3Server, _answers
from tests.fixtures.sshd import CONFIG, SSHD, SshdServer, _keygen, free_port

TICK = os.sysconf("SC_CLK_TCK")


def start_sshd(base: Path) -> SshdServer:
    """Like the ``sshd`` fixture: own host key, authorized client key, free port."""
    if not os.path.exists(SSHD):
        raise SystemExit(f"{SSHD} is missing: apt-get install openssh-server")
    if os.geteuid() == 0:
        os.makedirs("/run/sshd", exist_ok=True)  # privilege separation directory
    base.mkdir(parents=True, exist_ok=True)
    _keygen(base / "host_key")
    _keygen(base / "client_key")
    (base / "authorized_keys").write_text((base / "client_key.pub").read_text())
    port = free_port()
    config = base / "sshd_config"
    text = CONFIG.format(
        port=port,
        host_key=base / "host_key",
        pid_file=base / "sshd.pid",
        authorized_keys=base / "authorized_keys",
    )
    config.write_text(text.replace("LogLevel VERBOSE", "LogLevel INFO"))
    import paramiko

    server = SshdServer(
        host="127.0.0.1",
        port=port,
        user=pwd.getpwuid(os.geteuid()).pw_name,
        client_key_path=base / "client_key",
        client_key=paramiko.Ed25519Key.from_private_key_file(str(base / "client_key")),
        host_key_line=" ".join((base / "host_key.pub").read_text().split()[:2]),
        root=base,
        log_path=base / "sshd.log",
        config_path=config,
    )
    server.start()
    return server


def sshd_pid(server: SshdServer) -> int:
    return server._proc["proc"].pid


class Moto:
    """moto's S3 server in a child process (``python -m moto.server``)."""

    def __init__(self):
        port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.server = S3Server(endpoint_url=f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 30
        while not _answers(f"{self.server.endpoint_url}/moto-api/"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"moto server did not start on port {port}")
            time.sleep(0.1)

    def create_bucket(self, name: str) -> str:
        self.server.client().create_bucket(
            Bucket=name, CreateBucketConfiguration={"LocationConstraint": self.server.region}
        )
        return name

    def stored_bytes(self, bucket: str, prefix: str) -> tuple[int, int]:
        """(objects, bytes) under ``prefix``."""
        client, count, size = self.server.client(), 0, 0
        for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
            for item in page.get("Contents", ()):
                count += 1
                size += item["Size"]
        return count, size

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cpu_seconds(pid: int, children: bool = True) -> float:
    """user + system CPU of a process, plus that of its children it has waited for."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[11..14] are utime, stime, cutime, cstime (stat fields 14-17)
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / TICK


def tree_cpu_seconds(pid: int) -> float:
    """CPU of a process and all its live descendants (plus the dead ones they waited for)."""
    total = 0.0
    kids: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        kids.setdefault(ppid, []).append(int(entry))
    todo = [pid]
    while todo:
        p = todo.pop()
        try:
            total += cpu_seconds(p)
        except OSError:
            continue
        todo += kids.get(p, [])
    return total
