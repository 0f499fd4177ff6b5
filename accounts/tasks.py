from celery import shared_task

from accounts import services


@shared_task
def send_invitation(user_id: int) -> None:
    """At least once: a redelivered task sends a second, equally valid invitation."""
    services.send_invitation(user_id)


@shared_task
def build_export(export_id: int) -> str:
    """Once: a built (or failed) export is skipped when the task is delivered again."""
    from accounts.privacy import export

    return export.build_export(export_id)


@shared_task
def apply_retention_rules() -> dict:
    """Daily: apply every retention rule (accounts/privacy/retention.py)."""
    from accounts.privacy import retention

    return retention.apply_all()
