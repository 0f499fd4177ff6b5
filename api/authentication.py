"""API keys: ``Authorization: Bearer havn_<prefix>_<secret>``.

Every request with a key passes the key's limits here, whichever view it reaches (authentication
runs for every API view): its scopes (api/scopes.py), its IP allow-list and, for a read-only key,
the safe methods only. A refusal is a 403 problem.
"""

import ipaddress

from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from accounts.models import ApiKey
from accounts.services import authenticate_api_key
from api import scopes


def client_address_allowed(key: ApiKey, address: str) -> bool:
    """Whether ``address`` (REMOTE_ADDR) is in the key's allow-list; an empty list allows all."""
    if not key.allowed_ips:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in ipaddress.ip_network(network) for network in key.allowed_ips)


def check_key_limits(key: ApiKey, request) -> None:
    """Raise PermissionDenied when the key may not make this request."""
    if not client_address_allowed(key, request.META.get("REMOTE_ADDR", "")):
        raise exceptions.PermissionDenied(_("This API key may not be used from this address."))
    if not scopes.allows(key, request.path):
        raise exceptions.PermissionDenied(_("This API key's scopes do not cover this resource."))
    if key.access == ApiKey.Access.READ and request.method not in permissions.SAFE_METHODS:
        raise exceptions.PermissionDenied(_("This API key is read-only."))


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _sep, token = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = authenticate_api_key(token.strip())
        if key is None:
            raise exceptions.AuthenticationFailed(_("The API key is invalid, expired or revoked."))
        check_key_limits(key, request)
        user = key.created_by
        # A key acts as its creator, narrowed to the key's customer (see accounts.tenancy).
        user.api_customer_id = key.customer_id
        return user, key

    def authenticate_header(self, request):
        return self.keyword


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = ApiKeyAuthentication
    name = "apiKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key: havn_<prefix>_<secret>",
        }
