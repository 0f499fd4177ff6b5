"""The fleet model (bench/fleet_sim.py) fed by the real planner and cap rules: caps hold, no
worker spins on a run that cannot start, and the costs come from the committed benchmark
results. runs.dispatch itself is tested in tests/test_backup_runs.py."""

import json
from datetime import time
from pathlib import Path

import pytest
from django.test import override_settings

from bench.fleet import plan, rules, run_models
from bench.fleet_sim import Costs, Rules, Run, simulate
from tests.factories import ServerFactory, WebhotelFactory

RESULTS = Path(__file__).resolve().parent.parent / "bench" / "results.json"


def test_costs_come_from_the_measured_incremental_runs():
    costs = Costs.from_results(json.loads(RESULTS.read_text()))
    assert costs.fixed_s > 0 and costs.per_file_s > 0 and costs.per_changed_byte_s > 0
    assert costs.duration(1000, 10**6) > costs.duration(1000, 0) > costs.duration(10, 0)


@pytest.mark.django_db
def test_a_planned_night_keeps_every_cap_and_finishes():
    servers = [ServerFactory() for _ in range(3)]
    for i in range(30):
        WebhotelFactory(server=servers[i % 3], disk_used_mb=50 + i)
    planned, _seconds = plan(time(1, 0))
    assert len(planned) == 33  # 30 webhotels and 3 servers' configuration
    costs = Costs(fixed_s=30, per_file_s=0.001, per_changed_byte_s=1e-7, cpu_per_wall=0.7)
    with override_settings(HAVN_BACKUP_PER_SERVER=2, HAVN_BACKUP_PER_STORE=4):
        models, r = run_models(planned, costs, 0.01), rules(4)
    assert (r.per_server, r.per_store) == (2, 4)
    night = simulate(models, r, workers=10, window_s=5 * 3600)
    assert night.done == 33 and night.done_in_window == 33
    assert night.peak_of("backup-slot:") == 2  # the per-server cap, reached and held
    assert night.peak_of("backup-store-slot:") == 4
    assert night.max_running == 4


def test_more_workers_than_the_caps_take_send_no_extra_messages():
    server_slots = ("backup-slot:1:0", "backup-slot:1:1")
    store_slots = tuple(f"backup-store-slot:{n}" for n in range(8))
    runs = [Run(pk, (server_slots, store_slots), seconds=100) for pk in range(10)]
    night = simulate(
        runs, Rules(per_server=2, per_store=8, replan_s=900), workers=10, window_s=3600
    )
    assert night.done == 10 and night.peak_of("backup-slot:") == 2
    assert night.messages == 10 and night.waits == 0  # one message per run
    assert night.end_s == 500  # five rounds of two
