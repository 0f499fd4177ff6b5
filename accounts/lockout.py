"""Brute-force protection: count failed logins per e-mail address and lock after a limit.

Each failure is one conditional UPDATE in the database, so concurrent attempts cannot lose a count.
"""

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from accounts.models import LoginFailures


def locked_until(email: str):
    """When the address's lockout ends, or None when it is not locked."""
    now = timezone.now()
    return (
        LoginFailures.objects.filter(email=email.lower(), locked_until__gt=now)
        .values_list("locked_until", flat=True)
        .first()
    )


def register_failure(email: str) -> int:
    """Count one failure and return the number in the current window."""
    email, now = email.lower(), timezone.now()
    window_start = now - settings.LOGIN_LOCKOUT
    rows = LoginFailures.objects.filter(email=email)
    # A failure after a quiet window starts a new count; otherwise add one.
    if not rows.filter(last_failure_at__lt=window_start).update(
        failures=1, last_failure_at=now, locked_until=None
    ) and not rows.update(failures=F("failures") + 1, last_failure_at=now):
        try:
            with transaction.atomic():
                LoginFailures.objects.create(email=email, failures=1, last_failure_at=now)
        except IntegrityError:  # another attempt created it first
            rows.update(failures=F("failures") + 1, last_failure_at=now)
    count = rows.values_list("failures", flat=True).get()
    if count >= settings.LOGIN_FAILURE_LIMIT:
        rows.filter(locked_until__isnull=True).update(locked_until=now + settings.LOGIN_LOCKOUT)
    return count


def reset(email: str) -> None:
    LoginFailures.objects.filter(email=email.lower()).delete()
