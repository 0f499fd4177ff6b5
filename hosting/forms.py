"""Panel forms for hosting. They check what a form can check; the services check the rest."""

import re
import secrets
from pathlib import PurePath

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import FileExtensionValidator, RegexValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hosting.dns import display_domain, normalize_domain
from hosting.models import Database, DnsRecord, Domain, Plan, Server, Webhotel
from hosting.services.servers import PLAN_FIELDS, SERVER_FIELDS

_SEPARATORS = re.compile(r"[\s,;]+")


def split_list(text: str) -> list[str]:
    """The entries of a text field that takes one per line (commas and spaces separate too)."""
    return [item for item in _SEPARATORS.split(text or "") if item]


def check_domain(name: str) -> str:
    """The name's stored form ("xn--blbr-roah.dk"); the DNS rules' ValidationError (translated,
    with the reason) for a bad name. The services normalise again: this only reports early."""
    return normalize_domain(name)


class DomainListField(forms.CharField):
    """A textarea of domain names, one per line or separated by commas; cleans to a list."""

    widget = forms.Textarea(attrs={"rows": 3})
    max_count = 50
    too_many = _("At most 50 extra domains.")

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 5000)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        if isinstance(value, list | tuple):
            return "\n".join(display_domain(name) for name in value)
        return value

    def clean(self, value):
        names, errors = [], []
        for name in split_list(super().clean(value)):
            try:
                names.append(check_domain(name))
            except ValidationError as exc:
                errors.extend(exc.messages)
        if errors:
            raise ValidationError(errors)
        names = list(dict.fromkeys(names))
        if len(names) > self.max_count:
            raise ValidationError(self.too_many)
        return names


class PlanChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, plan):
        return _(
            "%(name)s: %(disk)s MB disk, %(databases)s databases, %(mailboxes)s mailboxes, "
            "%(price)s kr. a month"
        ) % {
            "name": plan.name,
            "disk": plan.disk_quota_mb,
            "databases": plan.max_databases,
            "mailboxes": plan.max_mailboxes,
            "price": plan.price_dkk,
        }


# --- Webhotels ------------------------------------------------------------------------------------


class WebhotelCreateForm(forms.Form):
    primary_domain = forms.CharField(
        label=_("Primary domain"),
        max_length=253,
        help_text=_("For example example.dk. Names with æ, ø and å work too."),
    )
    extra_domains = DomainListField(
        label=_("Extra domains"),
        help_text=_("Optional. One per line or separated by commas, e.g. www.example.dk."),
    )
    plan = PlanChoiceField(
        label=_("Plan"), queryset=Plan.objects.filter(active=True), empty_label=None
    )
    php_version = forms.ChoiceField(
        label=_("PHP version"),
        choices=Webhotel.PhpVersion.choices,
        initial=Webhotel.PhpVersion.PHP83,
    )

    def clean_primary_domain(self):
        name = self.cleaned_data["primary_domain"].strip()
        check_domain(name)
        return name


class WebhotelSettingsForm(forms.Form):
    extra_domains = DomainListField(
        label=_("Extra domains"),
        help_text=_("One per line or separated by commas. The primary domain cannot change."),
    )
    php_version = forms.ChoiceField(label=_("PHP version"), choices=Webhotel.PhpVersion.choices)
    plan = PlanChoiceField(
        label=_("Plan"),
        queryset=Plan.objects.none(),
        required=False,
        empty_label=None,
        help_text=_("A smaller plan must still hold the webhotel's databases and mailboxes."),
    )

    def __init__(self, webhotel: Webhotel, *args, **kwargs):
        self.webhotel = webhotel
        kwargs.setdefault(
            "initial",
            {
                "extra_domains": webhotel.extra_domains,
                "php_version": webhotel.php_version,
                "plan": webhotel.plan_id,
            },
        )
        super().__init__(*args, **kwargs)
        # The plans on sale, and the webhotel's own plan even when it is no longer on sale.
        self.fields["plan"].queryset = Plan.objects.filter(Q(active=True) | Q(pk=webhotel.plan_id))

    def changes(self) -> dict:
        """Only what differs from the webhotel now, as the service's keyword arguments."""
        data, webhotel = self.cleaned_data, self.webhotel
        changes = {}
        if data["extra_domains"] != list(webhotel.extra_domains):
            changes["extra_domains"] = data["extra_domains"]
        if data["php_version"] != webhotel.php_version:
            changes["php_version"] = data["php_version"]
        if data.get("plan") is not None and data["plan"].pk != webhotel.plan_id:
            changes["plan"] = data["plan"]
        return changes


class DatabaseForm(forms.Form):
    engine = forms.ChoiceField(label=_("Engine"), choices=Database.Engine.choices)
    suffix = forms.CharField(
        label=_("Name"),
        max_length=30,
        validators=[
            RegexValidator(r"^[a-z0-9_]+\Z", _("Lowercase letters, digits and _ only.")),
        ],
    )

    def __init__(self, webhotel: Webhotel, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # The database user is the name cut to 32 characters: keep the whole name within that,
        # so that two databases never share a user.
        self.max_suffix = max(32 - len(webhotel.system_user) - 1, 1)
        field = self.fields["suffix"]
        field.widget.attrs["maxlength"] = self.max_suffix
        field.help_text = _(
            "The database and its user are called %(prefix)s_<name>; at most %(n)d characters."
        ) % {"prefix": webhotel.system_user, "n": self.max_suffix}

    def clean_suffix(self):
        suffix = self.cleaned_data["suffix"].strip().lower()
        if len(suffix) > self.max_suffix:
            raise ValidationError(
                _("Use at most %(n)d characters.") % {"n": self.max_suffix}, code="max_length"
            )
        return suffix


# --- Mail -----------------------------------------------------------------------------------------


class MailDomainForm(forms.Form):
    name = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_("The domain to receive mail for, usually one of the webhotel's domains."),
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        check_domain(name)
        return name


def _password_field(label, help_text):
    return forms.CharField(
        label=label,
        required=False,
        strip=False,
        max_length=1024,
        help_text=help_text,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


class MailboxCreateForm(forms.Form):
    local_part = forms.CharField(
        label=_("Name"), max_length=64, help_text=_("The part of the address before the @.")
    )
    quota_mb = forms.IntegerField(label=_("Quota (MB)"), min_value=10, initial=1024)
    password = _password_field(
        _("Password"),
        _("At least 10 characters. Leave it empty to get a generated one, shown only once."),
    )

    def clean_local_part(self):
        return self.cleaned_data["local_part"].strip().lower()


class MailboxUpdateForm(forms.Form):
    quota_mb = forms.IntegerField(label=_("Quota (MB)"), min_value=10)
    password = _password_field(
        _("New password"), _("At least 10 characters. Leave it empty to keep the password.")
    )
    suspended = forms.BooleanField(
        label=_("Suspended"),
        required=False,
        help_text=_("A suspended mailbox still receives mail, but nobody can log in to it."),
    )


class DestinationsField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3})

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", 5000)
        super().__init__(**kwargs)

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list | tuple) else value

    def clean(self, value):
        return split_list(super().clean(value))


class AliasCreateForm(forms.Form):
    local_part = forms.CharField(
        label=_("Name"),
        max_length=64,
        help_text=_("The part of the address before the @. An existing alias gets the new list."),
    )
    destinations = DestinationsField(
        label=_("Forward to"), help_text=_("One e-mail address per line.")
    )

    def clean_local_part(self):
        return self.cleaned_data["local_part"].strip().lower()


class AliasUpdateForm(forms.Form):
    destinations = DestinationsField(
        label=_("Forward to"), help_text=_("One e-mail address per line.")
    )


# --- Domains and DNS ------------------------------------------------------------------------------

MAX_YEARS = 10  # the registry's limit (infra.registry.MAX_YEARS)


def _years_field(label, help_text):
    return forms.IntegerField(
        label=label, min_value=1, max_value=MAX_YEARS, initial=1, help_text=help_text
    )


class NameServersField(DomainListField):
    max_count = 13  # the registry's limit
    too_many = _("At most 13 name servers.")


class DomainRegisterForm(forms.Form):
    name = forms.CharField(
        label=_("Domain"),
        max_length=253,
        help_text=_("For example example.dk. Names with æ, ø and å work too."),
    )
    years = _years_field(_("Years"), _("Paid in advance: 1 to 10 years."))
    whois_privacy = forms.BooleanField(
        label=_("Hide name and address in whois"),
        required=False,
        initial=True,
        help_text=Domain._meta.get_field("whois_privacy").help_text,
    )
    hosted_dns = forms.BooleanField(
        label=_("Host the DNS at Havn"),
        required=False,
        initial=True,
        help_text=_(
            "Havn's name servers answer for the domain, and you manage its DNS records here. "
            "Without it, enter the name servers on the domain's page."
        ),
    )

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        check_domain(name)
        return name


class DomainTransferForm(forms.Form):
    name = forms.CharField(label=_("Domain"), max_length=253)
    auth_code = forms.CharField(
        label=_("Authorisation code"),
        max_length=100,
        help_text=_("The transfer code you got from the domain's current registrar."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("auto_id", "id_transfer_%s")  # beside the register form on one page
        super().__init__(*args, **kwargs)

    def clean_name(self):
        name = self.cleaned_data["name"].strip()
        check_domain(name)
        return name


class DomainSettingsForm(forms.Form):
    auto_renew = forms.BooleanField(label=_("Renew automatically"), required=False)
    whois_privacy = forms.BooleanField(
        label=_("Hide name and address in whois"),
        required=False,
        help_text=Domain._meta.get_field("whois_privacy").help_text,
    )
    name_servers = NameServersField(
        label=_("Name servers"),
        help_text=_("One per line, e.g. ns1.example.dk. At most 13."),
    )

    def __init__(self, domain: Domain, *args, hosted_dns: bool, **kwargs):
        self.domain = domain
        kwargs.setdefault(
            "initial",
            {
                "auto_renew": domain.auto_renew,
                "whois_privacy": domain.whois_privacy,
                "name_servers": domain.name_servers,
            },
        )
        super().__init__(*args, **kwargs)
        if hosted_dns:  # Havn's own name servers serve the zone: they are not the customer's choice
            del self.fields["name_servers"]

    def changes(self) -> dict:
        """Only what differs from the domain now, as the service's keyword arguments."""
        data, domain = self.cleaned_data, self.domain
        changes = {}
        if data["auto_renew"] != domain.auto_renew:
            changes["auto_renew"] = data["auto_renew"]
        if data["whois_privacy"] != domain.whois_privacy:
            changes["whois_privacy"] = data["whois_privacy"]
        if "name_servers" in self.fields and data["name_servers"] != list(domain.name_servers):
            changes["name_servers"] = data["name_servers"]
        return changes


class RenewForm(forms.Form):
    years = _years_field(
        _("Years"), _("Added to the expiry date; at most 10 years ahead of today in all.")
    )


class DnsRecordForm(forms.Form):
    name = forms.CharField(
        label=_("Name"),
        max_length=253,
        initial="@",
        help_text=_("@ for the domain itself, or a subdomain such as www."),
    )
    type = forms.ChoiceField(label=_("Type"), choices=DnsRecord.Type.choices)
    value = forms.CharField(
        label=_("Value"),
        max_length=2000,
        help_text=_(
            "An IP address for A and AAAA, a host name for CNAME, MX and NS, the text for TXT."
        ),
        widget=forms.TextInput(attrs={"spellcheck": "false"}),
    )
    ttl = forms.IntegerField(label=_("TTL (seconds)"), initial=3600)
    priority = forms.IntegerField(
        label=_("Priority"),
        required=False,
        min_value=0,
        max_value=65535,
        help_text=_("MX and SRV records only; the lowest number is tried first."),
    )

    @staticmethod
    def initial_of(record: DnsRecord) -> dict:
        return {
            "name": record.name,
            "type": record.type,
            "value": record.value,
            "ttl": record.ttl,
            "priority": record.priority,
        }


# --- Registrant identity --------------------------------------------------------------------------

_CPR = re.compile(r"\d{6}-?\d{4}")


class EidForm(forms.Form):
    """The CPR number is never shown again: not as the field's value after a submit (the
    widget does not render it), nor in an error message."""

    cpr = forms.CharField(
        label=_("CPR number"),
        max_length=11,
        help_text=_("DDMMYY-XXXX. Used for this check only: Havn does not store it."),
        widget=forms.PasswordInput(
            render_value=False, attrs={"autocomplete": "off", "inputmode": "numeric"}
        ),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=200,
        help_text=_("Your full name, as in the customer details."),
    )

    def clean_cpr(self):
        cpr = self.cleaned_data["cpr"].strip()
        if not _CPR.fullmatch(cpr):
            raise ValidationError(
                _("Enter the CPR number as DDMMYY-XXXX (ten digits)."), code="invalid"
            )
        return cpr


DOCUMENT_TYPES = ("pdf", "jpg", "jpeg", "png")
MAX_DOCUMENT_BYTES = 10 * 1024 * 1024


class IdentityDocumentForm(forms.Form):
    document = forms.FileField(
        label=_("ID document"),
        help_text=_(
            "A scan or photo of your passport, driving licence or national ID card: "
            "PDF, JPEG or PNG, at most 10 MB."
        ),
        validators=[FileExtensionValidator(DOCUMENT_TYPES)],
        widget=forms.FileInput(attrs={"accept": ".pdf,.jpg,.jpeg,.png"}),
    )

    def clean_document(self):
        document = self.cleaned_data["document"]
        if document.size > MAX_DOCUMENT_BYTES:
            raise ValidationError(_("The file is larger than 10 MB."), code="too_large")
        # Stored under a random name: the uploaded file's own name often holds the person's.
        document.name = f"{secrets.token_hex(16)}{PurePath(document.name).suffix.lower()}"
        return document


class IdentityDecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("approve", _("Approve")), ("reject", _("Reject"))])
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


# --- Staff: servers and plans ---------------------------------------------------------------------


class ServerForm(forms.ModelForm):
    class Meta:
        model = Server
        fields = SERVER_FIELDS


class ServerAddForm(ServerForm):
    class Meta(ServerForm.Meta):
        fields = tuple(f for f in SERVER_FIELDS if f != "status")


class HostKeyForm(forms.Form):
    fingerprint = forms.CharField(
        label=_("Fingerprint you verified"),
        max_length=100,
        help_text=_(
            "Run the command above on the server's own console (not over this SSH connection) "
            "and paste the SHA256:… value it prints."
        ),
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )


class PlanForm(forms.ModelForm):
    class Meta:
        model = Plan
        fields = PLAN_FIELDS
