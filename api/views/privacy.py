"""API views over the customer's data: exports (202 and poll, then download), closing and
reopening the account, and the erasure receipt (docs/privacy.md)."""

from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.models import AccountClosure, DataExport, ErasureReceipt
from accounts.privacy import closure as closures
from accounts.privacy import export
from api.serializers import privacy as s
from api.views.base import CustomerOwnedViewSet


class DataExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Exports of everything Havn holds about a customer: ask for one (202), poll it until
    `ready`, then download the zip (data.json and the invoices) within 7 days."""

    model = DataExport
    serializer_class = s.DataExportSerializer
    filterset_fields = ["customer", "status"]

    @extend_schema(request=s.ExportCreateSerializer, responses={202: s.DataExportSerializer})
    def create(self, request):
        data = s.ExportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        requested = export.request_export(self.actor, customer)
        location = request.build_absolute_uri(reverse("api:dataexport-detail", args=[requested.pk]))
        return Response(
            s.DataExportSerializer(requested).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    @extend_schema(responses={(200, "application/zip"): OpenApiTypes.BINARY})
    @action(detail=True, methods=["get"])
    def download(self, request, pk=None):
        """The archive; 404 once the link has expired."""
        found = self.get_object()
        try:
            found = export.export_for_download(self.actor, found.customer, found.uuid)
        except PermissionDenied:
            raise Http404 from None
        return FileResponse(
            export.open_archive(found),
            as_attachment=True,
            filename=f"havn-export-{found.uuid}.zip",
            content_type="application/zip",
        )


class ClosureViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Account closures: close (an owner with their password, or a staff administrator), then
    reopen within the grace period; after it the purge erases the account."""

    model = AccountClosure
    serializer_class = s.ClosureSerializer
    filterset_fields = ["customer", "status"]

    @extend_schema(request=s.ClosureCreateSerializer, responses={201: s.ClosureSerializer})
    def create(self, request):
        data = s.ClosureCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        closure = closures.close_account(
            self.actor,
            customer,
            reauthenticated_password=data.validated_data.get("password") or None,
        )
        return Response(s.ClosureSerializer(closure).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.ClosureSerializer})
    @action(detail=True, methods=["post"])
    def reopen(self, request, pk=None):
        """Reopen during the grace period: the suspended services resume."""
        closure = self.get_object()
        closures.reopen_account(self.actor, closure.customer)
        return Response(s.ClosureSerializer(self.get_queryset().get(pk=closure.pk)).data)


class ErasureReceiptViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """What the purge erased, and what is kept, why and until when."""

    model = ErasureReceipt
    serializer_class = s.ErasureReceiptSerializer
    filterset_fields = ["customer"]
