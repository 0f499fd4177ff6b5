"""Content exports: before leaving, a customer downloads their content as it is on the live
servers (webhotel files, mailboxes, database dumps) in one tar.zst, at no charge (issue 6,
docs/privacy.md "Your content before you leave").

Requested by the customer's owners and administrators (``privacy.export``), built by a Celery
task into the object store (``exports/<customer uuid>/content-<uuid>.tar.zst``), downloaded
through a signed link that only the customer's own users can open until the export expires
(``HAVN_EXPORT_LINK_DAYS``). Nothing is invoiced.
"""

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy

from accounts import audit
from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import require
from accounts.privacy.closure import erasing
from backups import sources
from backups.content_archive import ContentArchive
from backups.models import ContentExport
from backups.services.runs import LIVE
from hosting.models import Database, Mailbox, Server, Webhotel
from hosting.transport import ssh_target
from infra import objectstore
from infra.logging import get_logger

log = get_logger(__name__)
LINK_SALT = "havn.content-export-download"
OPEN = (ContentExport.Status.QUEUED, ContentExport.Status.RUNNING)
STALE_AFTER = timedelta(hours=12)  # a build still "running" after this lost its worker
DOWNLOAD_PIECE = 8 * 1024 * 1024
NOT_FOUND = _lazy("There is no such content export, or its link has expired.")


def object_key(export: ContentExport) -> str:
    return f"exports/{export.customer.uuid}/content-{export.uuid}.tar.zst"


# -- requesting ----------------------------------------------------------------------------------


def request_content_export(actor: Actor, customer: Customer) -> ContentExport:
    """Queue a content export; one at a time per customer (an open one is returned again)."""
    require(actor, "privacy.export", customer)
    if customer.status == Customer.Status.CLOSED or erasing(customer):
        raise ValidationError(_("This account has been erased; there is no content to export."))
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        open_export = ContentExport.objects.filter(customer=customer, status__in=OPEN).first()
        if open_export is not None:
            return open_export
        export = ContentExport.objects.create(customer=customer, requested_by=actor.user)
        audit.record(actor, "content_export.requested", customer=customer, target=str(export.uuid))
        from backups.tasks import build_content_export

        transaction.on_commit(lambda: build_content_export.delay(export.pk))
    return export


# -- building ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    kind: str  # webhotel, mailbox, database
    name: str
    folder: str  # where it goes in the archive
    server: Server
    row: object


def live_content(customer: Customer) -> list[_Item]:
    """The customer's live webhotels, mailboxes and databases, each with its archive folder."""
    items = []
    webhotels = Webhotel.objects.filter(customer=customer, status__in=LIVE)
    for w in webhotels.select_related("server").order_by("pk"):
        items.append(
            _Item("webhotel", w.primary_domain, f"webhotels/{w.primary_domain}", w.server, w)
        )
    mailboxes = Mailbox.objects.filter(
        mail_domain__webhotel__customer=customer, status__in=LIVE
    ).select_related("mail_domain__webhotel__server")
    for m in mailboxes.order_by("pk"):
        items.append(
            _Item("mailbox", m.address, f"mail/{m.address}", m.mail_domain.webhotel.server, m)
        )
    databases = Database.objects.filter(webhotel__customer=customer, status__in=LIVE)
    for d in databases.select_related("webhotel__server").order_by("pk"):
        items.append(_Item("database", d.name, "databases", d.webhotel.server, d))
    return items


class _Hosts:
    """One command runner per server (an SSH connection from the pool, or local processes)."""

    def __init__(self, stack: ExitStack):
        self.stack, self.runners = stack, {}

    def runner(self, server: Server):
        if server.pk not in self.runners:
            target = ssh_target(server) if server.transport == Server.Transport.SSH else None
            self.runners[server.pk] = sources._Runner(self.stack, target, None, None, None)
        return self.runners[server.pk]


def _root(server: Server) -> str:
    return server.root if server.profile == Server.Profile.SANDBOX else "/"


def _write(archive: ContentArchive, hosts: _Hosts, item: _Item) -> str:
    """Add one item; returns its path in the archive."""
    server, runner = item.server, hosts.runner(item.server)
    if item.kind == "database":
        spec = sources.dump_spec(server.profile, _root(server), item.row.engine, item.row.name)
        name = f"{item.folder}/{spec.name}"
        archive.add_dump(runner, spec, name)
        return name
    if item.kind == "webhotel":
        root = sources.webhotel_path(server.profile, _root(server), item.row.system_user)
    else:
        root = sources.maildir_path(server.profile, _root(server), item.row.address)
    archive.add_tree(runner, root, item.folder)
    return item.folder


def build_content_export(export_id: int, now: datetime | None = None) -> str:
    """Build one queued export (the task). Claimed once: a second delivery is skipped."""
    now = now or timezone.now()
    claimed = ContentExport.objects.filter(pk=export_id, status=ContentExport.Status.QUEUED)
    if not claimed.update(status=ContentExport.Status.RUNNING, started_at=now):
        return "skipped"
    export = ContentExport.objects.select_related("customer").get(pk=export_id)
    key = object_key(export)
    written, item = [], None
    try:
        with tempfile.TemporaryFile() as spool:
            archive = ContentArchive(spool)
            with ExitStack() as stack:
                hosts = _Hosts(stack)
                for item in live_content(export.customer):
                    path = _write(archive, hosts, item)
                    written.append({"kind": item.kind, "name": item.name, "path": path})
            archive.close()
            size = spool.tell()
            spool.seek(0)
            digest = hashlib.file_digest(spool, "sha256").hexdigest()
            spool.seek(0)
            objectstore.default_store().put_file(key, spool, size)
    except Exception as exc:  # noqa: BLE001 -- shown to the customer, who may ask again
        log.warning(
            "content_export.failed",
            export=export.pk,
            item=item and f"{item.kind} {item.name}",
            error=f"{type(exc).__name__}: {exc}"[:500],
        )
        error = _("The archive could not be built. Please try again, or contact us.")
        if item is not None:
            error = _("%(item)s could not be read. Please try again, or contact us.") % {
                "item": item.name
            }
        return _finish(export, ContentExport.Status.FAILED, error=error)
    if erasing(export.customer) or not ContentExport.objects.filter(pk=export.pk).exists():
        objectstore.default_store().delete(key)  # the purge began meanwhile: keep nothing
        return "erased"
    return _finish(
        export,
        ContentExport.Status.READY,
        object_key=key,
        size=size,
        sha256=digest,
        items=written,
        ready_at=now,
        expires_at=now + timedelta(days=settings.HAVN_EXPORT_LINK_DAYS),
    )


def _finish(export: ContentExport, status: str, **fields) -> str:
    ContentExport.objects.filter(pk=export.pk, status=ContentExport.Status.RUNNING).update(
        status=status, **fields
    )
    audit.record(
        Actor.system(),
        f"content_export.{status}",
        customer=export.customer,
        target=str(export.uuid),
    )
    return status


# -- downloading ---------------------------------------------------------------------------------


def download_link(actor: Actor, export: ContentExport) -> str:
    """A signed link to the export's archive, valid while the export is (customer members only)."""
    require(actor, "privacy.export", export.customer)
    if not export.downloadable():
        raise ValidationError(NOT_FOUND)
    token = signing.dumps(
        {"export": str(export.uuid), "customer": export.customer_id}, salt=LINK_SALT
    )
    audit.record(
        actor, "content_export.link_issued", customer=export.customer, target=str(export.uuid)
    )
    return reverse("backups:content_export_download", args=[export.customer_id, token])


def export_for_download(actor: Actor, customer: Customer, token: str) -> ContentExport:
    """The export a link names, for one of the customer's own users while it is valid; anything
    else (forged, expired, another customer's) is a 404."""
    try:
        signed = signing.loads(
            token, salt=LINK_SALT, max_age=timedelta(days=settings.HAVN_EXPORT_LINK_DAYS)
        )
    except signing.BadSignature:
        raise Http404(NOT_FOUND) from None
    if signed.get("customer") != customer.pk:
        raise Http404(NOT_FOUND)
    require(actor, "privacy.export", customer)
    export = (
        ContentExport.objects.visible_to(actor.user)
        .filter(customer=customer, uuid=signed.get("export"))
        .first()
    )
    if export is None or not export.downloadable():
        raise Http404(NOT_FOUND)
    audit.record(actor, "content_export.downloaded", customer=customer, target=str(export.uuid))
    return export


def archive_pieces(export: ContentExport) -> Iterator[bytes]:
    """The archive from the store, a piece at a time."""
    store = objectstore.default_store()
    for offset in range(0, export.size, DOWNLOAD_PIECE):
        yield store.get_range(export.object_key, offset, DOWNLOAD_PIECE)


def filename(export: ContentExport) -> str:
    return f"havn-content-{export.ready_at:%Y-%m-%d}.tar.zst"


# -- housekeeping --------------------------------------------------------------------------------


def sweep(now: datetime | None = None) -> int:
    """Hourly: fail builds whose worker died, delete archives whose link has expired."""
    now = now or timezone.now()
    count = ContentExport.objects.filter(
        status=ContentExport.Status.RUNNING, started_at__lt=now - STALE_AFTER
    ).update(status=ContentExport.Status.FAILED, error=_("The export was interrupted."))
    store = objectstore.default_store()
    expired = ContentExport.objects.filter(status=ContentExport.Status.READY, expires_at__lte=now)
    for export in expired:
        store.delete(export.object_key)
        ContentExport.objects.filter(pk=export.pk).update(
            status=ContentExport.Status.EXPIRED, object_key=""
        )
        count += 1
    return count
