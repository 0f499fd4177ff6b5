"""The Celery application. Tasks are thin and idempotent; they call service functions."""

import os

from celery import Celery, Task, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "infra.settings")


class HavnTask(Task):
    """Project-wide base task: late acks (redelivered if a worker dies) and retry with backoff.

    Tasks built on it must be idempotent, because a task can run twice.
    """

    acks_late = True
    reject_on_worker_lost = True
    retry_backoff = True
    retry_backoff_max = 600
    retry_jitter = True
    max_retries = 5


app = Celery("havn", task_cls=HavnTask)
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def keep_django_logging(**_kwargs):
    """A worker keeps the handlers of settings.LOGGING: Celery's own would replace them with
    formatters that do not scrub secrets and CPR numbers (infra/logging.py)."""
    from django.conf import settings
    from django.utils.log import configure_logging

    configure_logging(settings.LOGGING_CONFIG, settings.LOGGING)
