"""``make bench``, second part: the REST API under load, served as in production.

1. A database of its own (``havn_bench``, dropped and created again) on the PostgreSQL server of
   ``DATABASE_URL`` (``make bench`` starts a throw-away one with scripts/with-services when it is
   unset), migrated and seeded by bench/api_seed.py: 1,000 customers, 10,000 webhotels, their
   domains and zones and 100,000 DNS records; a web agency holds 2 % of them and reads them with
   its owner's API keys; a staff administrator's keys read the DNS records of every customer.
2. Each endpoint through Django in this process, one request at a time: SQL queries per request
   and where the time goes (SQL or the rest), and a cProfile of the webhotel list.
3. gunicorn on 127.0.0.1 with production settings (``HAVN_ENV=production``, DEBUG off, persistent
   database connections, throttling on): two sync workers, one per core (``--server`` picks
   another set-up). Other set-ups are first measured on the webhotel list for comparison
   (``--compare 0`` skips that).
4. wrk (Debian's ``wrk``) drives each endpoint from its own process for a fixed time after a
   warm-up and a wait for a quiet machine (as the backup benchmark waits), over a few
   connections, taking the API keys in turn (one key would hit its 1,200 requests a minute);
   every answer must be a 2xx. Latency percentiles come from wrk's own histogram (a Lua ``done``
   hook prints them as JSON). The CPU that gunicorn, the PostgreSQL backends, wrk and everything
   else used meanwhile is recorded with each run.
5. ``bench/results.json`` is updated (``api_list_*`` and ``api``; the backup benchmark's keys are
   kept) and ``docs/benchmarks.md`` rendered again (bench/report.py).

``--quick``: a tenth of the data and short runs, for development.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import json
import os
import platform
import pstats
import resource
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a file: the project's packages must be importable
    sys.path.insert(0, str(ROOT))

from bench.backup_bench import CpuMeter  # noqa: E402
from bench.rig import TICK, tree_cpu_seconds  # noqa: E402

DB_NAME = "havn_bench"
TARGET_P99_MS = 100.0
TARGET_ENDPOINT = "webhotel_list"
PAGE = 50
# gunicorn set-ups: (worker class, workers, threads per worker). The one measured: a sync worker
# per core runs one request at a time with no GIL to share, and more workers or threads only
# time-share the same cores (on 2 cores gthread cost more CPU per request and showed stalls).
SERVER = ("sync", 2, 1)
COMPARED = [SERVER, ("sync", 3, 1), ("gthread", 2, 2), ("gthread", 3, 2)]


def log(message: str) -> None:
    print(f"[api-bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def endpoints(seeded: dict) -> dict[str, tuple[str, list[str], list[str]]]:
    """name -> (label, paths taken in turn, API keys taken in turn)."""
    domain = seeded["agency"]["big_zone_domain_id"]
    agency, staff = seeded["tokens"], seeded["staff_tokens"]
    return {
        "webhotel_list": (
            f"webhotel list, {PAGE} per page",
            [f"/api/v1/webhotels?page_size={PAGE}"],
            agency,
        ),
        "dns_list": (
            f"DNS record list, {PAGE} per page",
            [f"/api/v1/dns-records?page_size={PAGE}"],
            agency,
        ),
        "dns_list_domain": (
            f"DNS records of one domain, {PAGE} per page",
            [f"/api/v1/dns-records?zone__domain={domain}&page_size={PAGE}"],
            agency,
        ),
        "dns_list_staff": (
            f"DNS record list of every customer (staff key), {PAGE} per page",
            [f"/api/v1/dns-records?page_size={PAGE}"],
            staff,
        ),
        "webhotel_detail": (
            "webhotel detail",
            [f"/api/v1/webhotels/{pk}" for pk in seeded["webhotel_ids"]],
            agency,
        ),
        "dns_detail": (
            "DNS record detail",
            [f"/api/v1/dns-records/{pk}" for pk in seeded["record_ids"]],
            agency,
        ),
    }


# -- the database and the settings -------------------------------------------------------------


def bench_database(url: str) -> str:
    """Drop and create ``havn_bench`` on the server of ``url``; its URL."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{DB_NAME}"))


def drop_database(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")


def production_env(db_url: str, redis_url: str, work: Path) -> dict[str, str]:
    """Production settings as `make deploy-check` gives them, on this machine's services."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="infra.settings",
        HAVN_ENV="production",
        HAVN_SECRET_KEY=secrets.token_urlsafe(50),
        HAVN_ALLOWED_HOSTS="127.0.0.1",
        HAVN_DATA_KEYS=base64.urlsafe_b64encode(os.urandom(32)).decode(),
        HAVN_PLATFORM_KEYS="k1:" + base64.b64encode(os.urandom(32)).decode(),
        DATABASE_URL=db_url,
        REDIS_URL=redis_url,
        HAVN_CACHE_PREFIX=f"havn-bench-{secrets.token_hex(4)}",
        HAVN_OBJECTSTORE_URL=f"file://{work}/objects",
        HAVN_STATIC_ROOT=str(work / "static"),
        HAVN_VAR_DIR=str(work / "var"),
    )
    env.pop("HAVN_DEBUG", None)
    return env


# -- in-process measurements -------------------------------------------------------------------

# What a TLS-terminating proxy in front of gunicorn sends (production redirects plain HTTP).
PROXY_HEADERS = {"Host": "127.0.0.1", "X-Forwarded-Proto": "https"}


def _client(token: str):
    from django.test import Client

    return Client(
        HTTP_HOST="127.0.0.1", HTTP_X_FORWARDED_PROTO="https", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def in_process(paths: dict, repeat: int) -> dict:
    """Per endpoint: SQL queries per request, and the median request's time in SQL and in all."""
    from django.db import connection

    out = {}
    for name, (_label, urls, tokens) in paths.items():
        client = _client(tokens[0])
        samples = []
        for i in range(repeat + 3):  # three to warm up
            sql: list[float] = []

            def timed(execute, *args, sql=sql):
                t = time.perf_counter()
                try:
                    return execute(*args)
                finally:
                    sql.append(time.perf_counter() - t)

            t0 = time.perf_counter()
            with connection.execute_wrapper(timed):
                response = client.get(urls[i % len(urls)])
            total = time.perf_counter() - t0
            assert response.status_code == 200, (urls[i % len(urls)], response.content[:300])
            if i >= 3:
                samples.append((total, sum(sql), len(sql)))
        total, sql_s, _ = sorted(samples)[len(samples) // 2]
        out[name] = {
            "queries": max(s[2] for s in samples),
            "request_ms": round(total * 1000, 2),
            "sql_ms": round(sql_s * 1000, 2),
            "rest_ms": round((total - sql_s) * 1000, 2),
        }
    return out


# Stages of a list request: (label, file, function); a stage's time is its function's cumulative
# time (the largest, where a name matches several functions: the outermost one).
STAGES = [
    ("API key authentication (one query)", "api/authentication.py", "authenticate"),
    ("throttle (the key's request history in Redis)", "rest_framework/views.py", "check_throttles"),
    ("filters (django-filter)", "rest_framework/generics.py", "filter_queryset"),
    (
        "page: the count and the page's query, model instances",
        "rest_framework/pagination.py",
        "paginate_queryset",
    ),
    ("serializer: the rows to dicts", "rest_framework/serializers.py", "to_representation"),
    ("JSON rendering", "rest_framework/renderers.py", "render"),
]
WHOLE = ("django/core/handlers/base.py", "get_response")


def profile_stages(url: str, token: str, repeat: int) -> list:
    """CPU time per request of each stage (cProfile with a CPU clock), and the rest."""
    client = _client(token)
    client.get(url)
    profiler = cProfile.Profile(time.process_time)
    profiler.enable()
    for _ in range(repeat):
        client.get(url)
    profiler.disable()
    stats = pstats.Stats(profiler).stats

    def cumulative(path: str, func: str) -> float:
        found = [v[3] for (f, _line, n), v in stats.items() if f.endswith(path) and n == func]
        return max(found, default=0.0) * 1000 / repeat

    whole = cumulative(*WHOLE)
    rows = [[label, round(cumulative(path, func), 2)] for label, path, func in STAGES]
    rows.append(["the rest: middleware, routing, view set-up", whole - sum(r[1] for r in rows)])
    return [[label, round(ms, 2), round(ms / whole, 3)] for label, ms in rows]


# -- gunicorn and wrk --------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(self, env: dict, work: Path, kind: str, workers: int, threads: int):
        self.port = free_port()
        self.config = {"worker_class": kind, "workers": workers, "threads": threads}
        self.argv = [
            sys.executable,
            "-m",
            "gunicorn",
            "infra.wsgi:application",
            f"--bind=127.0.0.1:{self.port}",
            f"--worker-class={kind}",
            f"--workers={workers}",
            f"--threads={threads}",
        ]
        self.log = open(work / f"gunicorn-{kind}-{workers}x{threads}.log", "w")  # noqa: SIM115
        self.proc = subprocess.Popen(
            self.argv, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT
        )

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def command(self) -> str:
        return "gunicorn " + " ".join(self.argv[3:]).replace(str(self.port), "PORT")

    def get(self, path: str, token: str) -> tuple[int, dict]:
        headers = {**PROXY_HEADERS, "Authorization": f"Bearer {token}"}
        request = urllib.request.Request(self.base + path, headers=headers)  # noqa: S310 -- http
        try:
            with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, {}

    def wait_ready(self, path: str, token: str, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log.name}")
            try:
                if self.get(path, token)[0] == 200:
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gunicorn did not answer within {timeout:.0f} s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


LUA = """\
local paths = {paths}
local tokens = {tokens}
local n = 0
local threads = 0
function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end
function init(args)
  n = offset
end
function request()
  n = n + 1
  return wrk.format("GET", paths[n % #paths + 1], {{
    ["Host"] = "127.0.0.1",
    ["X-Forwarded-Proto"] = "https",
    ["Authorization"] = "Bearer " .. tokens[n % #tokens + 1],
  }})
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK-JSON {{"requests": %d, "duration_us": %d, "bytes": %d, "errors": {{"connect": %d, '
    .. '"read": %d, "write": %d, "status": %d, "timeout": %d}}, "latency_us": {{"min": %d, '
    .. '"mean": %.1f, "max": %d, "p50": %d, "p90": %d, "p99": %d}}}}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency.min, latency.mean, latency.max, latency:percentile(50),
    latency:percentile(90), latency:percentile(99)))
end
"""


def _lua_list(items: list[str]) -> str:
    return "{" + ", ".join(json.dumps(item) for item in items) + "}"


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine so far (/proc/stat: all but idle, iowait, steal)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / TICK


def postgres_cpu_s() -> dict[int, float]:
    """CPU seconds of each PostgreSQL backend connected to the bench database."""
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
            if not cmdline.startswith(b"postgres: ") or f" {DB_NAME} ".encode() not in cmdline:
                continue
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        out[int(entry)] = (int(fields[11]) + int(fields[12])) / TICK
    return out


def wrk(server: Gunicorn, paths: list[str], tokens: list[str], args, seconds: float) -> dict:
    """One wrk run against ``paths``; its numbers, with the CPU each party used meanwhile."""
    script = Path(args.work) / "wrk.lua"
    script.write_text(LUA.format(paths=_lua_list(paths), tokens=_lua_list(tokens)))
    argv = [
        "wrk",
        f"--threads={args.wrk_threads}",
        f"--connections={args.connections}",
        f"--duration={seconds:g}s",
        "--timeout=10s",
        f"--script={script}",
        server.base,
    ]
    gunicorn0, pg0, busy0 = tree_cpu_seconds(server.proc.pid), postgres_cpu_s(), machine_busy_s()
    wrk0 = _children_cpu_s()
    proc = subprocess.run(argv, capture_output=True)
    wrk_cpu = _children_cpu_s() - wrk0  # wrk is the only child reaped meanwhile
    busy = machine_busy_s() - busy0
    gunicorn_cpu = tree_cpu_seconds(server.proc.pid) - gunicorn0
    pg = postgres_cpu_s()
    pg_cpu = sum(cpu - pg0.get(pid, 0.0) for pid, cpu in pg.items())
    lines = [line for line in proc.stdout.decode().splitlines() if line.startswith("WRK-JSON ")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"wrk failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
    numbers = json.loads(lines[0].removeprefix("WRK-JSON "))
    if any(numbers["errors"].values()):
        raise SystemExit(f"wrk saw errors on {paths[0]}: {numbers['errors']} (see the server log)")
    requests, lat = numbers["requests"], numbers["latency_us"]
    wall = numbers["duration_us"] / 1e6
    return {
        "requests": requests,
        "seconds": round(wall, 2),
        "rps": round(requests / wall, 1),
        "p50_ms": round(lat["p50"] / 1000, 2),
        "p90_ms": round(lat["p90"] / 1000, 2),
        "p99_ms": round(lat["p99"] / 1000, 2),
        "max_ms": round(lat["max"] / 1000, 2),
        "mean_ms": round(lat["mean"] / 1000, 2),
        "kb_per_response": round(numbers["bytes"] / max(requests, 1) / 1024, 1),
        "cpu": {
            "gunicorn_ms_per_request": round(gunicorn_cpu * 1000 / max(requests, 1), 2),
            "postgres_ms_per_request": round(pg_cpu * 1000 / max(requests, 1), 2),
            "gunicorn_s": round(gunicorn_cpu, 2),
            "postgres_s": round(pg_cpu, 2),
            "wrk_s": round(wrk_cpu, 2),
            "machine_busy_s": round(busy, 2),
            "other_s": round(max(0.0, busy - gunicorn_cpu - pg_cpu - wrk_cpu), 2),
            "available_s": round(wall * (os.cpu_count() or 1), 2),
        },
    }


def _children_cpu_s() -> float:
    """CPU seconds of this process's children that have ended."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def measure(server: Gunicorn, paths: list[str], tokens: list[str], args, seconds: float) -> dict:
    """A warm-up, a wait for a quiet machine (other work shares it), then the measured run."""
    wrk(server, paths, tokens, args, args.warmup)
    CpuMeter.wait_quiet()
    return wrk(server, paths, tokens, args, seconds)


# -- the machine --------------------------------------------------------------------------------


def _version(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if lines else "?"


def machine_info(redis_url: str) -> dict:
    import redis
    from django.db import connection

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
    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        postgres = cursor.fetchone()[0]
    os_name = "?"
    if os.path.exists("/etc/os-release"):
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    commit = _version(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = _version(["git", "-C", str(ROOT), "status", "--porcelain", "--", "api", "accounts"])
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kib / 1024 / 1024, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgresql": postgres,
        "redis": redis.Redis.from_url(redis_url).info("server")["redis_version"],
        "wrk": _version(["wrk", "--version"]).split(" Copyright")[0],
        "packages": {
            dist: metadata.version(dist)
            for dist in ("django", "djangorestframework", "gunicorn", "psycopg")
        },
        "commit": commit + (" (api or accounts changed locally)" if dirty not in ("", "?") else ""),
    }


# -- the run ------------------------------------------------------------------------------------


def run(args) -> dict:
    base_url, redis_url = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
    if not base_url or not redis_url:
        raise SystemExit(
            "DATABASE_URL and REDIS_URL must be set: run `make bench`, or "
            "`scripts/with-services .venv/bin/python -m bench.api_bench`"
        )
    if not shutil.which("wrk"):
        raise SystemExit("wrk is missing: apt-get install wrk")
    started = datetime.now(UTC)
    t0 = time.monotonic()
    work = Path(args.work)
    (work / "static").mkdir()  # WhiteNoise's folder; the API serves no static files
    db_url = bench_database(base_url)
    env = production_env(db_url, redis_url, work)
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from bench import api_seed

    try:
        t = time.monotonic()
        call_command("migrate", verbosity=0)
        migrate_s = time.monotonic() - t
        log(f"migrated in {migrate_s:.1f} s; seeding")
        seeded = api_seed.seed(api_seed.QUICK if args.quick else api_seed.FULL)
        log(f"seeded {seeded['counts']} in {seeded['seconds']} s")
        paths = endpoints(seeded)
        _label, first, tokens = paths[TARGET_ENDPOINT]
        machine = machine_info(redis_url)
        repeat = 10 if args.quick else 30
        django_numbers = in_process(paths, repeat)
        log(f"in process: {django_numbers}")
        stages = profile_stages(first[0], tokens[1], repeat)
        connections.close_all()

        configs = []
        for kind, workers, threads in COMPARED if args.compare else []:
            server = Gunicorn(env, work, kind, workers, threads)
            try:
                server.wait_ready(first[0], tokens[0])
                numbers = measure(server, first, tokens, args, args.compare)
            finally:
                server.stop()
            configs.append({**server.config, **numbers})
            log(f"{kind} {workers}x{threads}: {numbers['rps']} req/s, p99 {numbers['p99_ms']}")

        server = Gunicorn(env, work, *args.server)
        results = {}
        try:
            server.wait_ready(first[0], tokens[0])
            for name, (label, urls, keys) in paths.items():
                status, body = server.get(urls[0], keys[0])
                assert status == 200, (urls[0], status)
                if "results" in body:
                    assert len(body["results"]) == PAGE, (urls[0], len(body["results"]))
                numbers = measure(server, urls, keys, args, args.duration)
                results[name] = {
                    "label": label,
                    "path": urls[0] if len(urls) == 1 else f"{urls[0]} ({len(urls)} ids in turn)",
                    "count": body.get("count"),
                    **numbers,
                    "django": django_numbers[name],
                }
                log(
                    f"{label}: {numbers['rps']} req/s, p50 {numbers['p50_ms']} ms, "
                    f"p99 {numbers['p99_ms']} ms"
                )
        finally:
            server.stop()
    finally:
        connections.close_all()
        if not args.keep_db:
            drop_database(base_url)

    target = results[TARGET_ENDPOINT]
    return {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0, 1),
        "quick": args.quick,
        "machine": machine,
        "seed": {k: seeded[k] for k in ("counts", "agency", "seconds")},
        "migrate_s": round(migrate_s, 1),
        "server": {**server.config, "command": server.command},
        "server_configs": configs,
        "load": {
            "tool": machine["wrk"],
            "threads": args.wrk_threads,
            "connections": args.connections,
            "warmup_s": args.warmup,
            "duration_s": args.duration,
            "compare_s": args.compare,
            "keys": len(tokens),
        },
        "endpoints": results,
        "profile": stages,
        "target": {
            "endpoint": TARGET_ENDPOINT,
            "p99_ms": TARGET_P99_MS,
            "value": target["p99_ms"],
            "met": target["p99_ms"] < TARGET_P99_MS,
        },
    }


def _server(value: str) -> tuple[str, int, int]:
    """``sync:3`` or ``gthread:2x4`` (workers x threads)."""
    kind, _, size = value.partition(":")
    workers, _, threads = size.partition("x")
    if kind not in {"sync", "gthread"} or not workers.isdigit():
        raise argparse.ArgumentTypeError("sync:WORKERS or gthread:WORKERSxTHREADS")
    return kind, int(workers), int(threads or 1)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the data, short runs")
    parser.add_argument("--duration", type=float, help="seconds measured per endpoint")
    parser.add_argument("--warmup", type=float, help="seconds of warm-up before each run")
    parser.add_argument(
        "--compare", type=float, help="seconds per gunicorn set-up compared (0: none)"
    )
    parser.add_argument("--connections", type=int, default=4, help="concurrent connections")
    parser.add_argument("--wrk-threads", type=int, default=2)
    parser.add_argument(
        "--server", type=_server, default=SERVER, help="sync:WORKERS or gthread:WORKERSxTHREADS"
    )
    parser.add_argument("--keep-db", action="store_true", help=f"leave {DB_NAME} in place")
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 15.0)
    args.warmup = args.warmup or (1.0 if args.quick else 3.0)
    if args.compare is None:
        args.compare = 3.0 if args.quick else 10.0
    with tempfile.TemporaryDirectory(prefix="havn-api-bench-") as work:
        args.work = work
        api = run(args)
    results = json.loads(args.results.read_text()) if args.results.exists() else {}
    target = api["endpoints"][TARGET_ENDPOINT]
    results.update(
        api_list_p50_ms=target["p50_ms"],
        api_list_p99_ms=target["p99_ms"],
        api_list_rps=target["rps"],
        api=api,
    )
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    from bench.report import render

    args.doc.write_text(render(results))
    log(f"wrote {args.results} and {args.doc}")
    t = api["target"]
    log(
        f"target p99 < {t['p99_ms']:.0f} ms ({t['endpoint']}): "
        f"{'met' if t['met'] else 'MISSED'} ({t['value']} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
