"""Repository maintenance: retention (forget + prune), integrity checks, the catalogue, and runs
started by hand.

These are system operations: the nightly Celery tasks (wired elsewhere) and ``manage.py backup``
call them; no panel page or API operation reaches them, so they check no permission and write
their audit events as ``Actor.system()``. Each loops over repositories and never lets one
repository's trouble (a lock held by a running backup, damage, an unreachable store) stop the
others: the trouble goes into that repository's report entry.

Every repository is opened with :func:`_open`, which unlike ``repositories.open_repository``
never creates one: maintenance that found an empty prefix (a wrong bucket, a lost store) must
report it, not initialise a fresh repository and then "rebuild" the catalogue to nothing.

Retention (docs/backups.md): snapshots are grouped by item (source kind and id) and each group is
thinned with ``retention.keep`` and the item's policy. A deleted item keeps its snapshots under
the customer's own policy if it has one, else the default one (7 daily / 4 weekly / 12 monthly).
GFS counts periods *that have snapshots*, so a group that receives no new snapshots is never
thinned below its daily + weekly + monthly count: the last backups of a deleted webhotel stay
until the customer's keys are destroyed. That is deliberate -- they are the only copy left of
something a customer may have deleted by mistake.
"""

from __future__ import annotations

import contextlib
import copy
import logging
from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.actor import Actor
from accounts.models import Customer
from backups.engine import check, forget, plan_prune, prune, retention
from backups.engine.crypto import RepoKeys
from backups.engine.errors import (
    PruneError,
    RepositoryLocked,
    RepositoryNotFound,
    WrongKeys,
)
from backups.engine.repository import Repository
from backups.models import BackupPolicy, ItemKind, RepositoryKey, Snapshot
from backups.services import runs
from backups.services.repositories import prefix_for
from infra import keywrap, objectstore

log = logging.getLogger(__name__)

ITEM_KINDS = (ItemKind.WEBHOTEL, ItemKind.DATABASE, ItemKind.MAILBOX)


# -- repositories --


def _rows(customer: Customer | None) -> list[RepositoryKey]:
    """The key rows of the repositories to work on: every live one, or the customer's (even a
    destroyed one, so the report can say why it was skipped)."""
    rows = RepositoryKey.objects.select_related("customer").order_by("pk")
    if customer is not None:
        return list(rows.filter(customer=customer))
    return list(rows.filter(destroyed_at__isnull=True))


def _open(row: RepositoryKey, store=None) -> Repository:
    """Open an existing repository; raises RepositoryNotFound rather than creating one."""
    keys = RepoKeys.from_bytes(keywrap.unwrap(row.wrapped))
    repo = Repository(store or objectstore.default_store(), prefix_for(row.customer), keys)
    return repo.open()


def _each_repository(customer: Customer | None, report: dict, blank: dict):
    """Yield (customer, repository) for each repository to work on; repositories that cannot be
    opened get a report entry with ``skipped_reason`` (or ``error``) instead."""
    rows = _rows(customer)
    if customer is not None and not rows:
        report[customer] = {**copy.deepcopy(blank), "skipped_reason": "no repository yet"}
    for row in rows:
        entry = report[row.customer] = copy.deepcopy(blank)
        if row.destroyed_at is not None:
            entry["skipped_reason"] = "keys destroyed"
            continue
        try:
            repo = _open(row)
        except RepositoryNotFound:
            entry["error"] = f"no repository under {prefix_for(row.customer)}/ in the store"
            continue
        except (WrongKeys, keywrap.KeyUnavailable) as exc:
            entry["error"] = f"the keys do not open the repository: {exc}"
            continue
        except Exception as exc:  # noqa: BLE001 -- the store is unreachable, etc.: next repository
            log.exception("opening the repository of %s failed", row.customer or "the provider")
            entry["error"] = f"cannot open: {type(exc).__name__}: {exc}"
            continue
        yield row.customer, repo


# -- retention: forget + prune --


def _gone_item_policy(customer: Customer | None) -> BackupPolicy:
    """The policy for snapshots of an item that no longer exists (or of the provider's server
    configuration): the customer's own policy, else the default one."""
    own = getattr(customer, "backup_policy", None) if customer is not None else None
    return (
        own
        or BackupPolicy.objects.filter(plan__isnull=True, customer__isnull=True).first()
        or BackupPolicy(name="default")
    )


def _policy(customer: Customer | None, kind, item_id) -> BackupPolicy:
    item = None
    if kind in ITEM_KINDS:
        try:
            item = runs.item_of(kind, int(item_id))
        except (TypeError, ValueError):
            item = None
    if item is not None and item.customer == customer:
        return runs.policy_for(item)
    return _gone_item_policy(customer)


def select_forgettable(customer: Customer | None, snapshots, now: datetime) -> set[str]:
    """Ids of the snapshots retention lets go. Per item: the GFS set of its policy is kept, and
    the newest complete snapshot too (the parent of the next run and the last full copy), even
    when a newer partial one took its day."""
    groups = defaultdict(list)
    for snap in snapshots:
        groups[(snap.source.get("kind"), str(snap.source.get("id")))].append(snap)
    tz = timezone.get_current_timezone()
    doomed: set[str] = set()
    for (kind, item_id), snaps in groups.items():
        policy = _policy(customer, kind, item_id)
        kept = retention.keep(
            [(s.id, s.time) for s in snaps],
            daily=policy.keep_daily,
            weekly=policy.keep_weekly,
            monthly=policy.keep_monthly,
            now=now,
            tz=tz,
        )
        complete = [s for s in snaps if s.complete]
        if complete:
            kept.add(max(complete, key=lambda s: (s.time, s.id)).id)
        doomed |= {s.id for s in snaps} - kept
    return doomed


def _without(repo: Repository, ids: set[str]) -> Repository:
    """A view of ``repo`` that does not list ``ids``: plan a prune as if they were forgotten."""
    remaining = [sid for sid in repo.snapshot_ids() if sid not in ids]
    view = copy.copy(repo)
    view.snapshot_ids = lambda: list(remaining)
    return view


def _prune_counts(plan) -> dict:
    """The report's numbers of a prune plan (carried out or not). Packs that object lock kept
    (``plan.kept_by_lock``, names below the repository) are not counted as deleted."""
    kept = {name.rpartition("/")[2] for name in plan.kept_by_lock if name.startswith("packs/")}
    swept = [*plan.packs_delete, *plan.packs_unindexed, *plan.packs_repack]
    return {
        "packs_deleted": sum(pack not in kept for pack in swept),
        "packs_repacked": len(plan.packs_repack),
        "packs_written": len(plan.packs_written),
        "bytes_freed": plan.bytes_freed,
    }


def _note_kept_by_lock(entry: dict, kept: dict[str, datetime | None]) -> None:
    """Add objects object lock kept ({name: retained until, None if unknown}) to the entry:
    their count, and the earliest end of retention, when the next prune can free one of them."""
    entry["kept_by_lock"] += len(kept)
    ends = [until for until in kept.values() if until is not None]
    if entry["earliest_unlock"] is not None:
        ends.append(entry["earliest_unlock"])
    entry["earliest_unlock"] = min(ends, default=None)


def forget_and_prune(
    customer: Customer | None = None, *, dry_run: bool = False, now: datetime | None = None
) -> dict:
    """Apply retention to every repository (or the customer's): forget the snapshots the item's
    policy lets go, drop their catalogue rows, then prune. A repository whose exclusive lock
    cannot be had (a backup is running) is skipped with a reason and pruned next time.

    Snapshots, packs and index files still under S3 object-lock retention cannot be deleted yet:
    they stay (a later run deletes them), are left out of ``forgotten`` and ``packs_deleted``,
    and are counted in ``kept_by_lock``; ``earliest_unlock`` is the first end of their retention
    (None when there is none, or the store did not say).

    Returns ``{customer (None: the provider): {"snapshots", "forgotten", "packs_deleted",
    "packs_repacked", "packs_written", "bytes_freed", "kept_by_lock", "earliest_unlock",
    "skipped_reason", "error"}}``; with ``dry_run`` nothing changes and the numbers say what
    would happen (object lock is not foreseen: ``kept_by_lock`` stays 0)."""
    now = now or timezone.now()
    blank = {
        "snapshots": 0,
        "forgotten": 0,
        "packs_deleted": 0,
        "packs_repacked": 0,
        "packs_written": 0,
        "bytes_freed": 0,
        "kept_by_lock": 0,
        "earliest_unlock": None,
        "skipped_reason": "",
        "error": "",
    }
    report: dict = {}
    for owner, repo in _each_repository(customer, report, blank):
        entry = report[owner]
        try:
            _forget_and_prune_one(owner, repo, entry, dry_run=dry_run, now=now)
        except Exception as exc:  # noqa: BLE001 -- one repository's trouble, not the loop's
            log.exception("forget/prune of %s failed", owner or "the provider")
            entry["error"] = f"{type(exc).__name__}: {exc}"
    return report


def _forget_and_prune_one(owner, repo: Repository, entry: dict, *, dry_run: bool, now) -> None:
    snapshots = repo.snapshots()
    doomed = select_forgettable(owner, snapshots, now)
    entry.update(snapshots=len(snapshots), forgotten=len(doomed))
    if dry_run:
        entry.update(_prune_counts(plan_prune(_without(repo, doomed))))
        return
    repo.remove_stale_locks()
    forgotten: list[str] = []
    plan = None
    try:
        if doomed:
            try:
                forgotten = forget(repo, sorted(doomed))
                _note_kept_by_lock(
                    entry,
                    {f"snapshots/{sid}": until for sid, until in forgotten.kept_by_lock.items()},
                )
            except RepositoryLocked as exc:
                entry.update(forgotten=0, skipped_reason=f"not forgotten: {exc}")
                return
            except Exception:
                with contextlib.suppress(Exception):  # what a half-done forget did remove
                    present = set(repo.snapshot_ids())
                    forgotten = [sid for sid in doomed if sid not in present]
                raise
        plan = plan_prune(repo)
        if plan.has_work:
            try:
                plan = prune(repo, plan)
            except RepositoryLocked as exc:
                entry["skipped_reason"] = f"prune skipped, try next time: {exc}"
                plan = None
        if plan is not None:
            entry.update(_prune_counts(plan))
            _note_kept_by_lock(entry, plan.kept_by_lock)
    except PruneError as exc:
        entry["error"] = f"prune refused, the repository needs repair: {exc}"
    finally:
        entry["forgotten"] = len(forgotten)
        pruned = plan is not None and plan.has_work
        if forgotten or pruned:
            with transaction.atomic():
                Snapshot.objects.filter(snapshot_id__in=forgotten).delete()
                audit.record(
                    Actor.system(),
                    "backup.pruned",
                    customer=owner,
                    target=prefix_for(owner),
                    forgotten=len(forgotten),
                    packs_deleted=entry["packs_deleted"],
                    bytes_freed=entry["bytes_freed"],
                    kept_by_lock=entry["kept_by_lock"],
                    skipped_reason=entry["skipped_reason"],
                )


# -- check --


def check_repositories(customer: Customer | None = None, read_data_percent: float = 0) -> dict:
    """``check`` every repository (or the customer's); with ``read_data_percent`` that share of
    packs is downloaded and every blob authenticated.

    Returns ``{customer: {"errors": [...], "warnings": [...], "snapshots", "packs",
    "packs_read", "bytes_read", "skipped_reason"}}``. A repository that cannot be opened, or is
    missing from the store, has an error; one locked by a prune is skipped."""
    if not 0 <= read_data_percent <= 100:
        raise ValueError("read_data_percent must be between 0 and 100")
    blank = {
        "errors": [],
        "warnings": [],
        "snapshots": 0,
        "packs": 0,
        "packs_read": 0,
        "bytes_read": 0,
        "skipped_reason": "",
        "error": "",
    }
    report: dict = {}
    for owner, repo in _each_repository(customer, report, blank):
        entry = report[owner]
        entry["errors"], entry["warnings"] = [], []
        try:
            result = check(repo, read_data_percent)
        except RepositoryLocked as exc:
            entry["skipped_reason"] = str(exc)
            continue
        except Exception as exc:  # noqa: BLE001 -- reported as this repository's error
            log.exception("check of %s failed", owner or "the provider")
            entry["error"] = f"{type(exc).__name__}: {exc}"
            continue
        entry.update(
            errors=result.errors,
            warnings=result.warnings,
            snapshots=result.snapshots_checked,
            packs=result.packs_total,
            packs_read=result.packs_checked,
            bytes_read=result.bytes_read,
        )
    for entry in report.values():  # could not open / check: that is an error too
        if entry["error"]:
            entry["errors"] = [*entry["errors"], entry["error"]]
    return report


# -- the catalogue --


def _catalogue_row(owner: Customer | None, snap) -> Snapshot:
    summary, source = snap.summary, snap.source
    return Snapshot(
        customer=owner,
        snapshot_id=snap.id,
        kind=source.get("kind", ""),
        item_id=int(source.get("id", 0)),
        item_name=str(source.get("name", ""))[:300],
        server_name=str(source.get("host", ""))[:63],
        taken_at=snap.time,
        files=summary.get("files", 0),
        size=summary.get("bytes_total", 0),
        stored=summary.get("bytes_stored", 0),
        complete=snap.complete,
    )


def rebuild_catalog(customer: Customer | None = None) -> int:
    """Make the catalogue match the store, which is the truth: add a row for every stored snapshot
    that has none, remove rows whose snapshot is gone. Returns how many rows were added or
    removed. A repository that cannot be opened is left alone (its rows are not removed)."""
    changed = 0
    report: dict = {}
    for owner, repo in _each_repository(customer, report, {"error": "", "skipped_reason": ""}):
        try:
            changed += _rebuild_one(owner, repo)
        except Exception:  # noqa: BLE001 -- next repository
            log.exception("rebuilding the catalogue of %s failed", owner or "the provider")
    for owner, entry in report.items():
        if entry["error"] or entry["skipped_reason"]:
            log.warning(
                "catalogue of %s not rebuilt: %s",
                owner or "the provider",
                entry["error"] or entry["skipped_reason"],
            )
    return changed


def _rebuild_one(owner: Customer | None, repo: Repository) -> int:
    stored = repo.snapshots()
    rows = (
        Snapshot.objects.filter(customer=owner)
        if owner
        else Snapshot.objects.filter(customer__isnull=True)
    )
    have = set(rows.values_list("snapshot_id", flat=True))
    missing = []
    for snap in stored:
        if snap.id in have:
            continue
        try:
            missing.append(_catalogue_row(owner, snap))
        except (TypeError, ValueError):  # a source id that is not a number: not an item
            log.warning("snapshot %s has no catalogue form (source %r)", snap.id, snap.source)
    # A run adds its row only after its snapshot is stored: listing again after reading the rows
    # keeps a snapshot written meanwhile from looking gone.
    candidates = have - {s.id for s in stored}
    gone = candidates - set(repo.snapshot_ids()) if candidates else set()
    if not missing and not gone:
        return 0
    with transaction.atomic():
        created = Snapshot.objects.bulk_create(missing, ignore_conflicts=True)
        removed, _ = Snapshot.objects.filter(snapshot_id__in=gone).delete()
        audit.record(
            Actor.system(),
            "backup.catalog_rebuilt",
            customer=owner,
            target=prefix_for(owner),
            added=len(created),
            removed=removed,
        )
    return len(created) + removed


# -- runs started by hand (``manage.py backup run``) --
