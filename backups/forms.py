from django import forms
from django.utils.translation import gettext_lazy as _

from backups.models import Destination, ItemKind
from backups.services.restores import DESTINATIONS
from hosting.models import Server, Webhotel


class RunFilterForm(forms.Form):
    """Staff: one night's runs (tonight unless given), of one server or of all."""

    server = forms.ModelChoiceField(
        Server.objects.order_by("name"),
        label=_("Server"),
        required=False,
        empty_label=_("All servers"),
    )
    night = forms.DateField(
        label=_("Night"),
        required=False,
        help_text=_("The date the night began. Empty: tonight."),
        widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"),
    )


class RestoreForm(forms.Form):
    """What to restore from one snapshot, and where to."""

    destination = forms.ChoiceField(label=_("Restore to"), choices=Destination.choices)
    paths = forms.CharField(
        label=_("Other files and folders"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("One path per line, relative to the backup's root."),
    )
    target_webhotel = forms.ModelChoiceField(
        Webhotel.objects.none(), label=_("Other webhotel"), required=False
    )
    archive_format = forms.ChoiceField(
        label=_("Archive format"),
        choices=[("tar.zst", "tar.zst"), ("zip", "zip")],
        initial="tar.zst",
    )

    def __init__(self, *args, kind: str, webhotels, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = DESTINATIONS[kind]
        self.fields["destination"].choices = [c for c in Destination.choices if c[0] in allowed]
        self.fields["target_webhotel"].queryset = webhotels
        if kind == ItemKind.DATABASE:
            del self.fields["paths"]
        if Destination.OTHER_WEBHOTEL not in allowed:
            del self.fields["target_webhotel"]

    def cleaned_paths(self) -> list[str]:
        return [line for line in self.cleaned_data.get("paths", "").splitlines() if line.strip()]


class WaiveForm(forms.Form):
    reason = forms.CharField(
        label=_("Why is the fee waived?"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "For example: the data loss was within our control. Customers and auditors see this."
        ),
    )


class RecoveryForm(forms.Form):
    """Staff: recover a whole server as it was at a point in time."""

    server = forms.ModelChoiceField(Server.objects.order_by("name"), label=_("Crashed server"))
    at = forms.DateTimeField(
        label=_("As it was at"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text=_("Every item comes back from its last backup before this time."),
    )
    replacement = forms.ModelChoiceField(
        Server.objects.filter(status=Server.Status.ACTIVE).order_by("name"),
        label=_("Replacement server"),
        required=False,
        empty_label=_("None: restore onto the same server"),
    )
    parallel = forms.IntegerField(label=_("Items at a time"), min_value=1, max_value=32, initial=4)
    waive_reason = forms.CharField(
        label=_("Waive the fees because"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Empty: each affected customer is invoiced per the tariff."),
    )
