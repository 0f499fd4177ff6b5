"""Staff must pass a second factor before they reach any page beyond the login and 2FA setup."""

from django.shortcuts import redirect
from django.urls import reverse

# Paths a staff member without a verified second factor may still reach.
_OPEN_PREFIXES = ("/static/", "/i18n/", "/api/")


class StaffTwoFactorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if user.is_authenticated and user.is_staff and not user.is_verified():
            allowed = (
                reverse("accounts:twofactor"),
                reverse("accounts:login_2fa_staff"),
                reverse("accounts:logout"),
            )
            if request.path not in allowed and not request.path.startswith(_OPEN_PREFIXES):
                return redirect("accounts:twofactor")
        return self.get_response(request)
