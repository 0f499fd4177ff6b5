"""Serializers of the privacy endpoints: exports, closures and erasure receipts."""

from rest_framework import serializers

from accounts.models import AccountClosure, DataExport, ErasureReceipt
from api.serializers.examples import examples


@examples(
    response={
        "id": 4,
        "uuid": "c1d2e3f4-a5b6-4c7d-8e9f-0a1b2c3d4e5f",
        "customer": 12,
        "status": "ready",
        "size": 84000,
        "sha256": "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        "requested_at": "2026-05-01T10:00:00Z",
        "ready_at": "2026-05-01T10:01:00Z",
        "expires_at": "2026-05-08T10:01:00Z",
        "error": "",
    }
)
class DataExportSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = DataExport
        fields = [
            "id",
            "uuid",
            "customer",
            "status",
            "size",
            "sha256",
            "requested_at",
            "ready_at",
            "expires_at",
            "error",
        ]


@examples(request={"customer": 12})
class ExportCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()


@examples(
    response={
        "id": 2,
        "customer": 12,
        "status": "grace",
        "closed_at": "2026-05-01T10:00:00Z",
        "closed_by_staff": False,
        "purge_after": "2026-06-26T10:00:00Z",
        "reopened_at": None,
        "purged_at": None,
        "steps_done": {},
        "deferred": {},
        "last_error": "",
    }
)
class ClosureSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = AccountClosure
        fields = [
            "id",
            "customer",
            "status",
            "closed_at",
            "closed_by_staff",
            "purge_after",
            "reopened_at",
            "purged_at",
            "steps_done",
            "deferred",
            "last_error",
        ]


@examples(request={"customer": 12, "password": "correct horse battery staple"})
class ClosureCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="The owner's password (re-authentication); staff administrators leave it out.",
    )


@examples(
    response={
        "id": 1,
        "uuid": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
        "customer": 12,
        "closure": 2,
        "issued_at": "2026-06-26T10:05:00Z",
        "erased": [
            {
                "key": "hosting",
                "label": "Webhotels, databases and mail",
                "erased_at": "2026-06-26T10:01:00+00:00",
            }
        ],
        "kept": [
            {
                "key": "invoices",
                "label": "Invoices",
                "why": "Bookkeeping (the Danish Bookkeeping Act)",
                "until": "2031-12-31",
            }
        ],
    }
)
class ErasureReceiptSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ErasureReceipt
        fields = ["id", "uuid", "customer", "closure", "issued_at", "erased", "kept"]
