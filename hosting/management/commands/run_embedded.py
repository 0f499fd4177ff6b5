"""The zero-setup run: SQLite, an embedded Celery broker with a real worker and beat, demo data."""

import signal
import subprocess
import sys

from django.conf import settings
from django.core.management import BaseCommand, CommandError, call_command

from accounts import demo as account_demo
from hosting import demo as hosting_demo


class Command(BaseCommand):
    help = "Migrate, seed demo data, start a Celery worker with beat, and serve the panel."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")

    def handle(self, *args, addr, **options):
        if settings.HAVN_ENV != "dev":
            raise CommandError("run_embedded is for HAVN_ENV=dev (the zero-setup run).")
        for folder in ("queue", "processed", "control"):
            (settings.VAR_DIR / "broker" / folder).mkdir(parents=True, exist_ok=True)
        call_command("migrate", interactive=False, verbosity=0)
        lines = account_demo.seed()
        hosting_demo.seed()
        worker = subprocess.Popen(  # noqa: S603 - our own interpreter and fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "infra",
                "worker",
                "--beat",
                "--loglevel",
                "WARNING",
                "--concurrency",
                "2",
            ],
        )
        self.stdout.write("\n".join(lines))
        self.stdout.write(f"\nHavn runs on http://{addr}/ (Ctrl-C stops it)\n")
        # A SIGTERM (e.g. from a process manager) must still stop the worker: exit through finally.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
        try:
            call_command("runserver", addr, use_reloader=False)
        finally:
            worker.terminate()
            worker.wait(timeout=20)
