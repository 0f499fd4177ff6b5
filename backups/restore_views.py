"""Panel pages for paid restores: pick what and from when, see the price, accept, pay, follow,
download; staff waive fees and recover whole servers. Reads go through visible_to, writes through
``backups.services.restores`` and ``backups.services.recovery``."""

import posixpath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.permissions import has_perm, require
from backups.forms import RecoveryForm, RestoreForm, WaiveForm
from backups.models import ItemKind, RestoreOrder, ServerRecovery, Snapshot
from backups.services import recovery as recovery_services
from backups.services import restores
from backups.views import LIVE_REFRESH_SECONDS, _customer
from hosting.models import Webhotel
from infra import objectstore

DOWNLOAD_PIECE = 8 * 1024 * 1024


def _errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for name, errors in exc.message_dict.items():
            form.add_error(name if name in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@login_required
def restore_view(request, customer_id, kind, item_id, snapshot_id):
    """Choose what to restore from one snapshot and where: the answer is a quote."""
    customer = _customer(request, customer_id, "restores.order")
    if kind not in restores.DESTINATIONS:
        raise Http404
    row = get_object_or_404(
        Snapshot.objects.visible_to(request.user),
        customer=customer,
        kind=kind,
        item_id=item_id,
        snapshot_id=snapshot_id,
    )
    webhotels = Webhotel.objects.visible_to(request.user).filter(customer=customer)
    form = RestoreForm(request.POST or None, kind=kind, webhotels=webhotels)
    if request.method == "POST" and form.is_valid():
        try:
            order = restores.quote(
                Actor.from_request(request),
                customer,
                kind=kind,
                item_id=item_id,
                snapshot_id=row.snapshot_id,
                destination=form.cleaned_data["destination"],
                paths=request.POST.getlist("pick") + form.cleaned_paths(),
                target_webhotel=form.cleaned_data.get("target_webhotel"),
                archive_format=form.cleaned_data["archive_format"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            return redirect("backups:order", customer_id=customer.pk, order_id=order.pk)
    folder = request.GET.get("path", "").strip("/")
    entries, parent = [], None
    if kind != ItemKind.DATABASE:
        try:
            entries = restores.snapshot_entries(Actor.from_request(request), row, folder)
        except PermissionDenied as exc:  # an unbound form takes no errors: say it as a message
            messages.error(request, str(exc))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        parent = posixpath.dirname(folder) if folder else None
    return render(
        request,
        "backups/restore.html",
        {
            "customer": customer,
            "snapshot": row,
            "kind": kind,
            "form": form,
            "folder": folder,
            "parent": parent,
            "entries": entries,
        },
    )


def _order(request, customer, order_id) -> RestoreOrder:
    return get_object_or_404(
        RestoreOrder.objects.visible_to(request.user).select_related("invoice", "credit_note"),
        customer=customer,
        pk=order_id,
    )


@login_required
def orders_view(request, customer_id):
    customer = _customer(request, customer_id, "restores.view")
    orders = RestoreOrder.objects.visible_to(request.user).filter(customer=customer)
    page = Paginator(orders.prefetch_related("items"), 50).get_page(request.GET.get("page"))
    return render(request, "backups/orders.html", {"customer": customer, "page": page})


@login_required
def order_view(request, customer_id, order_id):
    customer = _customer(request, customer_id, "restores.view")
    order = _order(request, customer, order_id)
    user = request.user
    return render(
        request,
        "backups/order.html",
        {
            "customer": customer,
            "order": order,
            "items": order.items.all(),
            "can_order": has_perm(user, "restores.order", customer),
            "can_waive": has_perm(user, "restores.waive", customer),
            "waive_form": WaiveForm(),
            "refresh": LIVE_REFRESH_SECONDS
            if order.status == RestoreOrder.Status.RUNNING
            else None,
        },
    )


def _order_action(request, customer_id, order_id, permission, action, done_message):
    customer = _customer(request, customer_id, permission)
    order = _order(request, customer, order_id)
    try:
        action(Actor.from_request(request), order)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, done_message)
    return redirect("backups:order", customer_id=customer.pk, order_id=order.pk)


@login_required
@require_POST
def accept_view(request, customer_id, order_id):
    return _order_action(
        request, customer_id, order_id, "restores.order", restores.accept, _("Quote accepted.")
    )


@login_required
@require_POST
def pay_view(request, customer_id, order_id):
    """Off to the payment provider's page; its confirmation starts the restore."""
    customer = _customer(request, customer_id, "restores.view")
    order = _order(request, customer, order_id)
    try:
        payment = restores.pay(Actor.from_request(request), order)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("backups:order", customer_id=customer.pk, order_id=order.pk)
    return redirect(payment.url)


@login_required
@require_POST
def cancel_view(request, customer_id, order_id):
    return _order_action(
        request, customer_id, order_id, "restores.order", restores.cancel, _("Order cancelled.")
    )


@login_required
@require_POST
def waive_view(request, customer_id, order_id):
    form = WaiveForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Write why the fee is waived."))
        return redirect("backups:order", customer_id=customer_id, order_id=order_id)
    reason = form.cleaned_data["reason"]
    return _order_action(
        request,
        customer_id,
        order_id,
        "restores.waive",
        lambda actor, order: restores.waive(actor, order, reason=reason),
        _("The fee is waived."),
    )


@login_required
@require_POST
def link_view(request, customer_id, order_id):
    """Issue a fresh signed link to the order's archive and follow it."""
    customer = _customer(request, customer_id, "restores.view")
    order = _order(request, customer, order_id)
    try:
        return redirect(restores.download_link(Actor.from_request(request), order))
    except (ValidationError, PermissionDenied) as exc:
        text = " ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        messages.error(request, text)
        return redirect("backups:order", customer_id=customer.pk, order_id=order.pk)


def download_view(request, token):
    """The archive behind a signed, expiring link (the link is the permission)."""
    try:
        order = restores.order_for_download(token)
    except PermissionDenied:
        raise Http404 from None
    store = objectstore.default_store()

    def pieces():
        for offset in range(0, order.archive_size, DOWNLOAD_PIECE):
            yield store.get_range(order.archive_key, offset, DOWNLOAD_PIECE)

    response = StreamingHttpResponse(pieces(), content_type="application/octet-stream")
    response["Content-Length"] = str(order.archive_size)
    name = f"restore-{order.pk}.{order.archive_format}"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


# --- Staff: whole-server recovery ----------------------------------------------------------------


@login_required
def recoveries_view(request):
    actor = Actor.from_request(request)
    require(actor, "recovery.run")
    form = RecoveryForm(request.POST or None, initial={"server": request.GET.get("server")})
    if request.method == "POST" and form.is_valid():
        try:
            started = recovery_services.start_recovery(
                actor,
                form.cleaned_data["server"],
                at=form.cleaned_data["at"],
                replacement=form.cleaned_data["replacement"],
                waive_reason=form.cleaned_data["waive_reason"],
                parallel=form.cleaned_data["parallel"],
            )
        except ValidationError as exc:
            _errors(form, exc)
        else:
            return redirect("backups:recovery", recovery_id=started.pk)
    recoveries = ServerRecovery.objects.select_related("server", "replacement")
    page = Paginator(recoveries, 50).get_page(request.GET.get("page"))
    return render(
        request,
        "backups/recoveries.html",
        {"form": form, "page": page},
    )


@login_required
def recovery_view(request, recovery_id):
    require(Actor.from_request(request), "recovery.run")
    recovery = get_object_or_404(
        ServerRecovery.objects.select_related("server", "replacement"), pk=recovery_id
    )
    orders = (
        RestoreOrder.objects.visible_to(request.user)
        .filter(recovery=recovery)
        .select_related("customer", "invoice")
        .prefetch_related("items")
    )
    running = recovery.status == ServerRecovery.Status.RUNNING
    return render(
        request,
        "backups/recovery.html",
        {
            "recovery": recovery,
            "orders": orders,
            "refresh": LIVE_REFRESH_SECONDS if running else None,
        },
    )
