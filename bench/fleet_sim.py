"""A discrete-event model of one backup night, fed by the real planner (bench/fleet.py).

What it models, as the code does it (backups/services/runs.py, backups/tasks.py):
- the planned runs wait in the database; ``dispatch`` sends a run to the workers (one message in
  a FIFO queue) while the store's cap and the run's server's cap have room beside the runs going
  and those sent; it runs when the night is planned, whenever a run ends, and with the planner's
  beat every ``replan_s``;
- a worker process takes one message at a time; a run needs one free slot under each of its caps
  (``runs._slot_keys``); with none free it goes back to waiting for a later dispatch.
What it leaves out: broker and database latency (a message costs a worker ``SKIP_S``), and
servers that do not answer (their retries are bounded by ``run_backup.max_retries``).
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
    """The cap rules of the code under test, read by the caller from it."""

    per_server: int
    per_store: int
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
    done_in_window: int = 0
    end_s: float = 0.0
    messages: int = 0
    waits: int = 0  # messages that found no free slot
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
    by_pk = {r.pk: r for r in runs}
    server_of = {r.pk: r.slot_groups[0] for r in runs}
    waiting = dict.fromkeys(r.pk for r in runs)  # queued, not sent; insertion order = pk order
    ready: deque = deque()  # sent messages
    finishing: list = []  # (end time, seq, run or None, slots taken)
    taken: set[str] = set()
    holders: Counter = Counter()  # runs holding a key, per slot group
    in_flight: Counter = Counter()  # runs sent or running, per server group
    idle, running, now, seq = workers, 0, 0.0, 0
    next_plan = rules.replan_s

    def dispatch():
        room = rules.per_store - sum(in_flight.values())
        picked = []
        for pk in waiting:
            if room <= len(picked):
                break
            if in_flight[server_of[pk]] < rules.per_server:
                in_flight[server_of[pk]] += 1
                picked.append(pk)
        for pk in picked:
            del waiting[pk]
            ready.append(pk)

    def slots_for(run: Run):
        picked = []
        for group in run.slot_groups:
            key = next((k for k in group if k not in taken), None)
            if key is None:
                return None
            picked.append(key)
        return picked

    dispatch()
    while waiting or ready or finishing:
        while idle and ready:
            pk = ready.popleft()
            night.messages += 1
            idle -= 1
            seq += 1
            run = by_pk[pk]
            picked = slots_for(run)
            if picked is None:  # back to waiting for a later dispatch
                night.waits += 1
                in_flight[server_of[pk]] -= 1
                waiting[pk] = None
                heapq.heappush(finishing, (now + SKIP_S, seq, None, ()))
                continue
            taken.update(picked)
            for group in run.slot_groups:
                holders[group] += 1
                night.peak[group] = max(night.peak[group], holders[group])
            running += 1
            night.max_running = max(night.max_running, running)
            night.busy_s += run.seconds
            heapq.heappush(finishing, (now + run.seconds, seq, pk, tuple(picked)))
        # Advance to the next event: a worker frees, or the planner's beat.
        candidates = [finishing[0][0]] if finishing else []
        if waiting:
            candidates.append(next_plan)
        if not candidates:
            break
        now = min(candidates)
        while finishing and finishing[0][0] <= now:
            end, _s, pk, picked = heapq.heappop(finishing)
            idle += 1
            if pk is not None:
                running -= 1
                night.done += 1
                night.end_s = max(night.end_s, end)
                night.done_in_window += end <= window_s
                taken.difference_update(picked)
                in_flight[server_of[pk]] -= 1
                for group in by_pk[pk].slot_groups:
                    holders[group] -= 1
                dispatch()
        if next_plan <= now:
            dispatch()
            next_plan += rules.replan_s
    night.end_s = max(night.end_s, now)
    return night
