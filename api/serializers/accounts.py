from rest_framework import serializers

from accounts.models import ApiKey, AuditEvent, Customer, Membership, Role, User
from accounts.services import CUSTOMER_FIELDS
from api.serializers.examples import examples


@examples(
    request={"full_name": "Mette Hansen", "language": "en"},
    response={
        "id": 7,
        "email": "mette@alfa.dk",
        "full_name": "Mette Hansen",
        "language": "en",
        "staff_role": "",
        "customers": [{"id": 12, "role": "owner"}],
    },
)
class MeSerializer(serializers.ModelSerializer):
    customers = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "full_name", "language", "staff_role", "customers"]
        read_only_fields = ["id", "email", "staff_role", "customers"]

    def get_customers(self, user) -> list[dict]:
        memberships = Membership.objects.visible_to(user).filter(user=user)
        return [{"id": m.customer_id, "role": m.role} for m in memberships]


@examples(
    request={
        "phone": "+45 33 12 34 56",
        "billing_address": "Bogholderiet, Postboks 12, 1001 København K",
    },
    response={
        "id": 12,
        "uuid": "0b6f4d1e-3c52-4b8e-9a41-5d2f7c8e9a10",
        "kind": "company",
        "name": "Alfa ApS",
        "cvr": "10150817",
        "address": "Vestergade 1",
        "postal_code": "1456",
        "city": "København K",
        "country": "DK",
        "billing_address": "",
        "phone": "+45 33 12 34 56",
        "email": "bogholderi@alfa.dk",
        "language": "da",
        "status": "active",
        "created_at": "2026-01-05T09:30:00Z",
    },
)
class CustomerSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "uuid", *CUSTOMER_FIELDS, "status", "created_at"]
        read_only_fields = ["id", "uuid", "status", "created_at"]


@examples(
    request={
        "kind": "company",
        "name": "Alfa ApS",
        "cvr": "10150817",
        "address": "Vestergade 1",
        "postal_code": "1456",
        "city": "København K",
        "email": "bogholderi@alfa.dk",
        "owner_email": "mette@alfa.dk",
    }
)
class CustomerCreateSerializer(CustomerSerializer):
    owner_email = serializers.EmailField(required=False, write_only=True)

    class Meta(CustomerSerializer.Meta):
        fields = [*CustomerSerializer.Meta.fields, "owner_email"]


@examples(
    response={
        "id": 31,
        "customer": 12,
        "email": "lars@alfa.dk",
        "role": "technical",
        "created_at": "2026-02-10T12:00:00Z",
    }
)
class MembershipSerializer(serializers.ModelSerializer):
    email = serializers.EmailField(source="user.email")

    class Meta:
        model = Membership
        fields = ["id", "customer", "email", "role", "created_at"]
        read_only_fields = ["id", "created_at"]


@examples(request={"customer": 12, "email": "lars@alfa.dk", "role": "technical"})
class MembershipCreateSerializer(serializers.Serializer):
    customer = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)


@examples(request={"role": "admin"})
class MembershipUpdateSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


@examples(
    response={
        "id": 5,
        "customer": 12,
        "name": "Deploy from CI",
        "prefix": "3f9a0c1b7d2e",
        "access": "read_write",
        "scopes": ["hosting", "domains"],
        "allowed_ips": ["203.0.113.0/24"],
        "expires_at": "2027-01-01T00:00:00Z",
        "last_used_at": "2026-05-01T10:00:00Z",
        "revoked_at": None,
        "rotated_from": None,
        "created_at": "2026-03-02T08:15:00Z",
    }
)
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


@examples(
    request={
        "customer": 12,
        "name": "Deploy from CI",
        "access": "read_write",
        "scopes": ["hosting", "domains"],
        "allowed_ips": ["203.0.113.0/24"],
        "expires_at": "2027-01-01T00:00:00Z",
    }
)
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


@examples(
    response={
        "id": 5,
        "customer": 12,
        "name": "Deploy from CI",
        "prefix": "3f9a0c1b7d2e",
        "access": "read_write",
        "scopes": ["hosting", "domains"],
        "allowed_ips": ["203.0.113.0/24"],
        "expires_at": "2027-01-01T00:00:00Z",
        "last_used_at": "2026-05-01T10:00:00Z",
        "revoked_at": None,
        "rotated_from": None,
        "created_at": "2026-03-02T08:15:00Z",
        "token": "havn_3f9a0c1b7d2e_Zb6q2VvN8mXo1c4RkT7yLw3PjS9aHd5UeQ0iFgC2nBs",
    }
)
class ApiKeyCreatedSerializer(ApiKeySerializer):
    token = serializers.CharField(read_only=True, help_text="Shown once; store it now.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "token"]
        read_only_fields = fields


@examples(
    response={
        "id": 901,
        "created_at": "2026-05-01T10:00:00Z",
        "customer": 12,
        "actor": "mette@alfa.dk",
        "action": "webhotel.created",
        "target": "alfa.dk",
        "ip": "203.0.113.7",
        "details": {"plan": "Basis"},
    }
)
class AuditEventSerializer(serializers.ModelSerializer):
    """One audit event: who (the actor's e-mail, or `system`), what, to what, from where."""

    actor = serializers.CharField(source="actor_label", read_only=True)

    class Meta:
        model = AuditEvent
        fields = ["id", "created_at", "customer", "actor", "action", "target", "ip", "details"]
        read_only_fields = fields
