"""One Havn restore in its own process (so its peak RSS is the restore's alone).

``python -m bench.restore_run SPEC.json RESULT.json``: the spec names the S3 endpoint and bucket,
the repository prefix and keys, the snapshot, the sshd target and the destination folder. The
restore is done as a restore order does it, minus the database: open the repository, load the
snapshot, select every entry (``select_entries``), ``restore_to_server(...)`` over SSH into
``tar --extract``, then the engine's read-back of every restored path (SHA-256 of each file).

The result holds the wall times of the stages (open, entries, the tar stream, the read-back),
the CPU time of every thread by role (bench/havn_run.py's instrumentation), and with
``"profile": true`` the CPU seconds per function and stage (bench/profile.py).
"""

from __future__ import annotations

import json
import resource
import sys
import threading
import time

from bench.havn_run import _PROFILES, _THREAD_CPU, _instrument_threads, _rss_mib


def role(name: str, cls: str) -> str:
    """The restore stage a thread carries out."""
    if name == "MainThread":
        return "main"  # spooling and SHA-256 of each file, tar headers, the stdin queue
    if name.startswith("havn-restore-read"):
        return "read"  # ranged GETs from S3 (botocore), AES-GCM open, zstd decompression
    if cls == "Transport":
        return "ssh"  # paramiko's transport thread: packet encryption and MAC
    if name in ("havn-stderr", "havn-stdin"):
        return "ssh-io"  # the feeder thread writing into the channel, tar's stderr
    return "other"


def _configure_django() -> None:
    """The restore engine translates its error messages: settings without a database."""
    from django.conf import settings

    if not settings.configured:
        settings.configure(USE_I18N=False)


def main(spec_path: str, out_path: str) -> None:
    with open(spec_path) as f:
        spec = json.load(f)
    profile = bool(spec.get("profile"))
    _instrument_threads(profile, role)
    _configure_django()

    import cProfile

    from backups import restore
    from backups.engine import RepoKeys, Repository
    from infra import ssh
    from infra.objectstore import S3Store

    store = S3Store(
        spec["bucket"],
        endpoint_url=spec["endpoint_url"],
        region=spec["region"],
        access_key=spec["access_key"],
        secret_key=spec["secret_key"],
        path_style=True,
    )
    repo = Repository(store, spec["prefix"], RepoKeys.from_bytes(bytes.fromhex(spec["keys"])))
    target = ssh.SshTarget(
        host=spec["ssh"]["host"],
        port=spec["ssh"]["port"],
        user=spec["ssh"]["user"],
        host_key=spec["ssh"]["host_key"],
        private_key_path=spec["ssh"]["key"],
    )
    pool = ssh.SshPool()
    rss_before = _rss_mib()
    marks: dict[str, float] = {}
    last_call = [None]

    def progress(done: int, total: int, files: int) -> None:
        last_call[0] = time.monotonic()  # the last call comes when tar has finished

    main_prof = cProfile.Profile(time.thread_time) if profile else None
    main_cpu0, cpu0, t0 = time.thread_time(), time.process_time(), time.monotonic()
    if main_prof is not None:
        main_prof.enable()
    repo.open()
    snapshot = repo.load_snapshot(spec["snapshot"])
    marks["open"] = time.monotonic()
    entries = restore.select_entries(repo, snapshot)
    marks["entries"] = time.monotonic()
    result = restore.restore_to_server(
        repo, snapshot, entries, target=target, dest_root=spec["dest"], pool=pool, progress=progress
    )
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
    tar_done = last_call[0] or t1
    out = {
        "wall_s": t1 - t0,
        "open_s": marks["open"] - t0,  # config, index files, snapshot object
        "entries_s": marks["entries"] - marks["open"],  # the snapshot's tree, read and parsed
        # path checks, pack checks (a HEAD per pack), free space, the tar stream into tar -x
        "extract_s": tar_done - marks["entries"],
        "verify_s": t1 - tar_done,  # the read-back: lstat + SHA-256 of every restored file
        "cpu_s": cpu,
        "cpu_by_role": by_role,
        "rss_before_restore_mib": rss_before,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "files": result.files,
        "dirs": result.dirs,
        "symlinks": result.symlinks,
        "bytes": result.bytes,
        "verified": result.verified,
    }
    if profile:
        from bench.profile import summarize

        out["profile"] = summarize(_PROFILES)
    with open(out_path, "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
