"""Nightly backup runs: planning the night, carrying out one run, and the catalogue.

Every active webhotel, database and mailbox gets one ``BackupRun`` per night (unique per item and
night, so a duplicate task cannot double it). A run is claimed with a conditional UPDATE, backs
its item up into the customer's repository (only new or changed files are read), and records
its counters and the snapshot in the catalogue. A run that dies leaves no snapshot; the next run
reuses what it had uploaded.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Count, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit, webhooks
from accounts.models import Customer, User
from accounts.permissions import require
from backups import sources
from backups.models import BackupPolicy, BackupRun, ItemKind, Snapshot
from backups.services.repositories import open_repository
from hosting.models import Database, Mailbox, ResourceStatus, Server, Webhotel
from hosting.transport import ssh_target
from infra import ssh

LIVE = (ResourceStatus.ACTIVE, ResourceStatus.SUSPENDED)
SLOT_SECONDS = 6 * 3600  # a crashed run's slot frees itself after this
DISPATCH_TTL = timedelta(minutes=30)  # a sent run not started by then is sent again
WAITING = "waiting"  # execute(): no free slot; the run stays queued for a later dispatch


@dataclass(frozen=True)
class Item:
    kind: str
    row: object
    customer: Customer
    server: Server
    name: str


def item_of(kind: str, item_id: int) -> Item | None:
    if kind == ItemKind.SERVER:  # the server's own configuration, in the provider's repository
        row = Server.objects.filter(pk=item_id).first()
        return row and Item(kind, row, None, row, row.name)
    if kind == ItemKind.WEBHOTEL:
        row = Webhotel.objects.select_related("customer", "server").filter(pk=item_id).first()
        return row and Item(kind, row, row.customer, row.server, row.primary_domain)
    if kind == ItemKind.DATABASE:
        row = (
            Database.objects.select_related("webhotel__customer", "webhotel__server")
            .filter(pk=item_id)
            .first()
        )
        return row and Item(kind, row, row.webhotel.customer, row.webhotel.server, row.name)
    if kind == ItemKind.MAILBOX:
        row = (
            Mailbox.objects.select_related(
                "mail_domain__webhotel__customer", "mail_domain__webhotel__server"
            )
            .filter(pk=item_id)
            .first()
        )
        return row and Item(
            kind,
            row,
            row.mail_domain.webhotel.customer,
            row.mail_domain.webhotel.server,
            row.address,
        )
    raise ValueError(f"unknown item kind {kind!r}")


def live_items(server: Server | None = None, *, configuration: bool = True):
    """Every item that is backed up: live webhotels, databases and mailboxes, and (unless
    ``configuration`` is False) the configuration of every active server."""
    webhotels = Webhotel.objects.filter(status__in=LIVE).select_related("customer", "server")
    databases = Database.objects.filter(status__in=LIVE).select_related(
        "webhotel__customer", "webhotel__server"
    )
    mailboxes = Mailbox.objects.filter(status__in=LIVE).select_related(
        "mail_domain__webhotel__customer", "mail_domain__webhotel__server"
    )
    if server is not None:
        webhotels = webhotels.filter(server=server)
        databases = databases.filter(webhotel__server=server)
        mailboxes = mailboxes.filter(mail_domain__webhotel__server=server)
    for w in webhotels:
        yield Item(ItemKind.WEBHOTEL, w, w.customer, w.server, w.primary_domain)
    for d in databases:
        yield Item(ItemKind.DATABASE, d, d.webhotel.customer, d.webhotel.server, d.name)
    for m in mailboxes:
        yield Item(
            ItemKind.MAILBOX,
            m,
            m.mail_domain.webhotel.customer,
            m.mail_domain.webhotel.server,
            m.address,
        )
    if configuration:
        servers = Server.objects.filter(status=Server.Status.ACTIVE)
        for s in servers.filter(pk=server.pk) if server is not None else servers:
            yield Item(ItemKind.SERVER, s, None, s, s.name)


class Policies:
    """Every backup policy, loaded in one query; ``of(item)`` is the one that applies: the
    customer's own, else the webhotel's plan's, else the default."""

    def __init__(self):
        rows = list(BackupPolicy.objects.all())
        self.by_customer = {p.customer_id: p for p in rows if p.customer_id}
        self.by_plan = {p.plan_id: p for p in rows if p.plan_id}
        self.default = next(
            (p for p in rows if p.plan_id is None and p.customer_id is None), None
        ) or BackupPolicy(name="default")

    def of(self, item: Item) -> BackupPolicy:
        plan_id = item.row.plan_id if item.kind == ItemKind.WEBHOTEL else None
        customer_id = item.customer.pk if item.customer else None
        return self.by_customer.get(customer_id) or self.by_plan.get(plan_id) or self.default


def policy_for(item: Item) -> BackupPolicy:
    return Policies().of(item)


def in_window(policy: BackupPolicy, moment: datetime) -> bool:
    """Whether ``moment`` (local time) falls in the policy's window, which may cross midnight."""
    now = moment.time()
    start, end = policy.window_start, policy.window_end
    return start <= now < end if start <= end else (now >= start or now < end)


def night_of(moment: datetime) -> date:
    """The night a moment belongs to: the date the night began (before noon: the day before)."""
    local = timezone.localtime(moment)
    return (local - timedelta(hours=12)).date() if local.time() < time(12) else local.date()


def plan_night(
    night: date | None = None,
    server: Server | None = None,
    now: datetime | None = None,
    *,
    customer: Customer | None = None,
    enqueue: bool = True,
) -> list[BackupRun]:
    """Create the runs of items whose backup window is open (or, with ``night`` given, of every
    item: an on-demand night), idempotently; returns those not yet done and, with ``enqueue``,
    sends the workers as many queued runs as the caps have room for (``dispatch``)."""
    now = now or timezone.now()
    on_demand = night is not None
    night = night or night_of(now)
    policies, local = Policies(), timezone.localtime(now)
    wanted = {}
    for item in live_items(server):
        if customer is not None and item.customer != customer:
            continue
        if not on_demand and not in_window(policies.of(item), local):
            continue
        wanted[(item.kind, item.row.pk)] = item
    # One query for the night's runs, one insert for the missing ones (a concurrent planner's
    # rows win: the constraint makes a run unique per item and night).
    tonight = BackupRun.objects.filter(night=night, on_demand=False)
    have = set(tonight.values_list("kind", "item_id"))
    BackupRun.objects.bulk_create(
        (
            BackupRun(
                kind=kind,
                item_id=pk,
                night=night,
                customer=item.customer,
                server=item.server,
                item_name=item.name,
            )
            for (kind, pk), item in wanted.items()
            if (kind, pk) not in have
        ),
        batch_size=2000,
        ignore_conflicts=True,
    )
    waiting = {
        (run.kind, run.item_id): run
        for run in tonight.filter(status=BackupRun.Status.QUEUED).select_related("server")
    }
    queued = [waiting[key] for key in wanted if key in waiting]
    if enqueue:  # without: the caller carries the runs out itself
        transaction.on_commit(dispatch)
    return queued


def dispatch(now: datetime | None = None) -> int:
    """Send queued runs to the workers, no more than the store's and each server's caps have
    room for beside the runs going and those sent in the last ``DISPATCH_TTL``: on-demand runs
    first, then by night and age. Called when a night is planned, when a run ends and by the
    planner's beat, so the broker holds a handful of backup messages, not the whole night, and
    a worker never spins on a run that cannot start. The slots in ``execute`` stay the real cap:
    two dispatchers at once cost at most a duplicate message, which its claim makes a no-op."""
    from backups.tasks import run_backup

    now = now or timezone.now()
    sent = Q(status=BackupRun.Status.QUEUED, dispatched_at__gte=now - DISPATCH_TTL)
    busy = BackupRun.objects.filter(Q(status=BackupRun.Status.RUNNING) | sent)
    per_server = Counter(dict(busy.values_list("server_id").annotate(n=Count("pk"))))
    room = settings.HAVN_BACKUP_PER_STORE - sum(per_server.values())
    picked = []
    waiting = (
        BackupRun.objects.filter(status=BackupRun.Status.QUEUED)
        .exclude(sent)
        .order_by("-on_demand", "night", "pk")
        .values_list("pk", "server_id")
    )
    for pk, server_id in waiting.iterator(chunk_size=500) if room > 0 else ():
        if per_server[server_id] < settings.HAVN_BACKUP_PER_SERVER:
            per_server[server_id] += 1
            picked.append(pk)
            if len(picked) == room:
                break
    BackupRun.objects.filter(pk__in=picked).update(dispatched_at=now)
    for pk in picked:
        transaction.on_commit(lambda pk=pk: run_backup.delay(pk))
    return len(picked)


def _slot_keys(run: BackupRun) -> list[list[str]]:
    """The slots a run needs one of each: its server's and the object store's."""
    return [
        [f"backup-slot:{run.server_id}:{n}" for n in range(settings.HAVN_BACKUP_PER_SERVER)],
        [f"backup-store-slot:{n}" for n in range(settings.HAVN_BACKUP_PER_STORE)],
    ]


def _slots(run: BackupRun) -> list[str] | None:
    """One free slot under each cap (cache keys with a timeout, so a crashed run's slot frees
    itself), or None when a cap is reached."""
    taken = []
    for keys in _slot_keys(run):
        key = next((key for key in keys if cache.add(key, run.pk, SLOT_SECONDS)), None)
        if key is None:
            cache.delete_many(taken)
            return None
        taken.append(key)
    return taken


def claim(run_id: int) -> BackupRun | None:
    claimed = BackupRun.objects.filter(pk=run_id, status=BackupRun.Status.QUEUED).update(
        status=BackupRun.Status.RUNNING,
        started_at=timezone.now(),
        attempts=F("attempts") + 1,
        error="",
    )
    return (
        BackupRun.objects.select_related("server", "customer").get(pk=run_id) if claimed else None
    )


def _parent(repo, run: BackupRun):
    latest = Snapshot.objects.filter(kind=run.kind, item_id=run.item_id, complete=True).first()
    if latest is None:
        return None
    try:
        return repo.load_snapshot(latest.snapshot_id)
    except Exception:  # pruned or unreadable: a full run is the safe choice
        return None


def _back_up(session, repo, item: Item, parent) -> None:
    server = item.server
    target = ssh_target(server) if server.transport == Server.Transport.SSH else None
    root = server.root if server.profile == Server.Profile.SANDBOX else "/"
    if item.kind == ItemKind.SERVER:
        path, exclude = sources.server_config(server.profile, root)
        parent_entries = repo.iter_tree(parent) if parent is not None else None
        sources.backup_tree(
            session, root_path=path, target=target, parent_entries=parent_entries, exclude=exclude
        )
        return
    if item.kind == ItemKind.DATABASE:
        spec = sources.dump_spec(server.profile, root, item.row.engine, item.row.name)
        sources.backup_dump(
            session, name=spec.name, command=spec.command, path=spec.path, target=target
        )
        return
    if item.kind == ItemKind.WEBHOTEL:
        path = sources.webhotel_path(server.profile, root, item.row.system_user)
    else:
        path = sources.maildir_path(server.profile, root, item.row.address)
    parent_entries = repo.iter_tree(parent) if parent is not None else None
    sources.backup_tree(session, root_path=path, target=target, parent_entries=parent_entries)


def execute(run_id: int) -> str:
    """Carry out one run. Returns its new status: ``queued`` means "try again later" (the
    server did not answer), ``waiting`` "no free slot: a later dispatch sends it again"."""
    run = BackupRun.objects.filter(pk=run_id).first()
    if run is None or run.status != BackupRun.Status.QUEUED:
        return "skipped"
    slots = _slots(run)
    if slots is None:  # the server or the store has its share going: a later dispatch sends it
        BackupRun.objects.filter(pk=run_id, status=BackupRun.Status.QUEUED).update(
            dispatched_at=None
        )
        return WAITING
    try:
        run = claim(run_id)
        if run is None:
            return "skipped"
        return _execute(run)
    finally:
        cache.delete_many(slots)


def _execute(run: BackupRun) -> str:
    item = item_of(run.kind, run.item_id)
    if item is None:
        return _finish(run, BackupRun.Status.FAILED, error="The item no longer exists.")
    try:
        repo = open_repository(item.customer)
        parent = _parent(repo, run)
        source = {
            "kind": run.kind,
            "id": str(run.item_id),
            "name": item.name,
            "host": item.server.name,
        }

        def progress(counters):
            BackupRun.objects.filter(pk=run.pk).update(
                progress_bytes=counters.get("bytes_read", 0),
                expected_bytes=counters.get("bytes_total", 0),
            )

        with repo.backup(source, parent, progress=progress) as session:
            _back_up(session, repo, item, parent)
    except ssh.TransientSshError as exc:  # the task tries again: still sent, still in flight
        BackupRun.objects.filter(pk=run.pk).update(
            status=BackupRun.Status.QUEUED, error=str(exc), dispatched_at=timezone.now()
        )
        return BackupRun.Status.QUEUED
    except Exception as exc:  # noqa: BLE001 -- any failure is the run's, recorded for staff
        return _finish(run, BackupRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
    snapshot = session.snapshot
    counters = session.counters()
    with transaction.atomic():
        Snapshot.objects.get_or_create(
            snapshot_id=snapshot.id,
            defaults={
                "customer": item.customer,
                "kind": run.kind,
                "item_id": run.item_id,
                "item_name": item.name,
                "server_name": item.server.name,
                "taken_at": snapshot.time,
                "files": counters.get("files", 0),
                "size": counters.get("bytes_total", 0),
                "stored": counters.get("bytes_stored", 0),
                "complete": snapshot.complete,
            },
        )
        status = BackupRun.Status.DONE if snapshot.complete else BackupRun.Status.PARTIAL
        return _finish(
            run,
            status,
            snapshot_id=snapshot.id,
            warnings=session.warnings,
            **{k: counters.get(k, 0) for k in ("files", "bytes_read", "bytes_new", "bytes_stored")},
        )


def _finish(run: BackupRun, status: str, **fields) -> str:
    BackupRun.objects.filter(pk=run.pk).update(status=status, finished_at=timezone.now(), **fields)
    if status == BackupRun.Status.FAILED:
        webhooks.emit(
            run.customer_id,
            "backup.failed",
            {
                "backup_run": {
                    "id": run.pk,
                    "kind": run.kind,
                    "item_id": run.item_id,
                    "item_name": run.item_name,
                    "night": run.night.isoformat(),
                    "error": fields.get("error", run.error),
                }
            },
        )
    return status


STALE_AFTER = timedelta(hours=2)


def resume_stale(now: datetime | None = None) -> int:
    """Put runs whose worker died (still "running" long after they started) back in the queue,
    freeing their slot; a snapshot is only ever written whole, so they start again cleanly."""
    now = now or timezone.now()
    stale = list(
        BackupRun.objects.filter(status=BackupRun.Status.RUNNING, started_at__lt=now - STALE_AFTER)
    )
    for run in stale:
        for key in sum(_slot_keys(run), []):
            if cache.get(key) == run.pk:
                cache.delete(key)
        BackupRun.objects.filter(pk=run.pk, status=BackupRun.Status.RUNNING).update(
            status=BackupRun.Status.QUEUED,
            dispatched_at=None,
            error="The worker running it stopped; resumed.",
        )
    if stale:
        transaction.on_commit(dispatch)
    return len(stale)


def give_up(run_id: int) -> None:
    BackupRun.objects.filter(pk=run_id, status=BackupRun.Status.QUEUED).update(
        status=BackupRun.Status.FAILED, finished_at=timezone.now()
    )


def report_problems(now: datetime | None = None) -> int:
    """E-mail staff about failed runs, and about runs of earlier nights that never finished
    (a missed window), once each. Returns how many runs were reported."""
    now = now or timezone.now()
    tonight = night_of(now)
    BackupRun.objects.filter(
        night__lt=tonight, status__in=[BackupRun.Status.QUEUED, BackupRun.Status.RUNNING]
    ).update(
        status=BackupRun.Status.FAILED, error="The run missed its backup window.", finished_at=now
    )
    problems = list(
        BackupRun.objects.filter(status=BackupRun.Status.FAILED, reported_at__isnull=True).order_by(
            "night", "pk"
        )
    )
    if not problems:
        return 0
    recipients = list(
        User.objects.filter(staff_role=User.StaffRole.ADMIN, is_active=True).values_list(
            "email", flat=True
        )
    )
    lines = [
        f"{run.night} {run.server.name} {run.kind} {run.item_name}: {run.error}" for run in problems
    ]
    if recipients:
        send_mail(f"Havn: {len(problems)} backup runs failed", "\n".join(lines), None, recipients)
    BackupRun.objects.filter(pk__in=[run.pk for run in problems]).update(reported_at=now)
    return len(problems)


def request_backup(actor, kind: str, item_id: int) -> BackupRun:
    """An on-demand backup of one item, now: one run a day per item; asking again returns it,
    and asking again after it failed tries it again."""

    item = item_of(kind, item_id)
    if item is None:
        raise ValidationError({"item": _("There is no such item.")})
    require(actor, "hosting.manage", item.customer)
    if item.row.status not in LIVE:
        raise ValidationError({"item": _("Only an item that is set up can be backed up.")})
    with transaction.atomic():
        run, created = BackupRun.objects.get_or_create(
            kind=kind,
            item_id=item_id,
            night=night_of(timezone.now()),
            on_demand=True,
            defaults={"customer": item.customer, "server": item.server, "item_name": item.name},
        )
        retried = not created and BackupRun.objects.filter(
            pk=run.pk, status=BackupRun.Status.FAILED
        ).update(status=BackupRun.Status.QUEUED, error="", finished_at=None, dispatched_at=None)
        if created or retried:
            audit.record(
                actor, "backup.requested", customer=item.customer, target=f"{kind} {item.name}"
            )
            transaction.on_commit(dispatch)
            run.refresh_from_db()
    return run
