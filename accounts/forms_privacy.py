"""Forms of the privacy pages: closing an account."""

from django import forms
from django.utils.translation import gettext_lazy as _


class CloseAccountForm(forms.Form):
    password = forms.CharField(
        label=_("Your password"),
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
        required=False,
        help_text=_("Closing the account needs the owner's password."),
    )
    confirm = forms.BooleanField(
        label=_(
            "I understand that all services stop now and that all data is erased when the grace "
            "period ends."
        ),
    )
