"""API views over invoices and credit notes: read-only, plus each one as PDF."""

import json

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, renderers
from rest_framework.decorators import action

from accounts import billing
from accounts.invoice_pdf import render_invoice_pdf
from accounts.models import Invoice
from api.serializers import billing as s
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
