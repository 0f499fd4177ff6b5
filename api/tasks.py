"""Thin, idempotent tasks over the API's services."""

from celery import shared_task

from api import idempotency
from api.webhooks import services as webhooks


@shared_task
def deliver_webhook(delivery_id: int) -> str | None:
    """One attempt of a delivery; a duplicate or early message finds nothing due."""
    return webhooks.attempt(delivery_id)


@shared_task
def retry_webhook_deliveries() -> int:
    return webhooks.resume_due()


@shared_task
def purge_idempotency_keys() -> int:
    """Hourly: idempotency keys older than 24 hours."""
    return idempotency.purge_expired()


@shared_task
def purge_webhook_log() -> int:
    """Daily: finished deliveries older than HAVN_WEBHOOK_LOG_DAYS."""
    return webhooks.purge_log()
