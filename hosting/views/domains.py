"""Panel pages: domains, DNS records and registrant identity (and the staff review)."""

from pathlib import PurePath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import has_perm, require
from hosting import forms
from hosting.dns import display_domain
from hosting.models import (
    DnsRecord,
    DnsZone,
    Domain,
    IdentityVerification,
)
from hosting.services import domains

# What an operation does, in words; the code is shown for actions not listed here.
from hosting.views.common import (
    RECORD_ERRORS,
    ZONE_ERROR_FIELDS,
    _confirmed,
    _customer,
    _form_errors,
    _message_errors,
    _show_secret,
)
from infra.registry import RegistryError

# --- Domains --------------------------------------------------------------------------------------

# A domain that is no longer ours (given up, or moved to another registrar) cannot change.
CLOSED_DOMAIN = (Domain.Status.RELEASED, Domain.Status.TRANSFERRED_OUT)


def _domain(request, customer, domain_id) -> Domain:
    return get_object_or_404(
        Domain.objects.visible_to(request.user), pk=domain_id, customer=customer
    )


def _zone(request, domain) -> DnsZone | None:
    """The domain's DNS zone when Havn hosts its DNS, else None."""
    return DnsZone.objects.visible_to(request.user).filter(domain=domain).first()


def _with_zones(request, rows) -> list:
    """The domains, each with ``display_name`` ("blåbær.dk") and ``hosted_zone`` (or None)."""
    rows = list(rows)
    zones = DnsZone.objects.visible_to(request.user).filter(domain__in=[row.pk for row in rows])
    by_domain = {zone.domain_id: zone for zone in zones}
    for row in rows:
        row.display_name = display_domain(row.name)
        row.hosted_zone = by_domain.get(row.pk)
    return rows


def domain_url(domain):
    return reverse(
        "hosting:domain", kwargs={"customer_id": domain.customer_id, "domain_id": domain.pk}
    )


def _domain_open(request, domain) -> bool:
    if domain.status not in CLOSED_DOMAIN:
        return True
    messages.error(
        request,
        _("%(name)s is no longer registered through Havn: it cannot be changed.")
        % {"name": display_domain(domain.name)},
    )
    return False


def _identity_state(request, customer) -> dict:
    """Whether the customer, a person, must still verify their identity before registering a
    .dk name, and whether an ID document of theirs waits for review."""
    if customer.kind != Customer.Kind.PERSON:
        return {"needs_identity": False, "identity_pending": False}
    checks = IdentityVerification.objects.visible_to(request.user).filter(customer=customer)
    approved = checks.filter(status=IdentityVerification.Status.APPROVED).exists()
    return {
        "needs_identity": not approved,
        "identity_pending": (
            not approved and checks.filter(status=IdentityVerification.Status.PENDING).exists()
        ),
    }


def _domains_page(request, customer, *, register_form=None, transfer_form=None):
    rows = Domain.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "hosting/domains.html",
        {
            "customer": customer,
            "domains": _with_zones(request, rows),
            "can_manage": has_perm(request.user, "domains.manage", customer),
            "register_form": register_form or forms.DomainRegisterForm(),
            "transfer_form": transfer_form or forms.DomainTransferForm(),
            **_identity_state(request, customer),
        },
    )


@login_required
def domains_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    form = forms.DomainRegisterForm(request.POST or None)
    if request.method == "POST":
        require(Actor.from_request(request), "domains.manage", customer)
        if form.is_valid():
            try:
                domain = domains.register_domain(
                    Actor.from_request(request), customer, **form.cleaned_data
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The domain %(name)s is registered.") % {"name": display_domain(domain.name)},
                )
                return redirect(domain_url(domain))
    return _domains_page(request, customer, register_form=form)


@login_required
@require_POST
def domain_transfer_in_view(request, customer_id):
    customer = _customer(request, customer_id, "domains.manage")
    form = forms.DomainTransferForm(request.POST)
    if form.is_valid():
        try:
            domain = domains.transfer_in(Actor.from_request(request), customer, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The domain %(name)s is transferred to Havn.")
                % {"name": display_domain(domain.name)},
            )
            return redirect(domain_url(domain))
    return _domains_page(request, customer, transfer_form=form)


def _whois(domain) -> str:
    """The registry's public whois text; empty for a name no longer ours, or when the registry
    cannot be asked."""
    if domain.status in CLOSED_DOMAIN:
        return ""
    try:
        return domains.whois(domain)
    except RegistryError:
        return ""


def _domain_page(
    request,
    customer,
    domain,
    *,
    settings_form=None,
    renew_form=None,
    record_form=None,
    secret=None,
):
    [domain] = _with_zones(request, [domain])
    zone = domain.hosted_zone
    records = []
    if zone is not None:
        records = list(DnsRecord.objects.visible_to(request.user).filter(zone=zone))
        for record in records:
            record.display_name = display_domain(record.name)
    can_manage = has_perm(request.user, "domains.manage", customer)
    response = render(
        request,
        "hosting/domain.html",
        {
            "customer": customer,
            "domain": domain,
            "zone": zone,
            "records": records,
            "zone_text": domains.zone_text(zone) if zone is not None else "",
            "whois": _whois(domain),
            "can_manage": can_manage,
            "editable": can_manage and domain.status not in CLOSED_DOMAIN,
            "settings_form": settings_form
            or forms.DomainSettingsForm(domain, hosted_dns=zone is not None),
            "renew_form": renew_form or forms.RenewForm(),
            "record_form": record_form or forms.DnsRecordForm(),
            "secret": secret,
        },
    )
    return _show_secret(response) if secret else response


@login_required
def domain_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "hosting.view")
    domain = _domain(request, customer, domain_id)
    hosted_dns = _zone(request, domain) is not None
    # Bound on every POST: with both boxes unticked and no name servers, the POST may be empty.
    data = request.POST if request.method == "POST" else None
    form = forms.DomainSettingsForm(domain, data, hosted_dns=hosted_dns)
    if request.method == "POST":
        require(Actor.from_request(request), "domains.manage", customer)
        if not _domain_open(request, domain):
            return redirect(domain_url(domain))
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return redirect(domain_url(domain))
            try:
                domains.update_domain(Actor.from_request(request), domain, **changes)
            except ValidationError as exc:
                _form_errors(form, exc)
                # The service set some fields on the object before it failed: read it again.
                domain = _domain(request, customer, domain_id)
            else:
                messages.success(request, _("The domain's settings are saved."))
                return redirect(domain_url(domain))
    return _domain_page(request, customer, domain, settings_form=form)


@login_required
@require_POST
def domain_renew_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    if not _domain_open(request, domain):
        return redirect(domain_url(domain))
    form = forms.RenewForm(request.POST)
    if form.is_valid():
        try:
            domain = domains.renew_domain(
                Actor.from_request(request), domain, years=form.cleaned_data["years"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The domain %(name)s is renewed: it now expires on %(date)s.")
                % {
                    "name": display_domain(domain.name),
                    "date": f"{timezone.localdate(domain.expires_at):%Y-%m-%d}",
                },
            )
            return redirect(domain_url(domain))
    return _domain_page(request, customer, domain, renew_form=form)


@login_required
@require_POST
def domain_transfer_code_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    if not _domain_open(request, domain):
        return redirect(domain_url(domain))
    try:
        code = domains.transfer_code(Actor.from_request(request), domain)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(domain_url(domain))
    name = display_domain(domain.name)
    # Shown on this response only (like a password): no redirect, nothing stored.
    secret = {
        "title": _("The transfer code of %(name)s") % {"name": name},
        "note": _(
            "Copy the code now and give it to the new registrar: it is shown only this once, "
            "and Havn does not keep it. A new code replaces this one."
        ),
        "label": _("Domain"),
        "user": name,
        "password": code,
    }
    return _domain_page(request, customer, domain, secret=secret)


@login_required
@require_POST
def domain_release_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    if not _domain_open(request, domain) or not _confirmed(request):
        return redirect(domain_url(domain))
    try:
        domains.release_domain(Actor.from_request(request), domain)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(domain_url(domain))
    messages.success(
        request, _("The domain %(name)s is released.") % {"name": display_domain(domain.name)}
    )
    return redirect("hosting:domains", customer_id=customer.pk)


@login_required
@require_POST
def domain_dnssec_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    zone = _zone(request, domain)
    if zone is None:
        raise Http404
    enabled = request.POST.get("enabled") == "1"
    try:
        domains.set_dnssec(Actor.from_request(request), zone, enabled)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        if enabled:
            messages.success(
                request, _("DNSSEC is on: the zone is signed and its DS record is at the registry.")
            )
        else:
            messages.success(request, _("DNSSEC is off: the zone is no longer signed."))
    return redirect(domain_url(domain))


# --- DNS records ----------------------------------------------------------------------------------


def _record(request, customer, record_id) -> DnsRecord:
    return get_object_or_404(
        DnsRecord.objects.visible_to(request.user).select_related("zone__domain"),
        pk=record_id,
        zone__domain__customer=customer,
    )


def _record_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        _form_errors(form, exc, RECORD_ERRORS)
        return
    for error in exc.error_list:
        form.add_error(ZONE_ERROR_FIELDS.get(error.code), error)


def _record_label(record) -> str:
    return f"{display_domain(record.name)} {record.type}"


@login_required
@require_POST
def dns_record_create_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    zone = _zone(request, domain)
    if zone is None:
        raise Http404
    form = forms.DnsRecordForm(request.POST)
    if form.is_valid():
        try:
            record = domains.save_record(Actor.from_request(request), zone, **form.cleaned_data)
        except ValidationError as exc:
            _record_errors(form, exc)
        else:
            messages.success(
                request,
                _("The DNS record %(record)s is saved.") % {"record": _record_label(record)},
            )
            return redirect(domain_url(domain))
    return _domain_page(request, customer, domain, record_form=form)


@login_required
def dns_record_view(request, customer_id, record_id):
    customer = _customer(request, customer_id, "hosting.view")
    record = _record(request, customer, record_id)
    form = forms.DnsRecordForm(request.POST or None, initial=forms.DnsRecordForm.initial_of(record))
    if request.method == "POST":
        require(Actor.from_request(request), "domains.manage", customer)
        if form.is_valid():
            try:
                # The service sets the new values on the record it gets before checking the
                # zone: it gets its own copy, so that a refusal leaves this page's record as is.
                saved = domains.save_record(
                    Actor.from_request(request),
                    record.zone,
                    record=_record(request, customer, record.pk),
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                _record_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The DNS record %(record)s is saved.") % {"record": _record_label(saved)},
                )
                return redirect(domain_url(record.zone.domain))
    [domain] = _with_zones(request, [record.zone.domain])
    record.display_name = display_domain(record.name)
    can_manage = has_perm(request.user, "domains.manage", customer)
    return render(
        request,
        "hosting/dns_record.html",
        {
            "customer": customer,
            "domain": domain,
            "record": record,
            "form": form,
            "can_manage": can_manage,
            "editable": can_manage and domain.status not in CLOSED_DOMAIN,
        },
    )


@login_required
@require_POST
def dns_record_delete_view(request, customer_id, record_id):
    customer = _customer(request, customer_id, "domains.manage")
    record = _record(request, customer, record_id)
    try:
        domains.delete_record(Actor.from_request(request), record)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        messages.success(
            request, _("The DNS record %(record)s is deleted.") % {"record": _record_label(record)}
        )
    return redirect(domain_url(record.zone.domain))


# --- Registrant identity --------------------------------------------------------------------------


def _identity_page(request, customer, *, eid_form=None, document_form=None):
    checks = IdentityVerification.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "hosting/identity.html",
        {
            "customer": customer,
            "checks": checks,
            "can_manage": has_perm(request.user, "domains.manage", customer),
            "eid_form": eid_form or forms.EidForm(initial={"name": customer.name}),
            "document_form": document_form or forms.IdentityDocumentForm(),
            **_identity_state(request, customer),
        },
    )


@login_required
def identity_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    return _identity_page(request, customer)


@sensitive_post_parameters("cpr")  # kept out of error reports
@login_required
@require_POST
def identity_eid_view(request, customer_id):
    customer = _customer(request, customer_id, "domains.manage")
    form = forms.EidForm(request.POST)
    if form.is_valid():
        try:
            check = domains.verify_identity_with_eid(
                Actor.from_request(request),
                customer,
                cpr=form.cleaned_data["cpr"],
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            if check.status == IdentityVerification.Status.APPROVED:
                messages.success(
                    request,
                    _("Your identity is verified with MitID: you can register .dk domains."),
                )
            else:
                messages.error(
                    request,
                    _("The MitID check was not approved: %(reason)s") % {"reason": check.reason},
                )
            return redirect("hosting:identity", customer_id=customer.pk)
    # The form is shown again with its errors; its CPR field is empty (the widget never renders
    # the value).
    return _identity_page(request, customer, eid_form=form)


@login_required
@require_POST
def identity_upload_view(request, customer_id):
    customer = _customer(request, customer_id, "domains.manage")
    form = forms.IdentityDocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            domains.submit_identity_document(
                Actor.from_request(request), customer, form.cleaned_data["document"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The document is sent: Havn's staff will review it."))
            return redirect("hosting:identity", customer_id=customer.pk)
    return _identity_page(request, customer, document_form=form)


# --- Staff: identity documents --------------------------------------------------------------------


def _documents(request):
    return (
        IdentityVerification.objects.visible_to(request.user)
        .filter(method=IdentityVerification.Method.DOCUMENT)
        .select_related("customer")
    )


@login_required
def identity_reviews_view(request):
    require(Actor.from_request(request), "servers.view")
    documents = _documents(request)
    return render(
        request,
        "hosting/identity_reviews.html",
        {
            "pending": documents.filter(status=IdentityVerification.Status.PENDING).order_by(
                "created_at", "pk"
            ),
            "decided": documents.exclude(status=IdentityVerification.Status.PENDING).order_by(
                "-decided_at", "-pk"
            )[:25],
            "can_manage": has_perm(request.user, "servers.manage"),
        },
    )


@login_required
@require_POST
def identity_decide_view(request, verification_id):
    actor = Actor.from_request(request)
    require(actor, "servers.manage")
    check = get_object_or_404(
        _documents(request), pk=verification_id, status=IdentityVerification.Status.PENDING
    )
    form = forms.IdentityDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return redirect("hosting:identity_reviews")
    approved = form.cleaned_data["decision"] == "approve"
    try:
        domains.decide_identity_document(
            actor, check, approved=approved, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        if approved:
            message = _("The identity of %(customer)s is approved.")
        else:
            message = _("The document of %(customer)s is rejected.")
        messages.success(request, message % {"customer": check.customer.name})
    return redirect("hosting:identity_reviews")


@login_required
def identity_document_view(request, verification_id):
    require(Actor.from_request(request), "servers.manage")  # staff pages answer 403, not 404
    check = get_object_or_404(_documents(request), pk=verification_id)
    try:
        document = domains.open_identity_document(Actor.from_request(request), check)
    except FileNotFoundError:
        raise Http404 from None
    # Always a download, never shown in the panel's own origin (an upload could be HTML).
    response = FileResponse(
        document,
        as_attachment=True,
        filename=f"identity-{check.pk}{PurePath(check.document.name).suffix}",
    )
    add_never_cache_headers(response)
    return response
