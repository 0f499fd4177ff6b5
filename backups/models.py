"""Backups: each customer's repository keys, policies, nightly runs and the snapshot catalogue.

The object store is the truth about snapshots; ``Snapshot`` rows are a catalogue for the panel and
can be rebuilt from the store (``manage.py backup rebuild-catalog``).
"""

from datetime import time

from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
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
