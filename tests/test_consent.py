"""The other rights: restriction of processing, consent records and withdrawal, marketing that
obeys both, the staff queue of data-subject requests with its 30-day deadline, and the versioned
data-processing agreement (accounts/consent.py, docs/privacy.md)."""

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts import consent
from accounts.actor import Actor
from accounts.models import (
    ApiKey,
    AuditEvent,
    ConsentRecord,
    Customer,
    DataSubjectRequest,
    DpaAcceptance,
    DpaVersion,
    Role,
)
from accounts.privacy import registry
from accounts.services import create_api_key
from tests.factories import CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def actions(customer) -> list[str]:
    return list(
        AuditEvent.objects.filter(customer=customer).order_by("pk").values_list("action", flat=True)
    )


# --- Consent --------------------------------------------------------------------------------------


def test_consent_is_a_history_and_the_latest_record_is_the_choice(owner_a, customer_a):
    actor = Actor(owner_a)
    assert consent.current_consent(customer_a, "marketing") is None
    given = consent.record_consent(actor, customer_a, "marketing", given=True)
    again = consent.record_consent(actor, customer_a, "marketing", given=True)
    assert again == given  # the same choice twice is one record
    withdrawn = consent.record_consent(actor, customer_a, "marketing", given=False)
    assert consent.current_consent(customer_a, "marketing") == withdrawn
    history = ConsentRecord.objects.filter(customer=customer_a).order_by("pk")
    assert [(r.given, r.text_version, r.recorded_by) for r in history] == [
        (True, consent.CONSENT_TEXTS["marketing"][0], owner_a),
        (False, consent.CONSENT_TEXTS["marketing"][0], owner_a),
    ]
    assert actions(customer_a) == ["consent.given", "consent.withdrawn"]
    with pytest.raises(PermissionError):
        history.update(given=True)
    with pytest.raises(PermissionError):
        withdrawn.save()


def test_staff_withdraw_on_request_but_never_give_consent(customer_a, owner_a, staff_support):
    consent.record_consent(Actor(owner_a), customer_a, "marketing", given=True)
    with pytest.raises(PermissionDenied, match="Staff cannot give consent"):
        consent.record_consent(Actor(staff_support), customer_a, "marketing", given=True)
    record = consent.record_consent(Actor(staff_support), customer_a, "marketing", given=False)
    assert record.recorded_by == staff_support and not record.given


def test_members_without_the_right_role_cannot_consent(customer_a):
    billing = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    with pytest.raises(PermissionDenied):
        consent.record_consent(Actor(billing), customer_a, "marketing", given=True)
    with pytest.raises(ValidationError):
        consent.record_consent(Actor(billing), customer_a, "telemarketing", given=True)
    assert not ConsentRecord.objects.exists()


def test_withdrawing_in_the_panel_is_one_click_like_giving(owner_a, customer_a, logged_in):
    client = logged_in(owner_a)
    url = f"/customers/{customer_a.pk}/rights/consent/"
    client.post(url, {"purpose": "marketing", "given": "1"})
    assert consent.current_consent(customer_a, "marketing").given
    page = client.get(f"/customers/{customer_a.pk}/rights/").content.decode()
    assert 'name="given" value="0"' in page  # the withdraw button
    client.post(url, {"purpose": "marketing", "given": "0"})
    assert not consent.current_consent(customer_a, "marketing").given


# --- Restriction and may_process ------------------------------------------------------------------


def test_marketing_needs_consent_an_active_customer_and_no_restriction(owner_a, customer_a):
    actor = Actor(owner_a)
    assert not consent.may_process(customer_a, "marketing")  # no consent yet
    consent.record_consent(actor, customer_a, "marketing", given=True)
    assert consent.may_process(customer_a, "marketing")
    consent.set_processing_restriction(actor, customer_a, restricted=True, reason="dispute")
    assert not consent.may_process(customer_a, "marketing")
    for essential in ("service", "backups", "billing", "security", "legal"):
        assert consent.may_process(customer_a, essential)
    consent.set_processing_restriction(actor, customer_a, restricted=False)
    assert consent.may_process(customer_a, "marketing")
    Customer.objects.filter(pk=customer_a.pk).update(status=Customer.Status.CLOSING)
    assert not consent.may_process(customer_a, "marketing")
    with pytest.raises(ValueError):
        consent.may_process(customer_a, "profiling")  # undeclared processing is refused


def test_restriction_records_since_and_reason_and_is_audited(owner_a, customer_a):
    customer = consent.set_processing_restriction(
        Actor(owner_a), customer_a, restricted=True, reason="I dispute the accuracy"
    )
    assert customer.processing_restricted and customer.processing_restricted_since
    assert customer.processing_restriction_reason == "I dispute the accuracy"
    consent.set_processing_restriction(Actor(owner_a), customer_a, restricted=True)  # no change
    customer = consent.set_processing_restriction(Actor(owner_a), customer_a, restricted=False)
    assert not customer.processing_restricted and customer.processing_restricted_since is None
    assert actions(customer_a) == ["rights.restricted", "rights.restriction_lifted"]
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    with pytest.raises(PermissionDenied):
        consent.set_processing_restriction(Actor(technical), customer_a, restricted=True)


def test_the_panel_toggles_the_restriction(owner_a, customer_a, logged_in):
    client = logged_in(owner_a)
    rights = client.get(f"/customers/{customer_a.pk}/rights/").content.decode()
    assert 'name="restricted" value="1"' in rights and 'name="reason"' in rights
    url = f"/customers/{customer_a.pk}/rights/restriction/"
    client.post(url, {"restricted": "1", "reason": "objection pending"})
    customer_a.refresh_from_db()
    assert customer_a.processing_restricted
    assert customer_a.processing_restriction_reason == "objection pending"
    page = client.get(f"/customers/{customer_a.pk}/rights/").content.decode()
    assert "objection pending" in page
    assert 'name="restricted" value="0"' in page  # the button that lifts it
    client.post(url, {"restricted": "0"})
    customer_a.refresh_from_db()
    assert not customer_a.processing_restricted


def test_marketing_reaches_only_those_who_may_receive_it(
    owner_a, customer_a, staff_admin, django_capture_on_commit_callbacks
):
    restricted = MembershipFactory(role=Role.OWNER)
    withdrawn = MembershipFactory(role=Role.OWNER)
    CustomerFactory()  # never asked
    for member in (restricted, withdrawn):
        consent.record_consent(Actor(member.user), member.customer, "marketing", given=True)
    consent.record_consent(Actor(owner_a), customer_a, "marketing", given=True)
    consent.set_processing_restriction(Actor(restricted.user), restricted.customer, restricted=True)
    consent.record_consent(Actor(withdrawn.user), withdrawn.customer, "marketing", given=False)

    with pytest.raises(PermissionDenied):
        consent.send_marketing(Actor(owner_a), subject="Nyt", body="Tilbud")
    with django_capture_on_commit_callbacks(execute=True):
        sent = consent.send_marketing(Actor(staff_admin), subject="Nyt fra Havn", body="Tilbud")
    assert sent == 1
    assert [m.to for m in mail.outbox] == [[customer_a.email]]
    assert AuditEvent.objects.get(action="marketing.sent").details == {"recipients": 1}


# --- Data-subject requests ------------------------------------------------------------------------


def test_a_request_is_due_in_30_days_and_staff_close_it_with_an_answer(
    owner_a, customer_a, staff_support
):
    filed = consent.file_data_request(
        Actor(owner_a), customer_a, kind="access", message="Send me everything"
    )
    assert filed.due_at - filed.received_at == timedelta(days=30)
    assert filed.status == "open" and filed.requester == owner_a
    with pytest.raises(PermissionDenied):
        consent.close_data_request(Actor(owner_a), filed, status="done", note="self-served")
    with pytest.raises(ValidationError):
        consent.close_data_request(Actor(staff_support), filed, status="done", note=" ")
    closed = consent.close_data_request(
        Actor(staff_support), filed, status="rejected", note="Already answered on 1 May."
    )
    assert (closed.status, closed.handled_by, closed.note) == (
        "rejected",
        staff_support,
        "Already answered on 1 May.",
    )
    with pytest.raises(ValidationError, match="closed already"):
        consent.close_data_request(Actor(staff_support), closed, status="done", note="again")
    assert actions(customer_a) == [
        "rights.request_filed",
        "authz.denied",  # the owner's attempt to close it
        "rights.request_closed",
    ]


def test_staff_cannot_file_and_bad_kinds_are_refused(owner_a, customer_a, staff_support):
    with pytest.raises(PermissionDenied):
        consent.file_data_request(Actor(staff_support), customer_a, kind="access")
    with pytest.raises(ValidationError):
        consent.file_data_request(Actor(owner_a), customer_a, kind="revenge")


def test_the_staff_queue_shows_deadlines_and_highlights_the_overdue(
    owner_a, customer_a, staff_support, logged_in, time_machine
):
    client = logged_in(owner_a)
    client.post(f"/customers/{customer_a.pk}/rights/requests/", {"kind": "erasure"})
    old = DataSubjectRequest.objects.get()
    time_machine.move_to(timezone.now() + timedelta(days=31))
    client = logged_in(owner_a)
    client.post(f"/customers/{customer_a.pk}/rights/requests/", {"kind": "portability"})
    staff = logged_in(staff_support)
    staff.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = staff.get("/staff/data-requests/").content.decode()
    assert page.count('class="error overdue"') == 1
    assert "Erasure" in page and "Data portability" in page
    assert page.index("Erasure") < page.index("Data portability")  # earliest deadline first

    response = staff.post(
        f"/staff/data-requests/{old.pk}/close/", {"status": "done", "note": "Account closed."}
    )
    assert response.status_code == 302
    old.refresh_from_db()
    assert old.status == "done" and old.handled_by == staff_support
    page = staff.get("/staff/data-requests/").content.decode()
    assert "overdue" not in page and "Erasure" not in page
    customer_page = client.get(f"/customers/{customer_a.pk}/rights/").content.decode()
    assert "Account closed." in customer_page


# --- The data-processing agreement ----------------------------------------------------------------


def test_the_first_dpa_version_is_made_once(db):
    first = consent.current_dpa()
    assert consent.current_dpa() == first and DpaVersion.objects.count() == 1
    assert first.version == "1.0" and "Databehandleraftale" in first.text


def test_accepting_records_who_and_which_version_and_a_new_version_asks_again(
    owner_a, customer_a, staff_admin, logged_in
):
    client = logged_in(owner_a)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    url = f"/customers/{customer_a.pk}/dpa/"
    page = client.get(url).content.decode()
    first = consent.current_dpa()
    assert "Version 1.0 is not accepted yet." in page
    client.post(url, {"version": first.pk})
    accepted = DpaAcceptance.objects.get()
    assert (accepted.version, accepted.accepted_by) == (first, owner_a)
    page = client.get(url).content.decode()
    assert "Version 1.0 accepted" in page and owner_a.email in page

    second = consent.publish_dpa(Actor(staff_admin), version="2.0", text="Ny aftale")
    assert consent.current_dpa() == second
    page = client.get(url).content.decode()
    assert "Version 2.0 is not accepted yet." in page and "Ny aftale" in page
    with pytest.raises(ValidationError, match="newer version"):
        consent.accept_dpa(Actor(owner_a), customer_a, version=first)
    consent.accept_dpa(Actor(owner_a), customer_a, version=second)
    consent.accept_dpa(Actor(owner_a), customer_a, version=second)  # again: one acceptance
    assert DpaAcceptance.objects.filter(customer=customer_a).count() == 2
    assert actions(customer_a) == ["dpa.accepted", "dpa.accepted"]


def test_only_owners_and_admins_accept_and_only_staff_admins_publish(
    customer_a, owner_a, staff_support
):
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    with pytest.raises(PermissionDenied):
        consent.accept_dpa(Actor(technical), customer_a, version=consent.current_dpa())
    with pytest.raises(PermissionDenied):
        consent.accept_dpa(Actor(staff_support), customer_a, version=consent.current_dpa())
    with pytest.raises(PermissionDenied):
        consent.publish_dpa(Actor(staff_support), version="9", text="x")
    with pytest.raises(PermissionDenied):
        consent.publish_dpa(Actor(owner_a), version="9", text="x")


# --- The data inventory ---------------------------------------------------------------------------


def test_the_inventory_exports_and_erases_consent_grants_dpa_and_requests(owner_a, customer_a):
    actor = Actor(owner_a)
    consent.record_consent(actor, customer_a, "marketing", given=True)
    consent.set_processing_restriction(actor, customer_a, restricted=True, reason="why")
    consent.grant_support_access(
        actor,
        customer_a,
        scopes=["files"],
        expires_at=timezone.now() + timedelta(days=1),
        note="ticket 9",
    )
    consent.accept_dpa(actor, customer_a, version=consent.current_dpa())
    consent.file_data_request(actor, customer_a, kind="access")
    other = MembershipFactory(role=Role.OWNER)
    consent.record_consent(Actor(other.user), other.customer, "marketing", given=True)

    exported = {
        key: registry.get(key).export(customer_a)
        for key in ("accounts.consent", "accounts.support_grants", "accounts.dpa")
    }
    assert exported["accounts.consent"]["processing_restriction"]["reason"] == "why"
    assert [c["given"] for c in exported["accounts.consent"]["consents"]] == [True]
    assert exported["accounts.support_grants"][0]["note"] == "ticket 9"
    [dpa] = exported["accounts.dpa"]
    assert (dpa["version"], dpa["accepted_by"]) == ("1.0", owner_a.email)
    assert registry.get("accounts.data_requests").export(customer_a)[0]["kind"] == "access"

    for key in ("accounts.consent", "accounts.support_grants", "accounts.dpa"):
        for _twice in range(2):  # erasers are idempotent
            registry.get(key).erase(customer_a, None)
    registry.get("accounts.data_requests").erase(customer_a, None)
    customer_a.refresh_from_db()
    assert not customer_a.processing_restricted and not customer_a.processing_restriction_reason
    for model in (ConsentRecord, DpaAcceptance, DataSubjectRequest):
        assert not model.objects.filter(customer=customer_a).exists()
    assert ConsentRecord.objects.filter(customer=other.customer).count() == 1


# --- The API --------------------------------------------------------------------------------------


def post(client, url, body, token):
    return client.post(
        url, json.dumps(body), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {token}"
    )


def test_the_api_gives_and_withdraws_consent_files_requests_and_accepts_the_dpa(
    client, owner_a, customer_a
):
    _key, token = create_api_key(
        Actor(owner_a), customer_a, name="ops", access=ApiKey.Access.READ_WRITE
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    for given in (True, False):
        body = {"customer": customer_a.pk, "purpose": "marketing", "given": given}
        assert post(client, "/api/v1/consents", body, token).status_code == 201
    history = client.get("/api/v1/consents", **auth).json()["results"]
    assert [r["given"] for r in history] == [False, True]

    filed = post(
        client, "/api/v1/data-requests", {"customer": customer_a.pk, "kind": "access"}, token
    )
    assert filed.status_code == 201 and filed.json()["status"] == "open"
    closing = post(
        client,
        f"/api/v1/data-requests/{filed.json()['id']}/close",
        {"status": "done", "note": "x"},
        token,
    )
    assert closing.status_code == 403  # only staff close

    dpa = client.get("/api/v1/dpa", **auth).json()
    accepted = post(
        client,
        "/api/v1/dpa-acceptances",
        {"customer": customer_a.pk, "version": dpa["version"]},
        token,
    )
    assert accepted.status_code == 201 and accepted.json()["accepted_by"] == owner_a.email
    listed = client.get("/api/v1/dpa-acceptances", **auth).json()["results"]
    assert [a["version"] for a in listed] == ["1.0"]


def put(client, url, body, **headers):
    return client.put(url, json.dumps(body), content_type="application/json", **headers)


def test_the_api_reads_sets_and_lifts_the_restriction(
    client, owner_a, customer_a, staff_support, logged_in
):
    _key, token = create_api_key(
        Actor(owner_a), customer_a, name="ops", access=ApiKey.Access.READ_WRITE
    )
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    url = f"/api/v1/processing-restrictions/{customer_a.pk}"
    state = client.get(url, **auth).json()
    assert state == {"customer": customer_a.pk, "restricted": False, "since": None, "reason": ""}

    restricted = put(client, url, {"restricted": True, "reason": "I dispute it"}, **auth)
    assert restricted.status_code == 200
    assert restricted.json()["restricted"] and restricted.json()["reason"] == "I dispute it"
    assert restricted.json()["since"] is not None
    customer_a.refresh_from_db()
    assert customer_a.processing_restricted and not consent.may_process(customer_a, "marketing")
    assert client.get(url, **auth).json() == restricted.json()

    lifted = put(logged_in(staff_support), url, {"restricted": False})  # staff may, as in the panel
    assert lifted.status_code == 200
    assert lifted.json() == {**state}
    assert actions(customer_a)[-2:] == ["rights.restricted", "rights.restriction_lifted"]

    bad = put(client, url, {"reason": "no flag"}, **auth)
    assert bad.status_code == 400 and "restricted" in bad.json()["errors"]


def test_the_api_restriction_needs_an_owner_or_admin_and_a_writing_key(client, customer_a):
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    _key, token = create_api_key(
        Actor(technical), customer_a, name="tech", access=ApiKey.Access.READ_WRITE
    )
    url = f"/api/v1/processing-restrictions/{customer_a.pk}"
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    assert client.get(url, **auth).json()["restricted"] is False  # every member reads it
    assert put(client, url, {"restricted": True}, **auth).status_code == 403
    assert actions(customer_a)[-1] == "authz.denied"
    owner = MembershipFactory(customer=customer_a, role=Role.OWNER).user
    _key, read_token = create_api_key(Actor(owner), customer_a, name="ro")
    denied = put(client, url, {"restricted": True}, HTTP_AUTHORIZATION=f"Bearer {read_token}")
    assert denied.status_code == 403
    customer_a.refresh_from_db()
    assert not customer_a.processing_restricted


def test_staff_admins_publish_a_dpa_version_and_see_who_accepted_which(
    owner_a, customer_a, staff_admin, staff_support, logged_in
):
    consent.accept_dpa(Actor(owner_a), customer_a, version=consent.current_dpa())
    other = MembershipFactory(role=Role.OWNER)
    consent.accept_dpa(Actor(other.user), other.customer, version=consent.current_dpa())
    staff = logged_in(staff_admin)
    staff.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = staff.get("/staff/dpa/").content.decode()
    assert "1.0 (in force)" in page and '<td class="accepted">2 customers</td>' in page

    response = staff.post("/staff/dpa/", {"version": " 2.0 ", "text": "Ny aftale"})
    assert response.status_code == 302
    assert consent.current_dpa().version == "2.0" and consent.current_dpa().text == "Ny aftale"
    assert AuditEvent.objects.filter(action="dpa.published", target="2.0").exists()
    page = staff.get("/staff/dpa/").content.decode()
    assert "2.0 (in force)" in page and "1.0 (in force)" not in page
    assert '<td class="accepted">0 customers</td>' in page  # nobody accepted 2.0 yet
    assert '<td class="accepted">2 customers</td>' in page  # 1.0's acceptances stay

    again = staff.post("/staff/dpa/", {"version": "2.0", "text": "Anden tekst"})
    assert again.status_code == 200 and "Version 2.0 exists already." in again.content.decode()
    assert staff.post("/staff/dpa/", {"version": "3.0", "text": ""}).status_code == 200
    assert DpaVersion.objects.count() == 2  # nothing published by the refused posts

    support = logged_in(staff_support)
    assert support.get("/staff/dpa/").status_code == 403
    assert support.post("/staff/dpa/", {"version": "4.0", "text": "x"}).status_code == 403
    assert logged_in(owner_a).get("/staff/dpa/").status_code == 403
    assert DpaVersion.objects.count() == 2


def test_staff_admins_publish_a_dpa_version_through_the_api(staff_admin, staff_support, logged_in):
    body = {"version": "3.0", "text": "Ny databehandleraftale"}
    support = logged_in(staff_support)
    assert support.post("/api/v1/dpa-versions", body, "application/json").status_code == 403
    admin = logged_in(staff_admin)
    published = admin.post("/api/v1/dpa-versions", body, "application/json")
    assert published.status_code == 201 and published.json()["version"] == "3.0"
    again = admin.post("/api/v1/dpa-versions", body, "application/json")
    assert again.status_code == 400 and "version" in again.json()["errors"]
    assert admin.get("/api/v1/dpa").json()["version"] == "3.0"
    versions = support.get("/api/v1/dpa-versions").json()["results"]
    assert versions[0]["version"] == "3.0" and len(versions) == 2  # the first one, and 3.0
