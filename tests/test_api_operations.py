"""What the panel does, through the API too: paying, crediting and settling invoices, the audit
log, and whole-server recoveries run by staff keys."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import billing, services
from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, Invoice, Role
from backups.models import ServerRecovery, Snapshot
from tests.factories import MembershipFactory, WebhotelFactory

pytestmark = pytest.mark.django_db


def key_of(user, customer=None, access=ApiKey.Access.READ_WRITE):
    return services.create_api_key(Actor(user), customer, name="ops", access=access)[1]


def call(token, method, url, body=None):
    return getattr(Client(), method)(
        url,
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
    )


@pytest.fixture
def invoice(tariff, customer_a):
    return billing.issue_invoice(
        Actor.system(), customer_a, [("Restore fee: webhotel", 29_500)], reference="Order 1"
    )


def test_a_billing_member_opens_the_payment_of_an_invoice(invoice, customer_a, logged_in, settings):
    member = logged_in(MembershipFactory(customer=customer_a, role=Role.BILLING).user)
    member.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    answer = member.post(f"/api/v1/invoices/{invoice.pk}/pay")
    assert answer.status_code == 200, answer.content
    assert answer.json()["url"].startswith("http://testserver/payments/local/")
    # The provider's page confirms it: the invoice is paid, and cannot be paid twice.
    token = answer.json()["url"].rstrip("/").rsplit("/", 1)[1]
    billing.confirm_payment({"token": token})
    again = member.post(f"/api/v1/invoices/{invoice.pk}/pay")
    assert again.status_code == 400
    assert again.json()["errors"] == {"non_field_errors": ["Only an open invoice can be paid."]}


def test_a_technical_member_cannot_pay_or_see_invoices(invoice, customer_a):
    member = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    answer = call(key_of(member, customer_a), "post", f"/api/v1/invoices/{invoice.pk}/pay")
    assert answer.status_code == 404


def test_staff_credit_an_invoice_and_record_a_payment_with_a_staff_key(
    invoice, tariff, customer_a, staff_admin, owner_a
):
    token = key_of(staff_admin)
    refused = call(token, "post", f"/api/v1/invoices/{invoice.pk}/credit", {"reason": ""})
    assert refused.status_code == 400 and "reason" in refused.json()["errors"]
    credited = call(token, "post", f"/api/v1/invoices/{invoice.pk}/credit", {"reason": "Goodwill"})
    assert credited.status_code == 201, credited.content
    note = credited.json()
    assert (note["kind"], note["gross"], note["credits"]) == (
        "credit_note",
        -invoice.gross,
        invoice.number,
    )
    assert Invoice.objects.get(pk=invoice.pk).status == "credited"

    second = billing.issue_invoice(Actor.system(), customer_a, [("Fee", 10_000)], reference="2")
    paid = call(
        token, "post", f"/api/v1/invoices/{second.pk}/mark-paid", {"provider_reference": "BANK-7"}
    )
    assert paid.status_code == 200
    assert (paid.json()["status"], Invoice.objects.get(pk=second.pk).payment_reference) == (
        "paid",
        "BANK-7",
    )
    # The customer's owner may do neither.
    owner_token = key_of(owner_a, customer_a)
    third = billing.issue_invoice(Actor.system(), customer_a, [("Fee", 10_000)], reference="3")
    for action, body in (("credit", {"reason": "Please"}), ("mark-paid", {})):
        answer = call(owner_token, "post", f"/api/v1/invoices/{third.pk}/{action}", body)
        assert answer.status_code == 403
    assert Invoice.objects.get(pk=third.pk).status == "open"


def test_the_audit_log_is_for_owners_admins_and_staff(customer_a, customer_b, owner_a, staff_admin):
    AuditEvent.objects.create(customer=customer_a, action="webhotel.created", target="alfa.dk")
    AuditEvent.objects.create(customer=customer_b, action="webhotel.created", target="beta.dk")
    owner_token = key_of(owner_a, customer_a)
    events = call(owner_token, "get", "/api/v1/audit-events?action=webhotel.").json()["results"]
    assert [e["target"] for e in events] == ["alfa.dk"]
    # Filters: by action prefix and time.
    later = (timezone.now() + timedelta(minutes=1)).isoformat()
    after = call(owner_token, "get", f"/api/v1/audit-events?since={later.replace('+', '%2B')}")
    assert after.json()["results"] == []
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    assert call(key_of(technical, customer_a), "get", "/api/v1/audit-events").json()["count"] == 0
    staff = call(key_of(staff_admin), "get", "/api/v1/audit-events?action=webhotel.").json()
    assert {e["target"] for e in staff["results"]} == {"alfa.dk", "beta.dk"}


def test_staff_start_a_server_recovery_with_a_staff_key(tariff, customer_a, staff_support):
    webhotel = WebhotelFactory(customer=customer_a)
    Snapshot.objects.create(
        customer=customer_a,
        snapshot_id="ab" * 32,
        kind="webhotel",
        item_id=webhotel.pk,
        item_name=webhotel.primary_domain,
        server_name=webhotel.server.name,
        taken_at=timezone.now() - timedelta(hours=3),
        files=3,
        size=2_000_000,
        stored=1_000_000,
    )
    token = key_of(staff_support)
    body = {"server": webhotel.server_id, "at": timezone.now().isoformat(), "parallel": 2}
    future = call(
        token, "post", "/api/v1/server-recoveries", {**body, "at": "2999-01-01T00:00:00Z"}
    )
    assert future.status_code == 400 and "at" in future.json()["errors"]
    started = call(token, "post", "/api/v1/server-recoveries", body)
    assert started.status_code == 202, started.content
    recovery = ServerRecovery.objects.get()
    assert started["Location"].endswith(f"/api/v1/server-recoveries/{recovery.pk}")
    assert started.json()["status"] == "running" and len(started.json()["orders"]) == 1
    order = recovery.orders.get()
    assert order.customer == customer_a and order.invoice is not None
    polled = call(token, "get", f"/api/v1/server-recoveries/{recovery.pk}").json()
    assert polled["orders"] == [order.pk] and polled["started_by"] == staff_support.email
    # A customer's key reaches no recovery.
    owner = MembershipFactory(customer=customer_a, role=Role.OWNER).user
    assert call(key_of(owner, customer_a), "get", "/api/v1/server-recoveries").status_code == 403
