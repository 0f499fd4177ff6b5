"""Events for customers' webhooks: ``emit(customer, event, payload)``.

Any app may emit (it lives here, below every app that has something to tell); the API app turns
each event into signed deliveries to the customer's subscribed endpoints (api/webhooks/). The
event goes out only when the surrounding transaction commits, so a rolled-back change never
announces itself.
"""

from django.db import transaction
from django.dispatch import Signal
from django.utils.translation import gettext_lazy as _

EVENTS = {
    "operation.done": _("An operation finished"),
    "operation.failed": _("An operation failed"),
    "backup.failed": _("A backup failed"),
    "restore.done": _("A restore finished"),
    "restore.failed": _("A restore failed"),
    "export.ready": _("A data export is ready"),
}
TEST_EVENT = "webhook.test"

# Sent on commit with customer_id, event and payload; api.webhooks.services listens.
event_emitted = Signal()


def emit(customer, event: str, payload: dict) -> None:
    """Announce ``event`` (one of EVENTS) about ``customer`` (a Customer, its id, or None for
    server-level work, which no customer hears about). ``payload`` must be JSON-able."""
    if event not in EVENTS:
        raise ValueError(f"Unknown webhook event {event!r}.")
    customer_id = getattr(customer, "pk", customer)
    if customer_id is None:
        return
    transaction.on_commit(
        lambda: event_emitted.send(
            sender=None, customer_id=customer_id, event=event, payload=payload
        )
    )
