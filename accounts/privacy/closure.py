"""Closing an account and reopening it during the grace period (docs/privacy.md).

Closing suspends every service at once, cancels restore work that has not run, and starts a grace
period (``HAVN_CLOSURE_GRACE_DAYS``, default 8 weeks) in which the customer can export and reopen
but create nothing new. When it ends, ``accounts.privacy.purge`` erases the account.

The apps above accounts take part through two signals, sent inside the closing (reopening)
transaction: a receiver of ``account_closing`` suspends what its app runs and returns a JSON-able
record of it, kept on the closure under the receiver's app label; a receiver of
``account_reopened`` gets that record back and resumes exactly what was suspended.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.models import AccountClosure, Customer
from accounts.permissions import require

# account_closing.send(sender=Customer, actor=, customer=) -> [(receiver, (label, record))]
account_closing = Signal()
# account_reopened.send(sender=Customer, actor=, customer=, suspended={label: record})
account_reopened = Signal()


def live_closure(customer: Customer) -> AccountClosure | None:
    """The closure in its grace period or being purged, if any."""
    return (
        AccountClosure.objects.filter(customer=customer)
        .exclude(status=AccountClosure.Status.REOPENED)
        .first()
    )


def _check_password(actor: Actor, customer: Customer, password: str | None) -> None:
    """The owner re-authenticates; a staff administrator acting in the panel does not."""
    if actor.user.is_staff and getattr(actor.user, "api_customer_id", None) is None:
        return
    if not password or not actor.user.check_password(password):
        audit.record(actor, "account.close_refused", customer=customer, target="password")
        raise PermissionDenied(_("The password is wrong: the account was not closed."))


def close_account(
    actor: Actor,
    customer: Customer,
    *,
    reauthenticated_password: str | None = None,
    now: datetime | None = None,
) -> AccountClosure:
    """Close the account: services suspended now, erased after the grace period."""
    require(actor, "privacy.close", customer)
    _check_password(actor, customer, reauthenticated_password)
    now = now or timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.status not in (Customer.Status.ACTIVE, Customer.Status.SUSPENDED):
            raise ValidationError(_("This account is already closed."))
        previous = customer.status
        customer.status = Customer.Status.CLOSING
        customer.save(update_fields=["status", "updated_at"])
        responses = account_closing.send(sender=Customer, actor=actor, customer=customer)
        suspended = {"accounts": {"status": previous}}
        suspended.update(response for _receiver, response in responses)
        closure = AccountClosure.objects.create(
            customer=customer,
            closed_by=actor.user if actor.is_authenticated else None,
            closed_by_staff=actor.user.is_staff,
            closed_at=now,
            purge_after=now + timedelta(days=settings.HAVN_CLOSURE_GRACE_DAYS),
            suspended=suspended,
        )
        audit.record(
            actor,
            "account.closed",
            customer=customer,
            target=f"closure {closure.pk}",
            purge_after=closure.purge_after.isoformat(),
        )
    return closure


def reopen_account(actor: Actor, customer: Customer, *, now: datetime | None = None) -> Customer:
    """Reopen a closed account during its grace period: what the closure suspended resumes."""
    require(actor, "privacy.close", customer)
    now = now or timezone.now()
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        closure = live_closure(customer)
        if (
            closure is None
            or closure.status != AccountClosure.Status.GRACE
            or closure.purge_after <= now
        ):
            raise ValidationError(_("Only an account in its grace period can be reopened."))
        closure.status, closure.reopened_at = AccountClosure.Status.REOPENED, now
        closure.save(update_fields=["status", "reopened_at"])
        customer.status = closure.suspended.get("accounts", {}).get(
            "status", Customer.Status.ACTIVE
        )
        customer.save(update_fields=["status", "updated_at"])
        account_reopened.send(
            sender=Customer, actor=actor, customer=customer, suspended=closure.suspended
        )
        audit.record(actor, "account.reopened", customer=customer, target=f"closure {closure.pk}")
    return customer


def erasing(customer: Customer) -> bool:
    """True once the customer's purge has started: nothing new may be written about them."""
    return AccountClosure.objects.filter(
        customer=customer,
        status__in=[AccountClosure.Status.PURGING, AccountClosure.Status.PURGED],
    ).exists()
