"""``manage.py backup <subcommand>``: run, list, check and maintain the backup repositories.

See docs/backups.md. Each subcommand calls a service (backups.services.*) and prints its result.
"""

import uuid
from datetime import UTC, date

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import Customer
from backups.models import BackupRun, ItemKind, Snapshot
from backups.services import maintenance, repositories, runs
from hosting.models import Server

MB = 1_000_000


def _mb(n: int) -> str:
    return f"{(n or 0) / MB:.1f}"


def _owner(customer) -> str:
    return f"{customer.name} (#{customer.pk})" if customer is not None else "provider"


def _until(entry: dict) -> str:
    """When the first object object lock kept may go (its retention's end, in UTC)."""
    first = entry["earliest_unlock"]
    if first is None:
        return "retention end unknown"
    return f"the first may go after {first.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def _customer(value: str | None) -> Customer | None:
    """A customer by id or UUID."""
    if value is None:
        return None
    if value.isdigit():
        found = Customer.objects.filter(pk=int(value)).first()
    else:
        try:
            found = Customer.objects.filter(uuid=uuid.UUID(value)).first()
        except ValueError:
            raise CommandError(f"--customer: {value!r} is neither an id nor a UUID.") from None
    if found is None:
        raise CommandError(f"--customer: there is no customer {value!r}.")
    return found


def _server(value: str | None) -> Server | None:
    if value is None:
        return None
    found = Server.objects.filter(name=value).first()
    if found is None:
        raise CommandError(f"--server: there is no server named {value!r}.")
    return found


def _night(value: str | None) -> date:
    if value is None:
        return runs.night_of(timezone.now())
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise CommandError(f"--night: {value!r} is not a date (YYYY-MM-DD).") from None


def _item(value: str | None) -> tuple[str, int] | None:
    if value is None:
        return None
    kind, _, item_id = value.partition(":")
    if kind not in ItemKind.values or not item_id.isdigit():
        raise CommandError(
            f"--item: {value!r} is not KIND:ID with KIND one of {', '.join(ItemKind.values)}."
        )
    return kind, int(item_id)


def _percent(value: str) -> float:
    try:
        percent = float(value)
    except ValueError:
        raise CommandError(f"--read-data: {value!r} is not a number.") from None
    if not 0 <= percent <= 100:
        raise CommandError("--read-data: give a percentage from 0 to 100.")
    return percent


class Command(BaseCommand):
    help = "Back up, list, check and maintain the backup repositories."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="subcommand", metavar="SUBCOMMAND", required=True)

        run = sub.add_parser("run", help="Plan a night's runs for the selection and run them here.")
        run.add_argument("--customer", metavar="ID", help="only this customer's items")
        run.add_argument("--server", metavar="NAME", help="only the items on this server")
        run.add_argument("--night", metavar="YYYY-MM-DD", help="the night (default: tonight)")

        ls = sub.add_parser("ls", help="List the snapshot catalogue, newest first.")
        ls.add_argument("--customer", metavar="ID")
        ls.add_argument("--item", metavar="KIND:ID", help="e.g. webhotel:12")

        check = sub.add_parser("check", help="Check the repositories (exit code 1 on errors).")
        check.add_argument("--customer", metavar="ID")
        check.add_argument(
            "--read-data",
            metavar="PERCENT",
            default="0",
            help="also download and authenticate this share of the packs",
        )

        prune = sub.add_parser("forget-prune", help="Apply retention, then prune.")
        prune.add_argument("--customer", metavar="ID")
        prune.add_argument("--dry-run", action="store_true", help="only say what would happen")

        rebuild = sub.add_parser("rebuild-catalog", help="Make the catalogue match the store.")
        rebuild.add_argument("--customer", metavar="ID")

        sub.add_parser("rewrap-keys", help="Re-wrap every repository key with the platform key.")

    def handle(self, *args, subcommand, **options):
        getattr(self, "do_" + subcommand.replace("-", "_"))(**options)

    # -- subcommands --

    def do_run(self, *, customer=None, server=None, night=None, **_):
        night, server, customer = _night(night), _server(server), _customer(customer)
        queued = runs.plan_night(night, server=server, customer=customer, enqueue=False)
        if not queued:
            self.stdout.write(f"Nothing to run: the selection's runs of {night} are done.")
            return
        failed = 0
        for planned in queued:
            result = runs.execute(planned.pk)
            run = BackupRun.objects.get(pk=planned.pk)
            note = ""
            if result == "skipped":
                note = "  (a worker has it)"
            elif result == BackupRun.Status.QUEUED:
                note = f"  (left for the workers: {run.error or 'no free slot on the server'})"
            elif run.status == BackupRun.Status.FAILED:
                failed += 1
                note = f"  {run.error}"
            duration = run.duration.total_seconds() if run.duration else 0.0
            self.stdout.write(
                f"{run.kind}:{run.item_id} {run.item_name}  {run.status}  {run.files} files  "
                f"{_mb(run.bytes_read)}/{_mb(run.bytes_new)}/{_mb(run.bytes_stored)} "
                f"MB read/new/stored  {duration:.1f} s{note}"
            )
        if failed:
            raise CommandError(f"{failed} of {len(queued)} runs failed.")

    def do_ls(self, *, customer=None, item=None, **_):
        customer, item = _customer(customer), _item(item)
        rows = Snapshot.objects.select_related("customer").order_by("-taken_at", "-pk")
        if customer is not None:
            rows = rows.filter(customer=customer)
        if item is not None:
            rows = rows.filter(kind=item[0], item_id=item[1])
        self.stdout.write(
            f"{'taken':<16}  {'item':<40}  {'size MB':>9}  {'complete':<8}  "
            f"{'snapshot':<12}  customer"
        )
        for row in rows:
            taken = timezone.localtime(row.taken_at).strftime("%Y-%m-%d %H:%M")
            name = f"{row.kind}:{row.item_id} {row.item_name}"
            self.stdout.write(
                f"{taken:<16}  {name:<40}  {_mb(row.size):>9}  "
                f"{'yes' if row.complete else 'NO':<8}  {row.snapshot_id[:12]}  "
                f"{_owner(row.customer)}"
            )

    def do_check(self, *, customer=None, read_data="0", **_):
        customer, percent = _customer(customer), _percent(read_data)
        report = maintenance.check_repositories(customer, read_data_percent=percent)
        bad = 0
        for owner, entry in report.items():
            if entry["skipped_reason"]:
                self.stdout.write(f"{_owner(owner)}: skipped: {entry['skipped_reason']}")
                continue
            self.stdout.write(
                f"{_owner(owner)}: {entry['snapshots']} snapshots, {entry['packs']} packs, "
                f"{entry['packs_read']} read ({_mb(entry['bytes_read'])} MB): "
                f"{len(entry['errors'])} errors, {len(entry['warnings'])} warnings"
            )
            for warning in entry["warnings"]:
                self.stdout.write(f"  warning: {warning}")
            for error in entry["errors"]:
                self.stdout.write(f"  ERROR: {error}")
            bad += bool(entry["errors"])
        if bad:
            raise CommandError(f"{bad} repositories have errors.")

    def do_forget_prune(self, *, customer=None, dry_run=False, **_):
        customer = _customer(customer)
        report = maintenance.forget_and_prune(customer, dry_run=dry_run)
        verb = "would forget" if dry_run else "forgot"
        errors = 0
        for owner, entry in report.items():
            line = (
                f"{_owner(owner)}: {entry['snapshots']} snapshots, {verb} {entry['forgotten']}, "
                f"{entry['packs_deleted']} packs deleted ({entry['packs_repacked']} repacked), "
                f"{_mb(entry['bytes_freed'])} MB freed"
            )
            if entry["kept_by_lock"]:
                line += f"; {entry['kept_by_lock']} objects kept by object lock, {_until(entry)}"
            if entry["skipped_reason"]:
                line += f"; skipped: {entry['skipped_reason']}"
            if entry["error"]:
                errors += 1
                line += f"; ERROR: {entry['error']}"
            self.stdout.write(line)
        if errors:
            raise CommandError(f"{errors} repositories could not be pruned.")

    def do_rebuild_catalog(self, *, customer=None, **_):
        changed = maintenance.rebuild_catalog(_customer(customer))
        self.stdout.write(f"Catalogue rebuilt: {changed} rows added or removed.")

    def do_rewrap_keys(self, **_):
        changed = repositories.rewrap_keys(Actor.system())
        self.stdout.write(f"Re-wrapped {changed} repository keys with the current platform key.")
