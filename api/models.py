"""The API's own records: idempotency keys and webhooks (endpoints, deliveries, attempts)."""

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer, User
from accounts.tenancy import CustomerOwnedManager


class IdempotencyRecord(models.Model):
    """The first answer to a write sent with an ``Idempotency-Key`` (api/idempotency.py).

    ``owner`` scopes the key to its caller ("key:<id>" for an API key, "user:<id>" for a
    session), so two callers may use the same key string. ``status`` is null while the first
    request is still running. Kept 24 hours (``purge_expired``).
    """

    owner = models.CharField(max_length=40)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=2000)
    fingerprint = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    headers = models.JSONField(default=dict)
    # The answer's body, encrypted with infra.secretbox: it may hold a secret shown once (a new
    # API key's token, a webhook's signing secret, a database password).
    body_sealed = models.TextField(default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["owner", "key"], name="one_idempotency_key_per_owner")
        ]

    def __str__(self):
        return f"{self.owner} {self.key} {self.method} {self.path}"


class WebhookEndpoint(models.Model):
    """A customer's URL that receives signed event deliveries (api/webhooks/, docs/api.md)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(_("URL"), max_length=500)
    # The signing secret, encrypted with infra.secretbox (it must be readable to sign).
    secret_sealed = models.TextField(editable=False)
    events = models.JSONField(_("events"), default=list)
    active = models.BooleanField(_("active"), default=True)
    description = models.CharField(_("description"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("webhook")
        verbose_name_plural = _("webhooks")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint, sent until it is accepted or the attempts run out."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(_("event"), max_length=40)
    body = models.TextField(_("request body"))
    test = models.BooleanField(_("test delivery"), default=False)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    customer_path = "endpoint__customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.event} → {self.endpoint_id} ({self.status})"


class WebhookAttempt(models.Model):
    """One HTTP request of a delivery: the delivery log."""

    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="log")
    number = models.PositiveSmallIntegerField(_("attempt"))
    sent_at = models.DateTimeField(_("sent"), default=timezone.now)
    response_status = models.PositiveSmallIntegerField(_("response status"), null=True)
    response_body = models.TextField(_("response"), blank=True)
    latency_ms = models.PositiveIntegerField(_("latency (ms)"), null=True)
    error = models.CharField(_("error"), max_length=500, blank=True)

    customer_path = "delivery__endpoint__customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("webhook attempt")
        verbose_name_plural = _("webhook attempts")
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="one_row_per_attempt")
        ]

    def __str__(self):
        return f"{self.delivery_id} #{self.number}: {self.response_status or self.error}"
