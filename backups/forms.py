from django import forms
from django.utils.translation import gettext_lazy as _

from hosting.models import Server


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
