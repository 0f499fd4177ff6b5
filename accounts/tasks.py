from celery import shared_task

from accounts import services


@shared_task
def send_invitation(user_id: int) -> None:
    """At least once: a redelivered task sends a second, equally valid invitation."""
    services.send_invitation(user_id)
