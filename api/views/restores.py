"""API views over paid restores: quote, accept, pay, cancel, status, download link; staff waive."""

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.serializers import restores as s
from api.views.backups import ITEM_MODELS
from api.views.base import CustomerOwnedViewSet
from backups.models import RestoreOrder
from backups.services import restores
from hosting.models import Webhotel


class RestoreOrderViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Restore orders, newest first. A quote holds its price until `expires_at`; accepting it
    issues the invoice; the restore runs once the invoice is paid (poll the order)."""

    model = RestoreOrder
    serializer_class = s.RestoreOrderSerializer
    filterset_fields = ["customer", "status", "scope", "destination"]
    ordering_fields = ["created_at"]

    def get_queryset(self):
        return (
            self.model.objects.visible_to(self.request.user)
            .select_related("invoice", "credit_note")
            .prefetch_related("items")
            .order_by("-pk")
        )

    def _answer(self, order, code=status.HTTP_200_OK):
        order = self.get_queryset().get(pk=order.pk)
        return Response(s.RestoreOrderSerializer(order).data, status=code)

    @extend_schema(request=s.RestoreQuoteSerializer, responses={201: s.RestoreOrderSerializer})
    def create(self, request):
        """Ask for a quote: what to restore, from when, and where to."""
        data = s.RestoreQuoteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        self.visible(ITEM_MODELS[fields["kind"]], fields["item_id"])  # another's item: 404
        if fields["target_webhotel"] is not None:
            fields["target_webhotel"] = self.visible(Webhotel, fields["target_webhotel"])
        order = restores.quote(self.actor, customer, **fields)
        return self._answer(order, status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={200: s.RestoreOrderSerializer})
    @action(detail=True, methods=["post"])
    def accept(self, request, pk=None):
        """Accept the quote: the invoice is issued; the restore runs when it is paid."""
        return self._answer(restores.accept(self.actor, self.get_object()))

    @extend_schema(request=None, responses={200: s.PaymentSerializer})
    @action(detail=True, methods=["post"])
    def pay(self, request, pk=None):
        """Open the payment of the order's invoice: send the payer to `url`, the provider's page.
        The restore starts when the provider confirms the payment (poll the order)."""
        payment = restores.pay(self.actor, self.get_object())
        return Response(
            {
                "url": request.build_absolute_uri(payment.url),
                "provider_reference": payment.provider_reference,
            }
        )

    @extend_schema(request=None, responses={200: s.RestoreOrderSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        """Cancel: before the restore runs the invoice is credited; while it runs it stops."""
        return self._answer(restores.cancel(self.actor, self.get_object()))

    @extend_schema(request=s.WaiveSerializer, responses={200: s.RestoreOrderSerializer})
    @action(detail=True, methods=["post"])
    def waive(self, request, pk=None):
        """Staff: waive the fee with a written reason (an issued invoice is credited)."""
        data = s.WaiveSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        order = self.get_object()
        return self._answer(restores.waive(self.actor, order, reason=data.validated_data["reason"]))

    @extend_schema(request=None, responses={200: s.DownloadLinkSerializer})
    @action(detail=True, methods=["post"], url_path="download-link")
    def download_link(self, request, pk=None):
        """A signed link to the finished order's archive; anyone holding it can download until it
        expires."""
        order = self.get_object()
        path = restores.download_link(self.actor, order)
        return Response(
            {
                "url": request.build_absolute_uri(path),
                "expires_in_seconds": settings.HAVN_RESTORE_LINK_HOURS * 3600,
                "size": order.archive_size,
                "sha256": order.archive_sha256,
                "format": order.archive_format,
            }
        )
