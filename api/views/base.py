from django.shortcuts import get_object_or_404
from rest_framework import permissions, viewsets

from accounts.actor import Actor
from accounts.models import Customer


class CustomerOwnedViewSet(viewsets.GenericViewSet):
    """Base for every customer-owned resource: the queryset is always narrowed to the caller."""

    model = None

    def get_queryset(self):
        return self.model.objects.visible_to(self.request.user).order_by("pk")

    @property
    def actor(self) -> Actor:
        return Actor.from_request(self.request)

    def visible(self, model, pk):
        """A row of another customer-owned model, by id, or 404 when the caller cannot see it."""
        return get_object_or_404(model.objects.visible_to(self.request.user), pk=pk)

    def visible_customer(self, customer_id) -> Customer:
        return self.visible(Customer, customer_id)


class IsStaff(permissions.BasePermission):
    message = "Staff only."

    def has_permission(self, request, view):
        return bool(
            request.user
            and request.user.is_authenticated
            and request.user.is_staff
            and getattr(request.user, "api_customer_id", None) is None
        )


class ReadForAllWriteForStaff(IsStaff):
    """Any logged-in caller reads; staff write."""

    def has_permission(self, request, view):
        if request.method in permissions.SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return super().has_permission(request, view)
