"""Purge the closed accounts whose grace period is over, as the daily task does."""

from django.core.management.base import BaseCommand

from accounts.privacy import purge


class Command(BaseCommand):
    help = "Erase closed accounts whose grace period has ended; resume unfinished purges."

    def handle(self, *args, **options):
        report = purge.purge_due()
        self.stdout.write(f"purged: {report['purged']}, incomplete: {report['incomplete']}")
        left = purge.due()
        for closure in left:
            self.stdout.write(f"left: customer {closure.customer_id}: {closure.last_error}")
