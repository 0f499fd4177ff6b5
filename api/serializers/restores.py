from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.backups import BACKUP_KINDS, ItemKindField
from backups.models import Destination, RestoreItem, RestoreOrder
from backups.services.restores import ARCHIVE_FORMATS


@extend_schema_field(
    {"type": "string", "enum": [str(k) for k in BACKUP_KINDS]}, component_name="RestoreItemKind"
)
class RestoreKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=[(k.value, k.label) for k in BACKUP_KINDS], **kwargs)


class RestoreItemSerializer(serializers.ModelSerializer):
    kind = ItemKindField(read_only=True)
    progress = serializers.SerializerMethodField(
        help_text="Percent of the item's bytes restored; null when unknown."
    )

    class Meta:
        model = RestoreItem
        fields = [
            "id",
            "kind",
            "item_id",
            "item_name",
            "snapshot_id",
            "taken_at",
            "paths",
            "target_webhotel_id",
            "side_folder",
            "size_bytes",
            "status",
            "progress_bytes",
            "progress",
            "files_done",
            "verified",
            "error",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, item) -> int | None:
        if item.status == RestoreItem.Status.DONE:
            return 100
        if not item.size_bytes:
            return None
        return min(100, item.progress_bytes * 100 // item.size_bytes)


class RestoreOrderSerializer(serializers.ModelSerializer):
    items = RestoreItemSerializer(many=True, read_only=True)
    invoice = serializers.CharField(source="invoice.number", read_only=True, default=None)
    invoice_id = serializers.IntegerField(read_only=True)
    credit_note = serializers.CharField(source="credit_note.number", read_only=True, default=None)
    waived = serializers.BooleanField(read_only=True)
    amounts_in = serializers.SerializerMethodField(help_text="Amounts are integer øre (DKK/100).")

    class Meta:
        model = RestoreOrder
        fields = [
            "id",
            "customer",
            "scope",
            "destination",
            "archive_format",
            "status",
            "size_bytes",
            "amounts_in",
            "fee",
            "per_gb",
            "gb",
            "net",
            "vat",
            "gross",
            "expires_at",
            "invoice",
            "invoice_id",
            "credit_note",
            "waived",
            "waive_reason",
            "cancel_requested",
            "error",
            "archive_size",
            "archive_sha256",
            "archive_expires_at",
            "created_at",
            "accepted_at",
            "finished_at",
            "items",
        ]
        read_only_fields = fields

    def get_amounts_in(self, order) -> str:
        return "DKK øre"


class RestoreQuoteSerializer(serializers.Serializer):
    customer = serializers.IntegerField(min_value=1)
    kind = RestoreKindField()
    item_id = serializers.IntegerField(min_value=1)
    snapshot_id = serializers.CharField(
        required=False,
        default="",
        allow_blank=True,
        max_length=64,
        help_text="Empty: choose by `at`.",
    )
    at = serializers.DateTimeField(
        required=False,
        default=None,
        help_text="The last complete snapshot taken at or before this time (default: the latest).",
    )
    paths = serializers.ListField(
        child=serializers.CharField(max_length=4096),
        required=False,
        default=list,
        help_text="Files or folders relative to the snapshot's root; empty: everything.",
    )
    destination = serializers.ChoiceField(choices=Destination.choices)
    target_webhotel = serializers.IntegerField(
        required=False, default=None, help_text="For destination other_webhotel."
    )
    archive_format = serializers.ChoiceField(
        choices=[(f, f) for f in ARCHIVE_FORMATS], required=False, default="tar.zst"
    )


class WaiveSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=10)


class DownloadLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_in_seconds = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    format = serializers.CharField()


class PaymentSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The payment provider's page for the invoice.")
    provider_reference = serializers.CharField()
