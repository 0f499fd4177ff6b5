"""Panel pages for the customer's data: exports, closing and reopening the account, the erasure
receipt; and the staff's inventory (the record of processing), retention report and closures.
Reads go through ``visible_to``; writes through ``accounts.privacy`` services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.forms_privacy import CloseAccountForm
from accounts.models import (
    AccountClosure,
    Customer,
    DataExport,
    ErasureReceipt,
    RetentionAction,
)
from accounts.permissions import has_perm, require
from accounts.privacy import closure as closures
from accounts.privacy import export, purge, retention
from accounts.privacy.registry import categories


def _customer(request, customer_id: int, permission: str) -> Customer:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    require(Actor.from_request(request), permission, customer)
    return customer


@login_required
def privacy_view(request, customer_id):
    customer = _customer(request, customer_id, "privacy.view")
    user = request.user
    live = closures.live_closure(customer)
    return render(
        request,
        "accounts/privacy/privacy.html",
        {
            "customer": customer,
            "exports": DataExport.objects.visible_to(user).filter(customer=customer)[:20],
            "closure": live,
            "receipt": ErasureReceipt.objects.visible_to(user).filter(customer=customer).first(),
            "can_export": has_perm(user, "privacy.export", customer),
            "can_close": has_perm(user, "privacy.close", customer),
            "needs_password": not user.is_staff,
            "form": CloseAccountForm(),
        },
    )


@login_required
@require_POST
def export_request_view(request, customer_id):
    customer = _customer(request, customer_id, "privacy.export")
    try:
        export.request_export(Actor.from_request(request), customer)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The export is being built. It appears here when ready."))
    return redirect("accounts:privacy", customer.pk)


@login_required
def export_download_view(request, customer_id, export_uuid):
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    try:
        found = export.export_for_download(Actor.from_request(request), customer, export_uuid)
    except PermissionDenied:
        raise Http404 from None
    response = FileResponse(
        export.open_archive(found),
        as_attachment=True,
        filename=f"havn-export-{found.ready_at:%Y-%m-%d}.zip",
        content_type="application/zip",
    )
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def close_view(request, customer_id):
    customer = _customer(request, customer_id, "privacy.close")
    form = CloseAccountForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Tick the box to confirm that the account is to be closed."))
        return redirect("accounts:privacy", customer.pk)
    try:
        closures.close_account(
            Actor.from_request(request),
            customer,
            reauthenticated_password=form.cleaned_data["password"],
        )
    except (ValidationError, PermissionDenied) as exc:
        messages.error(request, " ".join(getattr(exc, "messages", [str(exc)])))
    else:
        messages.success(request, _("The account is closed. You can reopen it until it is erased."))
    return redirect("accounts:privacy", customer.pk)


@login_required
@require_POST
def reopen_view(request, customer_id):
    customer = _customer(request, customer_id, "privacy.close")
    try:
        closures.reopen_account(Actor.from_request(request), customer)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The account is open again and its services resume."))
    return redirect("accounts:privacy", customer.pk)


@login_required
def receipt_view(request, customer_id):
    customer = _customer(request, customer_id, "privacy.view")
    receipt = get_object_or_404(
        ErasureReceipt.objects.visible_to(request.user).filter(customer=customer)[:1]
    )
    return _render_receipt(request, receipt)


def _render_receipt(request, receipt: ErasureReceipt):
    """The receipt with each category's label, purpose and legal basis in the reader's language
    (the stored text, in the language of the purge, is the fallback for a retired category)."""
    registered = {category.key: category for category in categories()}

    def label(item):
        category = registered.get(item["key"])
        return str(category.label) if category else item["label"]

    erased = [{**item, "label": label(item)} for item in receipt.erased]
    kept = []
    for item in receipt.kept:
        category = registered.get(item["key"])
        why = item["why"]
        if category is not None and category.erase is None:
            why = f"{category.purpose} ({category.legal_basis})"
        kept.append({**item, "label": label(item), "why": why})
    return render(
        request,
        "accounts/privacy/receipt.html",
        {"receipt": receipt, "erased": erased, "kept": kept},
    )


def receipt_public_view(request, token):
    """The receipt through the link in its e-mail: no login, as the users were erased. The
    receipt holds no personal data; the signed token is the key."""
    receipt = purge.receipt_for_token(token)
    if receipt is None:
        raise Http404
    return _render_receipt(request, receipt)


# --- staff ----------------------------------------------------------------------------------------


@login_required
def staff_inventory_view(request):
    require(Actor.from_request(request), "privacy.staff")
    rows = [
        {"category": category, "models": [model._meta.label for model in category.models]}
        for category in categories()
    ]
    return render(request, "accounts/privacy/staff_inventory.html", {"rows": rows})


@login_required
def staff_retention_view(request):
    require(Actor.from_request(request), "privacy.staff")
    return render(
        request,
        "accounts/privacy/staff_retention.html",
        {"rows": retention.report(), "actions": RetentionAction.objects.all()[:100]},
    )


@login_required
def staff_closures_view(request):
    require(Actor.from_request(request), "privacy.staff")
    closures_list = (
        AccountClosure.objects.visible_to(request.user)
        .select_related("customer")
        .order_by("-closed_at")[:200]
    )
    return render(request, "accounts/privacy/staff_closures.html", {"closures": closures_list})
