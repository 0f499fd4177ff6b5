"""API views over ``accounts.consent``: support-access grants, restriction of processing,
consent records, the DPA and data-subject requests. Every queryset comes from visible_to(user)."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts import consent
from accounts.actor import Actor
from accounts.models import (
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    DpaAcceptance,
    DpaVersion,
    SupportGrant,
)
from accounts.permissions import require
from api.serializers import consent as s
from api.views.base import CustomerOwnedViewSet


class SupportGrantViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Support-access grants, newest first. The customer's owner or admin grants support access
    to content (files, mail, databases, backups) until an expiry at most 30 days ahead, and can
    revoke it at once. Staff read grants but can never create one."""

    model = SupportGrant
    serializer_class = s.SupportGrantSerializer
    filterset_fields = ["customer"]

    def get_queryset(self):
        return super().get_queryset().select_related("granted_by", "revoked_by").order_by("-pk")

    @extend_schema(
        request=s.SupportGrantCreateSerializer, responses={201: s.SupportGrantSerializer}
    )
    def create(self, request):
        data = s.SupportGrantCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        grant = consent.grant_support_access(self.actor, customer, **fields)
        return Response(s.SupportGrantSerializer(grant).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.SupportGrantSerializer)
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        """End the grant now."""
        grant = consent.revoke_support_access(self.actor, self.get_object())
        return Response(s.SupportGrantSerializer(grant).data)


class RestrictionViewSet(CustomerOwnedViewSet):
    """Restriction of processing (GDPR art. 18), one per customer: `{id}` is the customer's id.
    While restricted, the customer's data is used only for what delivers the service (hosting,
    mail, backups, billing, security, the law); marketing stops. The customer's owner or admin
    (or staff) restricts and lifts it with a PUT."""

    model = Customer
    serializer_class = s.RestrictionSerializer

    def get_object(self):
        customer = super().get_object()
        require(self.actor, "rights.view", customer)
        return customer

    def retrieve(self, request, pk=None):
        return Response(s.RestrictionSerializer(self.get_object()).data)

    @extend_schema(request=s.RestrictionUpdateSerializer, responses=s.RestrictionSerializer)
    def update(self, request, pk=None):
        customer = self.get_object()
        data = s.RestrictionUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = consent.set_processing_restriction(self.actor, customer, **data.validated_data)
        return Response(s.RestrictionSerializer(customer).data)


class ConsentViewSet(mixins.ListModelMixin, CustomerOwnedViewSet):
    """The history of consent given and withdrawn, newest first; the latest record per purpose
    is the current choice. Withdrawing is a POST like giving."""

    model = ConsentRecord
    serializer_class = s.ConsentRecordSerializer
    filterset_fields = ["customer", "purpose"]

    def get_queryset(self):
        return super().get_queryset().select_related("recorded_by").order_by("-recorded_at", "-pk")

    @extend_schema(request=s.ConsentCreateSerializer, responses={201: s.ConsentRecordSerializer})
    def create(self, request):
        data = s.ConsentCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        record = consent.record_consent(
            self.actor, customer, fields["purpose"], given=fields["given"]
        )
        return Response(s.ConsentRecordSerializer(record).data, status=status.HTTP_201_CREATED)


class DataRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Requests under the data-protection rights, answered within 30 days (`due_at`)."""

    model = DataSubjectRequest
    serializer_class = s.DataRequestSerializer
    filterset_fields = ["customer", "status", "kind"]

    def get_queryset(self):
        return (
            super()
            .get_queryset()
            .select_related("requester", "handled_by")
            .order_by("due_at", "pk")
        )

    @extend_schema(request=s.DataRequestCreateSerializer, responses={201: s.DataRequestSerializer})
    def create(self, request):
        data = s.DataRequestCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer = self.visible_customer(fields.pop("customer"))
        filed = consent.file_data_request(self.actor, customer, **fields)
        return Response(s.DataRequestSerializer(filed).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=s.DataRequestCloseSerializer, responses=s.DataRequestSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request, pk=None):
        """Staff: close an open request as done or rejected, with the answer given."""
        data = s.DataRequestCloseSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        closed = consent.close_data_request(self.actor, self.get_object(), **data.validated_data)
        return Response(s.DataRequestSerializer(closed).data)


class DpaView(generics.RetrieveAPIView):
    """The data-processing agreement in force (Havn as processor of the personal data of the
    customer's own users)."""

    serializer_class = s.DpaVersionSerializer

    def get_object(self):
        return consent.current_dpa()


class DpaVersionViewSet(mixins.ListModelMixin, viewsets.GenericViewSet):
    """Every published version of the DPA, newest first; staff administrators publish a new one
    (every customer is then asked to accept it)."""

    serializer_class = s.DpaVersionSerializer
    queryset = DpaVersion.objects.order_by("-published_at", "-pk")

    @extend_schema(request=s.DpaPublishSerializer, responses={201: s.DpaVersionSerializer})
    def create(self, request):
        data = s.DpaPublishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        published = consent.publish_dpa(Actor.from_request(request), **data.validated_data)
        return Response(s.DpaVersionSerializer(published).data, status=status.HTTP_201_CREATED)


class DpaAcceptanceViewSet(mixins.ListModelMixin, CustomerOwnedViewSet):
    """Which DPA versions the customer accepted, when and by whom. Accept the current version by
    POSTing its label."""

    model = DpaAcceptance
    serializer_class = s.DpaAcceptanceSerializer
    filterset_fields = ["customer"]

    def get_queryset(self):
        return super().get_queryset().select_related("version", "accepted_by").order_by("-pk")

    @extend_schema(request=s.DpaAcceptSerializer, responses={201: s.DpaAcceptanceSerializer})
    def create(self, request):
        data = s.DpaAcceptSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        version = get_object_or_404(DpaVersion, version=data.validated_data["version"])
        acceptance = consent.accept_dpa(self.actor, customer, version=version)
        return Response(s.DpaAcceptanceSerializer(acceptance).data, status=status.HTTP_201_CREATED)
