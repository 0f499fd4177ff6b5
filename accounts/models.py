"""Who: users, customers and their memberships, API keys, the audit log, and billing (tariffs,
invoices and credit notes)."""

import uuid
from datetime import date
from decimal import Decimal

from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.tenancy import CustomerOwnedManager, CustomerOwnedQuerySet


class Language(models.TextChoices):
    DANISH = "da", _("Danish")
    ENGLISH = "en", _("English")


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **extra):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **extra):
        extra.setdefault("staff_role", User.StaffRole.ADMIN)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)

    def get_by_natural_key(self, username):
        return self.get(email__iexact=username)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who logs in with an e-mail address. Staff have a staff role."""

    class StaffRole(models.TextChoices):
        NONE = "", _("Not staff")
        SUPPORT = "support", _("Support")
        ADMIN = "admin", _("Administrator")

    email = models.EmailField(_("e-mail"), unique=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    language = models.CharField(
        _("language"), max_length=2, choices=Language.choices, default=Language.DANISH
    )
    staff_role = models.CharField(
        _("staff role"), max_length=10, choices=StaffRole.choices, blank=True, default=""
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self):
        return self.email

    @property
    def is_staff(self) -> bool:
        """Staff are users with a staff role; the Django admin also reads this."""
        return bool(self.staff_role)

    @property
    def is_staff_admin(self) -> bool:
        return self.staff_role == self.StaffRole.ADMIN

    def clean(self):
        super().clean()
        self.email = self.email.strip().lower()


cvr_validator = RegexValidator(r"^\d{8}$", _("A CVR number has exactly 8 digits."))


def validate_cvr(value: str) -> None:
    """Check the eight digits and the modulus-11 control of a Danish CVR number."""
    cvr_validator(value)
    weights = (2, 7, 6, 5, 4, 3, 2, 1)
    if sum(int(d) * w for d, w in zip(value, weights, strict=True)) % 11:
        raise ValidationError(_("%(value)s is not a valid CVR number."), params={"value": value})


class Customer(models.Model):
    """A person or a company that buys hosting. The owner of its data."""

    class Kind(models.TextChoices):
        PERSON = "person", _("Person")
        COMPANY = "company", _("Company")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        SUSPENDED = "suspended", _("Suspended")
        CLOSING = "closing", _("Closing")
        CLOSED = "closed", _("Closed")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    name = models.CharField(_("name"), max_length=200)
    cvr = models.CharField(
        _("CVR number"),
        max_length=8,
        blank=True,
        validators=[validate_cvr],
        help_text=_("Eight digits, for companies."),
    )
    address = models.CharField(_("address"), max_length=200)
    postal_code = models.CharField(_("postal code"), max_length=10)
    city = models.CharField(_("city"), max_length=100)
    country = models.CharField(_("country"), max_length=2, default="DK")
    billing_address = models.TextField(
        _("billing address"), blank=True, help_text=_("Leave empty to bill the address above.")
    )
    phone = models.CharField(
        _("phone"),
        max_length=20,
        blank=True,
        validators=[
            RegexValidator(
                r"^\+?[0-9 ]{8,20}$",
                _("Enter a phone number: digits and spaces, optionally starting with +."),
            )
        ],
    )
    email = models.EmailField(_("e-mail"))
    language = models.CharField(
        _("preferred language"), max_length=2, choices=Language.choices, default=Language.DANISH
    )
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Restriction of processing (GDPR art. 18): only what delivers the contract goes on
    # (accounts.consent.may_process).
    processing_restricted = models.BooleanField(_("processing restricted"), default=False)
    processing_restricted_since = models.DateTimeField(
        _("processing restricted since"), null=True, blank=True
    )
    processing_restriction_reason = models.CharField(
        _("reason for the restriction"), max_length=500, blank=True
    )

    customer_path = ""
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["name", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(kind="company") | ~models.Q(cvr=""),
                name="company_has_cvr",
                violation_error_message=_("A company needs a CVR number."),
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        if self.kind == self.Kind.COMPANY and not self.cvr:
            raise ValidationError({"cvr": _("A company needs a CVR number.")})
        if self.kind == self.Kind.PERSON and self.cvr:
            raise ValidationError({"cvr": _("Only companies have a CVR number.")})


class Role(models.TextChoices):
    OWNER = "owner", _("Owner")
    ADMIN = "admin", _("Administrator")
    TECHNICAL = "technical", _("Technical")
    BILLING = "billing", _("Billing")


class Membership(models.Model):
    """Ties a user to a customer with a role. An agency user can belong to several customers."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=10, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")
        ordering = ["customer_id", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "customer"], name="one_membership_per_user")
        ]

    def __str__(self):
        return f"{self.user} @ {self.customer} ({self.role})"


class UserSession(models.Model):
    """The sessions a user holds, so that disabling the user can end every one of them."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"{self.user_id}:{self.session_key[:6]}…"


class LoginFailures(models.Model):
    """Failed logins in a row for one e-mail address (see accounts.lockout)."""

    email = models.CharField(max_length=254, unique=True)
    failures = models.PositiveIntegerField(default=0)
    last_failure_at = models.DateTimeField()
    locked_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "login failures"

    def __str__(self):
        return f"{self.email}: {self.failures}"


class ApiKey(models.Model):
    """An API key bound to one customer, or (``customer`` empty) a staff key that acts with its
    creator's staff role. The secret is shown once and stored only as a hash.

    The token is ``havn_<prefix>_<secret>``; the secret has 256 bits of entropy, so a single
    SHA-256 is the right hash (a slow password hash adds nothing to a random key).
    """

    class Access(models.TextChoices):
        READ = "read", _("Read only")
        READ_WRITE = "read_write", _("Read and write")

    class Scope(models.TextChoices):
        """Resource families; api/scopes.py maps each URL prefix of the API to one."""

        ACCOUNT = "account", _("Account (profile, customer, members, API keys)")
        HOSTING = "hosting", _("Hosting (webhotels, databases, mail, operations)")
        DOMAINS = "domains", _("Domains and DNS")
        BACKUPS = "backups", _("Backups")
        RESTORES = "restores", _("Restores")
        BILLING = "billing", _("Billing")
        PRIVACY = "privacy", _("Privacy (exports, closure, grants, consent)")
        WEBHOOKS = "webhooks", _("Webhooks")

    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, null=True, blank=True, related_name="api_keys"
    )
    created_by = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64, editable=False)
    access = models.CharField(
        _("access"), max_length=10, choices=Access.choices, default=Access.READ
    )
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True, editable=False)
    # Empty: every family. Otherwise only the listed ApiKey.Scope values.
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    # Empty: any address. Otherwise CIDRs the client's address (REMOTE_ADDR) must be in.
    allowed_ips = models.JSONField(_("allowed IP addresses"), default=list, blank=True)
    rotated_from = models.OneToOneField(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        editable=False,
        related_name="successor",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.name} ({self.prefix})"

    @property
    def is_staff_key(self) -> bool:
        return self.customer_id is None

    def is_usable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


class AuditQuerySet(CustomerOwnedQuerySet):
    """Audit rows are append-only: bulk updates and deletes are refused."""

    def update(self, **kwargs):
        raise PermissionError("Audit events cannot be changed.")

    def delete(self):
        raise PermissionError("Audit events cannot be deleted.")


class AuditEvent(models.Model):
    """One thing that happened: who, to which customer, what, from where, when."""

    actor = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    actor_label = models.CharField(max_length=254, blank=True)
    customer = models.ForeignKey(
        Customer, on_delete=models.SET_NULL, null=True, blank=True, related_name="audit_events"
    )
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target = models.CharField(_("target"), max_length=200, blank=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    details = models.JSONField(_("details"), default=dict, blank=True)

    customer_path = "customer"
    objects = models.Manager.from_queryset(AuditQuerySet)()

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["customer", "-created_at"])]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_label} {self.action}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Audit events cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events cannot be deleted.")


# --- Billing: tariffs, invoices and credit notes (accounts/billing.py, docs/billing.md) -----------
#
# Money is integer øre (1 kr. = 100 øre) everywhere; VAT rates are percentages (Decimal).


class RestoreScope(models.TextChoices):
    """What a restore covers; each scope has its own fee in the tariff."""

    FILE = "file", _("File or folder")
    WEBHOTEL = "webhotel", _("Webhotel")
    DATABASE = "database", _("Database")
    MAILBOX = "mailbox", _("Mailbox")
    SERVER = "server", _("Whole server")


class TariffQuerySet(models.QuerySet):
    """Tariff versions are never changed in bulk: a new version supersedes an old one."""

    def update(self, **kwargs):
        raise PermissionError("Tariff versions cannot be changed; create a new version.")

    def delete(self):
        raise PermissionError("Tariff versions cannot be deleted; create a new version.")


class TariffVersion(models.Model):
    """The restore prices from ``valid_from`` until the next version. Ex. VAT, in øre.

    A version that has come into force may have priced a quote, so it is never edited or deleted;
    a price change is a new version (``billing.create_tariff_version``).
    """

    valid_from = models.DateTimeField(_("valid from"), unique=True)
    currency = models.CharField(_("currency"), max_length=3, default="DKK")
    vat_rate = models.DecimalField(
        _("VAT rate (%)"), max_digits=5, decimal_places=2, default=Decimal("25.00")
    )
    fee_file = models.PositiveBigIntegerField(_("fee for files or folders"))
    fee_webhotel = models.PositiveBigIntegerField(_("fee for a webhotel"))
    fee_database = models.PositiveBigIntegerField(_("fee for a database"))
    fee_mailbox = models.PositiveBigIntegerField(_("fee for a mailbox"))
    fee_server = models.PositiveBigIntegerField(_("fee for a whole server"))
    price_per_gb = models.PositiveBigIntegerField(_("price per started GB"))
    created_at = models.DateTimeField(auto_now_add=True)

    objects = models.Manager.from_queryset(TariffQuerySet)()

    class Meta:
        verbose_name = _("tariff version")
        verbose_name_plural = _("tariff versions")
        ordering = ["-valid_from"]

    def __str__(self):
        return f"tariff from {self.valid_from:%Y-%m-%d %H:%M}"

    def save(self, *args, **kwargs):
        if self.pk is not None and self._in_force():
            raise PermissionError("A tariff version in force cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if self._in_force():
            raise PermissionError("A tariff version in force cannot be deleted.")
        return super().delete(*args, **kwargs)

    def fee_for(self, scope: str) -> int:
        if scope not in RestoreScope.values:
            raise ValueError(f"Unknown restore scope {scope!r}.")
        return getattr(self, f"fee_{scope}")

    def _in_force(self) -> bool:
        return TariffVersion.objects.filter(pk=self.pk, valid_from__lte=timezone.now()).exists()


class InvoiceCounter(models.Model):
    """The last number used in one year's series; locked while a number is taken."""

    year = models.PositiveSmallIntegerField(unique=True)
    last = models.PositiveIntegerField(default=0)

    def __str__(self):
        return f"{self.year}: {self.last}"


class ImmutableQuerySet(CustomerOwnedQuerySet):
    """Issued invoices and their lines are bookkeeping records: no bulk update, no delete."""

    def update(self, **kwargs):
        raise PermissionError("Issued invoices cannot be changed.")

    def delete(self):
        raise PermissionError("Issued invoices cannot be deleted.")


class InvoiceQuerySet(ImmutableQuerySet):
    PAYMENT_FIELDS = frozenset({"status", "paid_at", "payment_reference"})

    def set_payment_status(self, **fields) -> int:
        """The one change an issued invoice allows: its payment status, as one conditional UPDATE
        (the caller filters on the current status). Only ``accounts.billing`` calls this."""
        if not fields or set(fields) - self.PAYMENT_FIELDS:
            raise PermissionError("Only the payment status of an invoice can change.")
        return super(ImmutableQuerySet, self).update(**fields)


class Invoice(models.Model):
    """An invoice or a credit note, numbered gap-free in one series per calendar year.

    Amounts are øre; a credit note's amounts are negative. The buyer and seller are snapshots
    taken at issue, so a later change of address does not change an issued document.
    """

    class Kind(models.TextChoices):
        INVOICE = "invoice", _("Invoice")
        CREDIT_NOTE = "credit_note", _("Credit note")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        PAID = "paid", _("Paid")
        CREDITED = "credited", _("Credited")

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="invoices")
    kind = models.CharField(_("kind"), max_length=11, choices=Kind.choices, default=Kind.INVOICE)
    number = models.CharField(_("number"), max_length=20, unique=True)
    year = models.PositiveSmallIntegerField()
    sequence = models.PositiveIntegerField()
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    issued_at = models.DateTimeField(_("issued"))
    due_at = models.DateTimeField(_("due"))
    language = models.CharField(max_length=2, choices=Language.choices, default=Language.DANISH)
    buyer_name = models.CharField(_("buyer"), max_length=200)
    buyer_address = models.TextField(_("buyer's address"))
    buyer_cvr = models.CharField(_("buyer's CVR number"), max_length=8, blank=True)
    seller = models.JSONField(_("seller"), default=dict)
    currency = models.CharField(_("currency"), max_length=3, default="DKK")
    vat_rate = models.DecimalField(_("VAT rate (%)"), max_digits=5, decimal_places=2)
    net = models.BigIntegerField(_("net"))
    vat = models.BigIntegerField(_("VAT"))
    gross = models.BigIntegerField(_("total"))
    reference = models.CharField(_("reference"), max_length=200)
    reason = models.TextField(_("reason"), blank=True)
    credits = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="credit_notes",
        verbose_name=_("credits"),
    )
    tariff = models.ForeignKey(
        TariffVersion, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    paid_at = models.DateTimeField(_("paid"), null=True, blank=True)
    payment_reference = models.CharField(_("payment reference"), max_length=200, blank=True)

    customer_path = "customer"
    objects = models.Manager.from_queryset(InvoiceQuerySet)()

    class Meta:
        verbose_name = _("invoice")
        verbose_name_plural = _("invoices")
        ordering = ["-issued_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["year", "sequence"], name="invoice_number_once"),
            models.UniqueConstraint(fields=["credits"], name="one_credit_note_per_invoice"),
            models.CheckConstraint(
                condition=models.Q(kind="invoice", credits__isnull=True)
                | models.Q(kind="credit_note", credits__isnull=False),
                name="credit_note_credits_an_invoice",
            ),
            models.CheckConstraint(
                condition=models.Q(gross=models.F("net") + models.F("vat")),
                name="invoice_gross_is_net_plus_vat",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Issued invoices cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Issued invoices cannot be deleted.")

    @property
    def is_credit_note(self) -> bool:
        return self.kind == self.Kind.CREDIT_NOTE

    @property
    def is_overdue(self) -> bool:
        return (
            self.kind == self.Kind.INVOICE
            and self.status == self.Status.OPEN
            and self.due_at < timezone.now()
        )

    @property
    def retain_until(self):
        """The last day the bookkeeping law requires the invoice kept: five years after the end
        of the financial year (the calendar year) it was issued in (bogføringsloven § 12)."""
        return date(self.year + 5, 12, 31)


class InvoiceLine(models.Model):
    """One line of an invoice: ``quantity`` × ``unit_price`` = ``net`` (øre, ex. VAT)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()
    description = models.CharField(_("description"), max_length=300)
    quantity = models.IntegerField(_("quantity"))
    unit_price = models.BigIntegerField(_("unit price"))
    net = models.BigIntegerField(_("net"))

    customer_path = "invoice__customer"
    objects = models.Manager.from_queryset(ImmutableQuerySet)()

    class Meta:
        verbose_name = _("invoice line")
        verbose_name_plural = _("invoice lines")
        ordering = ["invoice_id", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoice_line_position"),
            models.CheckConstraint(
                condition=models.Q(net=models.F("quantity") * models.F("unit_price")),
                name="invoice_line_net",
            ),
        ]

    def __str__(self):
        return self.description

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Issued invoices cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Issued invoices cannot be deleted.")


# --- Privacy: exports, closure, purge and retention (accounts/privacy/, docs/privacy.md) ----------


class DataExport(models.Model):
    """One machine-readable archive of everything Havn holds about a customer (GDPR art. 15 and
    20), built in the background and downloadable for ``HAVN_EXPORT_LINK_DAYS`` days."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        READY = "ready", _("Ready")
        FAILED = "failed", _("Failed")
        EXPIRED = "expired", _("Expired")

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.QUEUED
    )
    object_key = models.CharField(max_length=200, blank=True)
    size = models.PositiveBigIntegerField(_("size"), default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    requested_at = models.DateTimeField(_("requested"), default=timezone.now)
    ready_at = models.DateTimeField(_("ready"), null=True, blank=True)
    expires_at = models.DateTimeField(_("link valid until"), null=True, blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")
        ordering = ["-requested_at", "-pk"]

    def __str__(self):
        return f"export {self.uuid} ({self.status})"

    def downloadable(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.READY and self.expires_at and self.expires_at > now


class AccountClosure(models.Model):
    """A closure of a customer account: the grace period, a possible reopening, and the purge
    that follows. A customer may close, reopen and close again: one row each time."""

    class Status(models.TextChoices):
        GRACE = "grace", _("In the grace period")
        REOPENED = "reopened", _("Reopened")
        PURGING = "purging", _("Being erased")
        PURGED = "purged", _("Erased")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="closures")
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.GRACE
    )
    closed_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    closed_by_staff = models.BooleanField(default=False)
    closed_at = models.DateTimeField(_("closed"), default=timezone.now)
    purge_after = models.DateTimeField(_("erased after"))
    reopened_at = models.DateTimeField(_("reopened"), null=True, blank=True)
    # What the closure suspended, per app ({"hosting": {...}}), so a reopening resumes exactly it.
    suspended = models.JSONField(default=dict, blank=True)
    # Progress of the purge: {category key: ISO time its eraser finished}, and the last failure.
    steps_done = models.JSONField(default=dict, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    # Steps that ran but must finish later (objects under object lock): {key: ISO time it may}.
    deferred = models.JSONField(default=dict, blank=True)
    # The addresses the receipt goes to, held only while the purge runs (taken before the
    # profile is anonymised, wiped once the receipt is sent).
    notify = models.JSONField(default=list, blank=True)
    purge_started_at = models.DateTimeField(null=True, blank=True)
    purged_at = models.DateTimeField(_("erased"), null=True, blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("account closure")
        verbose_name_plural = _("account closures")
        ordering = ["-closed_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(status__in=["grace", "purging", "purged"]),
                name="one_live_closure_per_customer",
            )
        ]

    def __str__(self):
        return f"closure of customer {self.customer_id} ({self.status})"


class ErasureReceipt(models.Model):
    """What the purge erased and when, and what is kept, why and until when. Holds no personal
    data: the customer reads it through the link in the receipt e-mail (or the panel)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="receipts")
    closure = models.OneToOneField(AccountClosure, on_delete=models.CASCADE, related_name="receipt")
    issued_at = models.DateTimeField(_("issued"), default=timezone.now)
    # [{"key", "label", "erased_at", "summary"}]
    erased = models.JSONField(default=list)
    # [{"key", "label", "why", "until"}]
    kept = models.JSONField(default=list)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("erasure receipt")
        verbose_name_plural = _("erasure receipts")
        ordering = ["-issued_at", "-pk"]

    def __str__(self):
        return f"erasure receipt {self.uuid}"


class RetentionAction(models.Model):
    """One application of a retention rule that deleted something: the staff report's history.
    Counts only, never what was deleted."""

    rule = models.CharField(_("rule"), max_length=64, db_index=True)
    ran_at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    deleted = models.PositiveIntegerField(_("deleted"), default=0)
    note = models.CharField(_("note"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("retention action")
        verbose_name_plural = _("retention actions")
        ordering = ["-ran_at", "-pk"]

    def __str__(self):
        return f"{self.ran_at:%Y-%m-%d} {self.rule}: {self.deleted}"


# --- Consent, grants, DPA, requests (accounts/consent.py, docs/privacy.md) -----------------------


class SupportScope(models.TextChoices):
    """What support may read of a customer's content under a grant."""

    FILES = "files", _("Files on the webhotels")
    MAIL = "mail", _("Mail")
    DATABASES = "databases", _("Databases")
    BACKUPS = "backups", _("Backups and restore archives")


class SupportGrant(models.Model):
    """A customer's consent that support staff may read its content in ``scopes`` until
    ``expires_at`` or until revoked. The grant is to the support team; each read is audited with
    the name of the staff member who read (``accounts.consent.require_content_access``)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="support_grants")
    scopes = models.JSONField(_("scopes"), default=list)
    note = models.CharField(_("note"), max_length=500, blank=True)
    expires_at = models.DateTimeField(_("expires"))
    granted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("granted"), default=timezone.now)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    revoked_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("support-access grant")
        verbose_name_plural = _("support-access grants")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"grant {self.pk} of customer {self.customer_id}: {', '.join(self.scopes)}"

    def is_live(self, now=None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())

    def covers(self, scope: str, now=None) -> bool:
        return self.is_live(now) and scope in self.scopes

    def scope_labels(self) -> list[str]:
        return [str(SupportScope(scope).label) for scope in self.scopes]


class ConsentPurpose(models.TextChoices):
    """Processing that needs the customer's opt-in (non-essential; see accounts.consent)."""

    MARKETING = "marketing", _("News and offers by e-mail")


class ConsentQuerySet(CustomerOwnedQuerySet):
    """Consent records are a history: never changed in bulk (the purge may delete them)."""

    def update(self, **kwargs):
        raise PermissionError("Consent records cannot be changed; record a new one.")


class ConsentRecord(models.Model):
    """One giving or withdrawal of consent for a purpose, with the version of the wording shown.
    Append-only: the customer's current choice is the latest record for the purpose."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    purpose = models.CharField(_("purpose"), max_length=32, choices=ConsentPurpose.choices)
    given = models.BooleanField(_("given"))
    text_version = models.CharField(_("wording version"), max_length=20)
    recorded_at = models.DateTimeField(_("time"), default=timezone.now)
    recorded_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    customer_path = "customer"
    objects = models.Manager.from_queryset(ConsentQuerySet)()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-recorded_at", "-pk"]
        indexes = [models.Index(fields=["customer", "purpose", "-recorded_at"])]

    def __str__(self):
        state = "given" if self.given else "withdrawn"
        return f"{self.purpose} {state} by customer {self.customer_id}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("Consent records cannot be changed; record a new one.")
        super().save(*args, **kwargs)


class DataSubjectRequest(models.Model):
    """A request under the GDPR's rights, answered within 30 days (``due_at``)."""

    class Kind(models.TextChoices):
        ACCESS = "access", _("Access to my data")
        RECTIFICATION = "rectification", _("Rectification")
        ERASURE = "erasure", _("Erasure")
        RESTRICTION = "restriction", _("Restriction of processing")
        OBJECTION = "objection", _("Objection to processing")
        PORTABILITY = "portability", _("Data portability")
        COMPLAINT = "complaint", _("Complaint")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        DONE = "done", _("Done")
        REJECTED = "rejected", _("Rejected")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="data_requests")
    requester = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    message = models.TextField(_("message"), blank=True)
    received_at = models.DateTimeField(_("received"), default=timezone.now)
    due_at = models.DateTimeField(_("answer due"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN, db_index=True
    )
    handled_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    handled_at = models.DateTimeField(_("handled"), null=True, blank=True)
    note = models.TextField(_("answer"), blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("data-subject request")
        verbose_name_plural = _("data-subject requests")
        ordering = ["due_at", "pk"]

    def __str__(self):
        return f"{self.kind} request {self.pk} of customer {self.customer_id}"

    @property
    def is_overdue(self) -> bool:
        return self.status == self.Status.OPEN and self.due_at < timezone.now()


class DpaQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("A published DPA version cannot be changed; publish a new one.")


class DpaVersion(models.Model):
    """One published version of the data-processing agreement (Havn as processor of the personal
    data of the customer's own users). Never changed: a change is a new version."""

    version = models.CharField(_("version"), max_length=20, unique=True)
    text = models.TextField(_("text"))
    published_at = models.DateTimeField(_("published"), default=timezone.now)

    objects = models.Manager.from_queryset(DpaQuerySet)()

    class Meta:
        verbose_name = _("data-processing agreement version")
        verbose_name_plural = _("data-processing agreement versions")
        ordering = ["-published_at", "-pk"]

    def __str__(self):
        return f"DPA {self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise PermissionError("A published DPA version cannot be changed; publish a new one.")
        super().save(*args, **kwargs)


class DpaAcceptance(models.Model):
    """A customer's acceptance of one DPA version: who accepted, and when."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="dpa_acceptances")
    version = models.ForeignKey(DpaVersion, on_delete=models.PROTECT, related_name="acceptances")
    accepted_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    accepted_at = models.DateTimeField(_("accepted"), default=timezone.now)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("DPA acceptance")
        verbose_name_plural = _("DPA acceptances")
        ordering = ["-accepted_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "version"], name="dpa_accepted_once")
        ]

    def __str__(self):
        return f"{self.version} accepted by customer {self.customer_id}"
