"""Each retention rule (accounts/privacy/retention.py) with a controllable clock."""

import logging
import os
from datetime import datetime, timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from accounts import billing
from accounts.actor import Actor
from accounts.models import (
    AccountClosure,
    AuditEvent,
    Customer,
    Invoice,
    LoginFailures,
    RetentionAction,
    UserSession,
)
from accounts.privacy import closure as closures
from accounts.privacy import purge, retention
from hosting.models import IdentityVerification
from hosting.services import domains
from tests.factories import PASSWORD, CustomerFactory, MembershipFactory
from tests.test_privacy_proof import tables_holding

pytestmark = pytest.mark.django_db
CPR = "150385-4711"


def _apply(key: str, now) -> int:
    return retention.apply_rule(retention.rule(key), now)


def test_a_cpr_number_is_never_stored_or_logged(caplog):
    caplog.set_level(logging.INFO)
    person = CustomerFactory()
    owner = MembershipFactory(customer=person).user
    verification = domains.verify_identity_with_eid(Actor(owner), person, cpr=CPR, name=person.name)
    assert verification.status == IdentityVerification.Status.APPROVED
    for needle in (CPR, CPR.replace("-", "")):
        assert tables_holding(needle) == {}
        assert needle not in caplog.text
    assert retention.rule("cpr").apply is None  # nothing is kept, so nothing to delete


@pytest.fixture
def document(customer_a, owner_a, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    upload = SimpleUploadedFile("id.pdf", b"%PDF-1.4 passport", content_type="application/pdf")
    return domains.submit_identity_document(Actor(owner_a), customer_a, upload)


@pytest.mark.parametrize(
    ("approved", "rule", "kept_for"),
    [
        (True, "id_documents", timedelta(days=1)),
        (False, "id_documents_rejected", timedelta(weeks=5)),
    ],
)
def test_id_documents_go_a_day_after_approval_and_five_weeks_after_rejection(
    document, staff_admin, approved, rule, kept_for
):
    domains.decide_identity_document(
        Actor(staff_admin), document, approved=approved, reason="" if approved else "Blurred."
    )
    document.refresh_from_db()
    path = document.document.path
    decided = document.decided_at
    assert _apply(rule, decided + kept_for - timedelta(minutes=1)) == 0
    assert _apply(rule, decided + kept_for + timedelta(minutes=1)) == 1
    document.refresh_from_db()
    assert not document.document and not os.path.exists(path)
    assert document.status in ("approved", "rejected")  # the outcome stays
    assert RetentionAction.objects.get(rule=rule).deleted == 1


def test_personal_data_goes_eight_weeks_after_the_last_subscription(customer_a, owner_a):
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    assert closure.purge_after - closure.closed_at == timedelta(weeks=8)
    assert _apply("personal_data", closure.closed_at + timedelta(weeks=8, minutes=-1)) == 0
    assert _apply("personal_data", closure.closed_at + timedelta(weeks=8, minutes=1)) == 1
    closure.refresh_from_db()
    customer_a.refresh_from_db()
    assert closure.status == AccountClosure.Status.PURGED
    assert customer_a.status == Customer.Status.CLOSED and customer_a.email.endswith(".invalid")


def test_invoices_go_five_years_after_the_end_of_their_financial_year(customer_a, tariff):
    invoice = billing.issue_invoice(Actor.system(), customer_a, [("Test", 10000)], reference="r")
    credited = billing.issue_invoice(Actor.system(), customer_a, [("Test", 100)], reference="c")
    billing.issue_credit_note(Actor.system(), credited, reason="Fejl")
    tz = timezone.get_current_timezone()
    last_day = datetime(invoice.year + 5, 12, 31, 23, 0, tzinfo=tz)
    assert invoice.retain_until == last_day.date()
    assert _apply("invoices", last_day) == 0
    assert Invoice.objects.filter(customer=customer_a).count() == 3
    assert _apply("invoices", last_day + timedelta(days=1)) == 3  # with the credit note
    assert not Invoice.objects.filter(customer=customer_a).exists()
    with pytest.raises(PermissionError):  # the model still refuses ordinary deletes
        Invoice.objects.all().delete()


def test_login_records_go_after_twelve_months_and_the_audit_log_stays_append_only(
    owner_a, client, settings
):
    client.post("/login/", {"email": owner_a.email, "password": PASSWORD})
    LoginFailures.objects.create(email="x@example.dk", failures=1, last_failure_at=timezone.now())
    login = AuditEvent.objects.get(action="login.succeeded")
    other = AuditEvent.objects.create(action="customer.updated", target="kept")
    now = login.created_at
    assert _apply("login_records", now + timedelta(days=364)) == 0
    assert _apply("login_records", now + timedelta(days=366)) == 2  # the event and the session
    assert not AuditEvent.objects.filter(pk=login.pk).exists()
    assert AuditEvent.objects.filter(pk=other.pk).exists()
    assert not UserSession.objects.exists()
    assert _apply("login_failures", now + timedelta(days=31)) == 1
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(pk=other.pk).delete()
    with pytest.raises(PermissionError):
        other.delete()


def test_a_period_can_be_overridden_in_settings(owner_a, client, settings):
    client.post("/login/", {"email": owner_a.email, "password": PASSWORD})
    now = AuditEvent.objects.get(action="login.succeeded").created_at
    settings.HAVN_RETENTION_RULES = {"login_records": {"period_days": 30}}
    assert retention.rule("login_records").period == timedelta(days=30)
    assert _apply("login_records", now + timedelta(days=31)) == 2


def test_rules_another_setting_governs_refuse_an_override(settings):
    settings.HAVN_CLOSURE_GRACE_DAYS = 14
    assert retention.rule("personal_data").period == timedelta(days=14)
    settings.HAVN_RETENTION_RULES = {"personal_data": {"period_days": 30}}
    with pytest.raises(ImproperlyConfigured, match="HAVN_CLOSURE_GRACE_DAYS"):
        retention.rule("personal_data").period  # noqa: B018 -- reading it is the check


def test_a_closure_is_purged_by_one_run_at_a_time(customer_a, owner_a):
    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    later = closure.purge_after + timedelta(minutes=1)
    cache.add(f"havn:purge:{closure.pk}", "1")  # another run holds it
    assert purge.purge_due(later) == {"purged": 0, "incomplete": 0, "busy": 1}
    closure.refresh_from_db()
    assert closure.status == AccountClosure.Status.GRACE and closure.attempts == 0
    cache.delete(f"havn:purge:{closure.pk}")
    assert purge.purge_due(later)["purged"] == 1
    assert AuditEvent.objects.filter(action="account.purged").count() == 1


def test_the_staff_report_shows_what_is_due_and_what_was_deleted(
    owner_a, client, staff_support, logged_in
):
    client.post("/login/", {"email": owner_a.email, "password": PASSWORD})
    RetentionAction.objects.create(rule="exports", deleted=4)
    page = logged_in(staff_support).get("/staff/privacy/retention/")
    body = page.content.decode()
    assert page.status_code == 200
    for rule in retention.RULES:
        assert f"<code>{rule.key}</code>" in body
    assert "<td>4</td>" in body
    assert logged_in(owner_a).get("/staff/privacy/retention/").status_code == 403
    assert retention.apply_all()["login_records"] == 0
