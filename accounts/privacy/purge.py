"""The purge: after the grace period, every eraser of the data inventory runs in order
(docs/privacy.md). Idempotent and resumable: each category's finished step is recorded on the
closure, so a purge killed halfway goes on from the failed step at the next run, and an eraser run
twice finds nothing left to do.

An eraser that cannot finish yet (objects under object lock) raises ``Deferred``; the purge goes
on, the closure ends "erased" with the step listed as pending in the receipt, and the daily run
retries the step from the time it names.
"""

from datetime import datetime

import structlog
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Max, Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.models import AccountClosure, Customer, ErasureReceipt, Invoice, Membership
from accounts.privacy.registry import categories

log = structlog.get_logger(__name__)
RECEIPT_SALT = "havn.erasure-receipt"


class Deferred(Exception):  # noqa: N818 -- a state, not an error
    """The eraser did what it could; the rest may happen from ``until`` (an object lock)."""

    def __init__(self, until: datetime, message: str = ""):
        super().__init__(message or f"deferred until {until.isoformat()}")
        self.until = until


# Longer than any purge takes; a run that died holding the lock blocks the next one this long.
PURGE_LOCK_SECONDS = 3600


class PurgeIncomplete(Exception):
    """A step failed; the purge resumes from it at the next run."""


class PurgeBusy(Exception):
    """Another run is purging this closure right now."""


def due(now: datetime | None = None):
    """The closures the daily run works on: grace over, purge unfinished, or a deferred step whose
    time has come."""
    now = now or timezone.now()
    closures = AccountClosure.objects.filter(
        Q(status=AccountClosure.Status.GRACE, purge_after__lte=now)
        | Q(status=AccountClosure.Status.PURGING)
        | (Q(status=AccountClosure.Status.PURGED) & ~Q(deferred={}))
    ).select_related("customer")
    return [c for c in closures if c.status != AccountClosure.Status.PURGED or _ripe(c, now)]


def _ripe(closure: AccountClosure, now: datetime) -> bool:
    return any(datetime.fromisoformat(until) <= now for until in closure.deferred.values())


def purge_due(now: datetime | None = None) -> dict:
    """Daily (the ``personal_data`` retention rule, and ``manage.py purge_closed_accounts``):
    purge every due closure. A failure of one is recorded on it and does not stop the others."""
    report = {"purged": 0, "incomplete": 0, "busy": 0}
    for closure in due(now):
        try:
            purge(closure, now=now)
        except PurgeIncomplete:
            report["incomplete"] += 1
        except PurgeBusy:
            report["busy"] += 1
        else:
            report["purged"] += 1
    return report


def _claim(closure: AccountClosure, now: datetime) -> AccountClosure:
    with transaction.atomic():
        closure = AccountClosure.objects.select_for_update().get(pk=closure.pk)
        if closure.status == AccountClosure.Status.REOPENED:
            raise ValidationError(_("This account was reopened; there is nothing to erase."))
        if closure.status == AccountClosure.Status.GRACE:
            if closure.purge_after > now:
                raise ValidationError(_("The grace period has not ended yet."))
            closure.status, closure.purge_started_at = AccountClosure.Status.PURGING, now
            closure.notify = _recipients(closure.customer)
        closure.attempts += 1
        closure.save(update_fields=["status", "purge_started_at", "notify", "attempts"])
    return closure


def _recipients(customer: Customer) -> list[str]:
    owners = Membership.objects.filter(customer=customer, role="owner").values_list(
        "user__email", flat=True
    )
    return sorted({customer.email, *owners})


def purge(closure: AccountClosure, *, now: datetime | None = None) -> AccountClosure:
    """Run every eraser not yet done, in order; then finish the closure with its receipt.

    One run per closure at a time (a lock in the cache): a second run meanwhile raises
    `PurgeBusy` and changes nothing."""
    now = now or timezone.now()
    lock = f"havn:purge:{closure.pk}"
    if not cache.add(lock, "1", timeout=PURGE_LOCK_SECONDS):
        raise PurgeBusy(f"closure {closure.pk} is being purged by another run")
    try:
        return _run(closure, now)
    finally:
        cache.delete(lock)


def _run(closure: AccountClosure, now: datetime) -> AccountClosure:
    closure = _claim(closure, now)
    customer = closure.customer
    closure.now = now  # the erasers' clock
    system = Actor.system()
    for category in categories():
        key = category.key
        if category.erase is None or key in closure.steps_done:
            continue
        until = closure.deferred.get(key)
        if until and datetime.fromisoformat(until) > now:
            continue
        try:
            category.erase(customer, closure)
        except Deferred as deferred:
            closure.deferred[key] = deferred.until.isoformat()
            closure.save(update_fields=["deferred"])
            log.info("privacy.purge_deferred", closure=closure.pk, step=key)
            continue
        except Exception as exc:
            closure.last_error = f"{key}: {type(exc).__name__}: {exc}"[:2000]
            closure.save(update_fields=["last_error"])
            log.warning("privacy.purge_step_failed", closure=closure.pk, step=key)
            audit.record(system, "account.purge_failed", customer=customer, target=key)
            raise PurgeIncomplete(closure.last_error) from exc
        closure.steps_done[key] = now.isoformat()
        closure.deferred.pop(key, None)
        closure.save(update_fields=["steps_done", "deferred"])
        audit.record(system, "account.purge_step", customer=customer, target=key)
    return _finish(closure, now)


def _finish(closure: AccountClosure, now: datetime) -> AccountClosure:
    first_time = closure.status != AccountClosure.Status.PURGED
    with transaction.atomic():
        closure.status, closure.last_error = AccountClosure.Status.PURGED, ""
        closure.purged_at = closure.purged_at or now
        closure.save(update_fields=["status", "last_error", "purged_at"])
        Customer.objects.filter(pk=closure.customer_id).update(status=Customer.Status.CLOSED)
        receipt = _write_receipt(closure, now)
    if first_time:
        audit.record(Actor.system(), "account.purged", customer=closure.customer, target="")
        log.info("privacy.purged", closure=closure.pk)
    if closure.notify:
        _mail_receipt(closure, receipt)
    return closure


def _write_receipt(closure: AccountClosure, now: datetime) -> ErasureReceipt:
    registered = {category.key: category for category in categories()}
    erased = [
        {"key": key, "label": str(registered[key].label), "erased_at": at}
        for key, at in closure.steps_done.items()
        if key in registered
    ]
    kept = [
        {
            "key": key,
            "label": str(registered[key].label),
            "why": _(
                "Encrypted backup data under object lock; unreadable since its keys were destroyed."
            ),
            "until": until,
        }
        for key, until in closure.deferred.items()
        if key in registered
    ]
    for category in registered.values():
        if category.erase is None:
            kept.append(
                {
                    "key": category.key,
                    "label": str(category.label),
                    "why": f"{category.purpose} ({category.legal_basis})",
                    "until": _kept_until(closure.customer_id, category),
                }
            )
    receipt, _created = ErasureReceipt.objects.update_or_create(
        closure=closure,
        defaults={"customer_id": closure.customer_id, "erased": erased, "kept": kept},
        create_defaults={
            "customer_id": closure.customer_id,
            "erased": erased,
            "kept": kept,
            "issued_at": now,
        },
    )
    return receipt


def _kept_until(customer_id: int, category) -> str:
    if category.key == "accounts.invoices":
        last_year = Invoice.objects.filter(customer_id=customer_id).aggregate(y=Max("year"))["y"]
        if last_year is None:
            return _("Nothing kept: there are no invoices.")
        return f"{last_year + 5}-12-31"
    return str(category.retention)


def receipt_link(receipt: ErasureReceipt) -> str:
    """A link to the receipt that works without logging in (the users were erased)."""
    token = signing.dumps(str(receipt.uuid), salt=RECEIPT_SALT)
    return reverse("accounts:privacy_receipt_public", args=[token])


def receipt_for_token(token: str) -> ErasureReceipt | None:
    try:
        receipt_uuid = signing.loads(token, salt=RECEIPT_SALT)
    except signing.BadSignature:
        return None
    return ErasureReceipt.objects.filter(uuid=receipt_uuid).select_related("closure").first()


def _mail_receipt(closure: AccountClosure, receipt: ErasureReceipt) -> None:
    """E-mail the receipt link once, then forget the addresses."""
    from django.conf import settings

    context = {"receipt": receipt, "url": settings.HAVN_PANEL_URL + receipt_link(receipt)}
    with translation.override(closure.customer.language):
        subject = render_to_string("accounts/privacy/email/receipt_subject.txt", context).strip()
        body = render_to_string("accounts/privacy/email/receipt.txt", context)
    try:
        send_mail(subject, body, None, closure.notify)
    finally:
        AccountClosure.objects.filter(pk=closure.pk).update(notify=[])
        closure.notify = []
