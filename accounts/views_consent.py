"""Panel pages for the customer's say over their data: support-access grants, restriction,
consent, data-subject requests and the DPA; and the staff pages: the queue of requests and the
DPA versions. Reads go through visible_to, writes through ``accounts.consent``."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts import consent
from accounts.actor import Actor
from accounts.forms_consent import (
    CloseRequestForm,
    DataRequestForm,
    DpaPublishForm,
    RestrictionForm,
    SupportGrantForm,
)
from accounts.models import (
    ConsentPurpose,
    ConsentRecord,
    DataSubjectRequest,
    DpaAcceptance,
    DpaVersion,
    SupportGrant,
)
from accounts.permissions import has_perm, require
from accounts.views import _customer, _form_errors


def _flash(request, exc: ValidationError | PermissionDenied) -> None:
    text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
    messages.error(request, text)


# --- Support access -------------------------------------------------------------------------------


@login_required
def support_grants_view(request, customer_id):
    """The customer's grants, and the form to grant support access. Staff read it only."""
    customer = _customer(request, customer_id, "support.view")
    can_grant = has_perm(request.user, "support.grant", customer) and not request.user.is_staff
    form = SupportGrantForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            consent.grant_support_access(Actor.from_request(request), customer, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("Support access is granted."))
            return redirect("accounts:support_grants", customer_id=customer.pk)
    elif request.method == "POST" and not can_grant:
        require(Actor.from_request(request), "support.grant", customer)
        raise PermissionDenied(_("Staff cannot grant support access."))
    grants = SupportGrant.objects.visible_to(request.user).filter(customer=customer)
    page = Paginator(grants.select_related("granted_by", "revoked_by"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "accounts/support_grants.html",
        {
            "customer": customer,
            "page": page,
            "form": form if can_grant else None,
            "can_revoke": has_perm(request.user, "support.revoke", customer),
            "max_days": consent.MAX_GRANT_DAYS,
        },
    )


@login_required
@require_POST
def support_grant_revoke_view(request, customer_id, grant_id):
    customer = _customer(request, customer_id, "support.revoke")
    grant = get_object_or_404(
        SupportGrant.objects.visible_to(request.user), pk=grant_id, customer=customer
    )
    consent.revoke_support_access(Actor.from_request(request), grant)
    messages.success(request, _("Support access is revoked."))
    return redirect("accounts:support_grants", customer_id=customer.pk)


# --- Restriction, consent and requests ------------------------------------------------------------


@login_required
def rights_view(request, customer_id):
    """Restriction of processing, marketing consent and the customer's data-subject requests."""
    customer = _customer(request, customer_id, "rights.view")
    user = request.user
    consents = []
    for purpose in ConsentPurpose:
        version, text = consent.CONSENT_TEXTS[purpose]
        consents.append(
            {
                "purpose": purpose,
                "text": text,
                "version": version,
                "current": consent.current_consent(customer, purpose),
            }
        )
    history = ConsentRecord.objects.visible_to(user).filter(customer=customer)
    data_requests = DataSubjectRequest.objects.visible_to(user).filter(customer=customer)
    return render(
        request,
        "accounts/rights.html",
        {
            "customer": customer,
            "consents": consents,
            "history": history.select_related("recorded_by")[:50],
            "data_requests": data_requests.order_by("-received_at")[:50],
            "restriction_form": RestrictionForm(),
            "request_form": DataRequestForm(),
            "can_restrict": has_perm(user, "rights.restrict", customer),
            "can_give": has_perm(user, "consent.give", customer) and not user.is_staff,
            "can_withdraw": has_perm(user, "consent.withdraw", customer),
            "can_file": has_perm(user, "requests.file", customer),
        },
    )


@login_required
@require_POST
def restriction_view(request, customer_id):
    customer = _customer(request, customer_id, "rights.restrict")
    form = RestrictionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("reason", [])))
        return redirect("accounts:rights", customer_id=customer.pk)
    restricted = request.POST.get("restricted") == "1"
    consent.set_processing_restriction(
        Actor.from_request(request),
        customer,
        restricted=restricted,
        reason=form.cleaned_data["reason"],
    )
    if restricted:
        messages.success(request, _("Processing is restricted to what delivers your services."))
    else:
        messages.success(request, _("The restriction of processing is lifted."))
    return redirect("accounts:rights", customer_id=customer.pk)


@login_required
@require_POST
def consent_view(request, customer_id):
    customer = _customer(request, customer_id, "rights.view")
    given = request.POST.get("given") == "1"
    try:
        consent.record_consent(
            Actor.from_request(request), customer, request.POST.get("purpose", ""), given=given
        )
    except ValidationError as exc:
        _flash(request, exc)
    else:
        messages.success(
            request, _("Your consent is recorded.") if given else _("Your consent is withdrawn.")
        )
    return redirect("accounts:rights", customer_id=customer.pk)


@login_required
@require_POST
def data_request_create_view(request, customer_id):
    customer = _customer(request, customer_id, "requests.file")
    form = DataRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose what you are asking for."))
    else:
        filed = consent.file_data_request(
            Actor.from_request(request), customer, **form.cleaned_data
        )
        messages.success(
            request,
            _("Your request is received. We answer by %(date)s at the latest.")
            % {"date": f"{filed.due_at:%d.%m.%Y}"},
        )
    return redirect("accounts:rights", customer_id=customer.pk)


# --- The data-processing agreement ----------------------------------------------------------------


@login_required
def dpa_view(request, customer_id):
    """The DPA in force, whether/when/who accepted it, and the accept button."""
    customer = _customer(request, customer_id, "rights.view")
    current = consent.current_dpa()
    if request.method == "POST":
        version = get_object_or_404(DpaVersion, pk=request.POST.get("version") or 0)
        try:
            consent.accept_dpa(Actor.from_request(request), customer, version=version)
        except ValidationError as exc:
            _flash(request, exc)
        else:
            messages.success(request, _("The data-processing agreement is accepted."))
        return redirect("accounts:dpa", customer_id=customer.pk)
    acceptances = DpaAcceptance.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "accounts/dpa.html",
        {
            "customer": customer,
            "dpa": current,
            "accepted": acceptances.filter(version=current).select_related("accepted_by").first(),
            "acceptances": acceptances.select_related("version", "accepted_by"),
            "can_accept": has_perm(request.user, "dpa.accept", customer),
        },
    )


# --- Staff: the queue of data-subject requests ----------------------------------------------------


@login_required
def staff_data_requests_view(request):
    """Open requests, earliest deadline first (overdue ones highlighted); ?status= for others."""
    require(Actor.from_request(request), "requests.handle")
    status = request.GET.get("status", DataSubjectRequest.Status.OPEN)
    if status not in DataSubjectRequest.Status.values:
        status = DataSubjectRequest.Status.OPEN
    rows = DataSubjectRequest.objects.visible_to(request.user).filter(status=status)
    if status != DataSubjectRequest.Status.OPEN:
        rows = rows.order_by("-handled_at", "-pk")
    page = Paginator(rows.select_related("customer", "requester", "handled_by"), 50).get_page(
        request.GET.get("page")
    )
    return render(
        request,
        "accounts/staff_data_requests.html",
        {
            "page": page,
            "status": status,
            "statuses": DataSubjectRequest.Status.choices,
            "close_form": CloseRequestForm(),
        },
    )


@login_required
@require_POST
def staff_data_request_close_view(request, request_id):
    actor = Actor.from_request(request)
    require(actor, "requests.handle")
    data_request = get_object_or_404(
        DataSubjectRequest.objects.visible_to(request.user).select_related("customer"),
        pk=request_id,
    )
    form = CloseRequestForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Choose the outcome and write the answer given."))
    else:
        try:
            consent.close_data_request(actor, data_request, **form.cleaned_data)
        except ValidationError as exc:
            _flash(request, exc)
        else:
            messages.success(request, _("The request is closed."))
    return redirect("accounts:staff_data_requests")


# --- Staff: the versions of the data-processing agreement -----------------------------------------


@login_required
def staff_dpa_view(request):
    """Every DPA version, newest first, with how many customers accepted it; and the form to
    publish a new version, which every customer is then asked to accept."""
    actor = Actor.from_request(request)
    require(actor, "dpa.publish")
    form = DpaPublishForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            published = consent.publish_dpa(actor, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("Version %(version)s is published; customers are asked to accept it.")
                % {"version": published.version},
            )
            return redirect("accounts:staff_dpa")
    current = consent.current_dpa()
    accepted = dict(
        DpaAcceptance.objects.visible_to(request.user)
        .values_list("version")
        .annotate(customers=Count("customer", distinct=True))
        .order_by()
    )
    versions = [
        {"dpa": version, "accepted": accepted.get(version.pk, 0)}
        for version in DpaVersion.objects.all()
    ]
    return render(
        request,
        "accounts/staff_dpa.html",
        {
            "form": form,
            "versions": versions,
            "current": current,
        },
    )
