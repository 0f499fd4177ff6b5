"""Invoices in the panel and the API: who sees them, the PDF, paying, and staff's actions."""

import io

import pytest
from django.test import Client
from pypdf import PdfReader

from accounts import billing
from accounts.actor import Actor
from accounts.models import ApiKey, Invoice, Role, TariffVersion
from accounts.services import create_api_key
from tests.conftest import login
from tests.factories import MembershipFactory, UserFactory
from tests.test_billing import FIRST_TARIFF

pytestmark = pytest.mark.django_db


@pytest.fixture
def invoice(customer_a):
    if not TariffVersion.objects.exists():
        TariffVersion.objects.create(**FIRST_TARIFF)
    return billing.issue_invoice(
        Actor.system(), customer_a, [("Gendannelse af webhotel", 98_760)], reference="Order 9"
    )


def url(name, invoice, suffix=""):
    return f"/customers/{invoice.customer_id}/invoices/{invoice.pk}/{suffix}"


def member(customer, role):
    return login(Client(), MembershipFactory(customer=customer, role=role).user)


# --- Panel ----------------------------------------------------------------------------------------


def test_the_owner_sees_the_invoice_in_danish_kroner(invoice, owner_a):
    client = login(Client(), owner_a)
    listing = client.get(f"/customers/{invoice.customer_id}/invoices/")
    assert listing.status_code == 200
    assert invoice.number in listing.content.decode()
    assert "1.234,50 kr." in listing.content.decode()  # 987,60 + 25 % VAT
    page = client.get(url("invoice", invoice)).content.decode()
    for text in ("Gendannelse af webhotel", "987,60 kr.", "246,90 kr.", "Order 9", "Alfa ApS"):
        assert text in page
    assert url("invoice", invoice, "pay/") in page  # the pay button


def test_technical_members_see_no_invoices(invoice):
    client = member(invoice.customer, Role.TECHNICAL)
    assert client.get(f"/customers/{invoice.customer_id}/invoices/").status_code == 403
    assert client.get(url("invoice", invoice)).status_code == 403
    assert client.get(url("invoice", invoice, "pdf/")).status_code == 403


def test_the_pdf_downloads(invoice):
    response = member(invoice.customer, Role.BILLING).get(url("invoice", invoice, "pdf/"))
    assert response["Content-Type"] == "application/pdf"
    assert f'filename="invoice-{invoice.number}.pdf"' in response["Content-Disposition"]
    text = PdfReader(io.BytesIO(response.content)).pages[0].extract_text()
    assert invoice.number in text and "1.234,50 kr." in text


def test_paying_through_the_local_provider_page(invoice):
    client = member(invoice.customer, Role.BILLING)
    response = client.post(url("invoice", invoice, "pay/"))
    assert response.status_code == 302 and response["Location"].startswith("/payments/local/")
    provider_page = client.get(response["Location"])
    assert "1.234,50 kr." in provider_page.content.decode()
    # It asks for nothing: the CSRF token is its only input (Havn never takes card data).
    payment_card = provider_page.content.decode().split('<div class="card">')[1]
    assert payment_card.count("<input") == 1
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
    back = client.post(response["Location"], {"approve": "1"})
    assert back["Location"] == url("invoice", invoice)
    paid = Invoice.objects.get(pk=invoice.pk)
    assert paid.status == "paid" and paid.payment_reference.startswith("local-")


def test_cancelling_on_the_provider_page_leaves_the_invoice_open(invoice, owner_a):
    client = login(Client(), owner_a)
    location = client.post(url("invoice", invoice, "pay/"))["Location"]
    client.post(location, {"cancel": "1"})
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


def test_the_provider_callback_checks_its_token(invoice, owner_a):
    token = billing.start_payment(Actor(owner_a), invoice).url.split("/")[3]
    anonymous = Client(enforce_csrf_checks=True)
    assert anonymous.post("/payments/callback/", {"token": "forged"}).status_code == 400
    assert Invoice.objects.get(pk=invoice.pk).status == "open"
    assert anonymous.post("/payments/callback/", {"token": token}).status_code == 200
    assert Invoice.objects.get(pk=invoice.pk).status == "paid"


def test_staff_see_a_customers_invoices_and_admins_credit_and_record_payments(invoice, logged_in):
    support = logged_in(UserFactory(staff_role="support"))
    page = support.get(url("invoice", invoice)).content.decode()
    assert invoice.number in page and "/pay/" not in page and "/credit/" not in page
    assert support.post(url("invoice", invoice, "credit/"), {"reason": "x"}).status_code == 403
    admin = logged_in(UserFactory(staff_role="admin"))
    assert url("invoice", invoice, "credit/") in admin.get(url("invoice", invoice)).content.decode()
    admin.post(url("invoice", invoice, "mark-paid/"), {"provider_reference": "Bank 12"})
    assert Invoice.objects.get(pk=invoice.pk).payment_reference == "Bank 12"
    response = admin.post(url("invoice", invoice, "credit/"), {"reason": "Goodwill"})
    note = Invoice.objects.get(credits=invoice)
    assert response["Location"] == url("invoice", note)
    assert note.status == "open"  # paid, then credited: a refund to make
    assert url("invoice", invoice) in admin.get(url("invoice", note)).content.decode()


def test_customers_cannot_credit_or_mark_paid(invoice, owner_a):
    client = login(Client(), owner_a)
    assert client.post(url("invoice", invoice, "credit/"), {"reason": "x"}).status_code == 403
    assert client.post(url("invoice", invoice, "mark-paid/")).status_code == 403
    assert Invoice.objects.get(pk=invoice.pk).status == "open"


# --- API ------------------------------------------------------------------------------------------


def test_the_api_lists_and_shows_invoices_in_oere(invoice, owner_a):
    _key, token = create_api_key(Actor(owner_a), invoice.customer, name="books")
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    body = client.get("/api/v1/invoices").json()
    assert [row["number"] for row in body["results"]] == [invoice.number]
    detail = client.get(f"/api/v1/invoices/{invoice.pk}").json()
    assert (detail["net"], detail["vat"], detail["gross"]) == (98_760, 24_690, 123_450)
    assert (detail["kind"], detail["status"], detail["credits"]) == ("invoice", "open", None)
    assert detail["lines"] == [
        {
            "position": 1,
            "description": "Gendannelse af webhotel",
            "quantity": 1,
            "unit_price": 98_760,
            "net": 98_760,
        }
    ]
    assert detail["retain_until"] == f"{invoice.year + 5}-12-31"


def test_the_api_serves_the_pdf(invoice, owner_a):
    client = login(Client(), owner_a)
    for accept in ("*/*", "application/pdf"):
        response = client.get(f"/api/v1/invoices/{invoice.pk}/pdf", HTTP_ACCEPT=accept)
        assert response.status_code == 200
        assert response["Content-Type"] == "application/pdf"
        assert response.content.startswith(b"%PDF-")
    missing = client.get("/api/v1/invoices/999999/pdf", HTTP_ACCEPT="application/pdf")
    assert (missing.status_code, missing["Content-Type"]) == (404, "application/problem+json")


def test_the_api_shows_a_credit_note_with_the_invoice_it_credits(invoice, logged_in):
    note = billing.issue_credit_note(Actor.system(), invoice, reason="Failed")
    client = logged_in(UserFactory(staff_role="support"))
    detail = client.get(f"/api/v1/invoices/{note.pk}").json()
    assert (detail["kind"], detail["credits"], detail["gross"]) == (
        "credit_note",
        invoice.number,
        -123_450,
    )
    listing = client.get("/api/v1/invoices?kind=credit_note").json()
    assert [row["id"] for row in listing["results"]] == [note.pk]


def test_technical_members_get_no_invoices_from_the_api(invoice):
    user = MembershipFactory(customer=invoice.customer, role=Role.TECHNICAL).user
    _key, token = create_api_key(
        Actor(user), invoice.customer, name="ci", access=ApiKey.Access.READ
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.get("/api/v1/invoices").json()["results"] == []
    assert client.get(f"/api/v1/invoices/{invoice.pk}").status_code == 404
