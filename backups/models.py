"""Backups: each customer's repository keys, policies, nightly runs and the snapshot catalogue.

The object store is the truth about snapshots; ``Snapshot`` rows are a catalogue for the panel and
can be rebuilt from the store (``manage.py backup rebuild-catalog``).
"""

import uuid
from datetime import time

from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer, RestoreScope, User
from accounts.tenancy import CustomerOwnedManager
from hosting.models import Plan, Server


class RepositoryKey(models.Model):
    """A repository's keys (encryption and blob-id MAC), wrapped by the platform key. One per
    customer; the provider's repository (server configuration) has no customer."""

    customer = models.OneToOneField(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="repository_key"
    )
    wrapped = models.TextField(editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    destroyed_at = models.DateTimeField(null=True, blank=True, editable=False)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(customer__isnull=True),
                name="one_provider_repository",
            ),
        ]

    def __str__(self):
        return f"repository of {self.customer or 'the provider'}"


class BackupPolicy(models.Model):
    """When backups run and how many snapshots are kept (grandfather-father-son). A policy
    belongs to a plan, or overrides the plan's for one customer; one default policy has neither."""

    name = models.CharField(_("name"), max_length=100)
    plan = models.OneToOneField(
        Plan, on_delete=models.CASCADE, null=True, blank=True, related_name="backup_policy"
    )
    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="backup_policy"
    )
    window_start = models.TimeField(_("window opens"), default=time(1, 0))
    window_end = models.TimeField(_("window closes"), default=time(6, 0))
    keep_daily = models.PositiveIntegerField(
        _("daily snapshots kept"), default=7, validators=[MinValueValidator(1)]
    )
    keep_weekly = models.PositiveIntegerField(_("weekly snapshots kept"), default=4)
    keep_monthly = models.PositiveIntegerField(_("monthly snapshots kept"), default=12)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("backup policy")
        verbose_name_plural = _("backup policies")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(plan__isnull=True) | models.Q(customer__isnull=True),
                name="policy_for_a_plan_or_a_customer",
            ),
        ]

    def __str__(self):
        return self.name


class ItemKind(models.TextChoices):
    WEBHOTEL = "webhotel", _("Webhotel")
    DATABASE = "database", _("Database")
    MAILBOX = "mailbox", _("Mailbox")
    SERVER = "server", _("Server configuration")


class BackupRun(models.Model):
    """One item's backup in one night. Unique per item and night, so a duplicate task cannot
    double it."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        PARTIAL = "partial", _("Done with warnings")
        FAILED = "failed", _("Failed")

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="backup_runs"
    )
    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="backup_runs")
    kind = models.CharField(_("kind"), max_length=10, choices=ItemKind.choices)
    item_id = models.PositiveBigIntegerField()
    item_name = models.CharField(_("item"), max_length=300)
    night = models.DateField(_("night"))
    on_demand = models.BooleanField(_("on demand"), default=False)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    attempts = models.PositiveIntegerField(default=0)
    files = models.PositiveBigIntegerField(default=0)
    bytes_read = models.PositiveBigIntegerField(default=0)
    bytes_new = models.PositiveBigIntegerField(default=0)
    bytes_stored = models.PositiveBigIntegerField(default=0)
    progress_bytes = models.PositiveBigIntegerField(default=0)
    expected_bytes = models.PositiveBigIntegerField(default=0)
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    snapshot_id = models.CharField(max_length=64, blank=True)
    # When a queued run's message was sent to the workers (runs.dispatch); None: not sent.
    dispatched_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    reported_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("backup run")
        verbose_name_plural = _("backup runs")
        ordering = ["-night", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "item_id", "night", "on_demand"],
                name="one_run_per_item_and_night",
            ),
        ]
        indexes = [  # the few active runs among every night's history
            models.Index(
                fields=["status", "server"],
                condition=models.Q(status__in=["queued", "running"]),
                name="backuprun_active",
            ),
        ]

    def __str__(self):
        return f"{self.night} {self.kind} {self.item_name} ({self.status})"

    @property
    def duration(self):
        if self.started_at and self.finished_at:
            return self.finished_at - self.started_at
        return None


class Snapshot(models.Model):
    """The catalogue entry of one snapshot in the store."""

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, null=True, blank=True, related_name="snapshots"
    )
    snapshot_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(_("kind"), max_length=10, choices=ItemKind.choices)
    item_id = models.PositiveBigIntegerField()
    item_name = models.CharField(_("item"), max_length=300)
    server_name = models.CharField(_("server"), max_length=63)
    taken_at = models.DateTimeField(_("taken"), db_index=True)
    files = models.PositiveBigIntegerField(default=0)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    stored = models.PositiveBigIntegerField(_("new data stored"), default=0)
    complete = models.BooleanField(default=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        ordering = ["-taken_at", "-pk"]
        indexes = [models.Index(fields=["kind", "item_id", "-taken_at"])]

    def __str__(self):
        return f"{self.item_name} {self.taken_at:%Y-%m-%d %H:%M}"


# -- restores ------------------------------------------------------------------------------------


class Destination(models.TextChoices):
    IN_PLACE = "in_place", _("In place (overwrites the current files)")
    SIDE_FOLDER = "side_folder", _("A new folder beside the current files")
    OTHER_WEBHOTEL = "other_webhotel", _("Another webhotel")
    DOWNLOAD = "download", _("A downloadable archive")


class ServerRecovery(models.Model):
    """Staff restore every webhotel, database and mailbox that lived on a crashed server, each
    from its last snapshot before ``point_in_time``, onto the server or a replacement."""

    class Status(models.TextChoices):
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Done with failures")

    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="recoveries")
    replacement = models.ForeignKey(
        Server, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    point_in_time = models.DateTimeField(_("point in time"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.RUNNING
    )
    parallel = models.PositiveSmallIntegerField(default=4, validators=[MinValueValidator(1)])
    waive_reason = models.TextField(_("reason for waiving the fees"), blank=True)
    started_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    report = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("server recovery")
        verbose_name_plural = _("server recoveries")
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"recovery of {self.server} at {self.point_in_time:%Y-%m-%d %H:%M}"

    @property
    def target(self) -> Server:
        return self.replacement or self.server


class RestoreOrder(models.Model):
    """A paid restore: quoted → accepted → invoiced → running → done / failed / cancelled.

    The price is fixed when quoted (the tariff version is kept). A customer's order holds one
    item; a server recovery gives each affected customer one order holding all their items."""

    class Status(models.TextChoices):
        QUOTED = "quoted", _("Quoted")
        ACCEPTED = "accepted", _("Accepted")
        INVOICED = "invoiced", _("Invoiced")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="restore_orders")
    scope = models.CharField(_("scope"), max_length=8, choices=RestoreScope.choices)
    destination = models.CharField(_("destination"), max_length=14, choices=Destination.choices)
    recovery = models.ForeignKey(
        ServerRecovery, on_delete=models.PROTECT, null=True, blank=True, related_name="orders"
    )
    status = models.CharField(
        _("status"), max_length=9, choices=Status.choices, default=Status.QUOTED, db_index=True
    )
    size_bytes = models.PositiveBigIntegerField(_("size"), default=0)
    tariff = models.ForeignKey(
        "accounts.TariffVersion", on_delete=models.PROTECT, null=True, related_name="+"
    )
    fee = models.PositiveBigIntegerField(default=0)  # øre, ex. VAT
    per_gb = models.PositiveBigIntegerField(default=0)
    gb = models.PositiveIntegerField(default=0)
    net = models.PositiveBigIntegerField(default=0)
    vat = models.PositiveBigIntegerField(default=0)
    gross = models.PositiveBigIntegerField(default=0)
    expires_at = models.DateTimeField(_("quote valid until"))
    invoice = models.OneToOneField(
        "accounts.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    credit_note = models.OneToOneField(
        "accounts.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    waived_by = models.ForeignKey(
        User, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    waive_reason = models.TextField(_("reason for waiving the fee"), blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(User, on_delete=models.PROTECT, null=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    archive_key = models.CharField(max_length=200, blank=True)
    archive_format = models.CharField(max_length=7, blank=True)
    archive_size = models.PositiveBigIntegerField(default=0)
    archive_sha256 = models.CharField(max_length=64, blank=True)
    archive_expires_at = models.DateTimeField(null=True, blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("restore order")
        verbose_name_plural = _("restore orders")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"restore order {self.pk} ({self.status})"

    @property
    def waived(self) -> bool:
        return bool(self.waive_reason)

    @property
    def data_price(self) -> int:
        """The per-GB part of the price, øre ex. VAT."""
        return self.gb * self.per_gb

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED, self.Status.CANCELLED)


class RestoreItem(models.Model):
    """One webhotel, database or mailbox (or files of one) restored from one snapshot."""

    class Status(models.TextChoices):
        WAITING = "waiting", _("Waiting")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")
        CANCELLED = "cancelled", _("Cancelled")

    order = models.ForeignKey(RestoreOrder, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(_("kind"), max_length=10, choices=ItemKind.choices)
    item_id = models.PositiveBigIntegerField()
    item_name = models.CharField(_("item"), max_length=300)
    snapshot_id = models.CharField(max_length=64)
    taken_at = models.DateTimeField(_("snapshot taken"))
    paths = models.JSONField(default=list, blank=True)  # files or folders; empty: everything
    target_webhotel_id = models.PositiveBigIntegerField(null=True, blank=True)
    side_folder = models.CharField(max_length=100, blank=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    status = models.CharField(
        _("status"), max_length=9, choices=Status.choices, default=Status.WAITING
    )
    progress_bytes = models.PositiveBigIntegerField(default=0)
    files_done = models.PositiveBigIntegerField(default=0)
    verified = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    customer_path = "order__customer"
    objects = CustomerOwnedManager()

    class Meta:
        ordering = ["pk"]

    def __str__(self):
        return f"{self.kind} {self.item_name} from {self.taken_at:%Y-%m-%d %H:%M}"


class RestoreClaim(models.Model):
    """Inserted by the task that carries out an item: a second delivery of the same task hits
    the unique constraint and does nothing, so an item runs exactly once."""

    item = models.OneToOneField(RestoreItem, on_delete=models.CASCADE, related_name="claim")
    claimed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"claim of restore item {self.item_id}"


class ContentExport(models.Model):
    """One free download of a customer's content as it is on the live servers (webhotel files,
    mailboxes, database dumps): a tar.zst built in the background, kept in the object store and
    downloadable for ``HAVN_EXPORT_LINK_DAYS`` days (docs/privacy.md)."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Being built")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="content_exports")
    requested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True
    )
    object_key = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    items = models.JSONField(default=list, blank=True)  # [{"kind", "name", "folder"}]
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(_("requested"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ready_at = models.DateTimeField(_("ready"), null=True, blank=True)
    expires_at = models.DateTimeField(_("link valid until"), null=True, blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("content export")
        verbose_name_plural = _("content exports")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"content export {self.uuid} ({self.status})"

    def downloadable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.READY and bool(self.expires_at and self.expires_at > now)
