from django.apps import AppConfig


class HostingConfig(AppConfig):
    name = "hosting"

    def ready(self):
        from hosting import privacy  # noqa: F401 -- data inventory, closure receivers
