"""Closing an account, the grace period, reopening, and the resumable purge with its receipt."""

import dataclasses
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import (
    AccountClosure,
    ApiKey,
    AuditEvent,
    Customer,
    DataExport,
    ErasureReceipt,
    Membership,
    Role,
    User,
    UserSession,
)
from accounts.privacy import closure as closures
from accounts.privacy import export, purge, registry
from accounts.services import add_member, create_api_key
from api.webhooks import services as webhook_services
from backups.services import restores
from hosting.models import Domain, Mailbox, ResourceStatus, Webhotel
from hosting.registry_local import RegistryDomain
from hosting.services import domains, webhotels
from infra import objectstore
from tests.conftest import drain
from tests.factories import PASSWORD, MembershipFactory, PlanFactory

pytestmark = pytest.mark.django_db


def _after_grace(closure: AccountClosure):
    return closure.purge_after + timedelta(minutes=1)


@pytest.fixture
def domain_a(customer_a, owner_a):
    domain = domains.register_domain(Actor(owner_a), customer_a, name="alfa-shop.dk")
    domains.save_record(Actor(owner_a), domain.zone, name="www", type="TXT", value="hej")
    return domain


def test_only_a_reauthenticated_owner_or_a_staff_admin_can_close(
    customer_a, owner_a, staff_support, staff_admin
):
    with pytest.raises(PermissionDenied):
        closures.close_account(Actor(owner_a), customer_a, reauthenticated_password="wrong")
    assert AuditEvent.objects.filter(action="account.close_refused").exists()
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    for user in (technical, staff_support):
        with pytest.raises(PermissionDenied):
            closures.close_account(Actor(user), customer_a, reauthenticated_password=PASSWORD)
    customer_a.refresh_from_db()
    assert customer_a.status == Customer.Status.ACTIVE
    closure = closures.close_account(Actor(staff_admin), customer_a)
    assert closure.closed_by_staff
    with pytest.raises(ValidationError):
        closures.close_account(Actor(staff_admin), customer_a)


def test_closing_suspends_at_once_and_blocks_new_resources(hosted, customer_a, owner_a, settings):
    webhotel, _home = hosted
    now = timezone.now()
    closure = closures.close_account(
        Actor(owner_a), customer_a, reauthenticated_password=PASSWORD, now=now
    )
    assert closure.purge_after == now + timedelta(weeks=8)
    customer_a.refresh_from_db()
    assert customer_a.status == Customer.Status.CLOSING
    webhotel.refresh_from_db()
    assert webhotel.status == ResourceStatus.SUSPENDED
    assert set(Mailbox.objects.values_list("status", flat=True)) == {ResourceStatus.SUSPENDED}
    assert {op.status for op in drain()} == {"done"}
    server_root = Path(webhotel.server.root)
    assert (server_root / "webhotels" / webhotel.system_user / "SUSPENDED").exists()
    with pytest.raises(ValidationError, match="closing"):
        webhotels.create_webhotel(
            Actor(owner_a), customer_a, primary_domain="ny.dk", plan=PlanFactory()
        )

    closures.reopen_account(Actor(owner_a), customer_a)
    customer_a.refresh_from_db()
    webhotel.refresh_from_db()
    assert customer_a.status == Customer.Status.ACTIVE
    assert webhotel.status == ResourceStatus.ACTIVE
    assert {op.status for op in drain()} == {"done"}
    assert not (server_root / "webhotels" / webhotel.system_user / "SUSPENDED").exists()


def test_a_closing_customer_gets_no_new_keys_webhooks_members_or_paid_restores(
    customer_a, owner_a, tariff
):
    closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    customer_a.refresh_from_db()
    actor = Actor(owner_a)
    attempts = {
        "API key": lambda: create_api_key(actor, customer_a, name="late"),
        "webhook": lambda: webhook_services.create_endpoint(
            actor, customer_a, url="https://192.0.2.1/hook", events=["operation.done"]
        ),
        "member": lambda: add_member(actor, customer_a, "late@example.dk", Role.TECHNICAL),
        "restore": lambda: restores.quote(
            actor, customer_a, kind="webhotel", item_id=1, destination="download"
        ),
    }
    for what, attempt in attempts.items():
        with pytest.raises(ValidationError, match="closing: no new resources") as refused:
            attempt()
        assert refused.value.messages, what
    assert not ApiKey.objects.filter(name="late").exists()
    assert not Membership.objects.filter(user__email="late@example.dk").exists()


def test_the_grace_period_is_a_setting_and_ends_reopening(customer_a, owner_a, settings):
    settings.HAVN_CLOSURE_GRACE_DAYS = 3
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    assert closure.purge_after - closure.closed_at == timedelta(days=3)
    with pytest.raises(ValidationError, match="grace"):
        purge.purge(closure, now=closure.purge_after - timedelta(minutes=1))
    with pytest.raises(ValidationError, match="grace period"):
        closures.reopen_account(Actor(owner_a), customer_a, now=_after_grace(closure))


def test_the_purge_erases_everything_and_sends_a_receipt(
    hosted, domain_a, customer_a, owner_a, client
):
    webhotel, _home = hosted
    server_root = Path(webhotel.server.root)
    create_api_key(Actor(owner_a), customer_a, name="deploy")
    client.post("/login/", {"email": owner_a.email, "password": PASSWORD})
    assert UserSession.objects.filter(user=owner_a).exists()
    agency = MembershipFactory(customer=customer_a, role=Role.ADMIN).user
    MembershipFactory(user=agency)  # also works for another customer: only loses the membership
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    owner_email = owner_a.email
    drain()

    purge.purge(closure, now=_after_grace(closure))

    closure.refresh_from_db()
    assert closure.status == AccountClosure.Status.PURGED and closure.notify == []
    assert not (server_root / "webhotels" / webhotel.system_user).exists()
    assert not (server_root / "mail" / "alfa.dk").exists()
    assert not list((server_root / "databases").rglob("*.json"))
    assert not Webhotel.objects.filter(customer=customer_a).exists()
    assert not Domain.objects.filter(customer=customer_a).exists()
    assert not RegistryDomain.objects.filter(name="alfa-shop.dk").exists()
    assert not ApiKey.objects.filter(customer=customer_a).exists()
    assert not UserSession.objects.filter(user=owner_a).exists()
    assert client.get("/").status_code == 302  # the session ended
    owner_a.refresh_from_db()
    assert not owner_a.is_active and owner_a.email.endswith("@erased.invalid")
    assert not owner_a.has_usable_password() and owner_a.full_name == ""
    agency.refresh_from_db()
    assert agency.is_active and Membership.objects.filter(user=agency).count() == 1
    customer_a.refresh_from_db()
    assert customer_a.status == Customer.Status.CLOSED and customer_a.name.startswith("erased-")
    assert customer_a.address == "" and customer_a.cvr == ""
    assert not User.objects.filter(email=owner_email).exists()

    receipt = ErasureReceipt.objects.get(closure=closure)
    erased = {item["key"] for item in receipt.erased}
    assert {"hosting.content", "hosting.domains", "backups.keys", "accounts.users"} <= erased
    kept = {item["key"]: item for item in receipt.kept}
    assert "accounts.invoices" in kept
    [message] = mail.outbox[-1:]
    assert owner_email in message.to
    link = message.body.split("http://127.0.0.1:8000", 1)[1].split()[0]
    page = client.get(link)
    assert page.status_code == 200 and "accounts.invoices" not in page.content.decode()
    assert client.get(link[:-3] + "xyz/").status_code == 404
    # A second run changes nothing and sends nothing.
    sent = len(mail.outbox)
    purge.purge(closure, now=_after_grace(closure))
    assert (
        len(mail.outbox) == sent and ErasureReceipt.objects.filter(customer=customer_a).count() == 1
    )


def test_a_purge_killed_halfway_resumes_where_it_stopped(hosted, customer_a, owner_a, monkeypatch):
    webhotel, _home = hosted
    create_api_key(Actor(owner_a), customer_a, name="deploy")
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    drain()
    original = registry.get("accounts.api_keys")
    calls = []

    def dies_the_first_time(customer, purge_):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("worker killed")
        original.erase(customer, purge_)

    monkeypatch.setitem(
        registry._categories,
        original.key,
        dataclasses.replace(original, erase=dies_the_first_time),
    )
    now = _after_grace(closure)
    with pytest.raises(purge.PurgeIncomplete):
        purge.purge(closure, now=now)
    closure.refresh_from_db()
    assert closure.status == AccountClosure.Status.PURGING
    assert "accounts.api_keys: RuntimeError: worker killed" in closure.last_error
    assert "hosting.content" in closure.steps_done  # the steps before it are done
    assert "accounts.profile" not in closure.steps_done
    assert ApiKey.objects.filter(customer=customer_a).exists()
    assert not Webhotel.objects.filter(customer=customer_a).exists()
    assert [c.pk for c in purge.due(now)] == [closure.pk]

    assert purge.purge_due(now) == {"purged": 1, "incomplete": 0, "busy": 0}
    closure.refresh_from_db()
    assert closure.status == AccountClosure.Status.PURGED and closure.last_error == ""
    assert not ApiKey.objects.filter(customer=customer_a).exists()
    assert len(calls) == 2
    assert purge.due(now + timedelta(days=1)) == []


def test_a_reopened_account_is_never_purged(customer_a, owner_a):
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    closures.reopen_account(Actor(owner_a), customer_a)
    closure.refresh_from_db()
    assert purge.due(_after_grace(closure)) == []
    with pytest.raises(ValidationError):
        purge.purge(closure, now=_after_grace(closure))


def test_the_management_command_purges_due_accounts(customer_a, owner_a, settings):
    from io import StringIO

    from django.core.management import call_command

    settings.HAVN_CLOSURE_GRACE_DAYS = 0
    closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    out = StringIO()
    call_command("purge_closed_accounts", stdout=out)
    assert "purged: 1" in out.getvalue()
    assert AccountClosure.objects.get(customer=customer_a).status == AccountClosure.Status.PURGED


@pytest.fixture
def locked_store(s3_server, s3_locked_bucket, settings):
    from infra import objectstore

    settings.HAVN_OBJECTSTORE_URL = f"s3://{s3_locked_bucket}"
    settings.HAVN_S3_ENDPOINT_URL = s3_server.endpoint_url
    settings.HAVN_S3_REGION = s3_server.region
    settings.HAVN_S3_ACCESS_KEY = s3_server.access_key
    settings.HAVN_S3_SECRET_KEY = s3_server.secret_key
    settings.HAVN_S3_PATH_STYLE = True
    objectstore.default_store.cache_clear()
    yield objectstore.default_store()
    objectstore.default_store.cache_clear()


def test_objects_under_object_lock_stay_and_the_step_is_retried(locked_store, customer_a, owner_a):
    until = timezone.now() + timedelta(weeks=9)  # past the grace period
    locked = f"customers/{customer_a.uuid}/packs/ab/locked"
    free = f"customers/{customer_a.uuid}/index/free"
    locked_store.put(locked, b"ciphertext", retain_until=until)
    locked_store.put(free, b"ciphertext")
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    now = _after_grace(closure)
    purge.purge(closure, now=now)

    closure.refresh_from_db()
    assert closure.status == AccountClosure.Status.PURGED
    assert "backups.objects" not in closure.steps_done
    deferred_until = datetime.fromisoformat(closure.deferred["backups.objects"])
    assert abs((deferred_until - until).total_seconds()) < 1
    assert locked_store.stat(locked) is not None and locked_store.stat(free) is None
    kept = {item["key"]: item for item in ErasureReceipt.objects.get(closure=closure).kept}
    assert kept["backups.objects"]["until"] == closure.deferred["backups.objects"]
    # Not retried before the lock ends; retried after, and still kept while the store says so.
    assert purge.due(now) == []
    assert [c.pk for c in purge.due(deferred_until + timedelta(seconds=1))] == [closure.pk]
    purge.purge(closure, now=deferred_until + timedelta(seconds=1))
    assert locked_store.stat(locked) is not None  # the store's lock, not our clock, decides


def test_an_export_built_while_the_purge_runs_leaves_nothing_behind(customer_a, owner_a):
    requested = export.request_export(Actor(owner_a), customer_a)
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    AccountClosure.objects.filter(pk=closure.pk).update(status=AccountClosure.Status.PURGING)
    assert export.build_export(requested.pk) == "erased"
    key = f"exports/{customer_a.uuid}/{requested.uuid}.zip"
    assert objectstore.default_store().stat(key) is None
    requested.refresh_from_db()
    assert requested.status == DataExport.Status.QUEUED and requested.object_key == ""
    with pytest.raises(ValidationError, match="erased"):
        export.request_export(Actor(owner_a), customer_a)
