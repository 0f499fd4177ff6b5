"""Grandfather-father-son retention: a pure function of snapshot times."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo


def keep(
    snapshots: Iterable[tuple[str, datetime]],
    daily: int = 7,
    weekly: int = 4,
    monthly: int = 12,
    now: datetime | None = None,
    *,
    tz: tzinfo = UTC,
) -> set[str]:
    """Ids to keep: the newest snapshot of each of the newest ``daily`` days, ``weekly`` ISO weeks
    and ``monthly`` months that have snapshots (calendar of ``tz``), plus the newest snapshot
    overall. Snapshots dated after ``now`` (clock skew) are always kept and count for nothing.
    Ties in time are broken by id, so the result is deterministic."""
    now = now or datetime.now(UTC)
    snaps = sorted(snapshots, key=lambda s: (s[1], s[0]), reverse=True)
    kept = {sid for sid, t in snaps if t > now}
    snaps = [(sid, t) for sid, t in snaps if t <= now]
    if not snaps:
        return kept
    kept.add(snaps[0][0])
    rules = [
        (daily, lambda d: (d.year, d.month, d.day)),
        (weekly, lambda d: d.isocalendar()[:2]),
        (monthly, lambda d: (d.year, d.month)),
    ]
    for count, bucket in rules:
        seen: set = set()
        for sid, t in snaps:  # newest first: the first one met in a bucket is its newest
            if len(seen) >= count:
                break
            b = bucket(t.astimezone(tz))
            if b not in seen:
                seen.add(b)
                kept.add(sid)
    return kept
