"""Serializers of the privacy endpoints: exports, closures and erasure receipts."""

from rest_framework import serializers

from accounts.models import AccountClosure, DataExport, ErasureReceipt


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


class ExportCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()


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


class ClosureCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    password = serializers.CharField(
        required=False,
        allow_blank=True,
        write_only=True,
        help_text="The owner's password (re-authentication); staff administrators leave it out.",
    )


class ErasureReceiptSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ErasureReceipt
        fields = ["id", "uuid", "customer", "closure", "issued_at", "erased", "kept"]
