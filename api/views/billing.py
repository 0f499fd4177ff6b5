"""API views over invoices and credit notes: read, PDF, payment; staff credit and record
payments."""

import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, renderers, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import billing
from accounts.invoice_pdf import render_invoice_pdf
from accounts.models import Invoice
from api.serializers import billing as s
from api.serializers.restores import PaymentSerializer
from api.views.base import CustomerOwnedViewSet


class PdfRenderer(renderers.BaseRenderer):
    """Lets a client ask for ``Accept: application/pdf``; errors still go out as JSON."""

    media_type = "application/pdf"
    format = "pdf"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else json.dumps(data).encode()


class InvoiceViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Invoices and credit notes, newest first: owners, admins and billing members of the
    customer, and staff. Amounts are integer øre."""

    model = Invoice
    serializer_class = s.InvoiceSerializer
    filterset_fields = ["customer", "kind", "status"]
    ordering_fields = ["issued_at", "number", "gross"]

    def get_queryset(self):
        return (
            billing.invoices_visible_to(self.request.user)
            .select_related("credits")
            .prefetch_related("lines")
            .order_by("-issued_at", "-pk")
        )

    @extend_schema(
        responses={
            (200, "application/pdf"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The invoice or credit note as PDF."
            )
        }
    )
    @action(detail=True, methods=["get"], renderer_classes=[renderers.JSONRenderer, PdfRenderer])
    def pdf(self, request, pk=None):
        """The invoice or credit note as a PDF document (seller, buyer, lines, VAT, total)."""
        invoice = self.get_object()
        response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
        response["Content-Disposition"] = (
            f'attachment; filename="{invoice.kind}-{invoice.number}.pdf"'
        )
        return response

    def _answer(self, invoice, code=status.HTTP_200_OK):
        invoice = self.get_queryset().get(pk=invoice.pk)
        return Response(s.InvoiceSerializer(invoice).data, status=code)

    @extend_schema(request=None, responses={200: PaymentSerializer})
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        """Open the payment of an open invoice: send the payer to `url`, the provider's page.
        Owners, admins and billing members."""
        payment = billing.start_payment(self.actor, self.get_object())
        return Response(
            {
                "url": request.build_absolute_uri(payment.url),
                "provider_reference": payment.provider_reference,
            }
        )

    @extend_schema(request=s.CreditSerializer, responses={201: s.InvoiceSerializer})
    @action(detail=True, methods=["post"])
    def credit(self, request, pk=None):
        """Staff: credit the whole invoice with a credit note that states the reason."""
        data = s.CreditSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        note = billing.credit_invoice(
            self.actor, self.get_object(), reason=data.validated_data["reason"]
        )
        return self._answer(note, status.HTTP_201_CREATED)

    @extend_schema(request=s.MarkPaidSerializer, responses={200: s.InvoiceSerializer})
    @action(detail=True, methods=["post"], url_path="mark-paid")
    def mark_paid(self, request, pk=None):
        """Staff: record a payment that reached Havn outside the provider (a bank transfer)."""
        data = s.MarkPaidSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        invoice = billing.mark_paid(self.actor, self.get_object(), **data.validated_data)
        return self._answer(invoice)
