"""What customers pay for: servers and plans (staff), and the customer-owned resources on them."""

from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer, User
from accounts.tenancy import CustomerOwnedManager


class Server(models.Model):
    """A hosting server Havn manages over SSH (or the local machine, for the zero-setup run)."""

    class Role(models.TextChoices):
        WEB = "web", _("Web")
        MAIL = "mail", _("Mail")
        DATABASE = "database", _("Database")
        COMBINED = "combined", _("Combined")

    class Status(models.TextChoices):
        ACTIVE = "active", _("Active")
        MAINTENANCE = "maintenance", _("Maintenance")
        RETIRED = "retired", _("Retired")

    class Transport(models.TextChoices):
        SSH = "ssh", _("SSH")
        LOCAL = "local", _("Local")

    class Profile(models.TextChoices):
        SANDBOX = "sandbox", _("Sandbox (everything under one folder)")
        DEBIAN = "debian", _("Debian (nginx, PHP-FPM, Postfix, Dovecot, MariaDB, PostgreSQL)")

    name = models.CharField(_("name"), max_length=63, unique=True)
    address = models.CharField(_("SSH address"), max_length=253)
    ssh_port = models.PositiveIntegerField(
        _("SSH port"), default=22, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    ssh_user = models.CharField(_("SSH user"), max_length=32, default="root")
    host_key = models.TextField(
        _("pinned host key"), blank=True, help_text=_("The server's public host key line.")
    )
    host_key_confirmed_at = models.DateTimeField(_("host key confirmed"), null=True, blank=True)
    role = models.CharField(_("role"), max_length=10, choices=Role.choices, default=Role.COMBINED)
    datacenter = models.CharField(_("data centre"), max_length=50, blank=True)
    capacity = models.PositiveIntegerField(
        _("capacity"), default=500, help_text=_("How many webhotels the server may hold.")
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.ACTIVE
    )
    transport = models.CharField(
        _("transport"), max_length=5, choices=Transport.choices, default=Transport.SSH
    )
    profile = models.CharField(
        _("server profile"), max_length=8, choices=Profile.choices, default=Profile.SANDBOX
    )
    root = models.CharField(
        _("root folder"),
        max_length=255,
        blank=True,
        help_text=_("Sandbox profile: the folder that holds every webhotel, maildir and config."),
    )

    class Meta:
        verbose_name = _("server")
        verbose_name_plural = _("servers")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Plan(models.Model):
    name = models.CharField(_("name"), max_length=50, unique=True)
    disk_quota_mb = models.PositiveIntegerField(_("disk quota (MB)"))
    max_databases = models.PositiveIntegerField(_("databases"))
    max_mailboxes = models.PositiveIntegerField(_("mailboxes"))
    price_dkk = models.DecimalField(
        _("price per month (DKK, excl. VAT)"), max_digits=10, decimal_places=2
    )
    active = models.BooleanField(_("on sale"), default=True)

    class Meta:
        verbose_name = _("plan")
        verbose_name_plural = _("plans")
        ordering = ["price_dkk", "name"]

    def __str__(self):
        return self.name


class ResourceStatus(models.TextChoices):
    PENDING = "pending", _("Being set up")
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    DELETING = "deleting", _("Being deleted")


local_part_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9._+-]{0,62}[a-z0-9])?$",
    _("Letters, digits, dots, hyphens, underscores and +, not at the start or end."),
)


class Provisioned(models.Model):
    """A resource that lives on a server: its status follows its operations."""

    status = models.CharField(
        _("status"), max_length=10, choices=ResourceStatus.choices, default=ResourceStatus.PENDING
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = CustomerOwnedManager()

    class Meta:
        abstract = True


class MailAddress(Provisioned):
    """A mailbox or an alias: a local part on one of the customer's mail domains."""

    local_part = models.CharField(_("name"), max_length=64, validators=[local_part_validator])

    customer_path = "mail_domain__webhotel__customer"

    class Meta:
        abstract = True
        ordering = ["local_part"]

    def __str__(self):
        return self.address

    @property
    def address(self) -> str:
        return f"{self.local_part}@{self.mail_domain.name}"


system_user_validator = RegexValidator(
    r"^[a-z][a-z0-9_-]{1,31}$", _("2–32 lowercase letters, digits, - or _, starting with a letter.")
)


class Webhotel(Provisioned):
    class PhpVersion(models.TextChoices):
        PHP82 = "8.2", "PHP 8.2"
        PHP83 = "8.3", "PHP 8.3"

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="webhotels")
    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="webhotels")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="webhotels")
    primary_domain = models.CharField(_("primary domain"), max_length=253, unique=True)
    extra_domains = models.JSONField(_("extra domains"), default=list, blank=True)
    system_user = models.CharField(
        _("system user"), max_length=32, unique=True, validators=[system_user_validator]
    )
    php_version = models.CharField(
        _("PHP version"), max_length=5, choices=PhpVersion.choices, default=PhpVersion.PHP83
    )
    suspended_by_staff = models.BooleanField(default=False, editable=False)
    disk_used_mb = models.PositiveIntegerField(_("disk used (MB)"), default=0)

    customer_path = "customer"

    class Meta:
        verbose_name = _("webhotel")
        verbose_name_plural = _("webhotels")
        ordering = ["primary_domain"]

    def __str__(self):
        return self.primary_domain

    @property
    def domains(self) -> list[str]:
        return [self.primary_domain, *self.extra_domains]

    @property
    def document_root(self) -> str:
        return f"/var/www/{self.system_user}/public_html"


class Database(Provisioned):
    class Engine(models.TextChoices):
        MARIADB = "mariadb", "MariaDB"
        POSTGRESQL = "postgresql", "PostgreSQL"

    webhotel = models.ForeignKey(Webhotel, on_delete=models.PROTECT, related_name="databases")
    engine = models.CharField(_("engine"), max_length=10, choices=Engine.choices)
    name = models.CharField(
        _("name"),
        max_length=63,
        validators=[
            RegexValidator(
                r"^[a-z][a-z0-9_]{0,62}$",
                _("Lowercase letters, digits and _, starting with a letter."),
            )
        ],
    )
    user = models.CharField(_("user"), max_length=32)
    # Only the server's verifier (mysql_native_password hash or SCRAM-SHA-256), never the password.
    password_verifier = models.CharField(max_length=300, editable=False)

    customer_path = "webhotel__customer"

    class Meta:
        verbose_name = _("database")
        verbose_name_plural = _("databases")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["engine", "name"], name="unique_database_name"),
        ]

    def __str__(self):
        return self.name


class MailDomain(Provisioned):
    webhotel = models.ForeignKey(Webhotel, on_delete=models.PROTECT, related_name="mail_domains")
    name = models.CharField(_("domain"), max_length=253, unique=True)

    customer_path = "webhotel__customer"

    class Meta:
        verbose_name = _("mail domain")
        verbose_name_plural = _("mail domains")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Mailbox(MailAddress):
    mail_domain = models.ForeignKey(MailDomain, on_delete=models.PROTECT, related_name="mailboxes")
    quota_mb = models.PositiveIntegerField(
        _("quota (MB)"), default=1024, validators=[MinValueValidator(10)]
    )
    # A Dovecot-compatible hash ({ARGON2ID}...), never the password.
    password_hash = models.CharField(max_length=300, editable=False)

    class Meta(MailAddress.Meta):
        verbose_name = _("mailbox")
        verbose_name_plural = _("mailboxes")
        constraints = [
            models.UniqueConstraint(fields=["mail_domain", "local_part"], name="unique_mailbox"),
        ]


class MailAlias(MailAddress):
    """An alias or forwarder: mail to the address goes to each destination."""

    mail_domain = models.ForeignKey(MailDomain, on_delete=models.PROTECT, related_name="aliases")
    destinations = models.JSONField(_("destinations"), default=list)

    class Meta(MailAddress.Meta):
        verbose_name = _("alias")
        verbose_name_plural = _("aliases")
        constraints = [
            models.UniqueConstraint(fields=["mail_domain", "local_part"], name="unique_alias"),
        ]


class Domain(models.Model):
    """A domain name the customer owns (the registrant) and registers through Havn."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Being registered")
        ACTIVE = "active", _("Active")
        EXPIRED = "expired", _("Expired")
        TRANSFER_IN = "transfer_in", _("Transfer in progress")
        TRANSFERRED_OUT = "transferred_out", _("Transferred away")
        RELEASED = "released", _("Released")

    # Statuses of a name that has left its holder; a name has at most one row not in them.
    GONE = ("transferred_out", "released")

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="domains")
    name = models.CharField(_("domain"), max_length=253)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)
    auto_renew = models.BooleanField(_("renew automatically"), default=True)
    name_servers = models.JSONField(_("name servers"), default=list, blank=True)
    whois_privacy = models.BooleanField(
        _("hide name and address in whois"),
        default=True,
        help_text=_("For private persons the registry shows the registrant as anonymous."),
    )
    created_at = models.DateTimeField(auto_now_add=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("domain")
        verbose_name_plural = _("domains")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"],
                condition=~models.Q(status__in=["transferred_out", "released"]),
                name="one_live_row_per_domain",
            )
        ]

    def __str__(self):
        return self.name


class DnsZone(models.Model):
    """DNS hosted by Havn for one of the customer's domains."""

    domain = models.OneToOneField(Domain, on_delete=models.PROTECT, related_name="zone")
    serial = models.PositiveBigIntegerField(default=1)
    dnssec = models.BooleanField(_("DNSSEC"), default=False)
    # The private signing key, sealed with infra.secretbox.
    signing_key_pem = models.TextField(blank=True, editable=False)
    ds_record = models.CharField(max_length=200, blank=True, editable=False)

    customer_path = "domain__customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("DNS zone")
        verbose_name_plural = _("DNS zones")

    def __str__(self):
        return self.domain.name


class DnsRecord(models.Model):
    class Type(models.TextChoices):
        A = "A", "A"
        AAAA = "AAAA", "AAAA"
        CNAME = "CNAME", "CNAME"
        MX = "MX", "MX"
        TXT = "TXT", "TXT"
        SRV = "SRV", "SRV"
        CAA = "CAA", "CAA"
        NS = "NS", "NS"

    zone = models.ForeignKey(DnsZone, on_delete=models.CASCADE, related_name="records")
    name = models.CharField(_("name"), max_length=253, help_text=_("@ for the domain itself."))
    type = models.CharField(_("type"), max_length=5, choices=Type.choices)
    value = models.CharField(_("value"), max_length=2000)
    ttl = models.PositiveIntegerField(_("TTL (seconds)"), default=3600)
    priority = models.PositiveIntegerField(_("priority"), null=True, blank=True)

    customer_path = "zone__domain__customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("DNS record")
        verbose_name_plural = _("DNS records")
        ordering = ["name", "type", "pk"]

    def __str__(self):
        return f"{self.name} {self.type} {self.value}"


class Certificate(models.Model):
    """The TLS certificate of one webhotel domain. The private key lives only on the server."""

    webhotel = models.ForeignKey(Webhotel, on_delete=models.CASCADE, related_name="certificates")
    domain = models.CharField(_("domain"), max_length=253)
    domains = models.JSONField(_("domains covered"), default=list)
    not_after = models.DateTimeField(_("expires"))
    fingerprint = models.CharField(max_length=64)
    issued_at = models.DateTimeField(auto_now=True)

    customer_path = "webhotel__customer"
    objects = CustomerOwnedManager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["webhotel", "domain"], name="one_certificate_per_domain"
            )
        ]

    def __str__(self):
        return f"{self.domain} → {self.not_after:%Y-%m-%d}"


class IdentityVerification(models.Model):
    """A registrant's identity check, as .dk requires: an electronic ID for Danish residents
    (the CPR number is used for the check only and never stored), a document for others."""

    class Method(models.TextChoices):
        EID = "eid", _("Electronic ID (MitID)")
        DOCUMENT = "document", _("ID document")

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for review")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="verifications")
    method = models.CharField(_("method"), max_length=8, choices=Method.choices)
    status = models.CharField(_("status"), max_length=8, choices=Status.choices)
    reference = models.CharField(_("reference"), max_length=100, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    # Kept only as long as the retention rules allow (1 day after approval, 5 weeks after a
    # rejection); the privacy issue's retention task deletes it.
    document = models.FileField(upload_to="identity/%Y/%m/", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("identity verification")
        verbose_name_plural = _("identity verifications")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.customer} {self.method} {self.status}"


class Operation(models.Model):
    """One piece of server-side work and its fate, shown in the panel and the API."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting")
        RUNNING = "running", _("Running")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="operations", null=True, blank=True
    )
    server = models.ForeignKey(Server, on_delete=models.PROTECT, related_name="operations")
    action = models.CharField(_("action"), max_length=40)
    target = models.CharField(_("target"), max_length=300)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True
    )
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_by = models.ForeignKey(
        User, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    customer_path = "customer"
    objects = CustomerOwnedManager()

    class Meta:
        verbose_name = _("operation")
        verbose_name_plural = _("operations")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"{self.action} {self.target} ({self.status})"


from hosting import registry_local  # noqa: E402,F401
