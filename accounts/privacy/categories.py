"""What the accounts app holds about a customer (the data inventory, docs/privacy.md)."""

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    AccountClosure,
    ApiKey,
    AuditEvent,
    Customer,
    DataExport,
    ErasureReceipt,
    Invoice,
    InvoiceLine,
    LoginFailures,
    Membership,
    UserSession,
)
from accounts.privacy import auditlog
from accounts.privacy.registry import Category, register
from infra import objectstore

CONTRACT = _("GDPR art. 6(1)(b): the contract")
LEGAL_DUTY = _("GDPR art. 6(1)(c): a legal obligation")
INTEREST = _("GDPR art. 6(1)(f): legitimate interest (security)")
UNTIL_PURGE = _("While a subscription is active, then until the purge 8 weeks after closure.")
ERASED_DOMAIN = "erased.invalid"


# --- profile --------------------------------------------------------------------------------------

PROFILE_FIELDS = (
    "uuid",
    "kind",
    "name",
    "cvr",
    "address",
    "postal_code",
    "city",
    "country",
    "billing_address",
    "phone",
    "email",
    "language",
    "status",
    "created_at",
)


def export_profile(customer: Customer) -> dict:
    return {field: getattr(customer, field) for field in PROFILE_FIELDS}


def erase_profile(customer: Customer, purge) -> None:
    """Anonymise the customer row; it stays as a tombstone the kept invoices point to."""
    Customer.objects.filter(pk=customer.pk).update(
        kind=Customer.Kind.PERSON,
        name=f"erased-{str(customer.uuid)[:8]}",
        cvr="",
        address="",
        postal_code="",
        city="",
        billing_address="",
        phone="",
        email=f"erased-{customer.pk}@{ERASED_DOMAIN}",
        status=Customer.Status.CLOSED,
    )


# --- users and memberships ------------------------------------------------------------------------


def sole_users(customer: Customer):
    """The customer's users who belong to no other customer and are not staff: the purge erases
    them; the others only lose their membership."""
    User = get_user_model()
    return (
        User.objects.filter(memberships__customer=customer, staff_role="")
        .exclude(memberships__customer__in=Customer.objects.exclude(pk=customer.pk))
        .distinct()
    )


def export_users(customer: Customer) -> list[dict]:
    from accounts.services import has_second_factor

    return [
        {
            "email": m.user.email,
            "full_name": m.user.full_name,
            "role": m.role,
            "language": m.user.language,
            "member_since": m.created_at,
            "two_factor": has_second_factor(m.user),
        }
        for m in Membership.objects.filter(customer=customer).select_related("user")
    ]


def erase_users(customer: Customer, purge) -> None:
    """End the members' sessions, anonymise the users no other customer has (with their audit
    trail and login records), and drop every membership. One transaction, so a crash cannot lose
    track of who was a member."""
    from django_otp import devices_for_user

    from accounts.services import end_sessions

    with transaction.atomic():
        members = list(get_user_model().objects.filter(memberships__customer=customer).distinct())
        sole = {user.pk for user in sole_users(customer)}
        for user in members:
            end_sessions(user)
            if user.pk not in sole:
                continue
            auditlog.anonymise(Q(actor=user) | Q(target__iexact=user.email))
            LoginFailures.objects.filter(email__iexact=user.email).delete()
            for device in devices_for_user(user, confirmed=None):
                device.delete()
            user.email = f"erased-user-{user.pk}@{ERASED_DOMAIN}"
            user.full_name = ""
            user.is_active = False
            user.set_unusable_password()
            user.save(update_fields=["email", "full_name", "is_active", "password"])
        Membership.objects.filter(customer=customer).delete()


# --- API keys -------------------------------------------------------------------------------------


def export_api_keys(customer: Customer) -> list[dict]:
    return list(
        ApiKey.objects.filter(customer=customer).values(
            "name", "prefix", "access", "created_at", "expires_at", "last_used_at", "revoked_at"
        )
    )


def erase_api_keys(customer: Customer, purge) -> None:
    """Deleting a key revokes it (the API finds no key) and erases its label."""
    ApiKey.objects.filter(customer=customer).delete()


# --- data exports ---------------------------------------------------------------------------------


def export_exports(customer: Customer) -> list[dict]:
    return list(
        DataExport.objects.filter(customer=customer).values(
            "uuid", "status", "requested_at", "ready_at", "expires_at", "size"
        )
    )


def erase_exports(customer: Customer, purge) -> None:
    store = objectstore.default_store()
    for info in list(store.list(f"exports/{customer.uuid}/")):
        store.delete(info.key)
    DataExport.objects.filter(customer=customer).delete()


# --- audit log ------------------------------------------------------------------------------------


def export_audit(customer: Customer) -> list[dict]:
    return list(
        AuditEvent.objects.filter(customer=customer)
        .order_by("created_at", "pk")
        .values("created_at", "actor_label", "action", "target", "ip", "details")
    )


def erase_audit(customer: Customer, purge) -> None:
    """Anonymise the customer's audit events (through the documented bypass, auditlog.py).
    Runs last, so it also covers the events the purge's own steps wrote."""
    auditlog.anonymise(Q(customer=customer))


# --- invoices (kept) ------------------------------------------------------------------------------


def export_invoices(customer: Customer) -> list[dict]:
    invoices = Invoice.objects.filter(customer=customer).prefetch_related("lines")
    return [
        {
            "number": invoice.number,
            "kind": invoice.kind,
            "status": invoice.status,
            "issued_at": invoice.issued_at,
            "due_at": invoice.due_at,
            "paid_at": invoice.paid_at,
            "currency": invoice.currency,
            "net": invoice.net,
            "vat": invoice.vat,
            "gross": invoice.gross,
            "reference": invoice.reference,
            "buyer_name": invoice.buyer_name,
            "buyer_address": invoice.buyer_address,
            "lines": [
                {
                    "description": line.description,
                    "quantity": line.quantity,
                    "unit_price": line.unit_price,
                    "net": line.net,
                }
                for line in invoice.lines.all()
            ],
            "retain_until": invoice.retain_until,
            "pdf": f"invoices/{invoice.number}.pdf",
        }
        for invoice in invoices
    ]


# --- privacy records (kept) -----------------------------------------------------------------------


def export_privacy_records(customer: Customer) -> dict:
    return {
        "closures": list(
            AccountClosure.objects.filter(customer=customer).values(
                "status", "closed_at", "purge_after", "reopened_at", "purged_at"
            )
        ),
        "receipts": list(
            ErasureReceipt.objects.filter(customer=customer).values(
                "uuid", "issued_at", "erased", "kept"
            )
        ),
    }


register(
    Category(
        key="accounts.profile",
        label=_("Customer profile"),
        purpose=_("Identify the customer, send invoices and messages about the service."),
        legal_basis=CONTRACT,
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(Customer,),
        export=export_profile,
        erase=erase_profile,
        erase_order=90,
    )
)
register(
    Category(
        key="accounts.users",
        label=_("Users, memberships, sessions and two-factor devices"),
        purpose=_("Let the customer's people log in securely with their roles."),
        legal_basis=CONTRACT,
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(get_user_model(), Membership, UserSession, LoginFailures),
        export=export_users,
        erase=erase_users,
        erase_order=50,
    )
)
register(
    Category(
        key="accounts.api_keys",
        label=_("API keys"),
        purpose=_("Let the customer's programs use the API."),
        legal_basis=CONTRACT,
        retention=_("Until revoked or the purge."),
        models=(ApiKey,),
        export=export_api_keys,
        erase=erase_api_keys,
        erase_order=40,
    )
)
register(
    Category(
        key="accounts.exports",
        label=_("Data exports"),
        purpose=_("Give the customer a copy of their data (GDPR art. 15 and 20)."),
        legal_basis=LEGAL_DUTY,
        retention=_("The archive for 7 days; the record until the purge."),
        models=(DataExport,),
        stores=("object-store",),
        export=export_exports,
        erase=erase_exports,
        erase_order=45,
    )
)
register(
    Category(
        key="accounts.audit",
        label=_("Audit log"),
        purpose=_("Show the customer and staff who did what, and detect abuse."),
        legal_basis=INTEREST,
        retention=_(
            "Login records 12 months; other events until the purge, then anonymised (the action "
            "and time stay)."
        ),
        retention_rule="login_records",
        models=(AuditEvent,),
        export=export_audit,
        erase=erase_audit,
        erase_order=95,
    )
)
register(
    Category(
        key="accounts.invoices",
        label=_("Invoices and credit notes"),
        purpose=_("Bookkeeping, as the Danish Bookkeeping Act requires."),
        legal_basis=LEGAL_DUTY,
        retention=_("5 years after the end of the financial year they were issued in."),
        retention_rule="invoices",
        models=(Invoice, InvoiceLine),
        export=export_invoices,
    )
)
register(
    Category(
        key="accounts.privacy_records",
        label=_("Closures and erasure receipts"),
        purpose=_("Prove what was erased and when (GDPR art. 5(2), accountability)."),
        legal_basis=LEGAL_DUTY,
        retention=_("As long as the anonymised customer record; they hold no personal data."),
        models=(AccountClosure, ErasureReceipt),
        export=export_privacy_records,
    )
)
register(
    Category(
        key="platform.logs",
        label=_("Application logs"),
        purpose=_("Operate and debug the platform."),
        legal_basis=INTEREST,
        retention=_(
            "30 days in the log system. They name customers by number only and never hold "
            "content, CPR numbers or secrets (scrubbed in infra/logging.py), so nothing in them "
            "needs erasing or exporting."
        ),
        stores=("logs",),
    )
)
