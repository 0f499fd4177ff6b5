from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "API"

    def ready(self):
        from accounts.webhooks import event_emitted
        from api import privacy  # noqa: F401 -- registers the webhooks in the data inventory
        from api.webhooks.services import queue_event

        event_emitted.connect(queue_event, dispatch_uid="api.webhooks.queue_event")
