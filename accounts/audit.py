"""Writing the audit log. Rows are append-only (see AuditEvent)."""

from accounts.actor import Actor
from accounts.models import AuditEvent


def record(actor: Actor, action: str, *, customer=None, target="", **details) -> AuditEvent:
    """Append one audit event. ``details`` must not hold secrets: they are shown to staff."""
    user = actor.user if actor.is_authenticated else None
    return AuditEvent.objects.create(
        actor=user,
        actor_label=user.email if user else details.pop("actor_label", "system"),
        customer=customer,
        action=action,
        target=str(target)[:200],
        ip=actor.ip,
        user_agent=actor.user_agent,
        details=details,
    )
