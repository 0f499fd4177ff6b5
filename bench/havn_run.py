"""One Havn backup in its own process (so its peak RSS is the backup's alone).

``python -m bench.havn_run SPEC.json RESULT.json``: the spec names the S3 endpoint and bucket,
the repository prefix and keys, the sshd target, the tree and the parent snapshot. The backup is
done as ``backups.services.runs`` does it, minus the database: open the repository (``init`` on
the first run, before the clock starts), load the parent snapshot, ``repo.backup(...)`` with
``sources.backup_tree(...)`` over SSH, parent entries from ``repo.iter_tree(parent)``.

The result holds the wall times of the stages, the session's counters, the source summary, and
the CPU time of every thread (by role), taken as each thread ends. With ``"profile": true`` in
the spec every thread also runs under cProfile with a CPU-time clock (``time.thread_time``),
and the result gets the CPU seconds per function and stage (bench/profile.py).
"""

from __future__ import annotations

import cProfile
import json
import re
import resource
import sys
import threading
import time

_THREAD_CPU: list[tuple[str, str, float]] = []  # (name, class, CPU seconds) of ended threads
_PROFILES: list[tuple[str, cProfile.Profile]] = []  # (role, profile) of ended threads


def role(name: str, cls: str) -> str:
    """The pipeline stage a thread carries out."""
    if name == "MainThread":
        return "main"  # SSH channel reads, tar parsing, chunking, HMAC ids, tree, queueing
    if name.startswith("havn-seal"):
        return "seal"  # zstd + AES-GCM
    if name.startswith("havn-upload"):
        return "upload"  # pack assembly, SHA-256 name, Content-MD5, boto3 PUT
    if cls == "Transport":
        return "ssh"  # paramiko's transport thread: packet decryption and MAC
    if name in ("havn-stderr", "havn-stdin"):
        return "ssh-io"
    return "other"


def _instrument_threads(profile: bool, role_of=role) -> None:
    """Patch Thread._bootstrap_inner: note each thread's CPU time as it ends (and profile it);
    ``role_of(name, class)`` names a thread's stage in the profile."""
    original = threading.Thread._bootstrap_inner

    def bootstrap_inner(self):
        prof = cProfile.Profile(time.thread_time) if profile else None
        if prof is not None:
            prof.enable()
        try:
            original(self)
        finally:
            if prof is not None:
                prof.disable()
                _PROFILES.append((role_of(self.name, type(self).__name__), prof))
            _THREAD_CPU.append((self.name, type(self).__name__, time.thread_time()))

    threading.Thread._bootstrap_inner = bootstrap_inner


WHAT_IF = {
    "zstd-3": "zstd level 3 instead of 1 for blobs",
    "switch-1ms": "sys.setswitchinterval(0.001) (GIL hand-over every 1 ms, not 5 ms)",
}
# SSH packet (and window) sizes of streamed commands, e.g. ssh-128k-packets-8m-window.
WHAT_IF_SSH = re.compile(r"ssh-(\d+)k-packets(?:-(\d+)m-window)?")


def _what_if(names) -> None:
    """Bench-only variants of the pipeline, to measure what a change would bring (WHAT_IF)."""
    for name in names:
        if name not in WHAT_IF and not WHAT_IF_SSH.fullmatch(name):
            raise SystemExit(f"unknown what-if {name!r}; known: {', '.join(WHAT_IF)}, ssh-…")
        if m := WHAT_IF_SSH.fullmatch(name):
            from infra import ssh

            ssh.STREAM_MAX_PACKET = int(m.group(1)) * 1024
            if m.group(2):
                ssh.STREAM_WINDOW = int(m.group(2)) * 1024 * 1024
    if "zstd-3" in names:
        from backups.engine import pack

        pack.ZSTD_LEVEL = 3
    if "switch-1ms" in names:
        sys.setswitchinterval(0.001)


def _rss_mib() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    profile = bool(spec.get("profile"))
    _instrument_threads(profile)

    from backups import sources
    from backups.engine import RepoKeys, Repository
    from infra import ssh
    from infra.objectstore import S3Store

    _what_if(spec.get("what_if") or ())
    store = S3Store(
        spec["bucket"],
        endpoint_url=spec["endpoint_url"],
        region=spec["region"],
        access_key=spec["access_key"],
        secret_key=spec["secret_key"],
        path_style=True,
    )
    keys = RepoKeys.from_bytes(bytes.fromhex(spec["keys"]))
    options = {k: spec[k] for k in ("workers", "uploaders") if spec.get(k)}
    repo = Repository(store, spec["prefix"], keys, **options)
    if spec["init"]:
        repo.init()
    target = ssh.SshTarget(
        host=spec["ssh"]["host"],
        port=spec["ssh"]["port"],
        user=spec["ssh"]["user"],
        host_key=spec["ssh"]["host_key"],
        private_key_path=spec["ssh"]["key"],
    )
    pool = ssh.SshPool()
    source = {"kind": "webhotel", "id": "bench", "name": "bench.example", "host": "127.0.0.1"}
    rss_before = _rss_mib()

    main_prof = cProfile.Profile(time.thread_time) if profile else None
    main_cpu0, cpu0, t0 = time.thread_time(), time.process_time(), time.monotonic()
    if main_prof is not None:
        main_prof.enable()
    if not spec["init"]:
        repo.open()
    parent = repo.load_snapshot(spec["parent"]) if spec.get("parent") else None
    t_open = time.monotonic()
    with repo.backup(source, parent) as session:
        t_locked = time.monotonic()
        # As backups.services.runs does it: the parent's entries as a lazy iterator, which
        # backup_tree reads while the server runs find (so the parent tree's time is inside the
        # listing stage), the lock's settle wait running beside both.
        entries = repo.iter_tree(parent) if parent is not None else None
        t_parent = time.monotonic()
        summary = sources.backup_tree(
            session, root_path=spec["root"], target=target, pool=pool, parent_entries=entries
        )
        t_tree = time.monotonic()
    t1 = time.monotonic()
    if main_prof is not None:
        main_prof.disable()
        _PROFILES.append(("main", main_prof))
    main_cpu = time.thread_time() - main_cpu0

    pool.close_all()  # ends paramiko's transport thread, so its CPU time is recorded
    for t in threading.enumerate():
        if t is not threading.current_thread():
            t.join(5)
    cpu = time.process_time() - cpu0
    by_role: dict[str, float] = {"main": main_cpu}
    for name, cls, seconds in _THREAD_CPU:
        r = role(name, cls)
        by_role[r] = by_role.get(r, 0.0) + seconds
    snapshot = session.snapshot
    out = {
        "wall_s": t1 - t0,
        "open_s": t_open - t0,  # config, index files, parent snapshot object
        "lock_s": t_locked - t_open,  # shared lock (settle in the background), index refresh
        "parent_tree_s": t_parent - t_locked,  # ~0: the parent tree is read during the listing
        # SSH connection (from the pool) and the diff with the parent
        "connect_diff_s": (t_tree - t_parent) - summary.list_seconds - summary.stream_seconds,
        "list_s": summary.list_seconds,  # remote find -printf, parsed and sorted
        "stream_s": summary.stream_seconds,  # tar of the changed files -> chunk -> packs
        "commit_s": t1 - t_tree,  # last pack, index file, snapshot object, lock released
        "cpu_s": cpu,
        "cpu_by_role": by_role,
        "rss_before_backup_mib": rss_before,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "parent_tree_blobs": len(parent.tree) if parent is not None else 0,
        "snapshot": snapshot.id,
        "counters": session.counters(),
        "summary": {k: v for k, v in summary.as_dict().items() if k != "warnings"},
        "warnings": summary.warnings[:20],
        "complete": snapshot.summary["complete"],
        "workers": repo.workers,
        "uploaders": repo.uploaders,
    }
    if profile:
        from bench.profile import summarize

        out["profile"] = summarize(_PROFILES)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
