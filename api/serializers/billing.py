from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import Invoice, InvoiceLine
from api.serializers.examples import examples


# Own schema components: "kind" and "status" are names other resources use for other values.
@extend_schema_field(
    {"type": "string", "enum": list(Invoice.Kind.values)}, component_name="InvoiceKind"
)
class InvoiceKindField(serializers.CharField):
    pass


@extend_schema_field(
    {"type": "string", "enum": list(Invoice.Status.values)}, component_name="InvoiceStatus"
)
class InvoiceStatusField(serializers.CharField):
    pass


class InvoiceLineSerializer(serializers.ModelSerializer):
    class Meta:
        model = InvoiceLine
        fields = ["position", "description", "quantity", "unit_price", "net"]
        read_only_fields = fields


@examples(
    response={
        "id": 70,
        "customer": 12,
        "number": "2026-000070",
        "kind": "invoice",
        "status": "open",
        "issued_at": "2026-05-01T10:00:00Z",
        "due_at": "2026-05-15T10:00:00Z",
        "paid_at": None,
        "buyer_name": "Alfa ApS",
        "buyer_address": "Vestergade 1, 1456 København K",
        "buyer_cvr": "10150817",
        "currency": "DKK",
        "vat_rate": "25.00",
        "net": 49900,
        "vat": 12475,
        "gross": 62375,
        "reference": "Restore order 33",
        "reason": "",
        "credits": None,
        "retain_until": "2031-12-31",
        "lines": [
            {
                "position": 1,
                "description": "Restore of alfa.dk (2 GB)",
                "quantity": 1,
                "unit_price": 49900,
                "net": 49900,
            }
        ],
    }
)
class InvoiceSerializer(serializers.ModelSerializer):
    """An invoice or credit note. Amounts are integer øre (1 kr. = 100 øre); a credit note's
    are negative."""

    kind = InvoiceKindField(read_only=True)
    status = InvoiceStatusField(read_only=True)
    credits = serializers.SlugRelatedField(
        slug_field="number",
        read_only=True,
        allow_null=True,
        help_text="The number of the invoice a credit note credits; null for an invoice.",
    )
    vat_rate = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)
    retain_until = serializers.DateField(read_only=True)
    lines = InvoiceLineSerializer(many=True, read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "customer",
            "number",
            "kind",
            "status",
            "issued_at",
            "due_at",
            "paid_at",
            "buyer_name",
            "buyer_address",
            "buyer_cvr",
            "currency",
            "vat_rate",
            "net",
            "vat",
            "gross",
            "reference",
            "reason",
            "credits",
            "retain_until",
            "lines",
        ]
        read_only_fields = fields


@examples(request={"reason": "The restore failed; the fee is refunded."})
class CreditSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=1000, help_text="Printed on the credit note.")


@examples(request={"provider_reference": "Bank transfer 2026-05-03 ref. 88231"})
class MarkPaidSerializer(serializers.Serializer):
    provider_reference = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        default="",
        help_text="For example the bank transfer's reference.",
    )
