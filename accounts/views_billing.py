"""Panel pages for invoices: the list, one invoice, its PDF, paying it, and staff's credit and
manual payment. Reads go through ``billing.invoices_visible_to``; writes through the services.

The local payment page stands in for a payment provider's own page (``infra.payments``)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.cache import add_never_cache_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import billing
from accounts.actor import Actor
from accounts.forms_billing import CreditForm, MarkPaidForm
from accounts.invoice_pdf import render_invoice_pdf
from accounts.models import Customer, Invoice
from accounts.permissions import has_perm, require
from infra.payments import LocalPaymentDriver, PaymentError, get_payment_driver


def _customer(request, customer_id: int, permission: str) -> Customer:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    require(Actor.from_request(request), permission, customer)
    return customer


def _invoice(request, customer_id: int, invoice_id: int, permission: str) -> Invoice:
    customer = _customer(request, customer_id, permission)
    return get_object_or_404(
        billing.invoices_visible_to(request.user).select_related("credits", "customer"),
        pk=invoice_id,
        customer=customer,
    )


@login_required
def invoices_view(request, customer_id):
    customer = _customer(request, customer_id, "billing.view")
    invoices = billing.invoices_visible_to(request.user).filter(customer=customer)
    page = Paginator(invoices.select_related("credits"), 50).get_page(request.GET.get("page"))
    return render(request, "accounts/invoices.html", {"customer": customer, "page": page})


@login_required
def invoice_view(request, customer_id, invoice_id):
    invoice = _invoice(request, customer_id, invoice_id, "billing.view")
    user = request.user
    is_open = invoice.status == Invoice.Status.OPEN
    return render(
        request,
        "accounts/invoice.html",
        {
            "customer": invoice.customer,
            "invoice": invoice,
            "lines": invoice.lines.all(),
            "credit_notes": billing.invoices_visible_to(user).filter(credits=invoice),
            "can_pay": is_open
            and not invoice.is_credit_note
            and has_perm(user, "billing.pay", invoice.customer),
            "can_manage": has_perm(user, "billing.manage", invoice.customer),
            "credit_form": CreditForm(),
            "paid_form": MarkPaidForm(),
        },
    )


@login_required
def invoice_pdf_view(request, customer_id, invoice_id):
    invoice = _invoice(request, customer_id, invoice_id, "billing.view")
    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.kind}-{invoice.number}.pdf"'
    add_never_cache_headers(response)
    return response


@login_required
@require_POST
def invoice_pay_view(request, customer_id, invoice_id):
    invoice = _invoice(request, customer_id, invoice_id, "billing.pay")
    try:
        payment = billing.start_payment(Actor.from_request(request), invoice)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:invoice", customer_id=customer_id, invoice_id=invoice.pk)
    return redirect(payment.url)


@login_required
@require_POST
def invoice_credit_view(request, customer_id, invoice_id):
    invoice = _invoice(request, customer_id, invoice_id, "billing.manage")
    form = CreditForm(request.POST)
    try:
        if not form.is_valid():
            raise ValidationError(_("Write why the invoice is credited."))
        note = billing.credit_invoice(
            Actor.from_request(request), invoice, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("accounts:invoice", customer_id=customer_id, invoice_id=invoice.pk)
    messages.success(request, _("Credit note %(number)s is issued.") % {"number": note.number})
    return redirect("accounts:invoice", customer_id=customer_id, invoice_id=note.pk)


@login_required
@require_POST
def invoice_mark_paid_view(request, customer_id, invoice_id):
    invoice = _invoice(request, customer_id, invoice_id, "billing.manage")
    form = MarkPaidForm(request.POST)
    reference = form.cleaned_data["provider_reference"] if form.is_valid() else ""
    try:
        billing.mark_paid(Actor.from_request(request), invoice, provider_reference=reference)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("The payment is recorded."))
    return redirect("accounts:invoice", customer_id=customer_id, invoice_id=invoice.pk)


# --- The payment provider's side ------------------------------------------------------------------


def _local_driver() -> LocalPaymentDriver:
    driver = get_payment_driver()
    if not isinstance(driver, LocalPaymentDriver):
        raise Http404
    return driver


def _return_to(request, target: str) -> str:
    if url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return "accounts:dashboard"


def payment_local_view(request, token):
    """The local driver's payment page: what a provider's hosted page is in production. It asks
    for nothing (no card data): approving pays the invoice."""
    driver = _local_driver()
    try:
        payment = driver.payment(token)
    except PaymentError as exc:
        return render(
            request, "accounts/invoice_payment_local.html", {"error": str(exc)}, status=400
        )
    if request.method == "POST":
        if "approve" not in request.POST:
            messages.info(request, _("The payment was cancelled."))
            return redirect(_return_to(request, payment["return"]))
        try:
            billing.confirm_payment({"token": token})
        except PaymentError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Thank you. The invoice is paid."))
        return redirect(_return_to(request, payment["return"]))
    return render(request, "accounts/invoice_payment_local.html", {"payment": payment})


@csrf_exempt  # the provider calls this server to server; the driver authenticates the payload
@require_POST
def payment_callback_view(request):
    """The payment provider's notification that a payment went through."""
    try:
        billing.confirm_payment(request.POST)
    except PaymentError as exc:
        return HttpResponseBadRequest(str(exc), content_type="text/plain; charset=utf-8")
    return HttpResponse("OK", content_type="text/plain")
