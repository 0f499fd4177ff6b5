from rest_framework import serializers

from accounts.webhooks import EVENTS
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from api.serializers.examples import examples


@examples(
    request={"events": ["operation.failed", "backup.failed"], "active": False},
    response={
        "id": 3,
        "customer": 12,
        "url": "https://ops.alfa.dk/havn-events",
        "events": ["operation.done", "operation.failed", "backup.failed"],
        "active": True,
        "description": "Our chat channel",
        "created_at": "2026-05-01T10:00:00Z",
    },
)
class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=sorted(EVENTS)))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "customer", "url", "events", "active", "description", "created_at"]
        read_only_fields = ["id", "customer", "created_at"]


@examples(
    request={
        "customer": 12,
        "url": "https://ops.alfa.dk/havn-events",
        "events": ["operation.done", "operation.failed", "backup.failed"],
        "description": "Our chat channel",
    }
)
class WebhookCreateSerializer(WebhookSerializer):
    customer = serializers.IntegerField()

    class Meta(WebhookSerializer.Meta):
        read_only_fields = ["id", "created_at"]


@examples(
    response={
        "id": 3,
        "customer": 12,
        "url": "https://ops.alfa.dk/havn-events",
        "events": ["operation.done", "operation.failed", "backup.failed"],
        "active": True,
        "description": "Our chat channel",
        "created_at": "2026-05-01T10:00:00Z",
        "secret": "whsec_Hq2nV7pXc9LmR4tZ8kWb1sD6fJ3yG5aE0uQiOoPl",
    }
)
class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="The signing secret. Shown once; store it now."
    )

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = ["number", "sent_at", "response_status", "response_body", "latency_ms", "error"]
        read_only_fields = fields


@examples(
    response={
        "id": 120,
        "uuid": "5f0c2a9e-8b7d-4c6e-a1f2-3b4c5d6e7f80",
        "event": "operation.done",
        "test": False,
        "status": "delivered",
        "attempts": 2,
        "next_attempt_at": None,
        "created_at": "2026-05-01T10:00:00Z",
        "finished_at": "2026-05-01T10:00:31Z",
        "body": '{"id": "5f0c2a9e-8b7d-4c6e-a1f2-3b4c5d6e7f80", "event": "operation.done"}',
        "log": [
            {
                "number": 1,
                "sent_at": "2026-05-01T10:00:00Z",
                "response_status": 503,
                "response_body": "Service Unavailable",
                "latency_ms": 84,
                "error": "",
            },
            {
                "number": 2,
                "sent_at": "2026-05-01T10:00:31Z",
                "response_status": 200,
                "response_body": "ok",
                "latency_ms": 61,
                "error": "",
            },
        ],
    }
)
class WebhookDeliverySerializer(serializers.ModelSerializer):
    log = WebhookAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "uuid",
            "event",
            "test",
            "status",
            "attempts",
            "next_attempt_at",
            "created_at",
            "finished_at",
            "body",
            "log",
        ]
        read_only_fields = fields
