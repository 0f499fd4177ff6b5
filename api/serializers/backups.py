from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from backups.models import BackupRun, ItemKind, Snapshot

# What a customer can back up on demand (server configuration is the provider's).
BACKUP_KINDS = [ItemKind.WEBHOTEL, ItemKind.DATABASE, ItemKind.MAILBOX]


# The kinds as schema components of their own: "kind" is also the customer's kind (private or
# company), and spectacular's enum naming would otherwise warn about the shared field name.
@extend_schema_field(
    {"type": "string", "enum": [str(kind) for kind in ItemKind]}, component_name="BackupItemKind"
)
class ItemKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=ItemKind.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": [str(kind) for kind in BACKUP_KINDS]},
    component_name="BackupRequestKind",
)
class BackupKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=[(k.value, k.label) for k in BACKUP_KINDS], **kwargs)


class SnapshotSerializer(serializers.ModelSerializer):
    kind = ItemKindField(read_only=True)

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "customer",
            "snapshot_id",
            "kind",
            "item_id",
            "item_name",
            "server_name",
            "taken_at",
            "files",
            "size",
            "stored",
            "complete",
        ]
        read_only_fields = fields


class RunWarningSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


class BackupRunSerializer(serializers.ModelSerializer):
    server = serializers.CharField(source="server.name", read_only=True)
    kind = ItemKindField(read_only=True)
    warnings = RunWarningSerializer(many=True, read_only=True)
    progress = serializers.SerializerMethodField(
        help_text="Percent of the expected bytes read while the run runs; null when unknown."
    )
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = BackupRun
        fields = [
            "id",
            "customer",
            "server",
            "kind",
            "item_id",
            "item_name",
            "night",
            "on_demand",
            "status",
            "attempts",
            "files",
            "bytes_read",
            "bytes_new",
            "bytes_stored",
            "progress_bytes",
            "expected_bytes",
            "progress",
            "warnings",
            "error",
            "snapshot_id",
            "started_at",
            "finished_at",
            "duration_seconds",
            "created_at",
        ]
        read_only_fields = fields

    def get_progress(self, run) -> int | None:
        if run.status == BackupRun.Status.DONE:
            return 100
        if not run.expected_bytes:
            return None
        return min(100, run.progress_bytes * 100 // run.expected_bytes)

    def get_duration_seconds(self, run) -> float | None:
        duration = run.duration
        return duration.total_seconds() if duration is not None else None


class BackupRunCreateSerializer(serializers.Serializer):
    kind = BackupKindField()
    item_id = serializers.IntegerField(min_value=1)
