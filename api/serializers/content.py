"""Serializers of the content exports: the customer's live content in one free archive."""

from rest_framework import serializers

from api.serializers.examples import examples
from backups.models import ContentExport


@examples(
    response={
        "id": 3,
        "uuid": "5e9a1c2b-7d4f-4e3a-9b8c-1d2e3f4a5b6c",
        "customer": 12,
        "status": "ready",
        "size": 523000000,
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "items": [{"kind": "webhotel", "name": "alfa.dk", "path": "webhotels/alfa.dk"}],
        "created_at": "2026-05-01T10:00:00Z",
        "ready_at": "2026-05-01T10:20:00Z",
        "expires_at": "2026-05-08T10:20:00Z",
        "error": "",
    }
)
class ContentExportSerializer(serializers.ModelSerializer):
    customer = serializers.PrimaryKeyRelatedField(read_only=True)

    class Meta:
        model = ContentExport
        fields = [
            "id",
            "uuid",
            "customer",
            "status",
            "size",
            "sha256",
            "items",
            "created_at",
            "ready_at",
            "expires_at",
            "error",
        ]


@examples(request={"customer": 12})
class ContentExportCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()


@examples(
    response={
        "url": "https://panel.havn.example/content-exports/download/eyJrIjoiZXhw…",
        "expires_at": "2026-05-08T10:20:00Z",
        "size": 523000000,
        "sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    }
)
class ContentExportLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
