"""Stage profile of a Havn backup: cProfile's per-function CPU time, grouped by pipeline stage.

Every thread of the backup process ran under ``cProfile.Profile(time.thread_time)``, so a
function's ``tottime`` is CPU time (waiting on a queue, a socket or the GIL costs none). Each
function's own time goes to a stage by its module and name -- and, for hash functions used in
several places, by its caller -- within the role of the thread that ran it (bench/havn_run.py).
"""

from __future__ import annotations

import pstats

# (stage, test on "filename:function") in order: the first match wins.
_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("HMAC-SHA256 blob ids", ("hmac_digest", "hmac.py:digest")),
    ("zstd compression (+ codec byte copy)", ("ZstdCompressor", "pack.py:compress")),
    ("AES-GCM seal (+ nonce, copy)", ("AESGCM", "posix.urandom", "crypto.py:seal")),
    ("MD5 (Content-MD5 of DeleteObjects)", ("openssl_md5",)),
    ("FastCDC chunking", ("pyfastcdc", "cut_stream", "cut_buf")),
    ("tar stream parsing", ("tarfile.py", "backups/tarstream.py")),
    ("SSH channel (paramiko)", ("paramiko",)),
    ("HTTP upload (boto3/botocore)", ("botocore", "boto3", "urllib3", "http/client.py", "socket")),
    ("queues, locks, threads", ("queue.py", "threading.py", "acquire", "release")),
    ("listing and tar feed (sources)", ("backups/sources.py",)),
    ("tree entries (JSON lines)", ("snapshot.py", "json/")),
)


def _label(func: tuple[str, int, str]) -> str:
    filename, line, name = func
    if filename == "~":
        return name
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in filename:
            filename = filename.split(marker, 1)[1]
            break
    return f"{filename}:{line}:{name}"


def stage_of(
    func: tuple[str, int, str], caller: tuple[str, int, str] | None = None, role: str = ""
) -> str:
    text = f"{func[0]}:{func[2]}"
    if role == "ssh":  # paramiko's transport thread does nothing else
        if "socket" in text:
            return "SSH socket reads"
        if "AESGCM" in text:
            return "SSH decryption (AES-GCM)"
        return "SSH packet handling (Python)"
    if "openssl_sha256" in text:
        where = f"{caller[0]}:{caller[2]}" if caller else ""
        if "botocore" in where:
            return "SHA-256 SigV4 payload hash (plain-HTTP endpoints only)"
        return "SHA-256 pack name"
    if text.endswith(":<method 'join' of 'bytes' objects>") or "builtins.bytes" in text:
        return "copies (bytes, join)"
    for stage, needles in _RULES:
        if any(n in text for n in needles):
            return stage
    return "other Python"


def summarize(profiles) -> dict:
    """``profiles``: (role, cProfile.Profile) pairs -> {"stages": {role: {stage: s}},
    "top": [[role, function, CPU s, calls], ...]} (functions by own CPU time)."""
    by_role: dict[str, pstats.Stats] = {}
    for role, prof in profiles:
        if role in by_role:
            by_role[role].add(prof)
        else:
            by_role[role] = pstats.Stats(prof)
    stages: dict[str, dict[str, float]] = {}
    top: list[list] = []
    for role, stats in by_role.items():
        acc = stages.setdefault(role, {})
        for func, (_cc, nc, tt, _ct, callers) in stats.stats.items():
            if "openssl_sha256" in func[2] and callers:
                for caller, (_c, _n, ctt, _cct) in callers.items():
                    s = stage_of(func, caller, role)
                    acc[s] = acc.get(s, 0.0) + ctt
            else:
                s = stage_of(func, role=role)
                acc[s] = acc.get(s, 0.0) + tt
            top.append([role, _label(func), round(tt, 3), nc])
    top.sort(key=lambda row: -row[2])
    return {
        "stages": {r: dict(sorted(s.items(), key=lambda kv: -kv[1])) for r, s in stages.items()},
        "top": top[:40],
    }
