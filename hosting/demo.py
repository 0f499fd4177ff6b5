"""Demo hosting for the zero-setup run: a sandbox server on this machine and two plans."""

from django.conf import settings
from django.db import transaction

from hosting.models import Plan, Server


@transaction.atomic
def seed() -> None:
    Server.objects.get_or_create(
        name="local-sandbox",
        defaults={
            "address": "localhost",
            "transport": Server.Transport.LOCAL,
            "profile": Server.Profile.SANDBOX,
            "root": str(settings.VAR_DIR / "sandbox"),
            "datacenter": "Lokal",
        },
    )
    Plan.objects.get_or_create(
        name="Basis",
        defaults={
            "disk_quota_mb": 10_000,
            "max_databases": 2,
            "max_mailboxes": 10,
            "price_dkk": "39.00",
        },
    )
    Plan.objects.get_or_create(
        name="Pro",
        defaults={
            "disk_quota_mb": 50_000,
            "max_databases": 10,
            "max_mailboxes": 50,
            "price_dkk": "99.00",
        },
    )
