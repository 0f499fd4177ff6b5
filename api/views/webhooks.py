"""Webhook endpoints over api.webhooks.services, and their delivery log."""

from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status
from rest_framework.decorators import action
from rest_framework.response import Response

from api.models import WebhookDelivery, WebhookEndpoint
from api.serializers import webhooks as s
from api.views.base import CustomerOwnedViewSet
from api.webhooks import services


class WebhookViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    model = WebhookEndpoint
    serializer_class = s.WebhookSerializer
    filterset_fields = ["customer", "active"]

    @extend_schema(request=s.WebhookCreateSerializer, responses={201: s.WebhookCreatedSerializer})
    def create(self, request):
        data = s.WebhookCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        endpoint, secret = services.create_endpoint(self.actor, customer, **fields)
        endpoint.secret = secret
        return Response(s.WebhookCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.WebhookSerializer, responses=s.WebhookSerializer)
    def partial_update(self, request, pk=None):
        endpoint = self.get_object()
        data = s.WebhookSerializer(endpoint, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        endpoint = services.update_endpoint(self.actor, endpoint, **data.validated_data)
        return Response(s.WebhookSerializer(endpoint).data)

    def destroy(self, request, pk=None):
        services.delete_endpoint(self.actor, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={202: s.WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a ``webhook.test`` event now (also to an inactive endpoint)."""
        delivery = services.send_test(self.actor, self.get_object())
        return Response(s.WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=s.WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """The delivery log, newest first, each delivery with its attempts."""
        endpoint = self.get_object()
        deliveries = (
            WebhookDelivery.objects.visible_to(request.user)
            .filter(endpoint=endpoint)
            .prefetch_related("log")
            .order_by("-created_at", "-pk")
        )
        page = self.paginate_queryset(deliveries)
        return self.get_paginated_response(s.WebhookDeliverySerializer(page, many=True).data)
