"""What the API app holds about a customer (the data inventory, docs/privacy.md): webhook
endpoints and their delivery log. Idempotency records hold copies of API answers for 24 hours
only and name a caller, not a customer; their retention is their deletion (api/idempotency.py)."""

from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from accounts.privacy.registry import Category, register
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


def export_webhooks(customer: Customer) -> list[dict]:
    """Endpoints (never their secrets) with their deliveries and attempts."""
    endpoints = WebhookEndpoint.objects.filter(customer=customer).prefetch_related(
        "deliveries__log"
    )
    return [
        {
            "url": endpoint.url,
            "events": endpoint.events,
            "active": endpoint.active,
            "description": endpoint.description,
            "created_at": endpoint.created_at,
            "deliveries": [
                {
                    "event": delivery.event,
                    "body": delivery.body,
                    "status": delivery.status,
                    "created_at": delivery.created_at,
                    "attempts": [
                        {
                            "number": a.number,
                            "sent_at": a.sent_at,
                            "response_status": a.response_status,
                            "latency_ms": a.latency_ms,
                            "error": a.error,
                        }
                        for a in delivery.log.all()
                    ],
                }
                for delivery in endpoint.deliveries.all()
            ],
        }
        for endpoint in endpoints
    ]


def erase_webhooks(customer: Customer, purge) -> None:
    WebhookEndpoint.objects.filter(customer=customer).delete()  # deliveries and log cascade


register(
    Category(
        key="api.webhooks",
        label=_("Webhooks and their delivery log"),
        purpose=_("Tell the customer's systems about finished work, as the customer asked."),
        legal_basis=_("GDPR art. 6(1)(b): the contract"),
        retention=_("Endpoints until deleted or the purge; deliveries 30 days."),
        models=(WebhookEndpoint, WebhookDelivery, WebhookAttempt),
        export=export_webhooks,
        erase=erase_webhooks,
        erase_order=40,
    )
)
