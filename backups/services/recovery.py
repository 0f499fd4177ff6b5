"""Whole-server recovery (staff, after a crash): every webhotel, database and mailbox that lived on
a server comes back from its last snapshot before a chosen time, onto the server or a
replacement, a few at a time, with one report at the end and one order per affected customer,
billed per the tariff unless the fees are waived (docs/restore.md)."""

import functools
from collections import defaultdict
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit, billing
from accounts.actor import Actor
from accounts.models import RestoreScope, User
from accounts.permissions import require
from backups.models import (
    Destination,
    ItemKind,
    RestoreItem,
    RestoreOrder,
    ServerRecovery,
    Snapshot,
)
from backups.services.restores import QUOTE_VALID, UNFINISHED, invoice_for, price_fields
from backups.services.runs import live_items
from hosting.models import Database, Mailbox, Server, Webhotel


def start_recovery(
    actor: Actor,
    server: Server,
    *,
    at: datetime,
    replacement: Server | None = None,
    waive_reason: str = "",
    parallel: int = 4,
) -> ServerRecovery:
    """Plan and start the recovery of ``server`` as it was at ``at``."""
    require(actor, "recovery.run")
    if at > timezone.now():
        raise ValidationError({"at": _("Choose a time in the past.")})
    if replacement is not None:
        if replacement.pk == server.pk:
            raise ValidationError({"replacement": _("Choose another server, or none.")})
        if replacement.status != Server.Status.ACTIVE:
            raise ValidationError({"replacement": _("The replacement server must be active.")})
    waive_reason = waive_reason.strip()
    if waive_reason and len(waive_reason) < 10:
        raise ValidationError(
            {"waive_reason": _("Write why the fees are waived (at least 10 characters).")}
        )
    items = list(live_items(server, configuration=False))
    if not items:
        raise ValidationError({"server": _("Nothing on this server is backed up.")})
    with transaction.atomic():
        recovery = ServerRecovery.objects.create(
            server=server,
            replacement=replacement,
            point_in_time=at,
            parallel=max(1, parallel),
            waive_reason=waive_reason,
            started_by=actor.user,
        )
        missing, by_customer = [], defaultdict(list)
        for item in items:
            snapshot = (
                Snapshot.objects.filter(
                    kind=item.kind, item_id=item.row.pk, complete=True, taken_at__lte=at
                )
                .order_by("-taken_at")
                .first()
            )
            if snapshot is None:
                missing.append(
                    {"customer": str(item.customer), "kind": item.kind, "name": item.name}
                )
            else:
                by_customer[item.customer].append((item, snapshot))
        if not by_customer:
            raise ValidationError(
                {"at": _("Nothing on this server was backed up at or before this time.")}
            )
        for customer, found in by_customer.items():
            _order_for(actor, recovery, customer, found)
        if replacement is not None:
            _move(
                actor, server, replacement, [i for found in by_customer.values() for i, _ in found]
            )
        recovery.report = {"without_snapshot": missing}
        recovery.save(update_fields=["report"])
        audit.record(
            actor,
            "recovery.started",
            target=server.name,
            at=at.isoformat(),
            replacement=replacement.name if replacement else "",
            items=len(items) - len(missing),
            waived=bool(waive_reason),
        )
        transaction.on_commit(functools.partial(feed, recovery.pk))
    return recovery


def _order_for(actor: Actor, recovery: ServerRecovery, customer, found) -> RestoreOrder:
    size = sum(snapshot.size for _item, snapshot in found)
    price = billing.quote_price(RestoreScope.SERVER, size)
    now = timezone.now()
    order = RestoreOrder.objects.create(
        customer=customer,
        scope=RestoreScope.SERVER,
        destination=Destination.IN_PLACE,
        recovery=recovery,
        status=RestoreOrder.Status.ACCEPTED,
        size_bytes=size,
        expires_at=now + QUOTE_VALID,
        accepted_at=now,
        created_by=actor.user,
        waived_by=actor.user if recovery.waive_reason else None,
        waive_reason=recovery.waive_reason,
        **price_fields(price),
    )
    for item, snapshot in found:
        RestoreItem.objects.create(
            order=order,
            kind=item.kind,
            item_id=item.row.pk,
            item_name=item.name,
            snapshot_id=snapshot.snapshot_id,
            taken_at=snapshot.taken_at,
            size_bytes=snapshot.size,
        )
    if order.gross and not order.waived:
        order.invoice = invoice_for(actor, order)
        order.status = RestoreOrder.Status.INVOICED
        order.save(update_fields=["invoice", "status"])
    audit.record(
        actor,
        "restore.ordered_by_staff",
        customer=customer,
        target=f"order {order.pk}",
        recovery=recovery.pk,
        waived=order.waived,
    )
    return order


def _move(actor: Actor, server: Server, replacement: Server, items) -> None:
    """The webhotels (with their databases and mail) now live on the replacement."""
    webhotel_ids = {i.row.pk for i in items if i.kind == ItemKind.WEBHOTEL}
    webhotel_ids |= set(
        Database.objects.filter(
            pk__in=[i.row.pk for i in items if i.kind == ItemKind.DATABASE]
        ).values_list("webhotel_id", flat=True)
    )
    webhotel_ids |= set(
        Mailbox.objects.filter(
            pk__in=[i.row.pk for i in items if i.kind == ItemKind.MAILBOX]
        ).values_list("mail_domain__webhotel_id", flat=True)
    )
    moved = Webhotel.objects.filter(pk__in=webhotel_ids, server=server).update(server=replacement)
    audit.record(
        actor, "recovery.moved", target=f"{server.name} -> {replacement.name}", webhotels=moved
    )


def feed(recovery_id: int) -> None:
    """Queue waiting items while fewer than ``parallel`` run; finish the recovery at the end."""
    from backups.tasks import run_restore_item

    with transaction.atomic():
        recovery = ServerRecovery.objects.select_for_update().get(pk=recovery_id)
        if recovery.status != ServerRecovery.Status.RUNNING:
            return
        items = RestoreItem.objects.filter(order__recovery=recovery)
        busy = items.filter(status__in=(RestoreItem.Status.QUEUED, RestoreItem.Status.RUNNING))
        room = recovery.parallel - busy.count()
        waiting = items.filter(
            status=RestoreItem.Status.WAITING,
            order__status__in=(
                RestoreOrder.Status.ACCEPTED,
                RestoreOrder.Status.INVOICED,
                RestoreOrder.Status.RUNNING,
            ),
        )
        # Webhotels first: a site's files matter more than its mail, and databases need their
        # webhotel's system user on a replacement.
        order = {ItemKind.WEBHOTEL: 0, ItemKind.DATABASE: 1, ItemKind.MAILBOX: 2}
        queued = sorted(waiting, key=lambda i: (order[i.kind], i.pk))[: max(room, 0)]
        RestoreItem.objects.filter(pk__in=[i.pk for i in queued]).update(
            status=RestoreItem.Status.QUEUED
        )
        for item in queued:
            transaction.on_commit(functools.partial(run_restore_item.delay, item.pk))
        if not queued and not items.filter(status__in=UNFINISHED).exists():
            _finish(recovery)


def _finish(recovery: ServerRecovery) -> None:
    items = RestoreItem.objects.filter(order__recovery=recovery).select_related("order__customer")
    rows = [
        {
            "customer": str(i.order.customer),
            "kind": i.kind,
            "name": i.item_name,
            "snapshot": i.snapshot_id[:12],
            "taken_at": i.taken_at.isoformat(),
            "bytes": i.progress_bytes,
            "files": i.files_done,
            "status": i.status,
            "error": i.error,
        }
        for i in items
    ]
    failed = [r for r in rows if r["status"] != RestoreItem.Status.DONE]
    recovery.status = ServerRecovery.Status.FAILED if failed else ServerRecovery.Status.DONE
    recovery.finished_at = timezone.now()
    orders = RestoreOrder.objects.filter(recovery=recovery)
    recovery.report = {
        **recovery.report,
        "items": rows,
        "restored": len(rows) - len(failed),
        "failed": len(failed),
        "bytes": sum(r["bytes"] for r in rows),
        "invoiced_gross": orders.filter(invoice__isnull=False, credit_note__isnull=True).aggregate(
            total=Sum("gross")
        )["total"]
        or 0,
        "orders": list(orders.values_list("pk", flat=True)),
    }
    recovery.save(update_fields=["status", "finished_at", "report"])
    audit.record(
        Actor.system(),
        f"recovery.{recovery.status}",
        target=recovery.server.name,
        restored=recovery.report["restored"],
        failed=len(failed),
    )
    _mail_report(recovery)


def _mail_report(recovery: ServerRecovery) -> None:
    recipients = list(
        User.objects.filter(staff_role__isnull=False, is_active=True)
        .exclude(staff_role="")
        .values_list("email", flat=True)
    )
    if not recipients:
        return
    report = recovery.report
    lines = [
        f"Recovery of {recovery.server.name} as of {recovery.point_in_time:%Y-%m-%d %H:%M} "
        f"onto {recovery.target.name}: {report['restored']} restored, {report['failed']} failed, "
        f"{report['bytes']:,} bytes.",
        "",
    ]
    lines += [
        f"{r['status']:9} {r['kind']:8} {r['name']} (from {r['taken_at']}) {r['error']}".rstrip()
        for r in report["items"]
    ]
    lines += [f"no snapshot: {r['kind']} {r['name']}" for r in report.get("without_snapshot", [])]
    send_mail(f"Havn: recovery of {recovery.server.name}", "\n".join(lines), None, recipients)
