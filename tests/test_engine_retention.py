"""Golden tests of the grandfather-father-son retention rule (backups.engine.retention.keep)."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from backups.engine import keep


def t(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def nightly(first: str, days: int, hour: int = 2) -> list[tuple[str, datetime]]:
    start = t(first).replace(hour=hour)
    return [
        ((start + timedelta(days=i)).strftime("%m-%d"), start + timedelta(days=i))
        for i in range(days)
    ]


NOW = t("2025-01-30T12:00:00Z")

CASES = [
    # (name, snapshots, kwargs, expected ids)
    (
        "30 nights, default policy: 7 days + Sundays of 2 older ISO weeks",
        nightly("2025-01-01T00:00:00Z", 30),
        {},
        {"01-12", "01-19", "01-24", "01-25", "01-26", "01-27", "01-28", "01-29", "01-30"},
    ),
    (
        "two a day: the newest of each day",
        [
            ("a", t("2025-01-29T02:00Z")),
            ("b", t("2025-01-29T14:00Z")),
            ("c", t("2025-01-30T02:00Z")),
        ],
        {"daily": 2, "weekly": 0, "monthly": 0},
        {"b", "c"},
    ),
    (
        "days without snapshots do not count",
        [(d, t(f"2025-01-{d}T02:00Z")) for d in ("01", "05", "10", "20")],
        {"daily": 2, "weekly": 0, "monthly": 0},
        {"20", "10"},
    ),
    (
        "12 months of monthly snapshots out of 15",
        [
            (f"{y}-{m:02d}", t(f"{y}-{m:02d}-15T02:00Z"))
            for y, m in [(2024, m) for m in range(1, 13)] + [(2025, 1), (2025, 2), (2025, 3)]
        ],
        {"daily": 0, "weekly": 0, "monthly": 12, "now": t("2025-03-20T00:00Z")},
        {f"2024-{m:02d}" for m in range(4, 13)} | {"2025-01", "2025-02", "2025-03"},
    ),
    (
        "everything zero: the newest is always kept",
        nightly("2025-01-20T00:00:00Z", 5),
        {"daily": 0, "weekly": 0, "monthly": 0},
        {"01-24"},
    ),
    (
        "a snapshot dated in the future is kept and counts for nothing",
        [("future", t("2025-02-05T02:00Z"))] + nightly("2025-01-27T00:00:00Z", 4),
        {"daily": 2, "weekly": 0, "monthly": 0},
        {"future", "01-30", "01-29"},
    ),
    (
        "ISO weeks: the year turns inside week 1 of 2025",
        [
            ("sun", t("2024-12-29T02:00Z")),
            ("mon", t("2024-12-30T02:00Z")),
            ("wed", t("2025-01-01T02:00Z")),
            ("fri", t("2025-01-03T02:00Z")),
        ],
        {"daily": 0, "weekly": 2, "monthly": 0},
        {"fri", "sun"},
    ),
    (
        "ties in time are broken by id",
        [("a", t("2025-01-30T02:00Z")), ("b", t("2025-01-30T02:00Z"))],
        {"daily": 1, "weekly": 1, "monthly": 1},
        {"b"},
    ),
    ("no snapshots", [], {}, set()),
]


@pytest.mark.parametrize(
    ("snaps", "kwargs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_keep_golden(snaps, kwargs, expected):
    assert keep(snaps, **{"now": NOW, **kwargs}) == expected
    assert keep(list(reversed(snaps)), **{"now": NOW, **kwargs}) == expected  # order-free


def test_days_follow_the_given_time_zone():
    snaps = [
        ("a", t("2025-01-29T12:00Z")),
        ("b", t("2025-01-30T22:30Z")),  # 23:30 on the 30th in Copenhagen
        ("c", t("2025-01-30T23:30Z")),  # 00:30 on the 31st in Copenhagen
    ]
    now = t("2025-02-01T00:00Z")
    policy = {"daily": 2, "weekly": 0, "monthly": 0, "now": now}
    assert keep(snaps, **policy) == {"c", "a"}
    assert keep(snaps, **policy, tz=ZoneInfo("Europe/Copenhagen")) == {"c", "b"}


def test_a_year_of_nights_keeps_the_default_23_at_most():
    snaps = nightly("2024-02-01T00:00:00Z", 366)  # up to 2025-01-31
    kept = keep(snaps, now=t("2025-01-31T12:00Z"))
    # 7 daily + 4 weekly + 12 monthly, overlapping at the newest end
    assert len(kept) == 7 + 2 + 11
    assert "01-31" in kept and "01-25" in kept and "01-24" not in kept
    assert {"11-30", "10-31", "02-29"} <= kept  # month ends: the newest night of each month
    assert keep(snaps, now=t("2025-01-31T12:00Z"), tz=UTC) == kept
