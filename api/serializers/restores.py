from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.backups import BACKUP_KINDS, ItemKindField
from api.serializers.examples import examples
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


@examples(
    response={
        "id": 33,
        "customer": 12,
        "scope": "webhotel",
        "destination": "download",
        "archive_format": "tar.zst",
        "status": "quoted",
        "size_bytes": 2100000000,
        "amounts_in": "DKK øre",
        "fee": 29900,
        "per_gb": 1000,
        "gb": 2,
        "net": 31900,
        "vat": 7975,
        "gross": 39875,
        "expires_at": "2026-05-04T10:00:00Z",
        "invoice": None,
        "invoice_id": None,
        "credit_note": None,
        "waived": False,
        "waive_reason": "",
        "cancel_requested": False,
        "error": "",
        "archive_size": 0,
        "archive_sha256": "",
        "archive_expires_at": None,
        "created_at": "2026-05-01T10:00:00Z",
        "accepted_at": None,
        "finished_at": None,
        "items": [
            {
                "id": 40,
                "kind": "webhotel",
                "item_id": 17,
                "item_name": "alfa.dk",
                "snapshot_id": "9c1d5e0f7a3b4c2d8e6f1a0b9c8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
                "taken_at": "2026-05-01T01:12:00Z",
                "paths": ["public_html/wp-content"],
                "target_webhotel_id": None,
                "side_folder": "",
                "size_bytes": 2100000000,
                "status": "waiting",
                "progress_bytes": 0,
                "progress": None,
                "files_done": 0,
                "verified": False,
                "error": "",
                "started_at": None,
                "finished_at": None,
            }
        ],
    }
)
class RestoreOrderSerializer(serializers.ModelSerializer):
    items = RestoreItemSerializer(many=True, read_only=True)
    invoice = serializers.CharField(
        source="invoice.number", read_only=True, default=None, allow_null=True
    )
    invoice_id = serializers.IntegerField(read_only=True, allow_null=True)
    credit_note = serializers.CharField(
        source="credit_note.number", read_only=True, default=None, allow_null=True
    )
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


@examples(
    request={
        "customer": 12,
        "kind": "webhotel",
        "item_id": 17,
        "at": "2026-05-01T06:00:00Z",
        "paths": ["public_html/wp-content"],
        "destination": "download",
        "archive_format": "tar.zst",
    }
)
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


@examples(request={"reason": "Our disk failure lost the files; no charge."})
class WaiveSerializer(serializers.Serializer):
    reason = serializers.CharField(min_length=10)


@examples(
    response={
        "url": "https://panel.havn.example/restores/download/eyJvIjozM30…",
        "expires_in_seconds": 172800,
        "size": 2050000000,
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "format": "tar.zst",
    }
)
class DownloadLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_in_seconds = serializers.IntegerField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    format = serializers.CharField()


@examples(
    response={
        "url": "https://pay.havn.example/checkout/pay_8Kd2Lq",
        "provider_reference": "pay_8Kd2Lq",
    }
)
class PaymentSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="The payment provider's page for the invoice.")
    provider_reference = serializers.CharField()
