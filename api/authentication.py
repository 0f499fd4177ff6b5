"""API keys: ``Authorization: Bearer havn_<prefix>_<secret>``."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from accounts.services import authenticate_api_key


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode(errors="replace")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme != self.keyword:
            return None
        key = authenticate_api_key(token.strip())
        if key is None:
            raise exceptions.AuthenticationFailed("The API key is invalid, expired or revoked.")
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
