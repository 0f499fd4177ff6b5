"""The export (GDPR art. 15 access and art. 20 portability): one zip with ``data.json`` — every
category's exporter output, in the format docs/export-schema.json describes — and each invoice's
PDF, built in the background, kept in the object store and downloadable for
``HAVN_EXPORT_LINK_DAYS`` days through a link only the customer's own users can open.
"""

import hashlib
import io
import json
import tempfile
import zipfile
from datetime import datetime, timedelta

import structlog
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit, webhooks
from accounts.actor import Actor
from accounts.invoice_pdf import render_invoice_pdf
from accounts.models import Customer, DataExport, Invoice
from accounts.permissions import require
from accounts.privacy.closure import erasing
from accounts.privacy.registry import categories
from infra import objectstore

log = structlog.get_logger(__name__)
FORMAT, VERSION = "havn-export", 1
OPEN = (DataExport.Status.QUEUED,)


def request_export(actor: Actor, customer: Customer) -> DataExport:
    """Queue an export; one at a time per customer (a queued one is returned again)."""
    require(actor, "privacy.export", customer)
    if customer.status == Customer.Status.CLOSED or erasing(customer):
        raise ValidationError(_("This account has been erased; there is nothing to export."))
    with transaction.atomic():
        Customer.objects.select_for_update().get(pk=customer.pk)
        queued = DataExport.objects.filter(customer=customer, status__in=OPEN).first()
        if queued is not None:
            return queued
        export = DataExport.objects.create(customer=customer, requested_by=actor.user)
        audit.record(actor, "export.requested", customer=customer, target=str(export.uuid))
        from accounts.tasks import build_export

        transaction.on_commit(lambda: build_export.delay(export.pk))
    return export


def data_document(customer: Customer, now: datetime | None = None) -> dict:
    """Everything the inventory holds about the customer, as one JSON-able document."""
    now = now or timezone.now()
    document = {
        "format": FORMAT,
        "version": VERSION,
        "generated_at": now,
        "customer": str(customer.uuid),
        "categories": {},
    }
    for category in categories():
        if category.export is None:
            continue
        document["categories"][category.key] = {
            "label": str(category.label),
            "purpose": str(category.purpose),
            "legal_basis": str(category.legal_basis),
            "retention": str(category.retention),
            "data": category.export(customer),
        }
    return json.loads(json.dumps(document, cls=DjangoJSONEncoder))


def build_export(export_id: int, now: datetime | None = None) -> str:
    """Build the archive of one queued export (the task). Once: a built export is skipped."""
    now = now or timezone.now()
    claimed = DataExport.objects.filter(pk=export_id, status=DataExport.Status.QUEUED)
    export = claimed.select_related("customer").first()
    if export is None:
        return "skipped"
    customer = export.customer
    key = f"exports/{customer.uuid}/{export.uuid}.zip"
    try:
        with tempfile.TemporaryFile() as spool:
            _write_zip(spool, customer, now)
            size = spool.tell()
            spool.seek(0)
            digest = hashlib.file_digest(spool, "sha256").hexdigest()
            spool.seek(0)
            objectstore.default_store().put_file(key, spool, size)
    except Exception as exc:  # noqa: BLE001 -- shown to the customer, who may ask again
        log.warning("privacy.export_failed", export=export.pk, error=type(exc).__name__)
        claimed.update(status=DataExport.Status.FAILED, error=_("The export could not be built."))
        return DataExport.Status.FAILED
    ready = not erasing(customer) and claimed.update(
        status=DataExport.Status.READY,
        object_key=key,
        size=size,
        sha256=digest,
        ready_at=now,
        expires_at=now + timedelta(days=settings.HAVN_EXPORT_LINK_DAYS),
    )
    if not ready:  # the purge began meanwhile (and may have erased the row): keep nothing
        objectstore.default_store().delete(key)
        return "erased"
    audit.record(Actor.system(), "export.ready", customer=customer, target=str(export.uuid))
    webhooks.emit(
        customer,
        "export.ready",
        {"export": str(export.uuid), "size": size, "sha256": digest},
    )
    return DataExport.Status.READY


def _write_zip(out, customer: Customer, now: datetime) -> None:
    document = data_document(customer, now)
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "data.json", json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True)
        )
        for invoice in Invoice.objects.filter(customer=customer).prefetch_related("lines"):
            archive.writestr(f"invoices/{invoice.number}.pdf", render_invoice_pdf(invoice))
        archive.writestr("README.txt", _readme())
    out.seek(0, io.SEEK_END)


def _readme() -> str:
    return _(
        "This archive holds everything Havn keeps about your account. data.json follows the "
        "schema in docs/export-schema.json (format havn-export, version 1); invoices/ holds "
        "your invoices and credit notes as PDF. Your website files, mail and databases are "
        "downloaded separately from the panel's content download."
    )


def export_for_download(actor: Actor, customer: Customer, export_uuid) -> DataExport:
    """The export a download link names: only the customer's own users, while it is valid.
    Anything else (another customer's export, an expired one, no such export) is a 404."""
    require(actor, "privacy.export", customer)
    export = (
        DataExport.objects.visible_to(actor.user)
        .filter(customer=customer, uuid=export_uuid)
        .first()
    )
    if export is None or not export.downloadable():
        raise Http404(_("There is no such export, or its link has expired."))
    audit.record(actor, "export.downloaded", customer=customer, target=str(export.uuid))
    return export


def open_archive(export: DataExport):
    return io.BytesIO(objectstore.default_store().get(export.object_key))


def expire_exports(now: datetime | None = None) -> int:
    """Daily: delete archives past their link's validity."""
    now = now or timezone.now()
    store = objectstore.default_store()
    count = 0
    for export in DataExport.objects.filter(status=DataExport.Status.READY, expires_at__lte=now):
        store.delete(export.object_key)
        DataExport.objects.filter(pk=export.pk).update(
            status=DataExport.Status.EXPIRED, object_key=""
        )
        count += 1
    return count
