from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.examples import examples
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


@examples(
    response={
        "id": 301,
        "customer": 12,
        "snapshot_id": "9c1d5e0f7a3b4c2d8e6f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
        "kind": "webhotel",
        "item_id": 17,
        "item_name": "alfa.dk",
        "server_name": "web3",
        "taken_at": "2026-05-01T01:12:00Z",
        "files": 5230,
        "size": 412000000,
        "stored": 18500000,
        "complete": True,
    }
)
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


@examples(
    response={
        "path": "public_html/index.php",
        "type": "file",
        "size": 1834,
        "mode": 420,
        "mtime": 1777593600,
        "target": None,
    }
)
class SnapshotEntrySerializer(serializers.Serializer):
    """One file, folder or link in a snapshot; `path` is relative to the item's root and is what
    a restore order's `paths` takes."""

    path = serializers.CharField()
    type = serializers.ChoiceField(choices=["file", "dir", "symlink"])
    size = serializers.IntegerField(allow_null=True)
    mode = serializers.IntegerField(help_text="Permission bits, e.g. 420 (0o644).")
    mtime = serializers.IntegerField(help_text="Modification time, Unix seconds.")
    target = serializers.CharField(allow_null=True, help_text="A link's target.")


class SnapshotEntriesQuerySerializer(serializers.Serializer):
    path = serializers.CharField(required=False, allow_blank=True, default="", max_length=4096)


class RunWarningSerializer(serializers.Serializer):
    path = serializers.CharField()
    message = serializers.CharField()


@examples(
    response={
        "id": 5521,
        "customer": 12,
        "server": "web3",
        "kind": "webhotel",
        "item_id": 17,
        "item_name": "alfa.dk",
        "night": "2026-05-01",
        "on_demand": False,
        "status": "partial",
        "attempts": 1,
        "files": 5230,
        "bytes_read": 412000000,
        "bytes_new": 3200000,
        "bytes_stored": 1100000,
        "progress_bytes": 412000000,
        "expected_bytes": 410000000,
        "progress": 100,
        "warnings": [{"path": "public_html/cache/tmp.lock", "message": "vanished while read"}],
        "error": "",
        "snapshot_id": "9c1d5e0f7a3b4c2d8e6f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
        "started_at": "2026-05-01T01:10:00Z",
        "finished_at": "2026-05-01T01:12:00Z",
        "duration_seconds": 120.0,
        "created_at": "2026-05-01T01:00:00Z",
    }
)
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


@examples(request={"kind": "database", "item_id": 4})
class BackupRunCreateSerializer(serializers.Serializer):
    kind = BackupKindField()
    item_id = serializers.IntegerField(min_value=1)
