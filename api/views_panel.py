"""Panel pages for a customer's webhooks. Reads go through visible_to, writes through
api.webhooks.services."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import has_perm, require
from api.forms import WebhookForm
from api.models import WebhookDelivery, WebhookEndpoint
from api.webhooks import services


def _customer(request, customer_id: int, permission: str) -> Customer:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    require(Actor.from_request(request), permission, customer)
    return customer


def _endpoint(request, customer, webhook_id) -> WebhookEndpoint:
    return get_object_or_404(
        WebhookEndpoint.objects.visible_to(request.user), pk=webhook_id, customer=customer
    )


def _save(request, form, save) -> bool:
    """Run ``save`` with the form's data; a service's ValidationError lands on the form."""
    if not form.is_valid():
        return False
    try:
        save(form.cleaned_data)
    except ValidationError as exc:
        if hasattr(exc, "error_dict"):
            for field, errors in exc.error_dict.items():
                form.add_error(field if field in form.fields else None, errors)
        else:
            form.add_error(None, exc)
        return False
    return True


@login_required
def webhooks_view(request, customer_id):
    customer = _customer(request, customer_id, "apikeys.view")
    form = WebhookForm(request.POST or None)
    created = {}
    if request.method == "POST":
        require(Actor.from_request(request), "apikeys.manage", customer)

        def create(data):
            created["endpoint"], created["secret"] = services.create_endpoint(
                Actor.from_request(request), customer, **data
            )

        if _save(request, form, create):
            form = WebhookForm()
    return render(
        request,
        "api/webhooks.html",
        {
            "customer": customer,
            "endpoints": WebhookEndpoint.objects.visible_to(request.user).filter(customer=customer),
            "form": form,
            "secret": created.get("secret"),
            "can_manage": has_perm(request.user, "apikeys.manage", customer),
        },
    )


@login_required
def webhook_view(request, customer_id, webhook_id):
    customer = _customer(request, customer_id, "apikeys.view")
    endpoint = _endpoint(request, customer, webhook_id)
    initial = {f: getattr(endpoint, f) for f in ("url", "events", "description", "active")}
    form = WebhookForm(request.POST or None, initial=initial)
    if request.method == "POST":
        require(Actor.from_request(request), "apikeys.manage", customer)
        if _save(
            request,
            form,
            lambda data: services.update_endpoint(Actor.from_request(request), endpoint, **data),
        ):
            messages.success(request, _("The webhook is saved."))
            return redirect("webhooks:webhook", customer_id=customer.pk, webhook_id=endpoint.pk)
    deliveries = (
        WebhookDelivery.objects.visible_to(request.user)
        .filter(endpoint=endpoint)
        .prefetch_related("log")
        .order_by("-created_at", "-pk")
    )
    return render(
        request,
        "api/webhook.html",
        {
            "customer": customer,
            "endpoint": endpoint,
            "form": form,
            "page": Paginator(deliveries, 25).get_page(request.GET.get("page")),
            "can_manage": has_perm(request.user, "apikeys.manage", customer),
        },
    )


@login_required
@require_POST
def webhook_test_view(request, customer_id, webhook_id):
    customer = _customer(request, customer_id, "apikeys.manage")
    services.send_test(Actor.from_request(request), _endpoint(request, customer, webhook_id))
    messages.success(request, _("A test delivery is on its way; its result appears below."))
    return redirect("webhooks:webhook", customer_id=customer.pk, webhook_id=webhook_id)


@login_required
@require_POST
def webhook_delete_view(request, customer_id, webhook_id):
    customer = _customer(request, customer_id, "apikeys.manage")
    services.delete_endpoint(Actor.from_request(request), _endpoint(request, customer, webhook_id))
    messages.success(request, _("The webhook is deleted."))
    return redirect("webhooks:list", customer_id=customer.pk)
