"""``make fleet``: does a night of the whole fleet fit its window, and with how many workers?

1. A database of its own (``havn_fleet`` beside DATABASE_URL) seeded with ``--servers`` hosting
   servers and ``--webhotels`` webhotels of ``--customers`` customers (bulk inserts), each
   webhotel with a disk usage drawn from a fixed-seed log-normal (median ``--median-mb``).
2. The real planner, ``runs.plan_night`` at the window's opening, creates the night's runs (timed:
   the planner is part of the night).
3. Each run's time from the costs ``make bench`` measured (bench/results.json: fixed cost, per
   file, per changed byte; ``--change`` of the bytes changed in a night, 100 KB per file), and its
   caps from the real ``runs._slot_keys``; then bench/fleet_sim.py plays the night (dispatch as
   ``runs.dispatch`` does it) for each number
   of workers in ``--workers`` and each store cap in ``--per-store``.
4. The table goes into bench/results.json (``fleet``) and docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fleet_sim import Costs, Rules, Run, simulate  # noqa: E402

DB_NAME = "havn_fleet"
BATCH = 5000
FILE_BYTES = 100_000


def log(message: str) -> None:
    print(f"fleet: {message}", file=sys.stderr, flush=True)


def fleet_database(url: str) -> str:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {DB_NAME} WITH (FORCE)")
        conn.execute(f"CREATE DATABASE {DB_NAME}")
    return urlunsplit(urlsplit(url)._replace(path=f"/{DB_NAME}"))


def seed(servers: int, webhotels: int, customers: int, median_mb: float) -> dict:
    """Servers, customers and webhotels, placed as sign-ups over years leave them (shuffled)."""
    from decimal import Decimal

    from accounts.models import Customer
    from hosting.models import Plan, Server, Webhotel

    rng = random.Random(11)
    plan = Plan.objects.create(
        name="Mellem",
        disk_quota_mb=100_000,
        max_databases=5,
        max_mailboxes=20,
        price_dkk=Decimal("79.00"),
    )
    hosts = Server.objects.bulk_create(
        (
            Server(name=f"web{i:04d}", address=f"10.{i // 250}.{i % 250}.1", profile="debian")
            for i in range(servers)
        ),
        batch_size=BATCH,
    )
    owners = Customer.objects.bulk_create(
        (
            Customer(
                kind="company",
                cvr=f"{10_000_000 + i}",
                name=f"Kunde {i} ApS",
                address="Vestergade 1",
                postal_code="8000",
                city="Aarhus C",
                email=f"kunde{i}@fleet.example",
            )
            for i in range(customers)
        ),
        batch_size=BATCH,
    )
    placement = [hosts[i % servers] for i in range(webhotels)]
    rng.shuffle(placement)
    mu = math.log(median_mb)
    Webhotel.objects.bulk_create(
        (
            Webhotel(
                customer=owners[i % customers],
                server=server,
                plan=plan,
                primary_domain=f"site{i}.dk",
                system_user=f"wh{i:06d}",
                status="active",
                disk_used_mb=min(int(rng.lognormvariate(mu, 1.2)) + 1, 100_000),
            )
            for i, server in enumerate(placement)
        ),
        batch_size=BATCH,
    )
    return {"servers": servers, "webhotels": webhotels, "customers": customers}


def plan(window_start) -> tuple[list, float]:
    """The real planner at the window's opening: the night's runs, and how long it took."""
    from django.db import transaction
    from django.utils import timezone

    from backups.services import runs

    moment = timezone.localtime().replace(
        hour=window_start.hour, minute=window_start.minute, second=0, microsecond=0
    ) + timedelta(minutes=1)
    t = time.monotonic()
    with transaction.atomic():
        planned = runs.plan_night(now=moment, enqueue=False)
    return planned, time.monotonic() - t


def run_models(planned: list, costs: Costs, change: float) -> list[Run]:
    from backups.services import runs
    from hosting.models import Webhotel

    sizes = dict(Webhotel.objects.values_list("pk", "disk_used_mb"))
    out = []
    for run in planned:
        size = sizes.get(run.item_id, 1) * 1_000_000 if run.kind == "webhotel" else 1_000_000
        files = max(size // FILE_BYTES, 20)
        groups = tuple(tuple(keys) for keys in runs._slot_keys(run))
        out.append(Run(run.pk, groups, costs.duration(files, int(size * change))))
    return out


def rules(per_store: int) -> Rules:
    from django.conf import settings

    return Rules(
        per_server=settings.HAVN_BACKUP_PER_SERVER,
        per_store=per_store,
        replan_s=settings.CELERY_BEAT_SCHEDULE["plan-backups"]["schedule"],
    )


def night_rows(planned, costs, args, window_s) -> list[dict]:
    from django.test import override_settings

    rows = []
    for per_store in args.per_store:
        with override_settings(HAVN_BACKUP_PER_STORE=per_store):
            models, r = run_models(planned, costs, args.change), rules(per_store)
        for workers in args.workers:
            t = time.monotonic()
            night = simulate(models, r, workers, window_s)
            rows.append(
                {
                    "per_store": per_store,
                    "workers": workers,
                    "runs": night.runs,
                    "done": night.done,
                    "done_in_window": night.done_in_window,
                    "night_h": round(night.end_s / 3600, 2),
                    "fits": night.done_in_window == night.runs,
                    "max_running": night.max_running,
                    "max_per_server": night.peak_of("backup-slot:"),
                    "max_store": night.peak_of("backup-store-slot:"),
                    "messages": night.messages,
                    "waits": night.waits,
                    "utilisation": round(night.utilisation, 3),
                    "worker_cores": round(night.max_running * costs.cpu_per_wall, 1),
                    "sim_s": round(time.monotonic() - t, 1),
                }
            )
            log(f"store cap {per_store}, {workers} workers: {rows[-1]}")
    return rows


def run(args) -> dict:
    base_url = os.environ.get("DATABASE_URL")
    if not base_url or not base_url.startswith("postgres"):
        raise SystemExit("DATABASE_URL (PostgreSQL) must be set: run `make fleet`")
    results = json.loads(args.results.read_text())
    costs = Costs.from_results(results)
    os.environ.update(
        HAVN_ENV="test",
        DATABASE_URL=fleet_database(base_url),
        DJANGO_SETTINGS_MODULE="infra.settings",
    )
    import django

    django.setup()
    from django.core.management import call_command

    from backups.models import BackupPolicy

    started, t0 = datetime.now(UTC), time.monotonic()
    call_command("migrate", verbosity=0)
    t = time.monotonic()
    counts = seed(args.servers, args.webhotels, args.customers, args.median_mb)
    seed_s = time.monotonic() - t
    log(f"seeded {counts} in {seed_s:.0f} s; planning")
    policy = BackupPolicy(name="default")  # the window every item without a policy gets
    window_s = (
        datetime.combine(datetime.min, policy.window_end)
        - datetime.combine(datetime.min, policy.window_start)
    ).total_seconds() % 86400
    planned, plan_s = plan(policy.window_start)
    log(f"planned {len(planned)} runs in {plan_s:.1f} s")
    rows = night_rows(planned, costs, args, window_s)
    fitting = [row for row in rows if row["fits"]]
    return {
        "started": started.isoformat(timespec="seconds"),
        "duration_s": round(time.monotonic() - t0),
        "counts": counts,
        "median_mb": args.median_mb,
        "change": args.change,
        "window": f"{policy.window_start:%H:%M}–{policy.window_end:%H:%M}",
        "window_h": window_s / 3600,
        "costs": costs.__dict__,
        "plan_s": round(plan_s, 1),
        "seed_s": round(seed_s, 1),
        "rows": rows,
        "fewest_workers": min(fitting, key=lambda r: (r["workers"], r["per_store"]), default=None),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=2000)
    parser.add_argument("--webhotels", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--median-mb", type=float, default=400.0)
    parser.add_argument("--change", type=float, default=0.01, help="share of bytes changed")
    parser.add_argument(
        "--workers", type=lambda v: [int(x) for x in v.split(",")], default=[4, 8, 16, 32, 64]
    )
    parser.add_argument(
        "--per-store", type=lambda v: [int(x) for x in v.split(",")], default=[8, 32]
    )
    parser.add_argument("--results", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    fleet = run(args)
    results = json.loads(args.results.read_text())
    results["fleet"] = fleet
    args.results.write_text(json.dumps(results, indent=1) + "\n")
    from bench.report import render

    args.doc.write_text(render(results))
    log(f"wrote {args.results} and {args.doc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
