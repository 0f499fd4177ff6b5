"""Panel forms for hosting. They check what a form can check; the services check the rest."""

import re

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from hosting.dns import display_domain, normalize_domain
from hosting.models import Database, Plan, Server, Webhotel
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
        if len(names) > 50:
            raise ValidationError(_("At most 50 extra domains."))
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
