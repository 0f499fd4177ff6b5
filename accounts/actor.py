"""Who is acting, and from where: passed to every service function."""

from dataclasses import dataclass

from django.contrib.auth.models import AnonymousUser


@dataclass(frozen=True)
class Actor:
    user: object  # a User, or AnonymousUser for a failed login / the system
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request) -> "Actor":
        return cls(
            user=request.user,
            ip=request.META.get("REMOTE_ADDR") or None,
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )

    @classmethod
    def system(cls) -> "Actor":
        return cls(user=AnonymousUser())

    @property
    def is_authenticated(self) -> bool:
        return bool(getattr(self.user, "is_authenticated", False))
