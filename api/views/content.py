"""API views of the content export: ask for one (202 and poll), then a signed download link
(docs/privacy.md "Your content before you leave")."""

from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.serializers import content as s
from api.views.base import CustomerOwnedViewSet
from backups.models import ContentExport
from backups.services import content_export


class ContentExportViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """The customer's website files, mailboxes and database dumps, read from the live servers
    into one tar.zst at no charge: ask for one (202), poll it until `ready`, then ask for a
    download link (valid until `expires_at`; only the customer's own users can open it)."""

    model = ContentExport
    serializer_class = s.ContentExportSerializer
    filterset_fields = ["customer", "status"]

    @extend_schema(
        request=s.ContentExportCreateSerializer, responses={202: s.ContentExportSerializer}
    )
    def create(self, request):
        data = s.ContentExportCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        requested = content_export.request_content_export(self.actor, customer)
        location = request.build_absolute_uri(
            reverse("api:contentexport-detail", args=[requested.pk])
        )
        return Response(
            s.ContentExportSerializer(requested).data,
            status=status.HTTP_202_ACCEPTED,
            headers={"Location": location},
        )

    @extend_schema(request=None, responses={200: s.ContentExportLinkSerializer})
    @action(detail=True, methods=["post"], url_path="download-link")
    def download_link(self, request, pk=None):
        """A signed link to the ready archive, for the customer's own users until it expires."""
        export = self.get_object()
        path = content_export.download_link(self.actor, export)
        return Response(
            {
                "url": request.build_absolute_uri(path),
                "expires_at": export.expires_at,
                "size": export.size,
                "sha256": export.sha256,
            }
        )
