"""The audit log: written by services, read by staff and the customer, never changed."""

import pytest
from django.test import Client

from accounts import services
from accounts.actor import Actor
from accounts.models import AuditEvent, Role
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


def test_services_write_events_with_actor_ip_and_user_agent(owner_a, customer_a):
    actor = Actor(owner_a, ip="192.0.2.7", user_agent="pytest")
    services.update_customer(actor, customer_a, phone="+45 12 34 56 78")
    event = AuditEvent.objects.get(action="customer.updated")
    assert (event.actor, event.customer, event.ip, event.user_agent) == (
        owner_a,
        customer_a,
        "192.0.2.7",
        "pytest",
    )
    assert event.details == {"fields": ["phone"]}


def test_a_service_that_fails_leaves_nothing_half_saved(owner_a, customer_a):
    with pytest.raises(services.ValidationError):
        services.update_customer(Actor(owner_a), customer_a, name="Ny", cvr="123")
    customer_a.refresh_from_db()
    assert customer_a.name == "Alfa ApS"
    assert not AuditEvent.objects.filter(action="customer.updated").exists()


def test_audit_rows_cannot_be_changed_or_deleted(owner_a, customer_a):
    services.update_customer(Actor(owner_a), customer_a, city="Aalborg")
    event = AuditEvent.objects.get(action="customer.updated")
    event.action = "something.else"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        event.delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.get(pk=event.pk).action == "customer.updated"


def test_owner_reads_own_events_only(logged_in, owner_a, customer_a, owner_b, customer_b):
    services.update_customer(Actor(owner_a), customer_a, city="Aalborg")
    services.update_customer(Actor(owner_b), customer_b, city="Vejle")
    page = logged_in(owner_a).get(f"/customers/{customer_a.pk}/audit/")
    events = list(page.context["page"])
    assert events and all(e.customer_id == customer_a.pk for e in events)


def test_technical_role_may_not_read_the_audit_log(logged_in, customer_a):
    tech = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    assert logged_in(tech).get(f"/customers/{customer_a.pk}/audit/").status_code == 403
    assert AuditEvent.objects.filter(action="authz.denied", actor=tech, target="audit.view")


def test_staff_filter_the_log(logged_in, staff_support, owner_a, customer_a, customer_b):
    services.update_customer(Actor(owner_a), customer_a, city="Aalborg")
    Client().post("/login/", {"email": "ghost@example.dk", "password": "x"})
    client = logged_in(staff_support)
    by_action = client.get("/staff/audit/?action=login.failed").context["page"]
    assert [e.target for e in by_action] == ["ghost@example.dk"]
    by_customer = client.get(f"/staff/audit/?customer={customer_a.pk}").context["page"]
    assert {e.action for e in by_customer} == {"customer.updated"}
    assert (
        client.get(f"/staff/audit/?customer={customer_b.pk}").context["page"].paginator.count == 0
    )


def test_staff_actions_are_audited(logged_in, staff_admin):
    client = logged_in(staff_admin)
    response = client.post(
        "/staff/customers/new/",
        {
            "kind": "person",
            "name": "Ole Olsen",
            "address": "Gade 2",
            "postal_code": "2000",
            "city": "Frederiksberg",
            "country": "DK",
            "email": "ole@example.dk",
            "language": "da",
        },
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(action="customer.created")
    assert event.actor == staff_admin and event.customer.name == "Ole Olsen"
