"""Webhook endpoints and their deliveries, one function per operation.

Managing endpoints needs ``apikeys.manage`` (reading them ``apikeys.view``): webhooks, like API
keys, are how a customer's own systems talk to Havn. Each event emitted with
``accounts.webhooks.emit`` becomes one ``WebhookDelivery`` per active endpoint subscribed to it;
a Celery task sends it (``attempt``), and a failed attempt is tried again after a delay that
doubles each time, up to ``HAVN_WEBHOOK_MAX_ATTEMPTS`` attempts. Every attempt is logged.
"""

import json
import secrets
import time
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import require
from accounts.services import ensure_customer_active
from accounts.webhooks import EVENTS, TEST_EVENT
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from api.webhooks import addresses, sender, signing
from infra import secretbox

Status = WebhookDelivery.Status
# A delivery "sending" for this long lost its worker; it is tried again.
SENDING_TIMEOUT = timedelta(minutes=5)


# --- Endpoints ------------------------------------------------------------------------------------


def _clean_events(events) -> list[str]:
    events = sorted(set(events or []))
    if not events:
        raise ValidationError({"events": _("Choose at least one event.")})
    unknown = [e for e in events if e not in EVENTS]
    if unknown:
        raise ValidationError({"events": _("Unknown events: %s.") % ", ".join(unknown)})
    return events


def create_endpoint(
    actor: Actor,
    customer: Customer,
    *,
    url: str,
    events: list[str],
    description: str = "",
    active: bool = True,
) -> tuple[WebhookEndpoint, str]:
    """Returns the endpoint and its signing secret, which is shown this once."""
    require(actor, "apikeys.manage", customer)
    ensure_customer_active(customer)
    events = _clean_events(events)
    addresses.resolve(url)
    secret = "whsec_" + secrets.token_urlsafe(32)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            customer=customer,
            url=url,
            secret_sealed=secretbox.seal(secret),
            events=events,
            description=description,
            active=active,
            created_by=actor.user if actor.is_authenticated else None,
        )
        audit.record(actor, "webhook.created", customer=customer, target=url, events=events)
    return endpoint, secret


def update_endpoint(actor: Actor, endpoint: WebhookEndpoint, **fields) -> WebhookEndpoint:
    """Change ``url``, ``events``, ``description`` or ``active``."""
    require(actor, "apikeys.manage", endpoint.customer)
    unknown = set(fields) - {"url", "events", "description", "active"}
    if unknown:
        raise ValueError(f"Not changeable: {sorted(unknown)}")
    if "events" in fields:
        fields["events"] = _clean_events(fields["events"])
    if "url" in fields:
        addresses.resolve(fields["url"])
    with transaction.atomic():
        for name, value in fields.items():
            setattr(endpoint, name, value)
        endpoint.save(update_fields=list(fields))
        audit.record(
            actor,
            "webhook.changed",
            customer=endpoint.customer,
            target=endpoint.url,
            fields=sorted(fields),
        )
    return endpoint


def delete_endpoint(actor: Actor, endpoint: WebhookEndpoint) -> None:
    """Delete the endpoint with its deliveries and their log."""
    require(actor, "apikeys.manage", endpoint.customer)
    with transaction.atomic():
        endpoint.delete()
        audit.record(actor, "webhook.deleted", customer=endpoint.customer, target=endpoint.url)


def send_test(actor: Actor, endpoint: WebhookEndpoint) -> WebhookDelivery:
    """Queue a ``webhook.test`` delivery (sent even while the endpoint is inactive)."""
    require(actor, "apikeys.manage", endpoint.customer)
    with transaction.atomic():
        delivery = _queue(
            endpoint, TEST_EVENT, {"message": "A test delivery from Havn."}, test=True
        )
        audit.record(actor, "webhook.test_sent", customer=endpoint.customer, target=endpoint.url)
    return delivery


# --- Deliveries -----------------------------------------------------------------------------------


def queue_event(sender=None, *, customer_id: int, event: str, payload: dict, **kwargs) -> int:
    """Receiver of ``accounts.webhooks.event_emitted``: one delivery per subscribed endpoint.
    Returns how many were queued."""
    endpoints = [
        endpoint
        for endpoint in WebhookEndpoint.objects.filter(customer_id=customer_id, active=True)
        if event in endpoint.events
    ]
    with transaction.atomic():
        for endpoint in endpoints:
            _queue(endpoint, event, payload)
    return len(endpoints)


def _queue(endpoint: WebhookEndpoint, event: str, data: dict, *, test=False) -> WebhookDelivery:
    from api.tasks import deliver_webhook

    now = timezone.now()
    delivery = WebhookDelivery(endpoint=endpoint, event=event, test=test, next_attempt_at=now)
    delivery.body = json.dumps(
        {
            "id": str(delivery.uuid),
            "event": event,
            "created_at": now.isoformat(),
            "customer": endpoint.customer_id,
            "data": data,
        },
        separators=(",", ":"),
        default=str,
    )
    delivery.save()
    transaction.on_commit(lambda: deliver_webhook.delay(delivery.pk))
    return delivery


def retry_delay(attempts: int) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: the base delay, doubled each time."""
    return timedelta(seconds=settings.HAVN_WEBHOOK_RETRY_SECONDS * 2 ** (attempts - 1))


def headers(delivery: WebhookDelivery, secret: str, timestamp: int) -> dict[str, str]:
    return {
        signing.HEADER: signing.signature(secret, timestamp, delivery.body.encode()),
        "Havn-Event": delivery.event,
        "Havn-Delivery": str(delivery.uuid),
        "Havn-Attempt": str(delivery.attempts),
    }


def attempt(delivery_id: int) -> str | None:
    """Send a due delivery once and log it; None when it is not due (another worker has it, it
    is finished, or its time has not come). Returns the delivery's new status."""
    from api.tasks import deliver_webhook

    now = timezone.now()
    claimed = WebhookDelivery.objects.filter(
        pk=delivery_id, status=Status.PENDING, next_attempt_at__lte=now
    ).update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    final = False
    if not (endpoint.active or delivery.test):
        result, final = sender.Result(None, "", 0, "The endpoint is inactive."), True
    else:
        try:
            target = addresses.resolve(endpoint.url)
        except ValidationError as exc:
            result = sender.Result(None, "", 0, " ".join(exc.messages)[:500])
        else:
            secret = secretbox.unseal(endpoint.secret_sealed)
            body = delivery.body.encode()
            result = sender.post(target, body, headers(delivery, secret, int(time.time())))
    max_attempts = settings.HAVN_WEBHOOK_MAX_ATTEMPTS
    with transaction.atomic():
        WebhookAttempt.objects.create(
            delivery=delivery,
            number=delivery.attempts,
            sent_at=now,
            response_status=result.status,
            response_body=result.body,
            latency_ms=result.latency_ms,
            error=result.error,
        )
        if result.accepted:
            delivery.status, delivery.finished_at = Status.DELIVERED, timezone.now()
        elif final or delivery.attempts >= max_attempts:
            delivery.status, delivery.finished_at = Status.FAILED, timezone.now()
        else:
            delay = retry_delay(delivery.attempts)
            delivery.status, delivery.next_attempt_at = Status.PENDING, now + delay
            transaction.on_commit(
                lambda: deliver_webhook.apply_async((delivery.pk,), countdown=delay.total_seconds())
            )
        delivery.save(update_fields=["status", "finished_at", "next_attempt_at"])
    return delivery.status


def resume_due(now=None) -> int:
    """Enqueue the deliveries whose task was lost: due ones still waiting a minute after their
    time, and ones whose worker died while sending. Returns how many."""
    from api.tasks import deliver_webhook

    now = now or timezone.now()
    WebhookDelivery.objects.filter(
        status=Status.SENDING, claimed_at__lt=now - SENDING_TIMEOUT
    ).update(status=Status.PENDING, next_attempt_at=now - timedelta(minutes=1))
    due = list(
        WebhookDelivery.objects.filter(
            status=Status.PENDING, next_attempt_at__lte=now - timedelta(minutes=1)
        ).values_list("pk", flat=True)
    )
    for pk in due:
        deliver_webhook.delay(pk)
    return len(due)


def purge_log(now=None) -> int:
    """Delete finished deliveries (with their attempts) older than ``HAVN_WEBHOOK_LOG_DAYS``."""
    now = now or timezone.now()
    deleted, _detail = WebhookDelivery.objects.filter(
        status__in=[Status.DELIVERED, Status.FAILED],
        created_at__lt=now - timedelta(days=settings.HAVN_WEBHOOK_LOG_DAYS),
    ).delete()
    return deleted
