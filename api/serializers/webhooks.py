from rest_framework import serializers

from accounts.webhooks import EVENTS
from api.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint


class WebhookSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.ChoiceField(choices=sorted(EVENTS)))

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "customer", "url", "events", "active", "description", "created_at"]
        read_only_fields = ["id", "customer", "created_at"]


class WebhookCreateSerializer(WebhookSerializer):
    customer = serializers.IntegerField()

    class Meta(WebhookSerializer.Meta):
        read_only_fields = ["id", "created_at"]


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
