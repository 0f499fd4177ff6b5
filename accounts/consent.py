"""The customer's say over their data, one service each (docs/privacy.md, "Support access,
consent and requests"):

- support access by consent: a grant with scopes and an expiry; ``require_content_access`` is the
  one gate every read of customer content passes, and it audits every staff read;
- restriction of processing and ``may_process``: what may still happen to a customer's data;
- consent records (append-only) for the non-essential purposes;
- the versioned data-processing agreement and its acceptances;
- the queue of data-subject requests with their 30-day deadline.
"""

from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mass_mail
from django.db import IntegrityError, transaction
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts import audit
from accounts.actor import Actor
from accounts.models import (
    ConsentPurpose,
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    DpaAcceptance,
    DpaVersion,
    SupportGrant,
    SupportScope,
)
from accounts.permissions import require, role_of

MAX_GRANT_DAYS = 30
ANSWER_DAYS = 30  # GDPR art. 12(3): a request is answered within one month

# --- Support access by consent --------------------------------------------------------------------


def _deny(actor: Actor, customer, action: str, target: str, message: str, **details):
    audit.record(actor, action, customer=customer, target=target, **details)
    raise PermissionDenied(message)


def grant_support_access(
    actor: Actor, customer: Customer, *, scopes, expires_at: datetime, note: str = ""
) -> SupportGrant:
    """The customer's owner or admin lets support read content in ``scopes`` until
    ``expires_at`` (at most ``MAX_GRANT_DAYS`` ahead). Staff can never grant, not even as a
    member of the customer: consent must come from the customer."""
    if actor.user.is_staff:
        _deny(
            actor,
            customer,
            "authz.denied",
            "support.grant",
            _("Staff cannot grant support access; only the customer's owner or admin can."),
        )
    require(actor, "support.grant", customer)
    scopes = sorted(set(scopes or ()))
    if not scopes:
        raise ValidationError({"scopes": _("Choose at least one thing support may read.")})
    unknown = set(scopes) - set(SupportScope.values)
    if unknown:
        raise ValidationError(
            {"scopes": _("Unknown scope: %(scopes)s.") % {"scopes": ", ".join(sorted(unknown))}}
        )
    now = timezone.now()
    if expires_at <= now:
        raise ValidationError({"expires_at": _("The expiry must be in the future.")})
    if expires_at > now + timedelta(days=MAX_GRANT_DAYS):
        raise ValidationError(
            {
                "expires_at": _("A grant can last at most %(days)d days; choose an earlier expiry.")
                % {"days": MAX_GRANT_DAYS}
            }
        )
    with transaction.atomic():
        grant = SupportGrant.objects.create(
            customer=customer,
            scopes=scopes,
            expires_at=expires_at,
            note=note.strip()[:500],
            granted_by=actor.user,
        )
        audit.record(
            actor,
            "support.granted",
            customer=customer,
            target=f"grant {grant.pk}",
            scopes=scopes,
            expires_at=expires_at.isoformat(),
        )
    return grant


def revoke_support_access(actor: Actor, grant: SupportGrant) -> SupportGrant:
    """End a grant at once. The customer revokes; staff may end a grant early too."""
    require(actor, "support.revoke", grant.customer)
    with transaction.atomic():
        now = timezone.now()
        if SupportGrant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(
            revoked_at=now, revoked_by=actor.user
        ):
            audit.record(
                actor, "support.revoked", customer=grant.customer, target=f"grant {grant.pk}"
            )
    grant.refresh_from_db()
    return grant


def live_grants(customer: Customer):
    """The customer's grants that are neither revoked nor expired."""
    return SupportGrant.objects.filter(
        customer=customer, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def live_grant(customer: Customer, scope: str) -> SupportGrant | None:
    """The live grant of the customer covering ``scope`` that lasts longest, or None."""
    grants = live_grants(customer).order_by("-expires_at")
    return next((grant for grant in grants if scope in grant.scopes), None)


def require_content_access(actor: Actor, customer: Customer, scope: str, *, what: str):
    """The gate before any read of a customer's content (files, mail, database dumps, snapshot
    listings, restore archives). Raises PermissionDenied unless the actor is a member of the
    customer or staff with a live grant covering ``scope``. Every staff read and every refusal
    is an audit event on the customer, so the customer sees it in their audit log.

    Returns the grant a staff read relied on (None for a member's own read)."""
    if scope not in SupportScope.values:
        raise ValueError(f"Unknown support scope {scope!r}.")
    user = actor.user
    staff = bool(getattr(user, "is_staff", False))
    if role_of(user, customer) is not None:
        if staff:
            audit.record(actor, "support.content_read", customer=customer, target=what, scope=scope)
        return None
    via_key = getattr(user, "api_customer_id", None) is not None
    if staff and user.is_active and not via_key:
        grant = live_grant(customer, scope)
        if grant is not None:
            audit.record(
                actor,
                "support.content_read",
                customer=customer,
                target=what,
                scope=scope,
                grant=grant.pk,
            )
            return grant
    _deny(
        actor,
        customer,
        "support.content_denied",
        what,
        _(
            "Reading this customer's %(scope)s needs the customer's consent: a live "
            "support-access grant that covers it."
        )
        % {"scope": SupportScope(scope).label.lower()},
        scope=scope,
    )


# --- Restriction and the purposes of processing ---------------------------------------------------

# Processing needed to deliver the contract and meet the law goes on whatever the customer
# restricts or withdraws: hosting and mail (the service), backups and restores (part of the
# service), billing and bookkeeping, security logs, answers to authorities.
ESSENTIAL_PURPOSES = frozenset({"service", "backups", "billing", "security", "legal"})


def may_process(customer: Customer, purpose: str) -> bool:
    """Whether the customer's data may be used for ``purpose`` now.

    Essential purposes always may. A non-essential purpose (every ``ConsentPurpose``: today
    marketing e-mails) needs an active customer, no restriction of processing and the customer's
    current opt-in. Any other purpose is refused loudly: a new kind of processing must be
    declared here first."""
    if purpose in ESSENTIAL_PURPOSES:
        return True
    return opted_in(Customer.objects.filter(pk=customer.pk), purpose).exists()


def opted_in(customers, purpose: str):
    """The customers of the queryset whose data may be used for the non-essential ``purpose``."""
    if purpose not in ConsentPurpose.values:
        raise ValueError(f"Unknown purpose of processing {purpose!r}.")
    latest = (
        ConsentRecord.objects.filter(customer=OuterRef("pk"), purpose=purpose)
        .order_by("-recorded_at", "-pk")
        .values("given")[:1]
    )
    return (
        customers.filter(status=Customer.Status.ACTIVE, processing_restricted=False)
        .annotate(consent_given=Subquery(latest))
        .filter(consent_given=True)
    )


def set_processing_restriction(
    actor: Actor, customer: Customer, *, restricted: bool, reason: str = ""
) -> Customer:
    """Restrict (or lift the restriction of) a customer's processing: while restricted, only the
    essential purposes go on (``may_process``)."""
    require(actor, "rights.restrict", customer)
    with transaction.atomic():
        customer = Customer.objects.select_for_update().get(pk=customer.pk)
        if customer.processing_restricted == restricted:
            return customer
        customer.processing_restricted = restricted
        customer.processing_restricted_since = timezone.now() if restricted else None
        customer.processing_restriction_reason = reason.strip()[:500] if restricted else ""
        customer.save(
            update_fields=[
                "processing_restricted",
                "processing_restricted_since",
                "processing_restriction_reason",
                "updated_at",
            ]
        )
        audit.record(
            actor,
            "rights.restricted" if restricted else "rights.restriction_lifted",
            customer=customer,
            target=customer.name,
        )
    return customer


def send_marketing(actor: Actor, *, subject: str, body: str) -> int:
    """E-mail news to every customer that may receive marketing now; returns how many."""
    require(actor, "marketing.send")
    if not subject.strip() or not body.strip():
        raise ValidationError(_("A marketing e-mail needs a subject and a text."))
    audience = opted_in(Customer.objects.all(), ConsentPurpose.MARKETING)
    addresses = list(audience.values_list("email", flat=True))
    with transaction.atomic():
        audit.record(actor, "marketing.sent", target=subject[:200], recipients=len(addresses))
        messages = [(subject, body, None, [address]) for address in addresses]
        transaction.on_commit(lambda: send_mass_mail(messages))
    return len(addresses)


# --- Consent records ------------------------------------------------------------------------------

# The wording shown with each consent and its version: a changed wording gets a new version, so a
# record always says what the customer agreed to.
CONSENT_TEXTS = {
    ConsentPurpose.MARKETING: (
        "2025-1",
        gettext_lazy(
            "Havn may send us e-mails with news and offers about Havn's own products and "
            "services. We can withdraw this at any time, here or through the link in every e-mail."
        ),
    ),
}


def current_consent(customer: Customer, purpose: str) -> ConsentRecord | None:
    return (
        ConsentRecord.objects.filter(customer=customer, purpose=purpose)
        .order_by("-recorded_at", "-pk")
        .first()
    )


def record_consent(actor: Actor, customer: Customer, purpose: str, *, given: bool):
    """Give or withdraw consent for ``purpose``: a new record with the current wording's version.
    Withdrawing is as easy as giving; staff may record a withdrawal (an objection received by
    phone or letter) but never give consent for a customer."""
    if purpose not in ConsentPurpose.values:
        raise ValidationError({"purpose": _("Unknown purpose.")})
    if given and actor.user.is_staff:
        _deny(
            actor,
            customer,
            "authz.denied",
            "consent.give",
            _("Staff cannot give consent on a customer's behalf."),
        )
    require(actor, "consent.give" if given else "consent.withdraw", customer)
    version, _text = CONSENT_TEXTS[purpose]
    with transaction.atomic():
        Customer.objects.select_for_update().filter(pk=customer.pk).first()  # one at a time
        current = current_consent(customer, purpose)
        if current and current.given == given and current.text_version == version:
            return current
        record = ConsentRecord.objects.create(
            customer=customer,
            purpose=purpose,
            given=given,
            text_version=version,
            recorded_by=actor.user,
        )
        audit.record(
            actor,
            "consent.given" if given else "consent.withdrawn",
            customer=customer,
            target=purpose,
            text_version=version,
        )
    return record


# --- The data-processing agreement ----------------------------------------------------------------

FIRST_DPA_VERSION = "1.0"
FIRST_DPA_PUBLISHED = datetime(2025, 1, 1, tzinfo=UTC)
FIRST_DPA_TEXT = Path(__file__).parent / "dpa" / "1.0.txt"


def current_dpa() -> DpaVersion:
    """The DPA version in force: the latest published one. Makes the first version when there is
    none yet (idempotent; this takes the place of a data migration)."""
    latest = DpaVersion.objects.filter(published_at__lte=timezone.now()).first()
    if latest is not None:
        return latest
    try:
        with transaction.atomic():
            first, _created = DpaVersion.objects.get_or_create(
                version=FIRST_DPA_VERSION,
                defaults={
                    "text": FIRST_DPA_TEXT.read_text(encoding="utf-8"),
                    "published_at": FIRST_DPA_PUBLISHED,
                },
            )
    except IntegrityError:  # made at the same moment by another request
        first = DpaVersion.objects.get(version=FIRST_DPA_VERSION)
    return first


def publish_dpa(actor: Actor, *, version: str, text: str) -> DpaVersion:
    """Staff admins publish a new DPA version; every customer is asked to accept it."""
    require(actor, "dpa.publish")
    current_dpa()
    version, text = version.strip(), text.strip()
    if not version or not text:
        raise ValidationError(_("A DPA version needs a version label and a text."))
    if DpaVersion.objects.filter(version=version).exists():
        raise ValidationError({"version": _("Version %(v)s exists already.") % {"v": version}})
    with transaction.atomic():
        published = DpaVersion.objects.create(version=version, text=text)
        audit.record(actor, "dpa.published", target=version)
    return published


def dpa_acceptance(customer: Customer, version: DpaVersion) -> DpaAcceptance | None:
    return (
        DpaAcceptance.objects.filter(customer=customer, version=version)
        .select_related("accepted_by", "version")
        .first()
    )


def accept_dpa(actor: Actor, customer: Customer, *, version: DpaVersion) -> DpaAcceptance:
    """The customer's owner or admin accepts the DPA version they were shown, which must be the
    current one. Accepting again changes nothing."""
    require(actor, "dpa.accept", customer)
    if version.pk != current_dpa().pk:
        raise ValidationError(
            _("A newer version of the agreement has been published. Read it and accept that one.")
        )
    with transaction.atomic():
        acceptance, created = DpaAcceptance.objects.get_or_create(
            customer=customer, version=version, defaults={"accepted_by": actor.user}
        )
        if created:
            audit.record(actor, "dpa.accepted", customer=customer, target=f"DPA {version.version}")
    return acceptance


# --- Data-subject requests ------------------------------------------------------------------------


def file_data_request(
    actor: Actor, customer: Customer, *, kind: str, message: str = ""
) -> DataSubjectRequest:
    """A member files a request under their rights; the answer is due in ``ANSWER_DAYS`` days."""
    require(actor, "requests.file", customer)
    if kind not in DataSubjectRequest.Kind.values:
        raise ValidationError({"kind": _("Choose what you are asking for.")})
    now = timezone.now()
    with transaction.atomic():
        request = DataSubjectRequest.objects.create(
            customer=customer,
            requester=actor.user,
            kind=kind,
            message=message.strip(),
            received_at=now,
            due_at=now + timedelta(days=ANSWER_DAYS),
        )
        audit.record(
            actor, "rights.request_filed", customer=customer, target=f"{kind} {request.pk}"
        )
    return request


def close_data_request(
    actor: Actor, request: DataSubjectRequest, *, status: str, note: str
) -> DataSubjectRequest:
    """Staff close an open request as done or rejected, with the answer given (a rejection must
    say why, GDPR art. 12(4))."""
    require(actor, "requests.handle", request.customer)
    if status not in (DataSubjectRequest.Status.DONE, DataSubjectRequest.Status.REJECTED):
        raise ValidationError({"status": _("Close a request as done or rejected.")})
    if not note.strip():
        raise ValidationError({"note": _("Write the answer given to the customer.")})
    with transaction.atomic():
        closed = DataSubjectRequest.objects.filter(
            pk=request.pk, status=DataSubjectRequest.Status.OPEN
        ).update(status=status, note=note.strip(), handled_by=actor.user, handled_at=timezone.now())
        if not closed:
            raise ValidationError(_("This request is closed already."))
        audit.record(
            actor,
            "rights.request_closed",
            customer=request.customer,
            target=f"{request.kind} {request.pk}",
            status=status,
        )
    request.refresh_from_db()
    return request
