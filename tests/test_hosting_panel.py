"""The hosting pages of the panel: webhotels, databases, mail, operations, servers and plans.

Celery tasks start on commit, which never comes inside the ``db`` fixture's transaction: the
operations stay pending and no worker is needed."""

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.conf import settings
from django.urls import reverse

from accounts.models import Role
from hosting.credentials import mysql_native_verifier, verify_dovecot_hash
from hosting.models import (
    Database,
    MailAlias,
    Mailbox,
    MailDomain,
    Operation,
    Plan,
    Server,
    Webhotel,
)
from infra import ssh
from tests.factories import MembershipFactory, PlanFactory, ServerFactory, WebhotelFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan(db):
    return PlanFactory(name="Basis", disk_quota_mb=1000, max_databases=1, max_mailboxes=2)


@pytest.fixture
def server(db):
    return ServerFactory()


@pytest.fixture
def english(logged_in):
    """A logged-in client that reads the panel in English (the messages the tests look for)."""

    def make(user):
        client = logged_in(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


@pytest.fixture
def owner(english, owner_a):
    return english(owner_a)


@pytest.fixture
def webhotel(customer_a, plan, server):
    return WebhotelFactory(customer=customer_a, plan=plan, server=server, primary_domain="alfa.dk")


def url(name, **kwargs):
    return reverse(f"hosting:{name}", kwargs=kwargs)


def text(response) -> str:
    return response.content.decode()


def errors(response, form="form") -> dict:
    return response.context[form].errors


# --- Webhotels ------------------------------------------------------------------------------------


def test_owner_creates_a_webhotel_and_sees_it_listed_with_usage(owner, customer_a, plan, server):
    page = url("webhotels", customer_id=customer_a.pk)
    response = owner.post(
        page,
        {
            "primary_domain": "Blåbær.dk",
            "extra_domains": "www.blåbær.dk, shop.example.dk\nwww.example.dk",
            "plan": plan.pk,
            "php_version": "8.2",
        },
    )
    webhotel = Webhotel.objects.get(customer=customer_a)
    assert response.status_code == 302
    assert response["Location"] == url(
        "webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk
    )
    assert webhotel.primary_domain == "xn--blbr-roah.dk"
    assert webhotel.extra_domains == ["www.xn--blbr-roah.dk", "shop.example.dk", "www.example.dk"]
    assert (webhotel.plan, webhotel.server, webhotel.php_version) == (plan, server, "8.2")
    assert webhotel.status == "pending"
    operation = Operation.objects.get(customer=customer_a)
    assert (operation.action, operation.status) == ("webhotel.ensure", "pending")

    Webhotel.objects.filter(pk=webhotel.pk).update(disk_used_mb=250)
    listing = owner.get(page)
    assert listing.status_code == 200
    body = text(listing)
    assert "blåbær.dk" in body and "shop.example.dk" in body
    settings_form = owner.get(response["Location"]).context["settings_form"]
    assert (
        settings_form["extra_domains"].value() == "www.blåbær.dk\nshop.example.dk\nwww.example.dk"
    )
    assert "Being set up…" in body and "waiting" in body  # the status and its operation's
    assert 'value="250"' in body and "250 of 1000 MB" in body and "25 %" in body
    assert "0 / 1" in body and "0 / 2" in body  # databases and mailboxes of the plan's limits


def test_webhotel_settings_suspend_and_delete(owner, customer_a, webhotel):
    other_plan = PlanFactory(max_databases=5)
    detail = url("webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk)
    assert owner.get(detail).status_code == 200

    response = owner.post(
        detail, {"extra_domains": "www.alfa.dk", "php_version": "8.2", "plan": other_plan.pk}
    )
    assert response.status_code == 302
    webhotel.refresh_from_db()
    assert (webhotel.extra_domains, webhotel.php_version) == (["www.alfa.dk"], "8.2")
    assert webhotel.plan == other_plan
    operations = Operation.objects.count()
    response = owner.post(
        detail,
        {"extra_domains": "WWW.alfa.dk,", "php_version": "8.2", "plan": other_plan.pk},
        follow=True,
    )
    assert "Nothing was changed." in text(response)
    assert Operation.objects.count() == operations

    suspend = url("webhotel_suspend", customer_id=customer_a.pk, webhotel_id=webhotel.pk)
    assert owner.post(suspend, {"suspended": "1"}).status_code == 302
    webhotel.refresh_from_db()
    assert webhotel.status == "suspended"
    assert "Unsuspend" in text(owner.get(detail))
    owner.post(suspend, {"suspended": "0"})
    webhotel.refresh_from_db()
    assert webhotel.status == "active"

    delete = url("webhotel_delete", customer_id=customer_a.pk, webhotel_id=webhotel.pk)
    mail_domain = MailDomain.objects.create(webhotel=webhotel, name="alfa.dk")
    response = owner.post(delete, {"confirm": "1"}, follow=True)
    assert "databases and mail domains first" in text(response)
    MailDomain.objects.filter(pk=mail_domain.pk).delete()
    owner.post(delete)  # without the confirmation box
    webhotel.refresh_from_db()
    assert webhotel.status == "active"
    response = owner.post(delete, {"confirm": "1"})
    assert response["Location"] == url("webhotels", customer_id=customer_a.pk)
    webhotel.refresh_from_db()
    assert webhotel.status == "deleting"
    assert Operation.objects.filter(action="webhotel.remove", params__id=webhotel.pk).exists()
    assert "Being deleted…" in text(owner.get(url("webhotels", customer_id=customer_a.pk)))


def test_a_taken_or_invalid_domain_is_a_field_error_and_creates_nothing(
    owner, customer_a, customer_b, plan, server
):
    WebhotelFactory(customer=customer_b, primary_domain="taken.dk", extra_domains=["www.taken.dk"])
    page = url("webhotels", customer_id=customer_a.pk)
    for domain, field in [
        ("taken.dk", "primary_domain"),
        ("WWW.Taken.dk", "primary_domain"),
        ("not a domain", "primary_domain"),
        ("-bad-.dk", "primary_domain"),
        ("localhost", "primary_domain"),
    ]:
        response = owner.post(
            page, {"primary_domain": domain, "plan": plan.pk, "php_version": "8.3"}
        )
        assert response.status_code == 200, domain
        assert field in errors(response), domain
    response = owner.post(
        page,
        {"primary_domain": "new.dk", "extra_domains": "ok.dk\nbad..dk", "plan": plan.pk},
    )
    assert "extra_domains" in errors(response)
    assert "is already on a webhotel" in text(
        owner.post(page, {"primary_domain": "taken.dk", "plan": plan.pk, "php_version": "8.3"})
    )
    assert not Webhotel.objects.filter(customer=customer_a).exists()
    assert not Operation.objects.exists()


# --- Databases ------------------------------------------------------------------------------------


def test_a_new_database_password_is_shown_once(owner, customer_a, webhotel):
    detail = url("webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk)
    response = owner.post(
        url("database_create", customer_id=customer_a.pk, webhotel_id=webhotel.pk),
        {"engine": "mariadb", "suffix": "shop"},
    )
    assert response.status_code == 200  # rendered, not redirected: the password is in no URL
    password = response.context["secret"]["password"]
    assert password in text(response)
    assert "no-store" in response["Cache-Control"]
    database = Database.objects.get(webhotel=webhotel)
    assert database.name == database.user == f"{webhotel.system_user}_shop"
    assert database.password_verifier == mysql_native_verifier(password)
    assert Operation.objects.filter(action="database.ensure", params__id=database.pk).exists()

    again = owner.get(detail)
    assert database.name in text(again)
    assert password not in text(again)

    reset = owner.post(
        url("database_reset_password", customer_id=customer_a.pk, database_id=database.pk)
    )
    new_password = reset.context["secret"]["password"]
    assert new_password != password and new_password in text(reset)
    database.refresh_from_db()
    assert database.password_verifier == mysql_native_verifier(new_password)
    assert new_password not in text(owner.get(detail))

    delete = url("database_delete", customer_id=customer_a.pk, database_id=database.pk)
    owner.post(delete)
    database.refresh_from_db()
    assert database.status == "pending"  # no confirmation, no deletion
    assert owner.post(delete, {"confirm": "1"})["Location"] == detail
    database.refresh_from_db()
    assert database.status == "deleting"


def test_the_plans_database_limit_is_a_message_and_creates_nothing(owner, customer_a, webhotel):
    create = url("database_create", customer_id=customer_a.pk, webhotel_id=webhotel.pk)
    owner.post(create, {"engine": "mariadb", "suffix": "one"})
    response = owner.post(create, {"engine": "postgresql", "suffix": "two"})
    assert response.status_code == 200
    assert "The plan allows 1 databases; all are in use." in text(response)
    assert response.context["secret"] is None
    assert Database.objects.filter(webhotel=webhotel).count() == 1


def test_a_bad_database_name_is_a_field_error(owner, customer_a, webhotel):
    create = url("database_create", customer_id=customer_a.pk, webhotel_id=webhotel.pk)
    for suffix in ["Has Space", "æ", "x" * 40]:
        response = owner.post(create, {"engine": "mariadb", "suffix": suffix})
        assert "suffix" in errors(response, "database_form"), suffix
    assert not Database.objects.exists()


# --- Mail -----------------------------------------------------------------------------------------


def test_mail_domain_mailbox_and_alias(owner, customer_a, webhotel):
    response = owner.post(
        url("maildomain_create", customer_id=customer_a.pk, webhotel_id=webhotel.pk),
        {"name": "alfa.dk"},
    )
    mail_domain = MailDomain.objects.get(webhotel=webhotel)
    page = url("maildomain", customer_id=customer_a.pk, maildomain_id=mail_domain.pk)
    assert response["Location"] == page
    assert owner.get(page).status_code == 200

    # A mailbox with a generated password: shown once.
    create = url("mailbox_create", customer_id=customer_a.pk, maildomain_id=mail_domain.pk)
    response = owner.post(create, {"local_part": "Info", "quota_mb": "300"})
    assert response.status_code == 200
    password = response.context["secret"]["password"]
    assert password in text(response) and "info@alfa.dk" in text(response)
    mailbox = Mailbox.objects.get(mail_domain=mail_domain, local_part="info")
    assert verify_dovecot_hash(mailbox.password_hash, password)
    assert password not in text(owner.get(page))

    # A mailbox with the owner's own password: nothing to show.
    response = owner.post(
        create, {"local_part": "boss", "quota_mb": "100", "password": "a long enough secret"}
    )
    assert response.status_code == 302
    boss = Mailbox.objects.get(local_part="boss")
    assert verify_dovecot_hash(boss.password_hash, "a long enough secret")

    # An alias, then a new list of destinations.
    response = owner.post(
        url("alias_create", customer_id=customer_a.pk, maildomain_id=mail_domain.pk),
        {"local_part": "sales", "destinations": "info@alfa.dk\nBoss@Example.com"},
    )
    assert response.status_code == 302
    alias = MailAlias.objects.get(mail_domain=mail_domain, local_part="sales")
    assert alias.destinations == ["info@alfa.dk", "boss@example.com"]
    alias_page = url("alias", customer_id=customer_a.pk, alias_id=alias.pk)
    assert owner.get(alias_page).status_code == 200
    owner.post(alias_page, {"destinations": "info@alfa.dk"})
    alias.refresh_from_db()
    assert alias.destinations == ["info@alfa.dk"]
    response = owner.post(alias_page, {"destinations": "not-an-address"})
    assert "destinations" in errors(response)

    body = text(owner.get(page))
    assert "info@alfa.dk" in body and "sales@alfa.dk" in body and "300 MB" in body

    # Change the quota, suspend and unsuspend.
    mailbox_page = url("mailbox", customer_id=customer_a.pk, mailbox_id=mailbox.pk)
    assert owner.get(mailbox_page).status_code == 200
    assert owner.post(mailbox_page, {"quota_mb": "500"}).status_code == 302
    mailbox.refresh_from_db()
    assert (mailbox.quota_mb, mailbox.status) == (500, "pending")
    response = owner.post(mailbox_page, {"quota_mb": "500", "suspended": "on"})
    assert "Only an active resource can be suspended." in text(response)
    Mailbox.objects.filter(pk=mailbox.pk).update(status="active")  # the worker set it up
    owner.post(mailbox_page, {"quota_mb": "500", "suspended": "on"})
    mailbox.refresh_from_db()
    assert mailbox.status == "suspended"
    owner.post(mailbox_page, {"quota_mb": "500"})
    mailbox.refresh_from_db()
    assert mailbox.status == "active"
    owner.post(mailbox_page, {"quota_mb": "500", "password": "another long secret"})
    mailbox.refresh_from_db()
    assert verify_dovecot_hash(mailbox.password_hash, "another long secret")

    # Delete the alias, the mailbox and then the domain.
    owner.post(url("alias_delete", customer_id=customer_a.pk, alias_id=alias.pk))
    alias.refresh_from_db()
    assert alias.status == "deleting"
    delete_box = url("mailbox_delete", customer_id=customer_a.pk, mailbox_id=mailbox.pk)
    owner.post(delete_box)
    mailbox.refresh_from_db()
    assert mailbox.status == "active"  # not confirmed
    assert owner.post(delete_box, {"confirm": "1"})["Location"] == page
    mailbox.refresh_from_db()
    assert mailbox.status == "deleting"
    response = owner.post(
        url("maildomain_delete", customer_id=customer_a.pk, maildomain_id=mail_domain.pk),
        {"confirm": "1"},
    )
    assert response["Location"] == url(
        "webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk
    )
    mail_domain.refresh_from_db()
    assert mail_domain.status == "deleting"
    assert Mailbox.objects.get(pk=boss.pk).status == "deleting"


def test_mail_quota_and_limits_are_shown(owner, customer_a, webhotel):
    mail_domain = MailDomain.objects.create(webhotel=webhotel, name="alfa.dk")
    create = url("mailbox_create", customer_id=customer_a.pk, maildomain_id=mail_domain.pk)
    # The plan has 1000 MB: one mailbox may not take more.
    response = owner.post(create, {"local_part": "big", "quota_mb": "5000"})
    assert "quota_mb" in errors(response, "mailbox_form")
    assert "Only 1000 MB of the plan" in text(response)
    owner.post(create, {"local_part": "a", "quota_mb": "400"})
    owner.post(create, {"local_part": "b", "quota_mb": "400"})
    response = owner.post(create, {"local_part": "c", "quota_mb": "10"})
    assert "The plan allows 2 mailboxes; all are in use." in text(response)
    # Growing a mailbox past the plan's disk is a field error on the mailbox's page.
    mailbox = Mailbox.objects.get(local_part="a")
    response = owner.post(
        url("mailbox", customer_id=customer_a.pk, mailbox_id=mailbox.pk), {"quota_mb": "900"}
    )
    assert "quota_mb" in errors(response)
    mailbox.refresh_from_db()
    assert mailbox.quota_mb == 400
    assert Mailbox.objects.count() == 2
    # A mail domain served elsewhere is a field error too.
    response = owner.post(
        url("maildomain_create", customer_id=customer_a.pk, webhotel_id=webhotel.pk),
        {"name": "ALFA.dk"},
    )
    assert "name" in errors(response, "maildomain_form")


# --- Roles ----------------------------------------------------------------------------------------


def test_a_technical_member_manages_hosting(english, customer_a, plan, server):
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    response = english(technical).post(
        url("webhotels", customer_id=customer_a.pk),
        {"primary_domain": "tech.dk", "plan": plan.pk, "php_version": "8.3"},
    )
    assert response.status_code == 302
    assert Webhotel.objects.filter(customer=customer_a, primary_domain="tech.dk").exists()


def test_a_billing_member_sees_hosting_but_changes_nothing(english, customer_a, webhotel, plan):
    billing = english(MembershipFactory(customer=customer_a, role=Role.BILLING).user)
    mail_domain = MailDomain.objects.create(webhotel=webhotel, name="alfa.dk")
    mailbox = Mailbox.objects.create(mail_domain=mail_domain, local_part="info", password_hash="x")
    failed = Operation.objects.create(
        customer=customer_a, server=webhotel.server, action="webhotel.ensure", target="alfa.dk",
        params={"id": webhotel.pk}, status="failed", error="boom",
    )  # fmt: skip
    pages = [
        url("webhotels", customer_id=customer_a.pk),
        url("webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk),
        url("maildomain", customer_id=customer_a.pk, maildomain_id=mail_domain.pk),
        url("mailbox", customer_id=customer_a.pk, mailbox_id=mailbox.pk),
        url("operations", customer_id=customer_a.pk),
    ]
    for page in pages:
        response = billing.get(page)
        assert response.status_code == 200, page
        assert response.context["can_manage"] is False
        body = text(response)
        assert '<form method="post" class="card">' not in body, page  # no own-page form
        assert 'action="/customers/' not in body, page  # nor one posting elsewhere
    assert "Retry" not in text(billing.get(pages[-1]))

    writes = [
        (pages[0], {"primary_domain": "billing.dk", "plan": plan.pk, "php_version": "8.3"}),
        (pages[1], {"php_version": "8.2"}),
        (url("webhotel_suspend", customer_id=customer_a.pk, webhotel_id=webhotel.pk), {}),
        (url("database_create", customer_id=customer_a.pk, webhotel_id=webhotel.pk), {}),
        (url("mailbox", customer_id=customer_a.pk, mailbox_id=mailbox.pk), {"quota_mb": "20"}),
        (url("operation_retry", customer_id=customer_a.pk, operation_id=failed.pk), {}),
    ]
    for page, data in writes:
        assert billing.post(page, data).status_code == 403, page
    webhotel.refresh_from_db()
    assert (webhotel.php_version, webhotel.status) == ("8.3", "active")
    assert Webhotel.objects.count() == 1
    assert Operation.objects.get().status == "failed"


def test_staff_reach_a_customers_hosting(english, staff_support, staff_admin, webhotel):
    page = url("webhotel", customer_id=webhotel.customer_id, webhotel_id=webhotel.pk)
    support = english(staff_support)
    assert support.get(page).status_code == 200
    assert support.post(page, {"php_version": "8.2"}).status_code == 403
    admin = english(staff_admin)
    assert admin.post(page, {"php_version": "8.2"}).status_code == 302
    webhotel.refresh_from_db()
    assert webhotel.php_version == "8.2"


# --- Operations -----------------------------------------------------------------------------------


def test_a_failed_operation_can_be_retried(owner, customer_a, webhotel):
    operation = Operation.objects.create(
        customer=customer_a, server=webhotel.server, action="webhotel.ensure", target="alfa.dk",
        params={"id": webhotel.pk}, status="failed", error="nginx: configuration test failed",
    )  # fmt: skip
    Webhotel.objects.filter(pk=webhotel.pk).update(status="pending")
    listing = url("operations", customer_id=customer_a.pk)
    retry = url("operation_retry", customer_id=customer_a.pk, operation_id=operation.pk)
    body = text(owner.get(listing))
    assert "nginx: configuration test failed" in body and retry in body
    detail = text(owner.get(url("webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk)))
    assert "Being set up…" in detail and "failed" in detail and listing in detail

    assert owner.post(retry)["Location"] == listing
    operation.refresh_from_db()
    assert (operation.status, operation.error) == ("pending", "")
    assert retry not in text(owner.get(listing))
    response = owner.post(retry, follow=True)
    assert "Only a failed operation can be retried." in text(response)


# --- Staff: servers and plans ---------------------------------------------------------------------


def host_key_line() -> str:
    public = ed25519.Ed25519PrivateKey.generate().public_key()
    return public.public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    ).decode()


SERVER = {
    "name": "web9",
    "address": "127.0.0.1",
    "ssh_port": "22",
    "ssh_user": "root",
    "role": "combined",
    "datacenter": "GlobalConnect Taastrup",
    "capacity": "300",
    "transport": "local",
    "profile": "sandbox",
    "root": "/tmp/havn-web9",
}


def test_staff_support_sees_servers_and_plans_but_cannot_change_them(english, staff_support):
    server = ServerFactory(name="web1")
    plan = PlanFactory(name="Basis")
    support = english(staff_support)
    for page in [url("servers"), url("server", server_id=server.pk), url("plans")]:
        response = support.get(page)
        assert response.status_code == 200, page
        assert response.context["can_manage"] is False
    assert "web1" in text(support.get(url("servers")))
    assert support.post(url("servers"), SERVER).status_code == 403
    assert support.post(url("server", server_id=server.pk), SERVER).status_code == 403
    assert support.post(url("plans"), {"name": "Free"}).status_code == 403
    assert support.post(url("plan", plan_id=plan.pk), {"name": "Free"}).status_code == 403
    assert not Server.objects.filter(name="web9").exists()


def test_customers_cannot_see_servers(english, owner_a):
    client = english(owner_a)
    assert client.get(url("servers")).status_code == 403
    assert client.get(url("plans")).status_code == 403


def test_staff_admin_adds_a_local_server_and_edits_it(english, staff_admin):
    admin = english(staff_admin)
    response = admin.post(url("servers"), SERVER)
    server = Server.objects.get(name="web9")
    assert response["Location"] == url("server", server_id=server.pk)
    assert server.host_key == "" and server.transport == "local"
    page = admin.get(url("server", server_id=server.pk))
    assert "does not use SSH" in text(page)
    response = admin.post(
        url("server", server_id=server.pk), {**SERVER, "capacity": "10", "status": "maintenance"}
    )
    assert response.status_code == 302
    server.refresh_from_db()
    assert (server.capacity, server.status) == (10, "maintenance")
    response = admin.post(url("servers"), SERVER)  # the name is taken
    assert "name" in errors(response)


def test_an_unreachable_ssh_server_is_a_field_error(english, staff_admin):
    response = english(staff_admin).post(
        url("servers"), {**SERVER, "transport": "ssh", "ssh_port": "1"}
    )
    assert response.status_code == 200
    assert "address" in errors(response)
    assert not Server.objects.filter(name="web9").exists()


def test_staff_admin_confirms_a_fetched_host_key(english, staff_admin):
    server = ServerFactory(transport="ssh", host_key=host_key_line())
    fingerprint = ssh.fingerprint(server.host_key)
    admin = english(staff_admin)
    page = url("server", server_id=server.pk)
    body = text(admin.get(page))
    assert fingerprint in body and "/etc/ssh/ssh_host_ed25519_key.pub" in body
    confirm = url("server_confirm_host_key", server_id=server.pk)
    response = admin.post(confirm, {"fingerprint": "SHA256:somethingelse"})
    assert "fingerprint" in errors(response, "host_key_form")
    server.refresh_from_db()
    assert server.host_key_confirmed_at is None
    assert admin.post(confirm, {"fingerprint": f" {fingerprint} "})["Location"] == page
    server.refresh_from_db()
    assert server.host_key_confirmed_at is not None
    assert "Confirmed by staff" in text(admin.get(page))


def test_staff_admin_creates_and_edits_a_plan(english, staff_admin):
    admin = english(staff_admin)
    data = {
        "name": "Pro",
        "disk_quota_mb": "20000",
        "max_databases": "10",
        "max_mailboxes": "50",
        "price_dkk": "99.00",
        "active": "on",
    }
    assert admin.post(url("plans"), data)["Location"] == url("plans")
    plan = Plan.objects.get(name="Pro")
    assert (plan.disk_quota_mb, plan.active) == (20000, True)
    assert "Pro" in text(admin.get(url("plans")))
    assert admin.get(url("plan", plan_id=plan.pk)).status_code == 200
    admin.post(url("plan", plan_id=plan.pk), {**data, "price_dkk": "89.00", "active": ""})
    plan.refresh_from_db()
    assert (str(plan.price_dkk), plan.active) == ("89.00", False)
    assert "name" in errors(admin.post(url("plans"), data))  # the name is taken
