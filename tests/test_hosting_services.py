"""Hosting services: validation, quotas, permissions and what they record, before any server."""

import threading

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from accounts.actor import Actor
from accounts.models import AuditEvent, Customer, Role
from hosting.credentials import verify_dovecot_hash
from hosting.models import Database, Mailbox, Operation, Webhotel
from hosting.services import mail, webhotels
from tests.factories import (
    MembershipFactory,
    PlanFactory,
    ServerFactory,
    WebhotelFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(db):
    return ServerFactory()


@pytest.fixture
def plan(db):
    return PlanFactory(max_databases=2, max_mailboxes=3, disk_quota_mb=3000)


@pytest.fixture
def webhotel(customer_a, server, plan):
    return WebhotelFactory(customer=customer_a, server=server, plan=plan)


def test_create_webhotel_normalises_an_idn_and_records_an_operation(
    owner_a, customer_a, server, plan
):
    webhotel = webhotels.create_webhotel(
        Actor(owner_a),
        customer_a,
        primary_domain="Blåbær.DK.",
        plan=plan,
        extra_domains=["www.blåbær.dk", "xn--blbr-roah.dk"],
    )
    assert webhotel.primary_domain == "xn--blbr-roah.dk"
    assert webhotel.extra_domains == ["www.xn--blbr-roah.dk"]
    assert webhotel.status == "pending" and webhotel.server == server
    operation = Operation.objects.get()
    assert (operation.action, operation.params, operation.status) == (
        "webhotel.ensure",
        {"id": webhotel.pk},
        "pending",
    )
    assert AuditEvent.objects.filter(action="webhotel.created", customer=customer_a).exists()


def test_a_domain_on_another_webhotel_is_refused(owner_a, customer_a, webhotel, plan):
    with pytest.raises(ValidationError, match="already on a webhotel"):
        webhotels.create_webhotel(
            Actor(owner_a), customer_a, primary_domain=webhotel.primary_domain.upper(), plan=plan
        )
    with pytest.raises(ValidationError):
        webhotels.create_webhotel(
            Actor(owner_a), customer_a, primary_domain="not a domain", plan=plan
        )
    assert Webhotel.objects.count() == 1 and not Operation.objects.exists()


def test_billing_role_cannot_create_a_webhotel(customer_a, server, plan):
    billing = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    with pytest.raises(PermissionDenied):
        webhotels.create_webhotel(Actor(billing), customer_a, primary_domain="x.dk", plan=plan)
    assert not Webhotel.objects.exists()


def test_a_closing_customer_cannot_create_resources(owner_a, customer_a, webhotel, plan):
    Customer.objects.filter(pk=customer_a.pk).update(status=Customer.Status.CLOSING)
    customer_a.refresh_from_db()
    with pytest.raises(ValidationError, match="no new resources"):
        webhotels.create_webhotel(Actor(owner_a), customer_a, primary_domain="x.dk", plan=plan)


def test_full_servers_are_refused_with_a_message(owner_a, customer_a, plan):
    ServerFactory(capacity=1)
    webhotels.create_webhotel(Actor(owner_a), customer_a, primary_domain="a.dk", plan=plan)
    with pytest.raises(ValidationError, match="No server has room"):
        webhotels.create_webhotel(Actor(owner_a), customer_a, primary_domain="b.dk", plan=plan)


def test_database_passwords_are_returned_once_and_stored_as_verifiers(owner_a, webhotel):
    maria, password = webhotels.create_database(
        Actor(owner_a), webhotel, engine="mariadb", suffix="shop"
    )
    assert maria.name == f"{webhotel.system_user}_shop"
    assert maria.password_verifier.startswith("*") and len(maria.password_verifier) == 41
    assert password not in str(Database.objects.filter(pk=maria.pk).values().get())
    pg, _ = webhotels.create_database(Actor(owner_a), webhotel, engine="postgresql", suffix="blog")
    assert pg.password_verifier.startswith("SCRAM-SHA-256$4096:")


def test_database_quota_holds(owner_a, webhotel):
    for suffix in ("a", "b"):
        webhotels.create_database(Actor(owner_a), webhotel, engine="mariadb", suffix=suffix)
    with pytest.raises(ValidationError, match="allows 2 databases"):
        webhotels.create_database(Actor(owner_a), webhotel, engine="mariadb", suffix="c")


@pytest.mark.django_db(transaction=True)
def test_database_quota_holds_under_concurrent_requests(customer_a, owner_a):
    webhotel = WebhotelFactory(customer=customer_a, plan=PlanFactory(max_databases=2))
    barrier, results = threading.Barrier(6), []

    def create(n):
        try:
            barrier.wait()
            webhotels.create_database(Actor(owner_a), webhotel, engine="mariadb", suffix=f"db{n}")
            results.append("ok")
        except ValidationError:
            results.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["ok", "ok", "refused", "refused", "refused", "refused"]
    assert Database.objects.filter(webhotel=webhotel).count() == 2


def test_mailboxes_hash_passwords_for_dovecot_and_hold_their_quotas(owner_a, webhotel):
    domain = mail.create_mail_domain(Actor(owner_a), webhotel, name="Post.Example.DK")
    assert domain.name == "post.example.dk"
    mailbox, generated = mail.create_mailbox(
        Actor(owner_a), domain, local_part="Info", quota_mb=1000, password="et-godt-kodeord"
    )
    assert generated is None and mailbox.address == "info@post.example.dk"
    assert mailbox.password_hash.startswith("{ARGON2ID}$argon2id$")
    assert verify_dovecot_hash(mailbox.password_hash, "et-godt-kodeord")
    _, generated = mail.create_mailbox(Actor(owner_a), domain, local_part="salg", quota_mb=1000)
    assert generated and len(generated) >= 20
    with pytest.raises(ValidationError, match="MB are free"):
        mail.create_mailbox(Actor(owner_a), domain, local_part="big", quota_mb=1500)
    mail.create_mailbox(Actor(owner_a), domain, local_part="third", quota_mb=500)
    with pytest.raises(ValidationError, match="allows 3 mailboxes"):
        mail.create_mailbox(Actor(owner_a), domain, local_part="fourth", quota_mb=10)
    with pytest.raises(ValidationError):
        mail.create_mailbox(Actor(owner_a), domain, local_part="info", quota_mb=10)
    with pytest.raises(ValidationError, match="at least 10"):
        mail.update_mailbox(Actor(owner_a), mailbox, password="short")
    assert Mailbox.objects.count() == 3


def test_aliases_validate_destinations_and_addresses(owner_a, webhotel):
    domain = mail.create_mail_domain(Actor(owner_a), webhotel, name="example.dk")
    mail.create_mailbox(Actor(owner_a), domain, local_part="info", quota_mb=100)
    with pytest.raises(ValidationError, match="not an e-mail address"):
        mail.save_alias(Actor(owner_a), domain, local_part="salg", destinations=["nope"])
    with pytest.raises(ValidationError, match="mailbox already has"):
        mail.save_alias(Actor(owner_a), domain, local_part="info", destinations=["a@b.dk"])
    with pytest.raises(ValidationError, match="itself"):
        mail.save_alias(Actor(owner_a), domain, local_part="loop", destinations=["loop@example.dk"])
    alias = mail.save_alias(
        Actor(owner_a),
        domain,
        local_part="salg",
        destinations=["A@b.dk", "a@b.dk", "info@example.dk"],
    )
    assert alias.destinations == ["a@b.dk", "info@example.dk"]


def test_deleting_a_webhotel_with_databases_is_refused(owner_a, webhotel):
    webhotels.create_database(Actor(owner_a), webhotel, engine="mariadb", suffix="x")
    with pytest.raises(ValidationError, match="databases and mail domains first"):
        webhotels.delete_webhotel(Actor(owner_a), webhotel)


def test_a_staff_suspension_is_lifted_only_by_staff(owner_a, webhotel, staff_admin):
    webhotels.set_webhotel_suspended(Actor(staff_admin), webhotel, True)
    with pytest.raises(PermissionDenied):
        webhotels.set_webhotel_suspended(Actor(owner_a), webhotel, False)
    webhotel.refresh_from_db()
    assert webhotel.status == "suspended"
    webhotels.set_webhotel_suspended(Actor(staff_admin), webhotel, False)
    webhotel.refresh_from_db()
    assert webhotel.status == "active" and not webhotel.suspended_by_staff


def test_only_active_resources_are_suspended(owner_a, customer_a, server, plan):
    pending = webhotels.create_webhotel(
        Actor(owner_a), customer_a, primary_domain="p.dk", plan=plan
    )
    with pytest.raises(ValidationError, match="Only an active"):
        webhotels.set_webhotel_suspended(Actor(owner_a), pending, True)
    with pytest.raises(ValidationError, match="not suspended"):
        webhotels.set_webhotel_suspended(Actor(owner_a), pending, False)


def test_deleting_twice_is_refused(owner_a, webhotel):
    database, _ = webhotels.create_database(Actor(owner_a), webhotel, engine="mariadb", suffix="x")
    webhotels.delete_database(Actor(owner_a), database)
    with pytest.raises(ValidationError, match="being deleted"):
        webhotels.delete_database(Actor(owner_a), database)
    assert Operation.objects.filter(action="database.remove").count() == 1
    # A database on its way out no longer blocks deleting the webhotel.
    webhotels.delete_webhotel(Actor(owner_a), webhotel)


def test_a_long_database_suffix_is_refused(owner_a, webhotel):
    with pytest.raises(ValidationError) as excinfo:
        webhotels.create_database(Actor(owner_a), webhotel, engine="mariadb", suffix="x" * 21)
    assert "suffix" in excinfo.value.message_dict
