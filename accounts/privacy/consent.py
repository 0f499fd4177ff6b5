"""What the accounts app holds about a customer's say over their data: support-access grants,
consent records and the restriction of processing, DPA acceptances and data-subject requests
(the data inventory, docs/privacy.md). Registered on import (``AccountsConfig.ready``)."""

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    DpaAcceptance,
    SupportGrant,
)
from accounts.privacy.registry import Category, register

UNTIL_PURGE = _("While a subscription is active, then until the purge 8 weeks after closure.")
ACCOUNTABILITY = _("GDPR art. 6(1)(c) with art. 5(2) and 7(1): proof of consent")
ERASE_ORDER = 60  # rows that point at users: after the content, before the profile


def _email(user) -> str | None:
    return user.email if user else None


# --- support-access grants ------------------------------------------------------------------------


def export_grants(customer: Customer) -> list[dict]:
    grants = SupportGrant.objects.filter(customer=customer).select_related(
        "granted_by", "revoked_by"
    )
    return [
        {
            "scopes": grant.scopes,
            "note": grant.note,
            "granted_at": grant.created_at,
            "granted_by": _email(grant.granted_by),
            "expires_at": grant.expires_at,
            "revoked_at": grant.revoked_at,
            "revoked_by": _email(grant.revoked_by),
        }
        for grant in grants.order_by("pk")
    ]


def erase_grants(customer: Customer, purge) -> None:
    SupportGrant.objects.filter(customer=customer).delete()


# --- consent and restriction ----------------------------------------------------------------------


def export_consent(customer: Customer) -> dict:
    customer = Customer.objects.get(pk=customer.pk)
    records = ConsentRecord.objects.filter(customer=customer).select_related("recorded_by")
    return {
        "processing_restriction": {
            "restricted": customer.processing_restricted,
            "since": customer.processing_restricted_since,
            "reason": customer.processing_restriction_reason,
        },
        "consents": [
            {
                "purpose": record.purpose,
                "given": record.given,
                "text_version": record.text_version,
                "recorded_at": record.recorded_at,
                "recorded_by": _email(record.recorded_by),
            }
            for record in records.order_by("recorded_at", "pk")
        ],
    }


def erase_consent(customer: Customer, purge) -> None:
    with transaction.atomic():
        ConsentRecord.objects.filter(customer=customer).delete()
        Customer.objects.filter(pk=customer.pk).update(
            processing_restricted=False,
            processing_restricted_since=None,
            processing_restriction_reason="",
        )


# --- the data-processing agreement ----------------------------------------------------------------


def export_dpa(customer: Customer) -> list[dict]:
    acceptances = DpaAcceptance.objects.filter(customer=customer).select_related(
        "version", "accepted_by"
    )
    return [
        {
            "version": acceptance.version.version,
            "published_at": acceptance.version.published_at,
            "text": acceptance.version.text,
            "accepted_at": acceptance.accepted_at,
            "accepted_by": _email(acceptance.accepted_by),
        }
        for acceptance in acceptances.order_by("accepted_at", "pk")
    ]


def erase_dpa(customer: Customer, purge) -> None:
    DpaAcceptance.objects.filter(customer=customer).delete()


# --- data-subject requests ------------------------------------------------------------------------


def export_requests(customer: Customer) -> list[dict]:
    rows = DataSubjectRequest.objects.filter(customer=customer).select_related(
        "requester", "handled_by"
    )
    return [
        {
            "kind": row.kind,
            "message": row.message,
            "requester": _email(row.requester),
            "received_at": row.received_at,
            "due_at": row.due_at,
            "status": row.status,
            "handled_at": row.handled_at,
            "answer": row.note,
        }
        for row in rows.order_by("received_at", "pk")
    ]


def erase_requests(customer: Customer, purge) -> None:
    DataSubjectRequest.objects.filter(customer=customer).delete()


register(
    Category(
        key="accounts.support_grants",
        label=_("Support-access grants"),
        purpose=_("Record the customer's consent that support may read their content."),
        legal_basis=ACCOUNTABILITY,
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(SupportGrant,),
        export=export_grants,
        erase=erase_grants,
        erase_order=ERASE_ORDER,
    )
)
register(
    Category(
        key="accounts.consent",
        label=_("Consent records and restriction of processing"),
        purpose=_(
            "Know and prove which optional processing (marketing) the customer allowed or "
            "withdrew, and whether they restricted processing."
        ),
        legal_basis=ACCOUNTABILITY,
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(ConsentRecord,),
        export=export_consent,
        erase=erase_consent,
        erase_order=ERASE_ORDER,
    )
)
register(
    Category(
        key="accounts.dpa",
        label=_("Data-processing agreement acceptances"),
        purpose=_("Prove which version of the data-processing agreement the customer accepted."),
        legal_basis=_("GDPR art. 28(3) and 28(9): the processing agreement"),
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(DpaAcceptance,),
        export=export_dpa,
        erase=erase_dpa,
        erase_order=ERASE_ORDER,
    )
)
register(
    Category(
        key="accounts.data_requests",
        label=_("Data-subject requests"),
        purpose=_("Answer the customer's requests under their rights within 30 days."),
        legal_basis=_("GDPR art. 6(1)(c) with art. 12: a legal obligation"),
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(DataSubjectRequest,),
        export=export_requests,
        erase=erase_requests,
        erase_order=ERASE_ORDER,
    )
)
