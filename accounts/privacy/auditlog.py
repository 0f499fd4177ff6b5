"""The one sanctioned way past the audit log's append-only guard (docs/privacy.md).

``AuditEvent`` refuses updates and deletes in its model and queryset, so no ordinary code can
rewrite history. Two privacy duties need to: the purge anonymises the events about an erased
customer, and the retention rule for login records deletes them after their period. Both go
through the functions here, which use a plain ``QuerySet`` (not ``AuditQuerySet``) and are called
only from ``accounts.privacy.purge`` and ``accounts.privacy.retention``.
"""

from django.db import models

from accounts.models import AuditEvent

ERASED_LABEL = "erased"


def _unguarded():
    return models.QuerySet(model=AuditEvent)


def anonymise(condition: models.Q) -> int:
    """Strip who, from where and every detail from the matching events; the action and the time
    stay, so the log still shows that something happened."""
    return (
        _unguarded()
        .filter(condition)
        .update(actor=None, actor_label=ERASED_LABEL, target="", ip=None, user_agent="", details={})
    )


def delete(condition: models.Q) -> int:
    """Delete the matching events (retention only)."""
    deleted, _by_model = _unguarded().filter(condition).delete()
    return deleted
