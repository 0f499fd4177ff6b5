"""Billing: restore prices from the tariff, invoices and credit notes, and payment.

Money is integer øre (1 kr. = 100 øre) everywhere; nothing here uses floats. A restore costs the
fee of its scope plus a price per *started* GB of data, where 1 GB = 10**9 bytes (so 1 byte is 1
GB, 1,000,000,001 bytes are 2 GB, and 0 bytes are 0 GB), plus 25 % VAT.

Invoices and credit notes share one series per calendar year (Danish time), numbered
``YYYY-NNNNNN`` without gaps: the number is taken from a per-year counter row locked with
``SELECT … FOR UPDATE`` inside the transaction that writes the invoice, so a rolled-back issue
gives its number back and concurrent issuers queue. Issued documents are immutable (see
``accounts.models.Invoice``); the payment status is the one thing that changes, in `mark_paid`
and `issue_credit_note`, each a conditional UPDATE.

`issue_invoice` and `issue_credit_note` are building blocks for other services (a restore order's
acceptance, cancellation and failure), which check their own permission first; they check none
themselves. People reach them through permission-checking services: `credit_invoice` (staff).

See docs/billing.md.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.models import (
    Customer,
    Invoice,
    InvoiceCounter,
    InvoiceLine,
    RestoreScope,
    TariffVersion,
)
from accounts.permissions import narrow_to_permission, require
from infra.payments import PaymentError, PaymentRedirect, PaymentRequest, get_payment_driver

GB = 10**9  # a restore is priced per started GB of 10**9 bytes (SI), not GiB

# Sent (after the commit) when an invoice becomes paid: ``invoice_paid.send(sender=Invoice,
# invoice=invoice)``. Apps above accounts (restore orders) connect to it to start paid work.
invoice_paid = Signal()


def format_kroner(oere: int) -> str:
    """Øre as Danish kroner: 123450 → "1.234,50 kr."; negative amounts get a minus sign."""
    kroner, rest = divmod(abs(oere), 100)
    sign = "-" if oere < 0 else ""
    return f"{sign}{kroner:,}".replace(",", ".") + f",{rest:02d} kr."


def vat_of(net: int, rate: Decimal) -> int:
    """The VAT on ``net`` øre at ``rate`` percent, rounded to whole øre (half up)."""
    vat = (Decimal(net) * rate / 100).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return int(vat)


# --- Tariffs and prices ---------------------------------------------------------------------------


def current_tariff(at: datetime | None = None) -> TariffVersion:
    """The tariff version in force at ``at`` (default now)."""
    tariff = (
        TariffVersion.objects.filter(valid_from__lte=at or timezone.now())
        .order_by("-valid_from")
        .first()
    )
    if tariff is None:
        raise ValidationError(_("No restore tariff is in force."))
    return tariff


@dataclass(frozen=True)
class InvoiceLineSpec:
    """A line to invoice: ``quantity`` × ``unit_price`` øre, ex. VAT."""

    description: str
    quantity: int
    unit_price: int

    @property
    def net(self) -> int:
        return self.quantity * self.unit_price


@dataclass(frozen=True)
class Price:
    """A restore's price from one tariff version. ``gb`` is the number of started GB (10**9
    bytes); ``per_gb`` the tariff's price per started GB; amounts are øre."""

    tariff: TariffVersion
    scope: str
    size_bytes: int
    gb: int
    fee: int
    per_gb: int
    net: int
    vat: int
    gross: int

    @property
    def currency(self) -> str:
        return self.tariff.currency

    def lines(self) -> list[InvoiceLineSpec]:
        """The invoice lines of this price: the scope's fee and, when there is data, the GB."""
        lines = [
            InvoiceLineSpec(
                _("Restore fee: %(scope)s") % {"scope": RestoreScope(self.scope).label}, 1, self.fee
            )
        ]
        if self.gb:
            lines.append(InvoiceLineSpec(_("Restored data, per started GB"), self.gb, self.per_gb))
        return lines


def quote_price(scope: str, size_bytes: int, *, at: datetime | None = None) -> Price:
    """The price of restoring ``size_bytes`` in ``scope`` under the tariff in force at ``at``."""
    if scope not in RestoreScope.values:
        raise ValidationError({"scope": _("Unknown restore scope.")})
    if size_bytes < 0:
        raise ValidationError({"size_bytes": _("A size cannot be negative.")})
    tariff = current_tariff(at)
    gb = -(-size_bytes // GB)
    fee = tariff.fee_for(scope)
    net = fee + gb * tariff.price_per_gb
    vat = vat_of(net, tariff.vat_rate)
    return Price(tariff, scope, size_bytes, gb, fee, tariff.price_per_gb, net, vat, net + vat)


def create_tariff_version(
    actor: Actor,
    *,
    valid_from: datetime,
    fees: Mapping[str, int],
    price_per_gb: int,
    vat_rate: Decimal = Decimal("25.00"),
) -> TariffVersion:
    """Staff set new prices from ``valid_from`` (not in the past); earlier quotes keep theirs.
    ``fees`` gives the fee in øre ex. VAT for every scope in RestoreScope."""
    require(actor, "billing.manage")
    if valid_from < timezone.now():
        raise ValidationError({"valid_from": _("A new tariff cannot start in the past.")})
    if set(fees) != set(RestoreScope.values):
        raise ValidationError({"fees": _("Give a fee for every restore scope.")})
    with transaction.atomic():
        tariff = TariffVersion(
            valid_from=valid_from,
            vat_rate=vat_rate,
            price_per_gb=price_per_gb,
            **{f"fee_{scope}": amount for scope, amount in fees.items()},
        )
        tariff.full_clean()
        tariff.save()
        audit.record(
            actor,
            "tariff.created",
            target=str(tariff),
            fees=dict(fees),
            price_per_gb=price_per_gb,
            vat_rate=str(vat_rate),
        )
    return tariff


# --- Invoices -------------------------------------------------------------------------------------


def _take_number() -> tuple[int, int, datetime]:
    """The next number of this year's series and the issue time; call inside a transaction.

    The issue time is read after the counter is locked, so numbers follow issue times."""
    while True:
        year = timezone.localdate().year
        InvoiceCounter.objects.bulk_create([InvoiceCounter(year=year)], ignore_conflicts=True)
        counter = InvoiceCounter.objects.select_for_update().get(year=year)
        issued_at = timezone.now()
        if timezone.localtime(issued_at).year == year:  # else the year ended while we waited
            counter.last += 1
            counter.save(update_fields=["last"])
            return year, counter.last, issued_at


def _buyer_address(customer: Customer) -> str:
    if customer.billing_address.strip():
        return customer.billing_address.strip()
    lines = [customer.address, f"{customer.postal_code} {customer.city}"]
    if customer.country != "DK":
        lines.append(customer.country)
    return "\n".join(lines)


def _seller() -> dict:
    return dict(settings.HAVN_SELLER)


def _line_specs(
    lines: Sequence[tuple[str, int] | InvoiceLineSpec], price: "Price | None"
) -> list[InvoiceLineSpec]:
    specs = [
        line if isinstance(line, InvoiceLineSpec) else InvoiceLineSpec(line[0], 1, line[1])
        for line in lines
    ]
    if not specs and price is not None:
        specs = price.lines()
    if not specs:
        raise ValidationError(_("An invoice needs at least one line."))
    for spec in specs:
        if not spec.description.strip() or len(spec.description) > 300:
            raise ValidationError(_("Each line needs a description of at most 300 characters."))
        if spec.quantity < 1 or spec.unit_price < 0:
            raise ValidationError(_("Quantities are positive and prices are not negative."))
    if price is not None and sum(spec.net for spec in specs) != price.net:
        raise ValueError("The lines do not add up to the price's net amount.")
    return specs


def issue_invoice(
    actor: Actor,
    customer: Customer,
    lines: Sequence[tuple[str, int]] | Sequence[InvoiceLineSpec],
    *,
    reference: str,
    price: Price | None = None,
) -> Invoice:
    """Issue an invoice for ``lines`` (``(description, net øre)`` or `InvoiceLineSpec`), due in
    ``HAVN_INVOICE_DUE_DAYS``. With ``price`` the invoice keeps its tariff version and VAT rate,
    and the lines (empty: the price's own lines) must add up to the price; without it the VAT rate
    is the tariff's in force. Checks no permission: the calling service has (see the module)."""
    specs = _line_specs(lines, price)
    reference = reference.strip()
    if not reference or len(reference) > 200:
        raise ValidationError({"reference": _("Give a reference of at most 200 characters.")})
    tariff = price.tariff if price is not None else current_tariff()
    net = sum(spec.net for spec in specs)
    if net <= 0:
        raise ValidationError(_("An invoice must be for more than 0 kr."))
    vat = vat_of(net, tariff.vat_rate)
    with transaction.atomic():
        year, sequence, issued_at = _take_number()
        invoice = Invoice.objects.create(
            customer=customer,
            kind=Invoice.Kind.INVOICE,
            number=f"{year}-{sequence:06d}",
            year=year,
            sequence=sequence,
            issued_at=issued_at,
            due_at=issued_at + timedelta(days=settings.HAVN_INVOICE_DUE_DAYS),
            language=customer.language,
            buyer_name=customer.name,
            buyer_address=_buyer_address(customer),
            buyer_cvr=customer.cvr,
            seller=_seller(),
            currency=tariff.currency,
            vat_rate=tariff.vat_rate,
            net=net,
            vat=vat,
            gross=net + vat,
            reference=reference,
            tariff=price.tariff if price is not None else None,
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=invoice,
                position=position,
                description=spec.description.strip(),
                quantity=spec.quantity,
                unit_price=spec.unit_price,
                net=spec.net,
            )
            for position, spec in enumerate(specs, start=1)
        )
        audit.record(
            actor,
            "invoice.issued",
            customer=customer,
            target=invoice.number,
            reference=reference,
            gross=invoice.gross,
        )
    return invoice


def issue_credit_note(actor: Actor, invoice: Invoice, *, reason: str) -> Invoice:
    """Credit the whole invoice with a credit note (negative amounts) and mark it credited.

    An invoice is credited once. When it was open, the credit note settles it (status paid);
    when it was paid, the credit note stays open until the money is refunded (`mark_paid`).
    Checks no permission: the calling service has (see the module); staff use `credit_invoice`.
    """
    reason = reason.strip()
    if not reason:
        raise ValidationError({"reason": _("Write why the invoice is credited.")})
    with transaction.atomic():
        original = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if original.kind != Invoice.Kind.INVOICE:
            raise ValidationError(_("A credit note cannot be credited."))
        if original.status == Invoice.Status.CREDITED:
            raise ValidationError(_("This invoice has already been credited."))
        year, sequence, issued_at = _take_number()
        settled = original.status == Invoice.Status.OPEN
        note = Invoice.objects.create(
            customer=original.customer,
            kind=Invoice.Kind.CREDIT_NOTE,
            number=f"{year}-{sequence:06d}",
            year=year,
            sequence=sequence,
            status=Invoice.Status.PAID if settled else Invoice.Status.OPEN,
            issued_at=issued_at,
            due_at=issued_at,
            paid_at=issued_at if settled else None,
            payment_reference=original.number if settled else "",
            language=original.language,
            buyer_name=original.buyer_name,
            buyer_address=original.buyer_address,
            buyer_cvr=original.buyer_cvr,
            seller=_seller(),
            currency=original.currency,
            vat_rate=original.vat_rate,
            net=-original.net,
            vat=-original.vat,
            gross=-original.gross,
            reference=original.reference,
            reason=reason,
            credits=original,
            tariff=original.tariff,
        )
        InvoiceLine.objects.bulk_create(
            InvoiceLine(
                invoice=note,
                position=line.position,
                description=line.description,
                quantity=line.quantity,
                unit_price=-line.unit_price,
                net=-line.net,
            )
            for line in original.lines.all()
        )
        Invoice.objects.filter(
            pk=original.pk, status__in=(Invoice.Status.OPEN, Invoice.Status.PAID)
        ).set_payment_status(status=Invoice.Status.CREDITED)
        audit.record(
            actor,
            "invoice.credited",
            customer=original.customer,
            target=original.number,
            credit_note=note.number,
            reason=reason,
        )
    return note


def credit_invoice(actor: Actor, invoice: Invoice, *, reason: str) -> Invoice:
    """Staff credit an invoice from the panel: `issue_credit_note` behind ``billing.manage``."""
    require(actor, "billing.manage", invoice.customer)
    return issue_credit_note(actor, invoice, reason=reason)


# --- Payment --------------------------------------------------------------------------------------


def mark_paid(actor: Actor, invoice: Invoice, *, provider_reference: str = "") -> Invoice:
    """Record that an open invoice is paid (or, for a credit note, that the money is refunded).

    Staff do this by hand (``billing.manage``) for a bank transfer; the payment provider's
    confirmation does it as the system. Paying a paid invoice again changes nothing; a credited
    invoice cannot be paid. Sends `invoice_paid` after the commit."""
    if actor.is_authenticated:
        require(actor, "billing.manage", invoice.customer)
    with transaction.atomic():
        changed = Invoice.objects.filter(
            pk=invoice.pk, status=Invoice.Status.OPEN
        ).set_payment_status(
            status=Invoice.Status.PAID,
            paid_at=timezone.now(),
            payment_reference=provider_reference.strip()[:200],
        )
        invoice = Invoice.objects.get(pk=invoice.pk)
        if not changed:
            if invoice.status == Invoice.Status.PAID:
                return invoice
            raise ValidationError(_("A credited invoice cannot be paid."))
        audit.record(
            actor,
            "invoice.refunded" if invoice.is_credit_note else "invoice.paid",
            customer=invoice.customer,
            target=invoice.number,
            provider_reference=invoice.payment_reference,
            gross=invoice.gross,
        )
        if not invoice.is_credit_note:
            transaction.on_commit(lambda: invoice_paid.send(sender=Invoice, invoice=invoice))
    return invoice


def start_payment(actor: Actor, invoice: Invoice) -> PaymentRedirect:
    """Open a payment of an open invoice at the payment provider; send the browser to the
    returned URL. Havn never handles card data: the customer pays on the provider's page."""
    require(actor, "billing.pay", invoice.customer)
    if invoice.is_credit_note or invoice.status != Invoice.Status.OPEN:
        raise ValidationError(_("Only an open invoice can be paid."))
    return_url = reverse("accounts:invoice", args=[invoice.customer_id, invoice.pk])
    try:
        redirect = get_payment_driver().start_payment(
            PaymentRequest(invoice.pk, invoice.number, invoice.gross, invoice.currency, return_url)
        )
    except PaymentError as exc:
        raise ValidationError(str(exc)) from None
    audit.record(
        actor,
        "invoice.payment_started",
        customer=invoice.customer,
        target=invoice.number,
        provider_reference=redirect.provider_reference,
    )
    return redirect


def confirm_payment(payload: Mapping[str, str]) -> Invoice:
    """The payment provider confirms a payment (its callback or its page's return): check it
    with the driver and mark the invoice paid. Raises `PaymentError` for a confirmation that is
    not genuine or does not match the invoice. A repeated confirmation changes nothing."""
    confirmation = get_payment_driver().confirm(payload)
    invoice = Invoice.objects.filter(pk=confirmation.invoice_id, kind=Invoice.Kind.INVOICE).first()
    if invoice is None:
        raise PaymentError(_("This is not a valid payment."))
    if (confirmation.amount, confirmation.currency) != (invoice.gross, invoice.currency):
        audit.record(
            Actor.system(),
            "invoice.payment_mismatch",
            customer=invoice.customer,
            target=invoice.number,
            provider_reference=confirmation.provider_reference,
            amount=confirmation.amount,
        )
        raise PaymentError(_("The amount paid does not match the invoice."))
    try:
        return mark_paid(
            Actor.system(), invoice, provider_reference=confirmation.provider_reference
        )
    except ValidationError:
        raise PaymentError(_("This invoice has been credited and cannot be paid.")) from None


# --- Reading --------------------------------------------------------------------------------------


def invoices_visible_to(user):
    """The invoices ``user`` may read: visible_to, narrowed to the customers where the user holds
    ``billing.view`` (a technical member sees none; staff see all)."""
    return narrow_to_permission(Invoice.objects.visible_to(user), user, "billing.view")
