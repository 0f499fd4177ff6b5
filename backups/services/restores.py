"""Paid restores: a quote, an acceptance, an invoice, payment, then the restore (docs/restore.md).

A customer's order restores one webhotel, database or mailbox, or files of one, from one snapshot,
in place, into a side folder, onto another webhotel, or into a downloadable archive. The bytes are
moved by ``backups.restore``; this module is the business around it: prices from the tariff,
invoices and credit notes from ``accounts.billing``, states, audit events, and the task that runs
each item exactly once (``RestoreClaim``: a unique row, not luck).
"""

import functools
import tempfile
import time
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts import audit, billing, webhooks
from accounts.actor import Actor
from accounts.consent import live_grants, require_content_access
from accounts.models import Customer, Invoice, RestoreScope, SupportScope
from accounts.permissions import require
from accounts.services import ensure_customer_active
from backups import restore, sources
from backups.engine.errors import EngineError
from backups.models import (
    Destination,
    ItemKind,
    RestoreClaim,
    RestoreItem,
    RestoreOrder,
    Snapshot,
)
from backups.services.repositories import KeysDestroyed, open_repository
from backups.services.runs import item_of
from hosting.models import Server, Webhotel
from hosting.transport import ssh_target
from infra import objectstore

log = structlog.get_logger(__name__)

QUOTE_VALID = timedelta(days=3)
STALE_AFTER = timedelta(hours=12)  # no restore item runs this long; its worker died
LINK_SALT = "havn.restore-download"
ARCHIVE_FORMATS = restore.FORMATS
ERASED = _lazy("This customer's backups were erased; they can no longer be restored.")
UNREADABLE = _lazy("This snapshot cannot be read from the backup store: it is missing or damaged.")
OPEN = (RestoreOrder.Status.QUOTED, RestoreOrder.Status.ACCEPTED, RestoreOrder.Status.INVOICED)
UNFINISHED = (RestoreItem.Status.WAITING, RestoreItem.Status.QUEUED, RestoreItem.Status.RUNNING)
DESTINATIONS = {
    # which destinations each kind of item can be restored to
    ItemKind.WEBHOTEL: {
        Destination.IN_PLACE,
        Destination.SIDE_FOLDER,
        Destination.OTHER_WEBHOTEL,
        Destination.DOWNLOAD,
    },
    ItemKind.MAILBOX: {Destination.IN_PLACE, Destination.DOWNLOAD},
    ItemKind.DATABASE: {Destination.IN_PLACE, Destination.DOWNLOAD},
}


# -- quoting -------------------------------------------------------------------------------------


def snapshot_for(actor: Actor, kind: str, item_id: int, *, snapshot_id: str = "", at=None):
    """The catalogue row of the snapshot to restore: the one named, or the last complete one
    taken at or before ``at`` (default: the latest)."""
    rows = Snapshot.objects.visible_to(actor.user).filter(kind=kind, item_id=item_id)
    if snapshot_id:
        row = rows.filter(snapshot_id=snapshot_id).first()
    else:
        rows = rows.filter(complete=True)
        row = (rows.filter(taken_at__lte=at) if at else rows).order_by("-taken_at").first()
    if row is None:
        raise ValidationError({"snapshot": _("There is no backup of this item from that time.")})
    return row


def _target_webhotel(actor: Actor, customer: Customer, destination: str, target_webhotel):
    if destination != Destination.OTHER_WEBHOTEL:
        return None
    if target_webhotel is None:
        raise ValidationError({"target_webhotel": _("Choose the webhotel to restore onto.")})
    if (
        target_webhotel.customer_id != customer.pk
        or not Webhotel.objects.visible_to(actor.user).filter(pk=target_webhotel.pk).exists()
    ):
        raise ValidationError({"target_webhotel": _("There is no such webhotel.")})
    return target_webhotel


def quote(
    actor: Actor,
    customer: Customer,
    *,
    kind: str,
    item_id: int,
    destination: str,
    snapshot_id: str = "",
    at: datetime | None = None,
    paths: list[str] | None = None,
    target_webhotel: Webhotel | None = None,
    archive_format: str = "tar.zst",
) -> RestoreOrder:
    """Price a restore of one item (or of ``paths`` in it) from a snapshot. The quote keeps its
    price for ``QUOTE_VALID`` and does nothing until it is accepted."""
    require(actor, "restores.order", customer)
    ensure_customer_active(customer)
    if kind not in DESTINATIONS:
        raise ValidationError({"kind": _("Choose a webhotel, a database or a mailbox.")})
    if destination not in DESTINATIONS[kind]:
        raise ValidationError({"destination": _("This item cannot be restored there.")})
    paths = [p.strip().strip("/") for p in paths or [] if p.strip().strip("/")]
    if paths and kind == ItemKind.DATABASE:
        raise ValidationError({"paths": _("A database is restored whole.")})
    row = snapshot_for(actor, kind, item_id, snapshot_id=snapshot_id, at=at)
    if row.customer_id != customer.pk:
        raise ValidationError({"snapshot": _("There is no backup of this item from that time.")})
    if destination != Destination.DOWNLOAD and item_of(kind, item_id) is None:
        raise ValidationError(
            {"destination": _("The item no longer exists: choose a downloadable archive.")}
        )
    target = _target_webhotel(actor, customer, destination, target_webhotel)
    size = row.size
    if paths:
        size = _selected_size(customer, row.snapshot_id, paths)
    _check_quota(actor, kind, item_id, destination, target, size)
    if archive_format not in ARCHIVE_FORMATS:
        raise ValidationError({"archive_format": _("Choose tar.zst or zip.")})
    scope = RestoreScope.FILE if paths else kind
    price = billing.quote_price(scope, size)
    now = timezone.now()
    with transaction.atomic():
        order = RestoreOrder.objects.create(
            customer=customer,
            scope=scope,
            destination=destination,
            size_bytes=size,
            expires_at=now + QUOTE_VALID,
            created_by=actor.user if actor.is_authenticated else None,
            archive_format=archive_format if destination == Destination.DOWNLOAD else "",
            **price_fields(price),
        )
        RestoreItem.objects.create(
            order=order,
            kind=kind,
            item_id=item_id,
            item_name=row.item_name,
            snapshot_id=row.snapshot_id,
            taken_at=row.taken_at,
            paths=paths,
            target_webhotel_id=target.pk if target else None,
            side_folder=(
                f"restored-{row.taken_at:%Y-%m-%d-%H%M}"
                if destination == Destination.SIDE_FOLDER
                else ""
            ),
            size_bytes=size,
        )
        audit.record(
            actor,
            "restore.quoted",
            customer=customer,
            target=f"order {order.pk}: {kind} {row.item_name}",
            scope=scope,
            destination=destination,
            snapshot=row.snapshot_id[:12],
            gross=price.gross,
        )
    return order


def _check_quota(actor, kind: str, item_id: int, destination: str, target, size: int) -> None:
    """A restore onto a webhotel must fit its plan's disk quota (what is there now may be
    overwritten, so this is the clear case only: more than the whole quota)."""
    if kind != ItemKind.WEBHOTEL or destination == Destination.DOWNLOAD:
        return
    webhotel = target or Webhotel.objects.visible_to(actor.user).select_related("plan").get(
        pk=item_id
    )
    quota = webhotel.plan.disk_quota_mb * 1024 * 1024
    if size > quota:
        raise ValidationError(
            {
                "destination": _(
                    "The restore (%(size)s) is larger than the webhotel's disk quota "
                    "(%(quota)s). Choose a downloadable archive, or a bigger plan first."
                )
                % {"size": filesizeformat(size), "quota": filesizeformat(quota)}
            }
        )


def price_fields(price) -> dict:
    return {
        "tariff": price.tariff,
        "fee": price.fee,
        "per_gb": price.per_gb,
        "gb": price.gb,
        "net": price.net,
        "vat": price.vat,
        "gross": price.gross,
    }


def _selected_size(customer: Customer, snapshot_id: str, paths: list[str]) -> int:
    repo = repository_of(customer)
    snapshot = repo.load_snapshot(snapshot_id)
    try:
        entries = restore.select_entries(repo, snapshot, paths)
    except restore.RestorePathNotFound as exc:
        raise ValidationError({"paths": str(exc)}) from None
    return sum(e.size or 0 for e in entries if e.type == "file")


def repository_of(customer: Customer):
    """The customer's repository to read from; a clear error once their backups were erased."""
    try:
        return open_repository(customer)
    except KeysDestroyed:
        raise ValidationError({"snapshot": ERASED}) from None


def snapshot_entries(actor: Actor, snapshot_row: Snapshot, folder: str = "") -> list:
    """The entries directly in ``folder`` of a webhotel's or mailbox's snapshot, folders first,
    to choose what to restore. A file list is content: staff need the customer's grant for
    backups (audited)."""
    folder = folder.strip("/")
    require(actor, "restores.view", snapshot_row.customer)
    require_content_access(
        actor,
        snapshot_row.customer,
        SupportScope.BACKUPS,
        what=f"snapshot {snapshot_row.snapshot_id[:12]} of {snapshot_row.item_name}: /{folder}",
    )
    repo = repository_of(snapshot_row.customer)
    prefix = f"{folder}/" if folder else ""
    try:
        snapshot = repo.load_snapshot(snapshot_row.snapshot_id)
        found = [
            e
            for e in repo.iter_tree(snapshot)
            if e.path.startswith(prefix) and "/" not in e.path[len(prefix) :]
        ]
    except (KeyError, EngineError) as exc:  # missing or damaged objects (not an outage)
        log.warning("restore.snapshot_unreadable", snapshot=snapshot_row.pk, error=repr(exc))
        raise ValidationError({"snapshot": UNREADABLE}) from None
    return sorted(found, key=lambda e: (e.type != "dir", e.path))


# -- accepting, paying, waiving, cancelling ------------------------------------------------------


def _locked(order: RestoreOrder) -> RestoreOrder:
    return RestoreOrder.objects.select_for_update().get(pk=order.pk)


def accept(actor: Actor, order: RestoreOrder) -> RestoreOrder:
    """Accept a quote: it is invoiced at once, and runs when the invoice is paid (or the fee is
    waived). A quote is accepted once, by its customer, before it expires."""
    require(actor, "restores.order", order.customer)
    if not RestoreOrder.objects.visible_to(actor.user).filter(pk=order.pk).exists():
        raise PermissionDenied(_("You do not have permission to do that."))
    with transaction.atomic():
        order = _locked(order)
        if order.status != RestoreOrder.Status.QUOTED:
            raise ValidationError(_("This quote has already been accepted or cancelled."))
        if order.expires_at <= timezone.now():
            raise ValidationError(_("This quote has expired. Ask for a new one."))
        order.status = RestoreOrder.Status.ACCEPTED
        order.accepted_at = timezone.now()
        if order.gross and not order.waived:
            order.invoice = invoice_for(actor, order)
            order.status = RestoreOrder.Status.INVOICED
        order.save(update_fields=["status", "accepted_at", "invoice"])
        audit.record(
            actor,
            "restore.accepted",
            customer=order.customer,
            target=f"order {order.pk}",
            invoice=order.invoice.number if order.invoice else "",
        )
        _start_if_ready(order)
    return order


def invoice_for(actor: Actor, order: RestoreOrder) -> Invoice:
    """Invoice the order at its quoted price (the tariff version it was quoted under)."""
    price = billing.Price(
        order.tariff,
        order.scope,
        order.size_bytes,
        order.gb,
        order.fee,
        order.per_gb,
        order.net,
        order.vat,
        order.gross,
    )
    what = ", ".join(f"{i.item_name} ({i.taken_at:%Y-%m-%d %H:%M})" for i in order.items.all())
    first, *rest = price.lines()
    lines = [billing.InvoiceLineSpec(f"{first.description}: {what}", 1, first.unit_price), *rest]
    reference = _("Restore order %(number)s") % {"number": order.pk}
    return billing.issue_invoice(actor, order.customer, lines, reference=reference, price=price)


def pay(actor: Actor, order: RestoreOrder):
    """Open the payment of the order's invoice at the payment provider: the customer is sent to
    the returned page, and the restore starts when the provider confirms the payment."""
    if order.invoice is None or order.status != RestoreOrder.Status.INVOICED:
        raise ValidationError(_("There is nothing to pay on this order."))
    return billing.start_payment(actor, order.invoice)


def invoice_paid(invoice: Invoice) -> RestoreOrder | None:
    """An invoice was paid (the ``billing.invoice_paid`` signal): start its restore."""
    with transaction.atomic():
        order = RestoreOrder.objects.select_for_update().filter(invoice=invoice).first()
        if order is not None:
            _start_if_ready(order)
    return order


def waive(actor: Actor, order: RestoreOrder, *, reason: str) -> RestoreOrder:
    """Staff waive the fee, with a written reason; an issued invoice is credited."""
    require(actor, "restores.waive", order.customer)
    reason = reason.strip()
    if len(reason) < 10:
        raise ValidationError(
            {"reason": _("Write why the fee is waived (at least 10 characters).")}
        )
    with transaction.atomic():
        order = _locked(order)
        if order.waived or order.status in (
            RestoreOrder.Status.DONE,
            RestoreOrder.Status.FAILED,
            RestoreOrder.Status.CANCELLED,
        ):
            raise ValidationError(_("The fee of this order can no longer be waived."))
        order.waive_reason, order.waived_by = reason, actor.user
        order.save(update_fields=["waive_reason", "waived_by"])
        _credit(actor, order, reason)
        audit.record(
            actor,
            "restore.waived",
            customer=order.customer,
            target=f"order {order.pk}",
            reason=reason,
        )
        _start_if_ready(order)
    return order


def cancel(actor: Actor, order: RestoreOrder) -> RestoreOrder:
    """Cancel an order: before it runs it ends at once (its invoice credited); while it runs the
    restore stops at the next file."""
    require(actor, "restores.order", order.customer)
    with transaction.atomic():
        order = _locked(order)
        if order.status in OPEN:
            order.status = RestoreOrder.Status.CANCELLED
            order.finished_at = timezone.now()
            order.save(update_fields=["status", "finished_at"])
            order.items.filter(status__in=UNFINISHED).update(status=RestoreItem.Status.CANCELLED)
            _credit(actor, order, _("The restore was cancelled before it ran."))
        elif order.status == RestoreOrder.Status.RUNNING:
            order.cancel_requested = True
            order.save(update_fields=["cancel_requested"])
            order.items.filter(
                status__in=(RestoreItem.Status.WAITING, RestoreItem.Status.QUEUED)
            ).update(status=RestoreItem.Status.CANCELLED)
        else:
            raise ValidationError(_("This order has finished and cannot be cancelled."))
        audit.record(
            actor, "restore.cancelled", customer=order.customer, target=f"order {order.pk}"
        )
    _settle(order.pk)
    return order


def _credit(actor: Actor, order: RestoreOrder, reason: str) -> None:
    """Credit the order's invoice once (inside the caller's transaction, order row locked)."""
    if order.invoice is None or order.credit_note_id is not None:
        return
    order.credit_note = billing.issue_credit_note(actor, order.invoice, reason=reason)
    order.save(update_fields=["credit_note"])


def _start_if_ready(order: RestoreOrder) -> None:
    """Queue the order's items once it may run: paid, free, waived, or a staff recovery."""
    from backups.tasks import run_restore_item

    ready = order.status == RestoreOrder.Status.ACCEPTED or (
        order.status == RestoreOrder.Status.INVOICED
        and (order.waived or order.recovery_id or order.invoice.status == Invoice.Status.PAID)
    )
    if not ready or order.recovery_id:  # a recovery feeds its items itself, with its cap
        return
    queued = list(
        order.items.filter(status=RestoreItem.Status.WAITING).values_list("pk", flat=True)
    )
    order.items.filter(pk__in=queued).update(status=RestoreItem.Status.QUEUED)
    for pk in queued:
        transaction.on_commit(functools.partial(run_restore_item.delay, pk))


# -- running -------------------------------------------------------------------------------------


def execute_item(item_id: int) -> str:
    """Carry out one queued item, once: the claim row makes a second delivery a no-op."""
    item = RestoreItem.objects.select_related("order__customer", "order__recovery").get(pk=item_id)
    if item.status != RestoreItem.Status.QUEUED:
        return "skipped"
    try:
        with transaction.atomic():
            RestoreClaim.objects.create(item=item)
    except IntegrityError:
        return "skipped"
    order = item.order
    now = timezone.now()
    RestoreItem.objects.filter(pk=item.pk).update(status=RestoreItem.Status.RUNNING, started_at=now)
    RestoreOrder.objects.filter(pk=order.pk, status__in=OPEN).update(
        status=RestoreOrder.Status.RUNNING
    )
    log.info("restore.item_started", order=order.pk, item=item.pk, kind=item.kind)
    try:
        result = _restore(item)
    except restore.RestoreCancelled:
        status, fields = RestoreItem.Status.CANCELLED, {"error": _("Cancelled.")}
    except KeysDestroyed:
        status = RestoreItem.Status.FAILED
        fields = {"error": str(ERASED)}
    except Exception as exc:  # noqa: BLE001 -- any failure is the item's, shown to the customer
        log.warning("restore.item_failed", order=order.pk, item=item.pk, error=str(exc))
        status, fields = RestoreItem.Status.FAILED, {"error": f"{type(exc).__name__}: {exc}"}
    else:
        status = RestoreItem.Status.DONE
        fields = {
            "verified": result.verified,
            "files_done": result.files,
            "progress_bytes": result.bytes,
        }
    RestoreItem.objects.filter(pk=item.pk).update(
        status=status, finished_at=timezone.now(), **fields
    )
    _settle(order.pk)
    if order.recovery_id:
        from backups.services import recovery

        recovery.feed(order.recovery_id)
    return status


class _Watch:
    """Progress into the item's row (throttled by the engine) and a cheap cancel check."""

    def __init__(self, item: RestoreItem):
        self.item, self.checked, self.stop = item, 0.0, False

    def progress(self, done_bytes: int, total_bytes: int, files_done: int) -> None:
        RestoreItem.objects.filter(pk=self.item.pk).update(
            progress_bytes=done_bytes, files_done=files_done
        )

    def cancelled(self) -> bool:
        if time.monotonic() - self.checked >= 1.0:
            self.checked = time.monotonic()
            self.stop = RestoreOrder.objects.filter(
                pk=self.item.order_id, cancel_requested=True
            ).exists()
        return self.stop


def _restore(item: RestoreItem):
    order = item.order
    repo = open_repository(order.customer)
    snapshot = repo.load_snapshot(item.snapshot_id)
    watch = _Watch(item)
    if order.destination == Destination.DOWNLOAD:
        return _build_download(order, item, repo, snapshot, watch)
    current = item_of(item.kind, item.item_id)
    if current is None:
        raise restore.RestoreError(_("The item no longer exists."))
    server = current.server
    if order.recovery_id:
        _provision(order, current)
    target = ssh_target(server) if server.transport == Server.Transport.SSH else None
    root = server.root if server.profile == Server.Profile.SANDBOX else "/"
    if item.kind == ItemKind.DATABASE:
        return restore.restore_dump(
            repo,
            snapshot,
            engine=current.row.engine,
            database=current.row.name,
            profile=server.profile,
            root=root,
            target=target,
        )
    if item.kind == ItemKind.WEBHOTEL:
        dest = _webhotel_destination(item, current, server, root)
    else:
        dest = sources.maildir_path(server.profile, root, current.row.address)
    entries = restore.select_entries(repo, snapshot, item.paths or None)
    return restore.restore_to_server(
        repo,
        snapshot,
        entries,
        target=target,
        dest_root=dest,
        progress=watch.progress,
        cancelled=watch.cancelled,
        same_owner=server.profile == Server.Profile.DEBIAN,
    )


def _webhotel_destination(item: RestoreItem, current, server: Server, root: str) -> str:
    webhotel = current.row
    if item.target_webhotel_id:
        webhotel = Webhotel.objects.select_related("server").get(pk=item.target_webhotel_id)
        if webhotel.server_id != server.pk:
            raise restore.RestoreError(_("The other webhotel must be on the same server."))
    home = sources.webhotel_path(server.profile, root, webhotel.system_user)
    return f"{home}/{item.side_folder}" if item.side_folder else home


def _provision(order: RestoreOrder, current) -> None:
    """Before a recovery restores an item onto a (replacement) server, set it up there."""
    from hosting import provisioning
    from hosting.services.operations import enqueue

    row, actor = current.row, Actor.system()
    if current.kind == ItemKind.WEBHOTEL:
        steps = [("webhotel.ensure", row, row.primary_domain)]
    elif current.kind == ItemKind.DATABASE:
        steps = [("database.ensure", row, row.name)]
    else:  # a mailbox needs its mail domain first
        steps = [
            ("maildomain.ensure", row.mail_domain, row.mail_domain.name),
            ("mailbox.ensure", row, row.address),
        ]
    for action, resource, name in steps:
        with transaction.atomic():
            operation = enqueue(
                actor,
                server=current.server,
                customer=order.customer,
                action=action,
                target=name,
                params={"id": resource.pk},
            )
        if provisioning.execute(operation.pk) != "done":
            operation.refresh_from_db()
            raise restore.RestoreFailed(current.server.name, f"{action} {name}", operation.error)


def _build_download(order, item, repo, snapshot, watch):
    entries = restore.select_entries(repo, snapshot, item.paths or None)
    fmt = order.archive_format
    key = f"downloads/{order.customer.uuid}/{order.uuid}.{fmt}"
    with tempfile.TemporaryFile(dir=settings.HAVN_RESTORE_SPOOL_DIR) as spool:
        result = restore.build_archive(
            repo,
            snapshot,
            entries,
            spool,
            fmt=fmt,
            progress=watch.progress,
            cancelled=watch.cancelled,
        )
        spool.seek(0)
        objectstore.default_store().put_file(key, spool, result.bytes_written)
    RestoreOrder.objects.filter(pk=order.pk).update(
        archive_key=key,
        archive_format=fmt,
        archive_size=result.bytes_written,
        archive_sha256=result.sha256,
        archive_expires_at=timezone.now() + timedelta(days=settings.HAVN_RESTORE_ARCHIVE_DAYS),
    )
    return result


def _settle(order_id: int) -> None:
    """When every item has finished, finish the order; a failed or cancelled one is credited."""
    with transaction.atomic():
        order = RestoreOrder.objects.select_for_update().get(pk=order_id)
        if order.finished or order.items.filter(status__in=UNFINISHED).exists():
            return
        statuses = set(order.items.values_list("status", flat=True))
        if statuses <= {RestoreItem.Status.DONE}:
            order.status = RestoreOrder.Status.DONE
        elif RestoreItem.Status.FAILED in statuses:
            order.status = RestoreOrder.Status.FAILED
            order.error = "; ".join(
                f"{i.item_name}: {i.error}"
                for i in order.items.filter(status=RestoreItem.Status.FAILED)
            )
        else:
            order.status = RestoreOrder.Status.CANCELLED
        order.finished_at = timezone.now()
        order.save(update_fields=["status", "finished_at", "error"])
        system = Actor.system()
        if order.status == RestoreOrder.Status.FAILED:
            _credit(system, order, _("The restore failed: you are not charged for it."))
        elif order.status == RestoreOrder.Status.CANCELLED:
            _credit(system, order, _("The restore was cancelled: you are not charged for it."))
        audit.record(
            system,
            f"restore.{order.status}",
            customer=order.customer,
            target=f"order {order.pk}",
            error=order.error[:500],
        )
        if order.status in (RestoreOrder.Status.DONE, RestoreOrder.Status.FAILED):
            webhooks.emit(
                order.customer_id,
                f"restore.{order.status}",
                {"restore_order": {"id": order.pk, "status": order.status, "error": order.error}},
            )


# -- downloads -----------------------------------------------------------------------------------


def download_link(actor: Actor, order: RestoreOrder) -> str:
    """A signed link to the order's archive, valid ``HAVN_RESTORE_LINK_HOURS``."""
    require(actor, "restores.view", order.customer)
    if not order.archive_key or order.archive_expires_at <= timezone.now():
        raise ValidationError(_("There is no archive to download for this order."))
    # The archive is the customer's content: staff need the customer's grant (audited), and a
    # link issued under a grant works only while that grant lasts.
    grant = require_content_access(
        actor, order.customer, SupportScope.BACKUPS, what=f"restore archive of order {order.pk}"
    )
    token = signing.dumps(
        {"order": str(order.uuid), "grant": grant.pk if grant else None}, salt=LINK_SALT
    )
    audit.record(actor, "restore.link_issued", customer=order.customer, target=f"order {order.pk}")
    return reverse("backups:download", args=[token])


def order_for_download(token: str) -> RestoreOrder:
    """The order a download link names, while the link and the archive are valid (and, for a
    link staff got under a support grant, while the grant lasts; such a download is audited)."""
    invalid = PermissionDenied(_("This download link is invalid or has expired."))
    try:
        link = signing.loads(token, salt=LINK_SALT, max_age=settings.HAVN_RESTORE_LINK_HOURS * 3600)
        order = RestoreOrder.objects.filter(uuid=link["order"]).first()
    except (signing.BadSignature, KeyError, TypeError, ValidationError):
        raise invalid from None
    if order is None or not order.archive_key or order.archive_expires_at <= timezone.now():
        raise invalid
    if link["grant"] is not None:
        grant = live_grants(order.customer).filter(pk=link["grant"]).first()
        if grant is None or SupportScope.BACKUPS not in grant.scopes:
            raise invalid
        audit.record(
            Actor.system(),
            "support.content_read",
            customer=order.customer,
            target=f"download of the restore archive of order {order.pk}",
            scope=SupportScope.BACKUPS,
            grant=grant.pk,
            actor_label="download link",
        )
    return order


def fail_stale(now=None) -> int:
    """Items still "running" long after they started lost their worker: an item runs once (its
    claim row stays), so it is failed, its order settled and credited; staff can order it again."""
    now = now or timezone.now()
    stale = list(
        RestoreItem.objects.filter(
            status=RestoreItem.Status.RUNNING, started_at__lt=now - STALE_AFTER
        ).values_list("pk", "order_id")
    )
    for pk, order_id in stale:
        RestoreItem.objects.filter(pk=pk, status=RestoreItem.Status.RUNNING).update(
            status=RestoreItem.Status.FAILED,
            finished_at=now,
            error=_("The worker carrying out the restore stopped."),
        )
        _settle(order_id)
    return len(stale)


def expire_archives(now=None) -> int:
    """Daily: delete archives past their time."""
    now = now or timezone.now()
    store = objectstore.default_store()
    expired = RestoreOrder.objects.filter(~Q(archive_key=""), archive_expires_at__lte=now).only(
        "pk", "archive_key"
    )
    count = 0
    for order in expired:
        store.delete(order.archive_key)
        RestoreOrder.objects.filter(pk=order.pk).update(archive_key="")
        count += 1
    return count
