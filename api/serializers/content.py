"""Serializers of the content exports: the customer's live content in one free archive."""

from rest_framework import serializers

from backups.models import ContentExport


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


class ContentExportCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()


class ContentExportLinkSerializer(serializers.Serializer):
    url = serializers.URLField()
    expires_at = serializers.DateTimeField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
