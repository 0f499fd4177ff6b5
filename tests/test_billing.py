"""Billing: tariffs and prices, invoice numbering, immutability, credit notes, payment, PDF."""

import io
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from pypdf import PdfReader

from accounts import billing
from accounts.actor import Actor
from accounts.invoice_pdf import render_invoice_pdf
from accounts.models import AuditEvent, Invoice, InvoiceLine, Role, TariffVersion
from infra.payments import PaymentError
from tests.conftest import FIRST_TARIFF
from tests.factories import CustomerFactory, MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db

SYSTEM = Actor.system()


@pytest.fixture
def admin():
    return Actor(UserFactory(staff_role="admin"))


def invoice_for(customer, amount=29_500, reference="Restore order 1"):
    return billing.issue_invoice(
        SYSTEM, customer, [("Restore fee: webhotel", amount)], reference=reference
    )


# --- Tariffs and prices ---------------------------------------------------------------------------


def test_the_first_tariff_prices_in_oere_ex_vat(tariff):
    assert (tariff.currency, tariff.vat_rate) == ("DKK", Decimal("25.00"))
    assert [tariff.fee_for(s) for s in ("file", "webhotel", "database", "mailbox", "server")] == [
        29_500,
        49_500,
        39_500,
        39_500,
        249_500,
    ]
    assert tariff.price_per_gb == 2_500


@pytest.mark.parametrize(
    ("size", "gb"),
    [(0, 0), (1, 1), (10**9, 1), (10**9 + 1, 2), (3_500_000_000, 4)],
)
def test_a_price_counts_started_gigabytes_of_ten_to_the_ninth_bytes(tariff, size, gb):
    price = billing.quote_price("webhotel", size)
    assert (price.gb, price.fee, price.per_gb) == (gb, 49_500, 2_500)
    assert price.net == 49_500 + gb * 2_500
    assert price.vat == price.net // 4 and price.gross == price.net + price.vat
    assert (price.tariff, price.scope, price.size_bytes) == (tariff, "webhotel", size)


def test_vat_is_rounded_to_whole_oere_half_up():
    assert billing.vat_of(2, Decimal(25)) == 1  # 0.5 øre
    assert billing.vat_of(1, Decimal(25)) == 0  # 0.25 øre
    assert billing.vat_of(59_500, Decimal(25)) == 14_875


def test_a_price_refuses_an_unknown_scope_or_a_negative_size(tariff):
    with pytest.raises(ValidationError):
        billing.quote_price("galaxy", 1)
    with pytest.raises(ValidationError):
        billing.quote_price("file", -1)


@pytest.mark.parametrize(
    ("oere", "text"),
    [(123_450, "1.234,50 kr."), (0, "0,00 kr."), (-29_500, "-295,00 kr."), (5, "0,05 kr.")],
)
def test_money_is_formatted_as_danish_kroner(oere, text):
    assert billing.format_kroner(oere) == text
    assert billing.format_kroner(123_456_789) == "1.234.567,89 kr."


def test_a_new_tariff_version_supersedes_and_a_quote_keeps_its_version(tariff, admin):
    old = billing.quote_price("file", 1)
    start = timezone.now() + timedelta(days=30)
    fees = {"file": 39_500, "webhotel": 59_500, "database": 49_500, "mailbox": 49_500}
    new = billing.create_tariff_version(
        admin, valid_from=start, fees={**fees, "server": 299_500}, price_per_gb=3_000
    )
    assert billing.quote_price("file", 1).tariff == tariff  # not yet in force
    later = billing.quote_price("file", 1, at=start + timedelta(seconds=1))
    assert (later.tariff, later.net) == (new, 42_500)
    assert (old.tariff.pk, old.net) == (tariff.pk, 32_000)
    assert AuditEvent.objects.filter(action="tariff.created").exists()


def test_a_tariff_in_force_cannot_be_changed_or_deleted(tariff):
    tariff.fee_file = 1
    with pytest.raises(PermissionError):
        tariff.save()
    with pytest.raises(PermissionError):
        TariffVersion.objects.filter(pk=tariff.pk).update(fee_file=1)
    with pytest.raises(PermissionError):
        tariff.delete()
    assert TariffVersion.objects.get(pk=tariff.pk).fee_file == 29_500


def test_only_staff_admins_set_tariffs_and_never_in_the_past(tariff, admin, owner_a):
    fees = dict.fromkeys(("file", "webhotel", "database", "mailbox", "server"), 1)
    with pytest.raises(PermissionDenied):
        billing.create_tariff_version(
            Actor(owner_a), valid_from=timezone.now() + timedelta(days=1), fees=fees, price_per_gb=1
        )
    with pytest.raises(ValidationError):
        billing.create_tariff_version(
            admin, valid_from=timezone.now() - timedelta(days=1), fees=fees, price_per_gb=1
        )
    with pytest.raises(ValidationError):
        billing.create_tariff_version(
            admin, valid_from=timezone.now() + timedelta(days=1), fees={"file": 1}, price_per_gb=1
        )
    assert TariffVersion.objects.count() == 1


# --- Issuing --------------------------------------------------------------------------------------


def test_an_invoice_is_numbered_and_keeps_the_buyer_as_it_was(tariff, customer_a, settings):
    first = invoice_for(customer_a)
    second = billing.issue_invoice(
        SYSTEM,
        customer_a,
        [billing.InvoiceLineSpec("Restored data, per started GB", 3, 2_500), ("Fee", 29_500)],
        reference="Restore order 2",
    )
    year = timezone.localdate().year
    assert first.number.startswith(f"{year}-")
    assert second.sequence == first.sequence + 1
    assert second.number == f"{year}-{second.sequence:06d}"
    assert (second.net, second.vat, second.gross) == (37_000, 9_250, 46_250)
    assert [(line.quantity, line.unit_price, line.net) for line in second.lines.all()] == [
        (3, 2_500, 7_500),
        (1, 29_500, 29_500),
    ]
    assert (second.status, second.currency, second.vat_rate) == ("open", "DKK", Decimal("25"))
    assert second.due_at - second.issued_at == timedelta(days=settings.HAVN_INVOICE_DUE_DAYS)
    assert (second.buyer_name, second.buyer_cvr) == ("Alfa ApS", "10150817")
    assert second.buyer_address == "Vestergade 1\n1456 København K"
    assert second.seller == {**settings.HAVN_SELLER}
    customer_a.name = "Renamed ApS"
    customer_a.save()
    assert Invoice.objects.get(pk=second.pk).buyer_name == "Alfa ApS"
    event = AuditEvent.objects.get(action="invoice.issued", target=second.number)
    assert (event.customer, event.details["gross"]) == (customer_a, 46_250)


def test_an_invoice_for_a_price_keeps_its_tariff_and_lines(tariff, customer_a):
    price = billing.quote_price("database", 2 * 10**9)
    invoice = billing.issue_invoice(SYSTEM, customer_a, [], reference="Order 7", price=price)
    assert (invoice.tariff, invoice.net, invoice.gross) == (tariff, price.net, price.gross)
    assert [line.net for line in invoice.lines.all()] == [39_500, 5_000]
    with pytest.raises(ValueError):
        billing.issue_invoice(SYSTEM, customer_a, [("Too little", 1)], reference="x", price=price)


@pytest.mark.parametrize(
    ("lines", "reference"),
    [
        ([], "Order"),
        ([("Free", 0)], "Order"),
        ([("Negative", -100)], "Order"),
        ([("", 100)], "Order"),
        ([("Fee", 100)], "  "),
    ],
)
def test_bad_invoices_are_refused_and_use_no_number(tariff, customer_a, lines, reference):
    before = invoice_for(customer_a)
    with pytest.raises(ValidationError):
        billing.issue_invoice(SYSTEM, customer_a, lines, reference=reference)
    assert invoice_for(customer_a).sequence == before.sequence + 1


def test_a_rolled_back_invoice_gives_its_number_back(tariff, customer_a):
    with pytest.raises(RuntimeError), transaction.atomic():
        lost = invoice_for(customer_a)
        raise RuntimeError("the order failed after invoicing")
    assert not Invoice.objects.filter(number=lost.number).exists()
    assert invoice_for(customer_a).number == lost.number


def test_an_issued_invoice_and_its_lines_cannot_be_changed_or_deleted(tariff, customer_a):
    invoice = invoice_for(customer_a)
    line = invoice.lines.get()
    invoice.net = 1
    for attempt in (
        invoice.save,
        invoice.delete,
        line.save,
        line.delete,
        lambda: Invoice.objects.filter(pk=invoice.pk).update(net=1),
        lambda: Invoice.objects.filter(pk=invoice.pk).delete(),
        lambda: InvoiceLine.objects.filter(pk=line.pk).update(net=1),
        lambda: InvoiceLine.objects.filter(pk=line.pk).delete(),
        lambda: Invoice.objects.filter(pk=invoice.pk).set_payment_status(net=1),
    ):
        with pytest.raises(PermissionError):
            attempt()
    stored = Invoice.objects.get(pk=invoice.pk)
    assert (stored.net, stored.lines.get().net) == (29_500, 29_500)


@pytest.mark.parametrize(
    ("issued", "number_year", "retain_until"),
    [
        (datetime(2026, 6, 15, 12, 0, tzinfo=UTC), 2026, date(2031, 12, 31)),
        # 23:30 UTC on New Year's Eve is already 2027 in Copenhagen: the 2027 series and year
        (datetime(2026, 12, 31, 23, 30, tzinfo=UTC), 2027, date(2032, 12, 31)),
    ],
)
def test_invoices_are_kept_five_years_after_their_financial_year(
    tariff, customer_a, time_machine, issued, number_year, retain_until
):
    time_machine.move_to(issued, tick=False)
    invoice = invoice_for(customer_a)
    assert invoice.number.startswith(f"{number_year}-")
    assert invoice.retain_until == retain_until


# --- Credit notes ---------------------------------------------------------------------------------


def test_a_credit_note_credits_the_whole_invoice_once(tariff, customer_a):
    invoice = billing.issue_invoice(
        SYSTEM,
        customer_a,
        [billing.InvoiceLineSpec("Data", 2, 2_500), ("Fee", 49_500)],
        reference="Restore order 42",
    )
    note = billing.issue_credit_note(SYSTEM, invoice, reason="The restore failed.")
    assert (note.kind, note.credits, note.sequence) == (
        "credit_note",
        invoice,
        invoice.sequence + 1,
    )
    assert (note.net, note.vat, note.gross) == (-invoice.net, -invoice.vat, -invoice.gross)
    assert [(line.quantity, line.unit_price, line.net) for line in note.lines.all()] == [
        (2, -2_500, -5_000),
        (1, -49_500, -49_500),
    ]
    assert (note.reference, note.reason) == ("Restore order 42", "The restore failed.")
    # Nothing was paid: the credit note settles the invoice.
    assert (note.status, note.paid_at is not None) == ("paid", True)
    assert Invoice.objects.get(pk=invoice.pk).status == "credited"
    with pytest.raises(ValidationError):
        billing.issue_credit_note(SYSTEM, invoice, reason="Again")
    with pytest.raises(ValidationError):
        billing.issue_credit_note(SYSTEM, note, reason="A credit note of a credit note")
    assert Invoice.objects.filter(credits=invoice).count() == 1
    event = AuditEvent.objects.get(action="invoice.credited")
    assert (event.target, event.details["credit_note"]) == (invoice.number, note.number)


def test_crediting_a_paid_invoice_leaves_a_refund_to_make(tariff, customer_a, admin):
    invoice = billing.mark_paid(SYSTEM, invoice_for(customer_a), provider_reference="pay-1")
    note = billing.issue_credit_note(SYSTEM, invoice, reason="Waived: our fault.")
    assert note.status == "open"
    refunded = billing.mark_paid(admin, note, provider_reference="refund-1")
    assert (refunded.status, refunded.payment_reference) == ("paid", "refund-1")
    assert AuditEvent.objects.filter(action="invoice.refunded", target=note.number).exists()


def test_a_credit_note_needs_a_reason(tariff, customer_a):
    invoice = invoice_for(customer_a)
    with pytest.raises(ValidationError):
        billing.issue_credit_note(SYSTEM, invoice, reason="   ")
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_only_staff_admins_credit_invoices_by_hand(tariff, customer_a, owner_a, admin):
    invoice = invoice_for(customer_a)
    for actor in (Actor(owner_a), Actor(UserFactory(staff_role="support"))):
        with pytest.raises(PermissionDenied):
            billing.credit_invoice(actor, invoice, reason="Please")
    assert billing.credit_invoice(admin, invoice, reason="Goodwill").credits == invoice


# --- Payment --------------------------------------------------------------------------------------


def test_marking_paid_is_for_staff_admins_and_happens_once(
    tariff, customer_a, owner_a, admin, django_capture_on_commit_callbacks
):
    invoice = invoice_for(customer_a)
    with pytest.raises(PermissionDenied):
        billing.mark_paid(Actor(owner_a), invoice)
    paid = []
    billing.invoice_paid.connect(
        lambda invoice, **kw: paid.append(invoice.pk), weak=False, dispatch_uid="test-paid"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            billing.mark_paid(admin, invoice, provider_reference="Bank transfer 77")
            again = billing.mark_paid(admin, invoice, provider_reference="other")
    finally:
        billing.invoice_paid.disconnect(dispatch_uid="test-paid")
    assert paid == [invoice.pk]
    assert (again.status, again.payment_reference) == ("paid", "Bank transfer 77")
    assert AuditEvent.objects.filter(action="invoice.paid").count() == 1


def test_a_credited_invoice_cannot_be_paid(tariff, customer_a, admin):
    invoice = invoice_for(customer_a)
    billing.issue_credit_note(SYSTEM, invoice, reason="Cancelled")
    with pytest.raises(ValidationError):
        billing.mark_paid(admin, invoice)
    assert Invoice.objects.get(pk=invoice.pk).status == "credited"


def test_the_local_driver_pays_an_invoice_through_a_signed_confirmation(tariff, customer_a):
    owner = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    invoice = invoice_for(customer_a)
    payment = billing.start_payment(Actor(owner), invoice)
    assert payment.url.startswith("/payments/local/")
    token = payment.url.split("/")[3]
    paid = billing.confirm_payment({"token": token})
    assert (paid.status, paid.payment_reference) == ("paid", payment.provider_reference)
    assert billing.confirm_payment({"token": token}).paid_at == paid.paid_at  # a replay
    with pytest.raises(PaymentError):
        billing.confirm_payment({"token": token[:-2] + "xx"})
    with pytest.raises(ValidationError):
        billing.start_payment(Actor(owner), paid)  # nothing left to pay


def test_a_payment_confirmed_after_a_credit_is_refused(tariff, customer_a, owner_a):
    invoice = invoice_for(customer_a)
    token = billing.start_payment(Actor(owner_a), invoice).url.split("/")[3]
    billing.issue_credit_note(SYSTEM, invoice, reason="Cancelled")
    with pytest.raises(PaymentError):
        billing.confirm_payment({"token": token})
    assert Invoice.objects.get(pk=invoice.pk).status == "credited"


def test_only_owners_admins_and_billing_members_start_payments(tariff, customer_a):
    invoice = invoice_for(customer_a)
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    for user in (technical, UserFactory(staff_role="admin"), UserFactory()):
        with pytest.raises(PermissionDenied):
            billing.start_payment(Actor(user), invoice)


# --- PDF ------------------------------------------------------------------------------------------


def pdf_text(invoice) -> str:
    reader = PdfReader(io.BytesIO(render_invoice_pdf(invoice)))
    return "\n".join(page.extract_text() for page in reader.pages)


def test_the_pdf_has_what_an_invoice_must_show(tariff, settings):
    customer = CustomerFactory(
        name="Kōgyō Æblegrød ApS", kind="company", cvr="10150817", language="en"
    )
    invoice = billing.issue_invoice(
        SYSTEM,
        customer,
        [billing.InvoiceLineSpec("Restored data, per started GB", 4, 2_500), ("Fee", 49_500)],
        reference="Restore order 42",
    )
    text = pdf_text(invoice)
    with translation.override("en"):
        issued, due = (
            date_format(timezone.localtime(moment), "DATE_FORMAT")
            for moment in (invoice.issued_at, invoice.due_at)
        )
    for expected in (
        f"Invoice {invoice.number}",
        f"Date: {issued}",
        f"Due date: {due}",
        settings.HAVN_SELLER["name"],
        f"CVR number: {settings.HAVN_SELLER['cvr']}",
        "Kogyo Æblegrød ApS",  # ō is outside the PDF font: its base letter stands in
        "Vestergade 1",
        "1456 København K",
        "CVR number: 10150817",
        "Restore order 42",
        "Restored data, per started GB",
        "25,00 kr.",
        "100,00 kr.",
        "595,00 kr.",  # net
        "VAT 25 %",
        "148,75 kr.",
        "Total DKK",
        "743,75 kr.",
    ):
        assert expected in text, expected


def test_the_credit_note_pdf_names_the_invoice_it_credits(tariff, customer_a):
    invoice = invoice_for(customer_a)
    note = billing.issue_credit_note(SYSTEM, invoice, reason="The restore failed.")
    text = pdf_text(note)
    # Customer A prefers Danish; the catalogue may not have these messages yet, so accept both.
    assert f"{note.number}" in text
    assert invoice.number in text
    assert "The restore failed." in text
    assert "-368,75 kr." in text and "-295,00 kr." in text


# --- Concurrency ----------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_numbers_stay_gap_free_under_concurrent_issuing():
    tariff = TariffVersion.objects.first() or TariffVersion.objects.create(**FIRST_TARIFF)
    assert tariff is not None
    customers = [CustomerFactory() for _ in range(4)]
    threads_n, each = 8, 5
    barrier = threading.Barrier(threads_n)
    errors = []

    def issue(customer):
        try:
            barrier.wait()
            for _ in range(each):
                invoice = invoice_for(customer)
                if invoice.sequence % 7 == 0:  # credit notes take numbers from the same series
                    billing.issue_credit_note(SYSTEM, invoice, reason="Concurrent credit")
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=issue, args=(customers[i % 4],)) for i in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    rows = list(Invoice.objects.order_by("sequence").values_list("sequence", "issued_at", "kind"))
    invoices = [row for row in rows if row[2] == "invoice"]
    assert len(invoices) == threads_n * each
    assert [row[0] for row in rows] == list(range(1, len(rows) + 1))
    assert len(rows) > len(invoices)  # some credit notes were issued in between
    issued = [row[1] for row in rows]
    assert issued == sorted(issued)  # numbers follow issue times
