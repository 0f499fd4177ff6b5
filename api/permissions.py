from django.utils.translation import gettext_lazy as _
from rest_framework import permissions

from accounts.models import ApiKey


class IsAuthenticatedMember(permissions.BasePermission):
    """Logged in; staff by session only after their second factor. An API key's own limits
    (scopes, IP allow-list, read-only) are checked in api.authentication for every view."""

    message = _("Authentication is required.")

    def has_permission(self, request, view):
        user = request.user
        if not user or not user.is_authenticated:
            return False
        key = request.auth if isinstance(request.auth, ApiKey) else None
        if key is None and user.is_staff and not user.is_verified():
            self.message = _("Staff must complete two-factor login first.")
            return False
        return True
