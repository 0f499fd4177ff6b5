"""Forms of the billing pages (staff actions on an invoice)."""

from django import forms
from django.utils.translation import gettext_lazy as _


class CreditForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Printed on the credit note."),
    )


class MarkPaidForm(forms.Form):
    provider_reference = forms.CharField(
        label=_("Payment reference"),
        max_length=200,
        required=False,
        help_text=_("For example the bank transfer's reference."),
    )
