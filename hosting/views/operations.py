"""Panel pages: a customer's operations."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.permissions import has_perm
from hosting.models import (
    Operation,
)
from hosting.services.operations import retry_operation

# What an operation does, in words; the code is shown for actions not listed here.
from hosting.views.common import (
    _customer,
    _describe,
    _message_errors,
)

# --- Operations -----------------------------------------------------------------------------------


@login_required
def operations_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    operations = Operation.objects.visible_to(request.user).filter(customer=customer)
    page = Paginator(operations.order_by("-created_at", "-pk"), 50).get_page(
        request.GET.get("page")
    )
    _describe(page.object_list)
    return render(
        request,
        "hosting/operations.html",
        {
            "customer": customer,
            "page": page,
            "can_manage": has_perm(request.user, "hosting.manage", customer),
        },
    )


@login_required
@require_POST
def operation_retry_view(request, customer_id, operation_id):
    customer = _customer(request, customer_id, "hosting.manage")
    operation = get_object_or_404(
        Operation.objects.visible_to(request.user), pk=operation_id, customer=customer
    )
    try:
        retry_operation(Actor.from_request(request), operation)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        messages.success(request, _("The operation is being tried again."))
    return redirect("hosting:operations", customer_id=customer.pk)
