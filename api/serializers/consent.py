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
from api.serializers.examples import examples


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


@examples(
    response={
        "id": 14,
        "customer": 12,
        "scopes": ["files", "databases"],
        "note": "Ticket 4411: the shop is slow",
        "expires_at": "2026-05-08T10:00:00Z",
        "granted_by": "mette@alfa.dk",
        "created_at": "2026-05-01T10:00:00Z",
        "revoked_at": None,
        "revoked_by": None,
        "live": True,
    }
)
class SupportGrantSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=SupportScopeField())
    granted_by = serializers.EmailField(source="granted_by.email", default=None, allow_null=True)
    revoked_by = serializers.EmailField(source="revoked_by.email", default=None, allow_null=True)
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


@examples(
    request={
        "customer": 12,
        "scopes": ["files", "databases"],
        "expires_at": "2026-05-08T10:00:00Z",
        "note": "Ticket 4411: the shop is slow",
    }
)
class SupportGrantCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    scopes = serializers.ListField(child=SupportScopeField(), allow_empty=False)
    expires_at = serializers.DateTimeField(help_text="At most 30 days ahead.")
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


@examples(
    response={
        "customer": 12,
        "restricted": True,
        "since": "2026-05-01T10:00:00Z",
        "reason": "We dispute the accuracy of our contact data.",
    }
)
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


@examples(request={"restricted": True, "reason": "We dispute the accuracy of our contact data."})
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


@examples(
    response={
        "id": 52,
        "customer": 12,
        "purpose": "marketing",
        "given": True,
        "text_version": "2026-01",
        "recorded_at": "2026-05-01T10:00:00Z",
        "recorded_by": "mette@alfa.dk",
    }
)
class ConsentRecordSerializer(serializers.ModelSerializer):
    recorded_by = serializers.EmailField(source="recorded_by.email", default=None, allow_null=True)

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


@examples(request={"customer": 12, "purpose": "marketing", "given": False})
class ConsentCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    purpose = serializers.ChoiceField(choices=ConsentPurpose.choices)
    given = serializers.BooleanField(help_text="true gives consent, false withdraws it.")


@examples(
    response={
        "id": 6,
        "customer": 12,
        "kind": "access",
        "message": "Which data do you hold about our employees?",
        "requester": "mette@alfa.dk",
        "received_at": "2026-05-01T10:00:00Z",
        "due_at": "2026-05-31T10:00:00Z",
        "overdue": False,
        "status": "open",
        "handled_by": None,
        "handled_at": None,
        "note": "",
    }
)
class DataRequestSerializer(serializers.ModelSerializer):
    requester = serializers.EmailField(source="requester.email", default=None, allow_null=True)
    handled_by = serializers.EmailField(source="handled_by.email", default=None, allow_null=True)
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


@examples(request={"customer": 12, "kind": "access", "message": "Which data do you hold about us?"})
class DataRequestCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    kind = DataRequestKindField()
    message = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


@examples(request={"status": "done", "note": "Sent the data export on 2026-05-03."})
class DataRequestCloseSerializer(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=[DataSubjectRequest.Status.DONE, DataSubjectRequest.Status.REJECTED]
    )
    note = serializers.CharField(max_length=5000)


@examples(
    response={
        "id": 2,
        "version": "2.0",
        "text": "Data processing agreement between the customer and Havn …",
        "published_at": "2026-01-01T00:00:00Z",
    }
)
class DpaVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = DpaVersion
        fields = ["id", "version", "text", "published_at"]
        read_only_fields = fields


@examples(
    response={
        "id": 9,
        "customer": 12,
        "version": "2.0",
        "accepted_by": "mette@alfa.dk",
        "accepted_at": "2026-05-01T10:00:00Z",
    }
)
class DpaAcceptanceSerializer(serializers.ModelSerializer):
    version = serializers.CharField(source="version.version")
    accepted_by = serializers.EmailField(source="accepted_by.email", default=None, allow_null=True)

    class Meta:
        model = DpaAcceptance
        fields = ["id", "customer", "version", "accepted_by", "accepted_at"]
        read_only_fields = fields


@examples(
    request={"version": "2.1", "text": "Data processing agreement between the customer and Havn …"}
)
class DpaPublishSerializer(serializers.Serializer):
    version = serializers.CharField(max_length=20, help_text="A new version label, e.g. 2.1.")
    text = serializers.CharField(help_text="The agreement's full text.")


@examples(request={"customer": 12, "version": "2.0"})
class DpaAcceptSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    version = serializers.CharField(
        max_length=20, help_text="The version label shown to the customer (GET /dpa)."
    )
