"""Forms for support-access grants, consent, restriction, the DPA and data-subject requests."""

from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.consent import MAX_GRANT_DAYS
from accounts.models import DataSubjectRequest, SupportScope


class SupportGrantForm(forms.Form):
    scopes = forms.MultipleChoiceField(
        label=_("Support may read"),
        choices=SupportScope.choices,
        widget=forms.CheckboxSelectMultiple,
    )
    expires_at = forms.DateTimeField(
        label=_("Until"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"})
    )
    note = forms.CharField(
        label=_("Note for support"),
        required=False,
        max_length=500,
        help_text=_("For example the case you want help with."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["expires_at"].help_text = _("At most %(days)d days ahead.") % {
            "days": MAX_GRANT_DAYS
        }


class RestrictionForm(forms.Form):
    """The reason for a restriction; the button pressed says whether to restrict or lift."""

    reason = forms.CharField(label=_("Reason (optional)"), required=False, max_length=500)


class DataRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("I ask for"), choices=DataSubjectRequest.Kind.choices)
    message = forms.CharField(
        label=_("Details"),
        required=False,
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class CloseRequestForm(forms.Form):
    status = forms.ChoiceField(
        label=_("Outcome"),
        choices=[
            (DataSubjectRequest.Status.DONE, _("Done")),
            (DataSubjectRequest.Status.REJECTED, _("Rejected")),
        ],
    )
    note = forms.CharField(
        label=_("Answer given to the customer"),
        max_length=5000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class DpaPublishForm(forms.Form):
    version = forms.CharField(
        label=_("Version"), max_length=20, help_text=_("For example 2.0. Each label once.")
    )
    text = forms.CharField(
        label=_("Text of the agreement"), widget=forms.Textarea(attrs={"rows": 20})
    )
