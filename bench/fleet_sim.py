"""A discrete-event model of one backup night, fed by the real planner (bench/fleet.py).

What it models, as the code does it (backups/services/runs.py, backups/tasks.py):
- every planned run is one message in a FIFO queue, published when the window opens;
- a worker process takes one message at a time; a run no longer queued is skipped;
- a run needs one free slot under each of its caps (``runs._slot_keys``: its server's
  ``HAVN_BACKUP_PER_SERVER`` and the store's ``HAVN_BACKUP_PER_STORE``); with none free the task
  retries after ``run_backup``'s countdown, and after ``max_retries`` the run is given up (failed);
- while the window is open, the planner task runs every ``replan_s`` and publishes a new message
  for every run still queued.
What it leaves out: broker and database latency (a message costs ``skip_s`` of a worker), and
ETA messages held in a worker's memory (a retried message is simply ready again later).
"""

from __future__ import annotations

import heapq
from collections import Counter, deque
from dataclasses import dataclass, field

SKIP_S = 0.005  # a worker's time for a message that finds its run taken or no slot free


@dataclass(frozen=True)
class Costs:
    """Per-run cost model, in seconds of one worker process."""

    fixed_s: float  # connect, repository open and lock, commit
    per_file_s: float  # listing the file and writing its tree entry
    per_changed_byte_s: float  # reading, chunking, sealing and uploading changed bytes
    cpu_per_wall: float  # worker CPU cores busy while a run runs

    @classmethod
    def from_results(cls, results: dict) -> Costs:
        """The costs measured by `make bench` (bench/results.json): the no-change and the
        1 %-changed incremental runs of the same tree."""
        still, changed = results["runs"]["havn_nochange"][0], results["runs"]["havn_1pct"][0]
        files = results["dataset_files"]
        changed_bytes = results["incremental_scaling"]["1pct"]["changed_bytes"]
        return cls(
            fixed_s=still["open_s"] + still["lock_s"] + still["connect_diff_s"] + still["commit_s"],
            per_file_s=(still["list_s"] + still["stream_s"]) / files,
            per_changed_byte_s=max(changed["stream_s"] - still["stream_s"], 0) / changed_bytes,
            cpu_per_wall=changed["cpu_s"] / changed["wall_s"],
        )

    def duration(self, files: int, changed_bytes: int) -> float:
        return self.fixed_s + files * self.per_file_s + changed_bytes * self.per_changed_byte_s


@dataclass(frozen=True)
class Rules:
    """The task and cap rules of the code under test, read by the caller from it."""

    per_server: int
    per_store: int
    retry_s: float
    max_retries: int
    replan_s: float


@dataclass(frozen=True)
class Run:
    pk: int
    slot_groups: tuple[tuple[str, ...], ...]  # one free key needed from each group
    seconds: float


@dataclass
class Night:
    workers: int
    runs: int
    done: int = 0
    given_up: int = 0
    done_in_window: int = 0
    end_s: float = 0.0
    messages: int = 0
    skipped: int = 0
    retries: int = 0
    max_running: int = 0
    peak: Counter = field(default_factory=Counter)  # most runs at once holding a slot group
    busy_s: float = 0.0

    def peak_of(self, prefix: str) -> int:
        """The highest peak of the slot groups whose keys start with ``prefix``."""
        return max((n for g, n in self.peak.items() if g[0].startswith(prefix)), default=0)

    @property
    def utilisation(self) -> float:
        return self.busy_s / (self.workers * self.end_s) if self.end_s else 0.0


def simulate(runs: list[Run], rules: Rules, workers: int, window_s: float) -> Night:
    night = Night(workers=workers, runs=len(runs))
    state = {r.pk: "queued" for r in runs}
    by_pk = {r.pk: r for r in runs}
    ready: deque = deque((r.pk, 0) for r in runs)  # (run, retries), published at window open
    delayed: list = []  # (ready time, seq, run, retries)
    finishing: list = []  # (end time, seq, run or None, slots taken)
    taken: set[str] = set()
    holders: Counter = Counter()  # runs holding a key, per slot group
    idle, running, now, seq = workers, 0, 0.0, 0
    next_plan = rules.replan_s

    def slots_for(run: Run):
        picked = []
        for group in run.slot_groups:
            key = next((k for k in group if k not in taken), None)
            if key is None:
                return None
            picked.append(key)
        return picked

    while ready or delayed or finishing:
        while delayed and delayed[0][0] <= now:
            _t, _s, pk, retries = heapq.heappop(delayed)
            ready.append((pk, retries))
        while idle and ready:
            pk, retries = ready.popleft()
            night.messages += 1
            idle -= 1
            seq += 1
            run = by_pk[pk]
            picked = slots_for(run) if state[pk] == "queued" else None
            if state[pk] != "queued":
                night.skipped += 1
                heapq.heappush(finishing, (now + SKIP_S, seq, None, ()))
            elif picked is None:
                if retries >= rules.max_retries:
                    state[pk] = "failed"
                    night.given_up += 1
                else:
                    night.retries += 1
                    heapq.heappush(delayed, (now + rules.retry_s, seq, pk, retries + 1))
                heapq.heappush(finishing, (now + SKIP_S, seq, None, ()))
            else:
                state[pk] = "running"
                taken.update(picked)
                for group in run.slot_groups:
                    holders[group] += 1
                    night.peak[group] = max(night.peak[group], holders[group])
                running += 1
                night.max_running = max(night.max_running, running)
                night.busy_s += run.seconds
                heapq.heappush(finishing, (now + run.seconds, seq, pk, tuple(picked)))
        # Advance to the next event: a worker frees, a retry is due, or the planner runs.
        candidates = [q[0][0] for q in (finishing, delayed) if q]
        if next_plan <= window_s and (ready or delayed or finishing):
            candidates.append(next_plan)
        if not candidates:
            break
        now = min(candidates)
        while finishing and finishing[0][0] <= now:
            end, _s, pk, picked = heapq.heappop(finishing)
            idle += 1
            if pk is not None:
                running -= 1
                state[pk] = "done"
                night.done += 1
                night.end_s = max(night.end_s, end)
                night.done_in_window += end <= window_s
                taken.difference_update(picked)
                for group in by_pk[pk].slot_groups:
                    holders[group] -= 1
        if next_plan <= now and next_plan <= window_s:
            ready.extend((pk, 0) for pk, s in state.items() if s == "queued")
            next_plan += rules.replan_s
    night.end_s = max(night.end_s, now)
    return night
