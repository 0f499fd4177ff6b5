"""API views over the account services. Every queryset comes from visible_to(user)."""

from django.db.models import Q
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema
from rest_framework import generics, mixins, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.response import Response

from accounts import services
from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, Customer, Membership
from accounts.permissions import narrow_to_permission, require
from api.filters import UtcIsoDateTimeFilter
from api.serializers import accounts as serializers
from api.views.base import CustomerOwnedViewSet


class MeView(generics.RetrieveUpdateAPIView):
    """The logged-in user's own profile (rectification)."""

    serializer_class = serializers.MeSerializer
    http_method_names = ["get", "patch"]

    def get_object(self):
        return self.request.user

    def perform_update(self, serializer):
        actor = Actor.from_request(self.request)
        serializer.instance = services.update_profile(actor, **serializer.validated_data)


class CustomerViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Customers: staff list all and create; members see and edit their own."""

    model = Customer
    serializer_class = serializers.CustomerSerializer
    filterset_fields = ["status", "kind"]
    ordering_fields = ["name", "created_at"]

    @extend_schema(
        request=serializers.CustomerCreateSerializer,
        responses={201: serializers.CustomerSerializer},
    )
    def create(self, request):
        require(self.actor, "customer.create")
        data = serializers.CustomerCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = services.create_customer(self.actor, **data.validated_data)
        return Response(
            serializers.CustomerSerializer(customer).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=serializers.CustomerSerializer, responses=serializers.CustomerSerializer)
    def partial_update(self, request, pk=None):
        customer = self.get_object()
        data = serializers.CustomerSerializer(customer, data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        customer = services.update_customer(self.actor, customer, **data.validated_data)
        return Response(serializers.CustomerSerializer(customer).data)


class MembershipViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    model = Membership
    serializer_class = serializers.MembershipSerializer
    filterset_fields = ["customer", "role"]

    def get_queryset(self):
        return super().get_queryset().select_related("user")

    @extend_schema(
        request=serializers.MembershipCreateSerializer,
        responses={201: serializers.MembershipSerializer},
    )
    def create(self, request):
        data = serializers.MembershipCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        customer = self.visible_customer(data.validated_data["customer"])
        membership = services.add_member(
            self.actor, customer, data.validated_data["email"], data.validated_data["role"]
        )
        return Response(
            serializers.MembershipSerializer(membership).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        request=serializers.MembershipUpdateSerializer, responses=serializers.MembershipSerializer
    )
    def partial_update(self, request, pk=None):
        data = serializers.MembershipUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        membership = services.change_member_role(
            self.actor, self.get_object(), data.validated_data["role"]
        )
        return Response(serializers.MembershipSerializer(membership).data)

    def destroy(self, request, pk=None):
        services.remove_member(self.actor, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


class ApiKeyViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """Customers' keys, and a staff member's own staff keys (`customer` null)."""

    model = ApiKey
    serializer_class = serializers.ApiKeySerializer
    filterset_fields = ["customer", "access"]

    def get_queryset(self):
        user = self.request.user
        return super().get_queryset().filter(Q(customer__isnull=False) | Q(created_by_id=user.pk))

    @extend_schema(
        request=serializers.ApiKeyCreateSerializer,
        responses={201: serializers.ApiKeyCreatedSerializer},
    )
    def create(self, request):
        data = serializers.ApiKeyCreateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        fields = dict(data.validated_data)
        customer_id = fields.pop("customer", None)
        if customer_id is not None:
            customer = self.visible_customer(customer_id)
        elif not request.user.is_staff:
            raise ValidationError({"customer": _("This field is required.")})
        elif isinstance(request.auth, ApiKey):
            raise PermissionDenied(_("Staff keys are made from a session with two-factor login."))
        else:
            customer = None
        key, token = services.create_api_key(self.actor, customer, **fields)
        key.token = token
        return Response(
            serializers.ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED
        )

    def destroy(self, request, pk=None):
        """Revoke the key; it stays listed with its revocation time."""
        services.revoke_api_key(self.actor, self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses={201: serializers.ApiKeyCreatedSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """A successor with the same settings (its token shown once); this key keeps working
        for 24 hours, then expires."""
        key, token = services.rotate_api_key(self.actor, self.get_object())
        key.token = token
        return Response(
            serializers.ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED
        )


class AuditEventFilter(filters.FilterSet):
    action = filters.CharFilter(
        lookup_expr="startswith", help_text="Events whose action starts with this."
    )
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = AuditEvent
        fields = ["customer", "action", "since", "until"]


class AuditEventViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, CustomerOwnedViewSet):
    """The audit log, newest first: the customer's owners and admins see their customer's events
    (support staff reading their content included); staff see every event."""

    model = AuditEvent
    serializer_class = serializers.AuditEventSerializer
    filterset_class = AuditEventFilter
    ordering_fields = ["created_at"]

    def get_queryset(self):
        events = AuditEvent.objects.visible_to(self.request.user)
        return narrow_to_permission(events, self.request.user, "audit.view").order_by(
            "-created_at", "-pk"
        )
