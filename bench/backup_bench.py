"""``make bench``: Havn's backup pipeline against restic, on one machine, in one run.

1. A data set of about 1.2 GB (bench/dataset.py), cached in /tmp/havn-bench-data.
2. A private sshd (own host key, authorized client key, free 127.0.0.1 port) and moto's S3
   server, started as the test fixtures start them (bench/rig.py).
3. Havn: ``sources.backup_tree`` over SSH (one ``find`` listing + a ``tar`` stream) into the
   engine into an ``S3Store`` on moto; each backup in a child process (bench/havn_run.py), whose
   peak RSS is read with ``wait4``. restic 0.14 (``--repository-version 2``) backs the same
   tree up into a repository served over SFTP by the same sshd.
4. First runs (best of ``--repeat``), then incremental runs with no change, 1 % and 10 % of the
   files changed; each incremental asserts (from the session's counters and the source summary)
   that only the changed files were read.
5. If a target is missed (or ``--profile always``): one more first run with every thread under
   cProfile (CPU-time clock) for the stage breakdown, and CPU costs of the primitives.
6. ``bench/results.json`` and ``docs/benchmarks.md`` (from bench/report.py's template).

Processes and temporary repositories are removed at the end; the data set cache is kept.
Nothing here needs Django or a database.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: the project's packages must be importable
    sys.path.insert(0, str(ROOT))

from bench import rig  # noqa: E402
from bench.dataset import Dataset  # noqa: E402

MiB = 1024 * 1024
PREFIX = "customers/bench"
TARGET_FIRST_RATIO = 1.5
TARGET_RSS_MIB = 512


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# -- the machine -------------------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return (
        (done.stdout or done.stderr).strip().splitlines()[0]
        if (done.stdout or done.stderr)
        else "?"
    )


def machine_info() -> dict:
    cpu_model, mem_kib = "?", 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                mem_kib = int(line.split()[1])
    os_name = "?"
    if os.path.exists("/etc/os-release"):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    versions = {}
    for dist in ("paramiko", "boto3", "botocore", "moto", "zstandard", "pyfastcdc", "cryptography"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = "?"
    commit = _first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _first_line(["git", "-C", str(ROOT), "status", "--porcelain", "--", "backups", "infra"])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "restic": _first_line(["restic", "version"]),
        "openssh": _first_line(["ssh", "-V"]),
        "tar": _first_line(["tar", "--version"]),
        "packages": versions,
        "commit": commit + (" (engine or infra changed locally)" if dirty not in ("", "?") else ""),
    }


class CpuMeter:
    """Busy CPU seconds of the whole machine (/proc/stat), to see what else ran meanwhile."""

    wait_budget = 150.0  # seconds of waiting for a quiet machine, over the whole run

    @staticmethod
    def busy() -> tuple[float, float]:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        steal = fields[7] if len(fields) > 7 else 0
        return (sum(fields[:8]) - idle - steal) / rig.TICK, steal / rig.TICK

    @classmethod
    def wait_quiet(cls, cores: float = 0.25, longest: float = 30.0) -> float:
        """Wait (at most ``longest`` s, within what is left of ``wait_budget``) for a second in
        which less than ``cores`` were busy (other work shares this machine); returns the last
        second's busy cores."""
        start = time.monotonic()
        deadline = start + max(1.0, min(longest, cls.wait_budget))
        while True:
            b0, _ = cls.busy()
            time.sleep(0.5)
            load = (cls.busy()[0] - b0) * 2
            if load < cores or time.monotonic() > deadline:
                cls.wait_budget = max(0.0, cls.wait_budget - (time.monotonic() - start - 0.5))
                return load


def _wait_no_children(pid: int, longest: float = 10.0) -> None:
    """Until sshd's per-connection processes have gone (their CPU is then in its cutime)."""
    deadline = time.monotonic() + longest
    while time.monotonic() < deadline:
        busy = False
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        if int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                            busy = True
                            break
                except OSError:
                    continue
        if not busy:
            return
        time.sleep(0.05)


class Meter:
    """Wall time, CPU of sshd (with its sessions), of moto and of the machine, around a run."""

    def __init__(self, sshd_pid: int, moto_pid: int | None):
        self.sshd_pid, self.moto_pid = sshd_pid, moto_pid

    def __enter__(self) -> Meter:
        self.quiet_before = CpuMeter.wait_quiet()
        self.sshd0 = rig.tree_cpu_seconds(self.sshd_pid)
        self.moto0 = rig.cpu_seconds(self.moto_pid, False) if self.moto_pid else 0.0
        self.busy0, self.steal0 = CpuMeter.busy()
        self.t0 = time.monotonic()
        return self

    def __exit__(self, *exc) -> None:
        self.wall = time.monotonic() - self.t0
        busy1, steal1 = CpuMeter.busy()
        _wait_no_children(self.sshd_pid)
        self.sshd_cpu = rig.tree_cpu_seconds(self.sshd_pid) - self.sshd0
        self.moto_cpu = rig.cpu_seconds(self.moto_pid, False) - self.moto0 if self.moto_pid else 0
        self.machine_cpu = busy1 - self.busy0
        self.steal = steal1 - self.steal0

    def as_dict(self, tool_cpu: float) -> dict:
        other = self.machine_cpu - tool_cpu - self.sshd_cpu - self.moto_cpu
        return {
            "sshd_cpu_s": round(self.sshd_cpu, 2),
            "moto_cpu_s": round(self.moto_cpu, 2),
            "machine_busy_cpu_s": round(self.machine_cpu, 2),
            "other_processes_cpu_s": round(max(0.0, other), 2),
            "steal_s": round(self.steal, 2),
        }


def _wait4(proc: subprocess.Popen) -> tuple[int, object]:
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage


# -- Havn ----------------------------------------------------------------------------------------


class Havn:
    """Backups with Havn's engine and sources, one child process per run."""

    def __init__(self, work: Path, moto: rig.Moto, bucket: str, sshd, tree: Path, args):
        from backups.engine import RepoKeys

        self.work, self.moto, self.bucket, self.sshd = work, moto, bucket, sshd
        self.tree = tree
        self.keys = RepoKeys.generate().to_bytes().hex()
        self.options = {"workers": args.workers, "uploaders": args.uploaders}
        self.env = dict(os.environ)
        self.env.pop("DJANGO_SETTINGS_MODULE", None)  # nothing here needs Django
        self.runs = 0

    def _spec(self, prefix: str, **more) -> dict:
        return {
            "bucket": self.bucket,
            "endpoint_url": self.moto.server.endpoint_url,
            "region": self.moto.server.region,
            "access_key": self.moto.server.access_key,
            "secret_key": self.moto.server.secret_key,
            "keys": self.keys,
            "prefix": prefix,
            "ssh": {
                "host": self.sshd.host,
                "port": self.sshd.port,
                "user": self.sshd.user,
                "host_key": self.sshd.host_key_line,
                "key": str(self.sshd.client_key_path),
            },
            **more,
        }

    def _child(self, module: str, spec: dict, what: str) -> dict:
        """Run ``python -m module SPEC OUT`` under a Meter; its result with the process's
        wall time, CPU, peak RSS and the CPU of sshd, moto and the rest of the machine."""
        self.runs += 1
        spec_path = self.work / f"havn-{self.runs}.json"
        out_path = self.work / f"havn-{self.runs}.out.json"
        spec_path.write_text(json.dumps(spec))
        argv = [sys.executable, "-m", module, str(spec_path), str(out_path)]
        with Meter(rig.sshd_pid(self.sshd), self.moto.proc.pid) as meter:
            proc = subprocess.Popen(argv, cwd=ROOT, env=self.env)
            status, usage = _wait4(proc)
        if status != 0:
            raise SystemExit(f"Havn {what} failed (exit status {status}); see the output above")
        out = json.loads(out_path.read_text())
        cpu = usage.ru_utime + usage.ru_stime
        out.update(
            process_wall_s=meter.wall,
            process_cpu_s=cpu,
            peak_rss_mib=usage.ru_maxrss / 1024,
            **meter.as_dict(cpu),
        )
        return out

    def backup(
        self, prefix: str, *, init: bool, parent: str | None = None, profile=False, what_if=()
    ) -> dict:
        spec = self._spec(
            prefix,
            init=init,
            parent=parent,
            root=str(self.tree),
            profile=profile,
            what_if=list(what_if),
            **self.options,
        )
        return self._child("bench.havn_run", spec, "backup")

    def restore(self, prefix: str, snapshot: str, dest: Path, *, profile=False) -> dict:
        """The whole snapshot restored over SSH into ``dest`` (created by the restore) and
        read back, by ``restore_to_server`` in a child process (bench/restore_run.py)."""
        spec = self._spec(prefix, snapshot=snapshot, dest=str(dest), profile=profile)
        return self._child("bench.restore_run", spec, "restore")

    def stored(self, prefix: str) -> tuple[int, int]:
        return self.moto.stored_bytes(self.bucket, prefix.rstrip("/") + "/")

    def drop(self, prefix: str) -> None:
        """Delete a repository's objects (keeps moto's memory down between repeats)."""
        client = self.moto.server.client()
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=prefix.rstrip("/") + "/"
        )
        for page in pages:
            keys = [{"Key": item["Key"]} for item in page.get("Contents", ())]
            if keys:
                client.delete_objects(Bucket=self.bucket, Delete={"Objects": keys, "Quiet": True})


# -- restic --------------------------------------------------------------------------------------


class Restic:
    """restic over SFTP to the same sshd: ``restic -r sftp:user@127.0.0.1:/path``."""

    def __init__(self, work: Path, sshd, tree: Path):
        self.work, self.sshd, self.tree = work, sshd, tree
        known_hosts = work / "known_hosts"
        known_hosts.write_text(f"[{sshd.host}]:{sshd.port} {sshd.host_key_line}\n")
        self.command = (
            f"ssh -p {sshd.port} -i {sshd.client_key_path} -o StrictHostKeyChecking=yes "
            f"-o UserKnownHostsFile={known_hosts} -o BatchMode=yes -o IdentitiesOnly=yes "
            f"{sshd.user}@{sshd.host} -s sftp"
        )
        self.env = {
            **os.environ,
            "RESTIC_PASSWORD": "havn-bench",
            "RESTIC_CACHE_DIR": str(work / "restic-cache"),
        }
        self.runs = 0

    def _base(self, repo: Path) -> list[str]:
        return [
            "restic",
            "-r",
            f"sftp:{self.sshd.user}@{self.sshd.host}:{repo}",
            "-o",
            f"sftp.command={self.command}",
        ]

    def init(self, repo: Path) -> None:
        argv = [*self._base(repo), "init", "--repository-version", "2"]
        subprocess.run(argv, env=self.env, check=True, capture_output=True)

    def backup(self, repo: Path, parent: str | None = None) -> dict:
        self.runs += 1
        argv = [*self._base(repo), "backup", "--json", "--host", "havn-bench"]
        if parent:
            argv += ["--parent", parent]
        argv.append(str(self.tree))
        err_path = self.work / f"restic-{self.runs}.err"
        with Meter(rig.sshd_pid(self.sshd), None) as meter, open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE, stderr=err)
            output = proc.stdout.read()
            status, usage = _wait4(proc)
            proc.stdout.close()
        if status != 0:
            raise SystemExit(f"restic backup failed ({status}): {err_path.read_text()[-2000:]}")
        summary = None
        for line in output.decode().splitlines():
            if '"message_type":"summary"' in line:
                summary = json.loads(line)
        if summary is None:
            raise SystemExit("restic printed no summary")
        cpu = usage.ru_utime + usage.ru_stime
        return {
            "wall_s": meter.wall,
            "cpu_s": cpu,  # restic and its ssh client
            "peak_rss_mib": usage.ru_maxrss / 1024,
            "snapshot": summary["snapshot_id"],
            "summary": summary,
            **meter.as_dict(cpu),
        }

    def restore(self, repo: Path, snapshot: str, dest: Path) -> dict:
        """``restic restore SNAPSHOT --target DEST`` (no ``--verify``: restic's default)."""
        self.runs += 1
        argv = [*self._base(repo), "restore", snapshot, "--target", str(dest)]
        err_path = self.work / f"restic-{self.runs}.err"
        with Meter(rig.sshd_pid(self.sshd), None) as meter, open(err_path, "wb") as err:
            proc = subprocess.Popen(argv, env=self.env, stdout=subprocess.DEVNULL, stderr=err)
            status, usage = _wait4(proc)
        if status != 0:
            raise SystemExit(f"restic restore failed ({status}): {err_path.read_text()[-2000:]}")
        cpu = usage.ru_utime + usage.ru_stime
        return {
            "wall_s": meter.wall,
            "cpu_s": cpu,  # restic and its ssh client
            "peak_rss_mib": usage.ru_maxrss / 1024,
            **meter.as_dict(cpu),
        }

    def open_seconds(self, repo: Path) -> float:
        """Wall time of ``restic cat config``: SSH + SFTP session, key derivation (scrypt),
        config -- the part of every restic run that does not depend on the data."""
        t = time.monotonic()
        argv = [*self._base(repo), "cat", "config"]
        subprocess.run(argv, env=self.env, check=True, capture_output=True)
        return time.monotonic() - t

    @staticmethod
    def stored(repo: Path) -> int:
        """Bytes of the repository folder (as ``du -sb``)."""
        total = 0
        for folder, _dirs, names in os.walk(repo):
            total += sum(os.lstat(os.path.join(folder, n)).st_size for n in names)
        return total


# -- sanity checks (not tests: the run stops if a number would be meaningless) -------------------


def check_incremental(run: dict, changed_paths: int, changed_bytes: int, total: int) -> None:
    counters, summary = run["counters"], run["summary"]
    assert summary["files_listed"] == total, summary
    assert summary["files_streamed"] == changed_paths, (
        f"Havn read {summary['files_streamed']} files, expected only the {changed_paths} changed; "
        f"warnings: {run['warnings']}"
    )
    assert counters["files_reused"] == total - changed_paths, counters
    assert counters["bytes_read"] == changed_bytes, (
        f"Havn read {counters['bytes_read']} bytes, the changed files hold {changed_bytes}"
    )
    assert run["complete"], run["warnings"]


def check_restic_incremental(run: dict, changed_paths: int, total: int) -> None:
    s = run["summary"]
    assert s["files_changed"] == changed_paths and s["files_new"] == 0, s
    assert s["files_unmodified"] == total - changed_paths, s


def files_and_bytes(folder: Path) -> tuple[int, int]:
    """Regular files below ``folder`` and their bytes."""
    files = size = 0
    for where, _dirs, names in os.walk(folder):
        for name in names:
            st = os.lstat(os.path.join(where, name))
            if stat.S_ISREG(st.st_mode):
                files += 1
                size += st.st_size
    return files, size


def check_restored(run: dict, folder: Path, files: int, size: int) -> None:
    """The restore wrote every file of the data set (Havn's run has also read every one back
    and compared it with the snapshot)."""
    found = files_and_bytes(folder)
    assert found == (files, size), f"{folder}: {found} files and bytes, expected {(files, size)}"
    if "verified" in run:
        assert run["verified"] and run["files"] == files and run["bytes"] == size, run


def restore_runs(havn, restic, work: Path, snapshots, ds_tree: Path, info, repeat) -> dict:
    """Best of ``repeat`` restores of the first-run snapshots, Havn's and restic's interleaved;
    each into a fresh folder, counted, then deleted."""
    havn_snapshot, restic_repo, restic_snapshot = snapshots
    mb = info["bytes"] / 1e6
    runs: dict[str, list[dict]] = {}
    for n in range(repeat):
        dest = work / f"restore-havn-{n}"
        r = havn.restore(PREFIX, havn_snapshot, dest)
        check_restored(r, dest, info["files"], info["bytes"])
        shutil.rmtree(dest)
        runs.setdefault("havn_restore", []).append(r)
        log(
            f"Havn restore: {r['wall_s']:.2f} s, {mb / r['wall_s']:.1f} MB/s (tar stream "
            f"{r['extract_s']:.2f} s, read-back {r['verify_s']:.2f} s), "
            f"peak RSS {r['peak_rss_mib']:.0f} MiB"
        )
        dest = work / f"restore-restic-{n}"
        r = restic.restore(restic_repo, restic_snapshot, dest)
        check_restored(r, dest / ds_tree.relative_to("/"), info["files"], info["bytes"])
        shutil.rmtree(dest)
        runs.setdefault("restic_restore", []).append(r)
        log(f"restic restore: {r['wall_s']:.2f} s, {mb / r['wall_s']:.1f} MB/s")
    return runs


# -- primitives ------------------------------------------------------------------------------------


def primitives(ds: Dataset) -> dict:
    """CPU seconds per GB of the operations the pipeline does, on the data set's own bytes."""
    import hashlib
    import hmac

    import zstandard
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from pyfastcdc import FastCDC

    text = bytearray()
    i = 0
    while len(text) < 48 * MiB:
        text += ds.small_content(i)
        i += 1
    random_bytes = os.urandom(48 * MiB)
    key, aead = os.urandom(32), AESGCM(os.urandom(32))
    step = 1 * MiB

    def each(data, fn):
        view = memoryview(data)
        for off in range(0, len(view), step):
            fn(view[off : off + step])

    def zstd(level):
        c = zstandard.ZstdCompressor(level=level)
        return lambda b: each(b, c.compress)

    cdc = FastCDC(1 * MiB, min_size=256 * 1024, max_size=4 * MiB, seed=1)
    ops = {
        "zstd level 1 (engine)": zstd(1),
        "zstd level 3": zstd(3),
        "AES-256-GCM seal": lambda b: each(b, lambda c: aead.encrypt(b"\0" * 12, c, b"x" * 32)),
        "HMAC-SHA256 (blob id)": lambda b: each(b, lambda c: hmac.digest(key, c, "sha256")),
        "SHA-256 (pack name)": lambda b: hashlib.sha256(b).digest(),
        "MD5 (Content-MD5, no longer sent)": lambda b: hashlib.md5(
            b, usedforsecurity=False
        ).digest(),
        "FastCDC + copy out": lambda b: [bytes(c.data) for c in cdc.cut_buf(b)],
        "bytes copy": lambda b: each(b, bytes),
    }
    out = {}
    for name, fn in ops.items():
        row = {}
        for label, data in (("text", bytes(text[: 48 * MiB])), ("random", random_bytes)):
            best = min(_cpu_of(fn, data) for _ in range(2))
            row[label] = round(best / len(data) * 1e9, 2)
        out[name] = row
    for level in (1, 3):
        for label, data in (("text", bytes(text[: 48 * MiB])), ("random", random_bytes)):
            size = sum(
                len(zstandard.ZstdCompressor(level=level).compress(data[o : o + step]))
                for o in range(0, len(data), step)
            )
            out.setdefault(f"zstd-{level} ratio", {})[label] = round(len(data) / size, 2)
    return out


def _cpu_of(fn, data) -> float:
    t = time.thread_time()
    fn(data)
    return time.thread_time() - t


# -- the run -------------------------------------------------------------------------------------


def run(args) -> dict:
    started = datetime.now(UTC)
    machine = machine_info()
    log(f"machine: {machine['nproc']} x {machine['cpu_model']}, {machine['memory_gib']} GiB")
    if shutil.which("restic") is None:
        raise SystemExit("restic is missing: apt-get install restic")
    ds = Dataset()
    info = ds.ensure(log)
    ds.warm()
    total_files, total_bytes = info["files"], info["bytes"]
    mb = total_bytes / 1e6

    work = Path(tempfile.mkdtemp(prefix="havn-bench-"))
    runs: dict[str, list[dict]] = {}
    with ExitStack() as stack:
        stack.callback(shutil.rmtree, work, True)
        stack.callback(ds.restore)
        sshd = rig.start_sshd(work / "sshd")
        stack.callback(sshd.stop)
        moto = rig.Moto()
        stack.callback(moto.stop)
        bucket = moto.create_bucket("havn-bench")
        havn = Havn(work, moto, bucket, sshd, ds.tree, args)
        restic = Restic(work, sshd, ds.tree)
        log(f"sshd on 127.0.0.1:{sshd.port}, moto on {moto.server.endpoint_url}")

        # First runs: best of --repeat, interleaved; the first repeat's repositories are kept.
        for n in range(args.repeat):
            prefix = PREFIX if n == 0 else f"{PREFIX}-repeat-{n}"
            r = havn.backup(prefix, init=True)
            runs.setdefault("havn_first", []).append(r)
            if n == 0:
                stored_objects, stored_bytes = havn.stored(prefix)
            else:
                havn.drop(prefix)
            log(
                f"Havn first run: {r['wall_s']:.2f} s, {mb / r['wall_s']:.1f} MB/s, "
                f"peak RSS {r['peak_rss_mib']:.0f} MiB, warnings: {r['warnings'] or 'none'}"
            )
            repo = work / ("restic-repo" if n == 0 else f"restic-repo-{n}")
            restic.init(repo)
            r = restic.backup(repo)
            runs.setdefault("restic_first", []).append(r)
            if n == 0:
                restic_stored = restic.stored(repo)
            else:
                shutil.rmtree(repo)
            log(f"restic first run: {r['wall_s']:.2f} s, {mb / r['wall_s']:.1f} MB/s")
        havn_parent = runs["havn_first"][0]["snapshot"]
        restic_parent = runs["restic_first"][0]["snapshot"]
        restic_repo = work / "restic-repo"

        # Incremental runs: no change, then 1 % and 10 % of the files changed.
        changes = {}
        for step, key in ((0, "nochange"), (1, "1pct"), (2, "10pct")):
            if step:
                change = ds.apply_change(step)
                paths, changed = len(change.paths), change.bytes_after
            else:
                paths, changed = 0, 0
            changes[key] = {"files": paths, "bytes": changed}
            log(f"incremental ({key}): {paths} files changed, {changed / 1e6:.1f} MB in them")
            for _ in range(args.repeat):
                r = havn.backup(PREFIX, init=False, parent=havn_parent)
                check_incremental(r, paths, changed, total_files)
                runs.setdefault(f"havn_{key}", []).append(r)
                log(
                    f"Havn incremental ({key}): {r['wall_s']:.2f} s "
                    f"(read {r['counters']['bytes_read'] / 1e6:.1f} MB in "
                    f"{r['summary']['files_streamed']} files)"
                )
                r = restic.backup(restic_repo, parent=restic_parent)
                check_restic_incremental(r, paths, total_files)
                runs.setdefault(f"restic_{key}", []).append(r)
                log(f"restic incremental ({key}): {r['wall_s']:.2f} s")
            havn_parent = runs[f"havn_{key}"][0]["snapshot"]
            restic_parent = runs[f"restic_{key}"][0]["snapshot"]
        ds.restore()

        # Restores of the first-run snapshots (the tree as it is now), best of --repeat.
        first_snapshots = (
            runs["havn_first"][0]["snapshot"],
            restic_repo,
            runs["restic_first"][0]["snapshot"],
        )
        runs.update(restore_runs(havn, restic, work, first_snapshots, ds.tree, info, args.repeat))
        _, havn_stored_final = havn.stored(PREFIX)
        restic_stored_final = restic.stored(restic_repo)
        CpuMeter.wait_quiet(longest=10)
        restic_open = min(restic.open_seconds(restic_repo) for _ in range(3))

        best = {k: min(v, key=lambda r: r["wall_s"]) for k, v in runs.items()}
        results = summarize(
            machine,
            info,
            best,
            runs,
            changes,
            stored=(stored_objects, stored_bytes, restic_stored),
            stored_final=(havn_stored_final, restic_stored_final),
        )
        results["restic_open_s"] = _r(restic_open)
        missed = [k for k, t in results["targets"].items() if not t["met"]]
        if args.profile == "always" or (args.profile == "auto" and "restore_throughput" in missed):
            log("profiling a restore (every thread under cProfile; slower than a real run)")
            dest = work / "restore-profile"
            r = havn.restore(PREFIX, first_snapshots[0], dest, profile=True)
            shutil.rmtree(dest)
            results["restore_profile"] = {
                "wall_s": r["wall_s"],
                "cpu_by_role": r["cpu_by_role"],
                **r["profile"],
            }
        if args.profile == "always" or (
            args.profile == "auto" and set(missed) - {"restore_throughput"}
        ):
            log("profiling a first run (every thread under cProfile; slower than a real run)")
            r = havn.backup(f"{PREFIX}-profile", init=True, profile=True)
            havn.drop(f"{PREFIX}-profile")
            results["profile"] = {
                "wall_s": r["wall_s"],
                "cpu_by_role": r["cpu_by_role"],
                **r["profile"],
            }
            log("measuring the CPU cost of the primitives on the data set's bytes")
            results["primitives_s_per_gb"] = primitives(ds)
            results["what_if"] = what_if_runs(havn, mb)
    results["started"] = started.isoformat(timespec="seconds")
    results["duration_s"] = round((datetime.now(UTC) - started).total_seconds(), 1)
    return results


WHAT_IF_RUNS = (
    ("baseline (zstd-1, default SSH packets)", ()),
    ("zstd-3", ("zstd-3",)),
    ("SSH packets of 128 KiB", ("ssh-128k-packets",)),
    ("SSH packets of 256 KiB, 8 MiB window", ("ssh-256k-packets-8m-window",)),
)


def what_if_runs(havn: Havn, mb: float) -> list[dict]:
    """First runs with bench-only variants of the pipeline (bench/havn_run.py WHAT_IF): their
    CPU seconds say what a change saves; their wall times are as noisy as the machine."""
    out = []
    for label, names in WHAT_IF_RUNS:
        prefix = f"{PREFIX}-what-if-{len(out)}"
        r = havn.backup(prefix, init=True, what_if=names)
        _, stored = havn.stored(prefix)
        havn.drop(prefix)
        out.append(
            {
                "variant": label,
                "what_if": list(names),
                "wall_s": _r(r["wall_s"]),
                "mb_s": _r(mb / r["wall_s"], 1),
                "havn_cpu_s": _r(r["cpu_s"]),
                "cpu_by_role": {k: _r(v) for k, v in r["cpu_by_role"].items()},
                "sshd_cpu_s": r["sshd_cpu_s"],
                "moto_cpu_s": r["moto_cpu_s"],
                "other_processes_cpu_s": r["other_processes_cpu_s"],
                "stored_bytes": stored,
                "peak_rss_mib": _r(r["peak_rss_mib"], 1),
            }
        )
        log(f"what-if {label}: {r['wall_s']:.2f} s, Havn CPU {r['cpu_s']:.2f} s")
    return out


def _r(x: float, n: int = 2) -> float:
    return round(x, n)


def summarize(machine, info, best, runs, changes, *, stored, stored_final) -> dict:
    stored_objects, stored_bytes, restic_stored = stored
    mb = info["bytes"] / 1e6
    hf, rf = best["havn_first"], best["restic_first"]
    first, restic_first = mb / hf["wall_s"], mb / rf["wall_s"]
    inc, restic_inc = best["havn_1pct"]["wall_s"], best["restic_1pct"]["wall_s"]
    hr, rr = best["havn_restore"], best["restic_restore"]
    restore, restic_restore = mb / hr["wall_s"], mb / rr["wall_s"]
    backups = {k: v for k, v in runs.items() if not k.endswith("_restore")}
    peak = max(r["peak_rss_mib"] for k, v in backups.items() if k.startswith("havn") for r in v)
    restic_peak = max(
        r["peak_rss_mib"] for k, v in backups.items() if k.startswith("restic") for r in v
    )
    scaling = {}
    for key in ("nochange", "1pct", "10pct"):
        h = best[f"havn_{key}"]
        scaling[key] = {
            "changed_files": changes[key]["files"],
            "changed_bytes": changes[key]["bytes"],
            "havn_s": _r(h["wall_s"]),
            "havn_bytes_read": h["counters"]["bytes_read"],
            "havn_files_read": h["summary"]["files_streamed"],
            "havn_list_s": h["list_s"],
            "havn_stream_s": h["stream_s"],
            "restic_s": _r(best[f"restic_{key}"]["wall_s"]),
        }
    only_changed = all(
        s["havn_bytes_read"] == s["changed_bytes"] and s["havn_files_read"] == s["changed_files"]
        for s in scaling.values()
    )
    ten, one, none = (scaling[k]["havn_s"] for k in ("10pct", "1pct", "nochange"))
    extra_gb = (scaling["10pct"]["changed_bytes"] - scaling["1pct"]["changed_bytes"]) / 1e9
    slope = (ten - one) / extra_gb if extra_gb > 0 else 0.0
    targets = {
        "first_run_throughput": {
            "target": f">= {TARGET_FIRST_RATIO}x restic's MB/s",
            "value": _r(first / restic_first),
            "met": first >= TARGET_FIRST_RATIO * restic_first,
        },
        "incremental_time": {
            "target": "<= restic's time for the 1 % change",
            "value": _r(inc / restic_inc),
            "met": inc <= restic_inc,
        },
        "incremental_scales_with_changed_bytes": {
            "target": "reads only the changed files; time = fixed per-file cost + changed bytes",
            "value": {
                "only_changed_read": only_changed,
                "fixed_s": none,
                "s_per_changed_gb": _r(slope),
            },
            "met": only_changed,
        },
        "peak_memory": {
            "target": f"< {TARGET_RSS_MIB} MiB peak RSS of the backup process",
            "value": _r(peak, 1),
            "met": peak < TARGET_RSS_MIB,
        },
        "restore_throughput": {
            "target": ">= restic's MB/s restoring the same snapshot (Havn's time includes the "
            "read-back of every file)",
            "value": _r(restore / restic_restore),
            "met": restore >= restic_restore,
        },
    }
    return {
        "backup_first_mb_s": _r(first, 1),
        "restic_first_mb_s": _r(restic_first, 1),
        "incremental_s": _r(inc),
        "restic_incremental_s": _r(restic_inc),
        "peak_rss_mib": _r(peak, 1),
        "restic_peak_rss_mib": _r(restic_peak, 1),
        "restore_mb_s": _r(restore, 1),
        "restic_restore_mb_s": _r(restic_restore, 1),
        "restore_s": _r(hr["wall_s"]),
        "restore_verify_s": _r(hr["verify_s"]),
        "restic_restore_s": _r(rr["wall_s"]),
        "restore_peak_rss_mib": _r(max(r["peak_rss_mib"] for r in runs["havn_restore"]), 1),
        "restic_restore_peak_rss_mib": _r(
            max(r["peak_rss_mib"] for r in runs["restic_restore"]), 1
        ),
        "stored_bytes": stored_bytes,
        "stored_objects": stored_objects,
        "restic_stored_bytes": restic_stored,
        "stored_bytes_after_all_runs": stored_final[0],
        "restic_stored_bytes_after_all_runs": stored_final[1],
        "dataset_bytes": info["bytes"],
        "dataset_files": info["files"],
        "dataset_classes": info["classes"],
        "machine": machine,
        "ratios": {
            "first_run_throughput_havn_over_restic": _r(first / restic_first),
            "incremental_time_havn_over_restic": _r(inc / restic_inc),
            "stored_bytes_havn_over_restic": _r(stored_bytes / restic_stored, 3),
            "peak_rss_havn_over_restic": _r(peak / restic_peak),
            "restore_throughput_havn_over_restic": _r(restore / restic_restore),
        },
        "targets": targets,
        "incremental_scaling": scaling,
        "runs": {k: [_trim(r) for r in v] for k, v in runs.items()},
    }


def _trim(run: dict) -> dict:
    out = {k: (_r(v, 3) if isinstance(v, float) else v) for k, v in run.items()}
    if "cpu_by_role" in out:
        out["cpu_by_role"] = {k: _r(v, 3) for k, v in out["cpu_by_role"].items()}
    out.pop("warnings", None)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best is kept)")
    parser.add_argument("--workers", type=int, default=None, help="Repository(workers=...)")
    parser.add_argument("--uploaders", type=int, default=None, help="Repository(uploaders=...)")
    parser.add_argument(
        "--profile",
        choices=("auto", "always", "never"),
        default="auto",
        help="profile a first run: when a target is missed (auto), always or never",
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    parser.add_argument(
        "--render-only",
        action="store_true",
        help="only write the doc again from the results file (after editing bench/analysis.md)",
    )
    args = parser.parse_args(argv)
    from bench.report import render

    if args.render_only:
        args.doc.write_text(render(json.loads(args.results.read_text())))
        log(f"wrote {args.doc}")
        return 0
    results = run(args)
    if args.results.exists():  # the API benchmark's numbers (bench/api_bench.py) stay
        previous = json.loads(args.results.read_text())
        results.update({k: v for k, v in previous.items() if k.startswith("api")})
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    args.doc.write_text(render(results))
    log(f"wrote {args.results} and {args.doc}")
    for name, t in results["targets"].items():
        log(f"target {name}: {'met' if t['met'] else 'MISSED'} ({t['value']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
