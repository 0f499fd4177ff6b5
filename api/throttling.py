"""Rate limits per API key (per user for the panel's session, per address when anonymous), with
the IETF draft ``RateLimit-Limit``, ``RateLimit-Remaining`` and ``RateLimit-Reset`` headers.

DRF's sliding-window throttles count the requests in Redis; each one leaves its numbers on the
request, and ``RateLimitHeadersMiddleware`` writes them onto whatever response goes out,
including a 429 (which also carries ``Retry-After``). An answer given before the throttles ran
(401, 403, 404) shows the caller's numbers without counting itself.
"""

import math

from rest_framework.throttling import SimpleRateThrottle

from accounts.models import ApiKey
from api.scopes import API_PREFIX

STATE_ATTRIBUTE = "havn_rate_limit"


class _HeaderThrottle(SimpleRateThrottle):
    """Remembers the limit, what is left and when the window frees, on the Django request."""

    def allow_request(self, request, view):
        allowed = super().allow_request(request, view)
        if self.rate is not None and self.key is not None:
            setattr(
                getattr(request, "_request", request),
                STATE_ATTRIBUTE,
                (self.num_requests, max(0, self.num_requests - len(self.history)), self.reset()),
            )
        return allowed

    def reset(self) -> int:
        """Seconds until the oldest request in the window stops counting."""
        if not self.history:
            return 0
        return max(0, math.ceil(self.history[-1] + self.duration - self.now))

    def wait(self):
        return max(1, self.reset())


class AnonThrottle(_HeaderThrottle):
    scope = "anon"

    def get_cache_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return None
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class KeyThrottle(_HeaderThrottle):
    """One budget per API key; a session (the panel's own calls) has one per user."""

    scope = "user"

    def get_cache_key(self, request, view):
        if not (request.user and request.user.is_authenticated):
            return None
        if isinstance(getattr(request, "auth", None), ApiKey):
            ident = f"key-{request.auth.pk}"
        else:
            ident = f"user-{request.user.pk}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


def peek(request) -> tuple[int, int, int] | None:
    """The caller's numbers without counting this request: for answers given before the
    throttles ran (401, 403, an unknown path)."""
    for throttle_class in (AnonThrottle, KeyThrottle):
        throttle = throttle_class()
        key = throttle.get_cache_key(request, None) if throttle.rate else None
        if key is None:
            continue
        throttle.now = throttle.timer()
        throttle.history = [
            t for t in throttle.cache.get(key, []) if t > throttle.now - throttle.duration
        ]
        remaining = max(0, throttle.num_requests - len(throttle.history))
        return throttle.num_requests, remaining, throttle.reset()
    return None


def count(drf_request) -> bool:
    """Count a request answered outside a view (an idempotent replay) against its budget."""
    return all(
        throttle().allow_request(drf_request, None) for throttle in (AnonThrottle, KeyThrottle)
    )


class RateLimitHeadersMiddleware:
    """Adds the RateLimit headers a throttle left on the request to the API response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not request.path.startswith(API_PREFIX):
            return response
        state = getattr(request, STATE_ATTRIBUTE, None) or peek(request)
        if state is not None:
            limit, remaining, reset = state
            response["RateLimit-Limit"] = str(limit)
            response["RateLimit-Remaining"] = str(remaining)
            response["RateLimit-Reset"] = str(reset)
        return response
