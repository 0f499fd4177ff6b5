from rest_framework import serializers

from accounts.models import ApiKey, AuditEvent, Customer, Membership, Role, User
from accounts.services import CUSTOMER_FIELDS


class MeSerializer(serializers.ModelSerializer):
    customers = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "language", "staff_role", "customers"]
        read_only_fields = ["id", "email", "staff_role", "customers"]

    def get_customers(self, user) -> list[dict]:
        memberships = Membership.objects.visible_to(user).filter(user=user)
        return [{"id": m.customer_id, "role": m.role} for m in memberships]


class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "uuid", *CUSTOMER_FIELDS, "status", "created_at"]
        read_only_fields = ["id", "uuid", "status", "created_at"]


class CustomerCreateSerializer(CustomerSerializer):
    owner_email = serializers.EmailField(required=False, write_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "owner_email"]


class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "customer", "email", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


class MembershipCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class ApiKeySerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiKey
        fields = [
            "id",
            "customer",
            "name",
            "prefix",
            "access",
            "scopes",
            "allowed_ips",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "rotated_from",
            "created_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField(
        required=False,
        allow_null=True,
        help_text="The customer the key acts for. Staff leave it out for a staff key, which acts "
        "with their staff role and must expire within 90 days (the default expiry).",
    )
    name = serializers.CharField(max_length=100)
    access = serializers.ChoiceField(choices=ApiKey.Access.choices, default=ApiKey.Access.READ)
    expires_at = serializers.DateTimeField(required=False, allow_null=True)
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=ApiKey.Scope.choices),
        required=False,
        help_text="Resource families the key may use; empty or absent: all.",
    )
    allowed_ips = serializers.ListField(
        child=serializers.CharField(max_length=50),
        required=False,
        help_text="Client addresses or networks (CIDR) the key may be used from; empty: any.",
    )


class ApiKeyCreatedSerializer(ApiKeySerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "token"]
        read_only_fields = fields


class AuditEventSerializer(serializers.ModelSerializer):
    """One audit event: who (the actor's e-mail, or `system`), what, to what, from where."""

    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "customer", "actor", "action", "target", "ip", "details"]
        read_only_fields = fields
