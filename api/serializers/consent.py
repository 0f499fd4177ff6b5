"""Serializers for support-access grants, restriction of processing, consent records, the DPA and
data-subject requests."""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import (
    ConsentPurpose,
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    DpaAcceptance,
    DpaVersion,
    SupportGrant,
    SupportScope,
)


@extend_schema_field(
    {"type": "string", "enum": list(SupportScope.values)}, component_name="SupportScope"
)
class SupportScopeField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=SupportScope.choices, **kwargs)


@extend_schema_field(
    {"type": "string", "enum": list(DataSubjectRequest.Kind.values)},
    component_name="DataRequestKind",
)
class DataRequestKindField(serializers.ChoiceField):
    def __init__(self, **kwargs):
        super().__init__(choices=DataSubjectRequest.Kind.choices, **kwargs)


class SupportGrantSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=SupportScopeField())
    granted_by = serializers.EmailField(source="granted_by.email", default=None)
    revoked_by = serializers.EmailField(source="revoked_by.email", default=None)
    live = serializers.SerializerMethodField()

    class Meta:
        model = SupportGrant
        fields = [
            "id",
            "customer",
            "scopes",
            "note",
            "expires_at",
            "granted_by",
            "created_at",
            "revoked_at",
            "revoked_by",
            "live",
        ]
        read_only_fields = fields

    def get_live(self, grant) -> bool:
        return grant.is_live()


class SupportGrantCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    scopes = serializers.ListField(child=SupportScopeField(), allow_empty=False)
    expires_at = serializers.DateTimeField(help_text="At most 30 days ahead.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class RestrictionSerializer(serializers.ModelSerializer):
    customer = serializers.IntegerField(source="pk", read_only=True)
    restricted = serializers.BooleanField(source="processing_restricted", read_only=True)
    since = serializers.DateTimeField(
        source="processing_restricted_since", read_only=True, allow_null=True
    )
    reason = serializers.CharField(source="processing_restriction_reason", read_only=True)

    class Meta:
        model = Customer
        fields = ["customer", "restricted", "since", "reason"]
        read_only_fields = fields


class RestrictionUpdateSerializer(serializers.Serializer):
    restricted = serializers.BooleanField(
        help_text="true restricts processing to the essential purposes, false lifts it."
    )
    reason = serializers.CharField(
        max_length=500,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why (kept while restricted; cleared when lifted).",
    )


class ConsentRecordSerializer(serializers.ModelSerializer):
    recorded_by = serializers.EmailField(source="recorded_by.email", default=None)

    class Meta:
        model = ConsentRecord
        fields = [
            "id",
            "customer",
            "purpose",
            "given",
            "text_version",
            "recorded_at",
            "recorded_by",
        ]
        read_only_fields = fields


class ConsentCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    given = serializers.BooleanField(help_text="true gives consent, false withdraws it.")


class DataRequestSerializer(serializers.ModelSerializer):
    requester = serializers.EmailField(source="requester.email", default=None)
    handled_by = serializers.EmailField(source="handled_by.email", default=None)
    kind = DataRequestKindField(read_only=True)
    overdue = serializers.BooleanField(source="is_overdue", read_only=True)

    class Meta:
        model = DataSubjectRequest
        fields = [
            "id",
            "customer",
            "kind",
            "message",
            "requester",
            "received_at",
            "due_at",
            "overdue",
            "status",
            "handled_by",
            "handled_at",
            "note",
        ]
        read_only_fields = fields


class DataRequestCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    kind = DataRequestKindField()
    message = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class DataRequestCloseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[DataSubjectRequest.Status.DONE, DataSubjectRequest.Status.REJECTED]
    )
    note = serializers.CharField(max_length=5000)


class DpaVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = DpaVersion
        fields = ["id", "version", "text", "published_at"]
        read_only_fields = fields


class DpaAcceptanceSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.version")
    accepted_by = serializers.EmailField(source="accepted_by.email", default=None)

    class Meta:
        model = DpaAcceptance
        fields = ["id", "customer", "version", "accepted_by", "accepted_at"]
        read_only_fields = fields


class DpaAcceptSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    version = serializers.CharField(
        max_length=20, help_text="The version label shown to the customer (GET /dpa)."
    )
