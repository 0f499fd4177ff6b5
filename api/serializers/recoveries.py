from rest_framework import serializers

from api.serializers.examples import examples
from backups.models import ServerRecovery
from hosting.models import Server


@examples(
    response={
        "id": 2,
        "server": 3,
        "replacement": 5,
        "point_in_time": "2026-05-01T06:00:00Z",
        "status": "running",
        "parallel": 4,
        "waive_reason": "Our hardware failed; no charge.",
        "started_by": "ops@havn.example",
        "started_at": "2026-05-01T07:00:00Z",
        "finished_at": None,
        "orders": [33, 34],
        "report": {},
    }
)
class ServerRecoverySerializer(serializers.ModelSerializer):
    """A whole-server recovery: one restore order per affected customer (`orders`, each with its
    items' progress at `restore-orders/{id}`); `report` is complete once `status` is not
    `running`."""

    started_by = serializers.EmailField(
        source="started_by.email", read_only=True, default=None, allow_null=True
    )
    orders = serializers.PrimaryKeyRelatedField(many=True, read_only=True)

    class Meta:
        model = ServerRecovery
        fields = [
            "id",
            "server",
            "replacement",
            "point_in_time",
            "status",
            "parallel",
            "waive_reason",
            "started_by",
            "started_at",
            "finished_at",
            "orders",
            "report",
        ]
        read_only_fields = fields


@examples(
    request={
        "server": 3,
        "at": "2026-05-01T06:00:00Z",
        "replacement": 5,
        "parallel": 4,
        "waive_reason": "Our hardware failed; no charge.",
    }
)
class RecoveryStartSerializer(serializers.Serializer):
    server = serializers.PrimaryKeyRelatedField(
        queryset=Server.objects.all(), help_text="The crashed server."
    )
    at = serializers.DateTimeField(
        help_text="Every item comes back from its last backup before this time."
    )
    replacement = serializers.PrimaryKeyRelatedField(
        queryset=Server.objects.all(),
        required=False,
        allow_null=True,
        default=None,
        help_text="An active server to restore onto; none restores onto the same server.",
    )
    parallel = serializers.IntegerField(min_value=1, max_value=32, default=4)
    waive_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Empty: each affected customer is invoiced per the tariff.",
    )
