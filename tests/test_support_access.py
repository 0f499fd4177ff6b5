"""Support access by consent: the customer grants, support reads only under a live grant that
covers the scope, every staff read and refusal is in the customer's audit log, and staff can never
grant themselves (accounts/consent.py, docs/privacy.md)."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.actor import Actor
from accounts.consent import (
    grant_support_access,
    require_content_access,
    revoke_support_access,
)
from accounts.models import ApiKey, AuditEvent, Role, SupportGrant
from accounts.services import add_member, create_api_key
from backups.models import BackupRun, RestoreOrder, Snapshot
from backups.services import restores, runs
from infra import objectstore
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db

NIGHT = timezone.now() - timedelta(hours=2)


def grant(owner, customer, scopes=("backups",), days=1, **kwargs):
    return grant_support_access(
        Actor(owner),
        customer,
        scopes=list(scopes),
        expires_at=timezone.now() + timedelta(days=days),
        **kwargs,
    )


def events(customer, action):
    return list(AuditEvent.objects.filter(customer=customer, action=action))


# --- Granting -------------------------------------------------------------------------------------


def test_the_owner_grants_with_scopes_and_an_expiry_and_it_is_audited(owner_a, customer_a):
    made = grant(owner_a, customer_a, scopes=["files", "backups", "files"], note="case 42")
    assert made.scopes == ["backups", "files"] and made.granted_by == owner_a
    assert made.is_live() and made.covers("files") and not made.covers("mail")
    [event] = events(customer_a, "support.granted")
    assert event.details["scopes"] == ["backups", "files"]


@pytest.mark.parametrize(
    ("scopes", "days", "field"),
    [
        ([], 1, "scopes"),
        (["everything"], 1, "scopes"),
        (["files"], -1, "expires_at"),
        (["files"], 31, "expires_at"),
    ],
)
def test_bad_grants_are_refused_with_a_clear_message(owner_a, customer_a, scopes, days, field):
    with pytest.raises(ValidationError) as refused:
        grant(owner_a, customer_a, scopes=scopes, days=days)
    assert field in refused.value.message_dict
    assert not SupportGrant.objects.exists()


def test_a_long_grant_is_refused_saying_the_limit(owner_a, customer_a):
    with pytest.raises(ValidationError, match="at most 30 days"):
        grant(owner_a, customer_a, days=31)


def test_only_the_owner_or_an_admin_grants(customer_a):
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    with pytest.raises(PermissionDenied):
        grant(technical, customer_a)
    admin = MembershipFactory(customer=customer_a, role=Role.ADMIN).user
    assert grant(admin, customer_a).granted_by == admin


@pytest.mark.parametrize("role", ["support", "admin"])
def test_staff_cannot_grant_even_as_owner_of_the_customer(customer_a, role):
    staff = MembershipFactory(customer=customer_a, role=Role.OWNER, user__staff_role=role).user
    with pytest.raises(PermissionDenied, match="Staff cannot grant"):
        grant(staff, customer_a)
    assert not SupportGrant.objects.exists()
    [denial] = events(customer_a, "authz.denied")
    assert denial.target == "support.grant" and denial.actor == staff


def test_staff_cannot_grant_through_the_panel(customer_a, staff_support, logged_in):
    client = logged_in(staff_support)
    url = f"/customers/{customer_a.pk}/support-access/"
    page = client.get(url)
    assert page.status_code == 200 and b'name="scopes"' not in page.content  # read-only
    expires = (timezone.localtime() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post(url, {"scopes": ["files"], "expires_at": expires})
    assert response.status_code == 403
    assert not SupportGrant.objects.exists()


def test_the_owner_grants_and_revokes_in_the_panel(owner_a, customer_a, logged_in):
    client = logged_in(owner_a)
    url = f"/customers/{customer_a.pk}/support-access/"
    assert b'name="scopes"' in client.get(url).content
    expires = timezone.localtime() + timedelta(days=2)
    response = client.post(
        url,
        {"scopes": ["mail", "databases"], "expires_at": expires.strftime("%Y-%m-%dT%H:%M")},
    )
    assert response.status_code == 302
    made = SupportGrant.objects.get()
    assert made.scopes == ["databases", "mail"] and made.is_live()
    too_long = (timezone.localtime() + timedelta(days=45)).strftime("%Y-%m-%dT%H:%M")
    refused = client.post(url, {"scopes": ["files"], "expires_at": too_long})
    assert refused.status_code == 200 and SupportGrant.objects.count() == 1
    client.post(f"{url}{made.pk}/revoke/")
    made.refresh_from_db()
    assert made.revoked_at is not None and made.revoked_by == owner_a


def test_revoking_ends_the_grant_at_once_and_is_audited(owner_a, customer_a, staff_support):
    made = grant(owner_a, customer_a)
    require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot x")
    revoke_support_access(Actor(owner_a), made)
    made.refresh_from_db()
    assert made.revoked_at is not None and made.revoked_by == owner_a and not made.is_live()
    with pytest.raises(PermissionDenied):
        require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot x")
    assert len(events(customer_a, "support.revoked")) == 1
    revoke_support_access(Actor(owner_a), made)  # again: nothing changes
    assert len(events(customer_a, "support.revoked")) == 1


# --- Reading content ------------------------------------------------------------------------------


def test_staff_without_a_grant_are_denied_and_the_denial_is_audited(customer_a, staff_support):
    with pytest.raises(PermissionDenied, match="consent"):
        require_content_access(Actor(staff_support), customer_a, "files", what="/public_html")
    [denial] = events(customer_a, "support.content_denied")
    assert denial.actor == staff_support and denial.target == "/public_html"
    assert denial.details == {"scope": "files"}
    assert not events(customer_a, "support.content_read")


def test_staff_with_a_live_grant_read_and_every_read_is_audited(owner_a, customer_a, staff_admin):
    made = grant(owner_a, customer_a, scopes=["mail", "backups"])
    actor = Actor(staff_admin, ip="192.0.2.7")
    assert require_content_access(actor, customer_a, "mail", what="inbox of info@") == made
    assert require_content_access(actor, customer_a, "backups", what="snapshot 1") == made
    reads = events(customer_a, "support.content_read")
    assert [(e.target, e.details["scope"], e.details["grant"]) for e in reversed(reads)] == [
        ("inbox of info@", "mail", made.pk),
        ("snapshot 1", "backups", made.pk),
    ]
    assert {(e.actor_id, e.ip) for e in reads} == {(staff_admin.pk, "192.0.2.7")}


def test_a_grant_for_another_scope_does_not_open_this_one(owner_a, customer_a, staff_support):
    grant(owner_a, customer_a, scopes=["files"])
    with pytest.raises(PermissionDenied):
        require_content_access(Actor(staff_support), customer_a, "databases", what="dump")
    assert len(events(customer_a, "support.content_denied")) == 1


def test_an_expired_grant_opens_nothing(owner_a, customer_a, staff_support, time_machine):
    grant(owner_a, customer_a, scopes=["backups"], days=2)
    time_machine.move_to(timezone.now() + timedelta(days=2, minutes=1))
    with pytest.raises(PermissionDenied):
        require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot")


def test_another_customers_grant_opens_nothing(owner_b, customer_b, customer_a, staff_support):
    grant(owner_b, customer_b, scopes=["backups"])
    with pytest.raises(PermissionDenied):
        require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot")


def test_members_read_their_own_content_without_a_grant_or_an_audit_row(
    owner_a, customer_a, owner_b
):
    technical = MembershipFactory(customer=customer_a, role=Role.TECHNICAL).user
    assert require_content_access(Actor(technical), customer_a, "files", what="x") is None
    assert not AuditEvent.objects.filter(action__startswith="support.").exists()
    with pytest.raises(PermissionDenied):  # a member of another customer is not
        require_content_access(Actor(owner_b), customer_a, "files", what="x")


def test_a_staff_users_api_key_never_carries_the_staff_read(
    owner_a, customer_a, customer_b, staff_support
):
    """An API key acts for its customer only (``api_customer_id``, set by the API's key
    authentication): a staff member's key for customer B does not use A's grant."""
    grant(owner_a, customer_a, scopes=["backups"])
    MembershipFactory(customer=customer_b, user=staff_support, role=Role.OWNER)
    staff_support.api_customer_id = customer_b.pk
    with pytest.raises(PermissionDenied):
        require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot")
    del staff_support.api_customer_id
    assert require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot")


def test_the_customer_sees_support_reads_in_their_audit_log(
    owner_a, customer_a, staff_support, logged_in
):
    grant(owner_a, customer_a, scopes=["backups"])
    require_content_access(Actor(staff_support), customer_a, "backups", what="snapshot 77 /shop")
    page = logged_in(owner_a).get(f"/customers/{customer_a.pk}/audit/").content.decode()
    assert "support.content_read" in page
    assert "snapshot 77 /shop" in page and staff_support.email in page


# --- Wired into the restore pages -----------------------------------------------------------------


@pytest.fixture
def backed_up(s3_store, hosted, tariff):
    webhotel, _home = hosted
    for run in runs.plan_night(runs.night_of(NIGHT), now=NIGHT):
        assert runs.execute(run.pk) in ("done", "partial"), BackupRun.objects.get(pk=run.pk).error
    return webhotel, Snapshot.objects.get(kind="webhotel", item_id=webhotel.pk)


def test_browsing_a_snapshot_needs_a_grant_for_staff(
    backed_up, owner_a, customer_a, staff_support, logged_in
):
    webhotel, snapshot = backed_up
    url = (
        f"/customers/{customer_a.pk}/backups/webhotel/{webhotel.pk}/snapshots/"
        f"{snapshot.snapshot_id}/restore/?path=public_html"
    )
    client = logged_in(staff_support)
    denied = client.get(url)
    assert denied.status_code == 200  # the metadata page shows; its file list does not
    assert b"page1.html" not in denied.content
    assert len(events(customer_a, "support.content_denied")) == 1

    grant(owner_a, customer_a, scopes=["backups"])
    allowed = client.get(url)
    assert b"page1.html" in allowed.content
    [read] = events(customer_a, "support.content_read")
    assert read.target.endswith("/public_html") and snapshot.snapshot_id[:12] in read.target

    owner_page = logged_in(owner_a).get(url)  # the customer browses without any grant
    assert b"page1.html" in owner_page.content
    assert len(events(customer_a, "support.content_read")) == 1


def archive_order(customer) -> RestoreOrder:
    now = timezone.now()
    return RestoreOrder.objects.create(
        customer=customer,
        scope="webhotel",
        destination="download",
        expires_at=now + timedelta(days=3),
        gross=0,
        archive_key=f"downloads/{customer.uuid}/1.tar.zst",
        archive_format="tar.zst",
        archive_size=1,
        archive_expires_at=now + timedelta(days=3),
    )


def test_a_restore_archive_link_needs_a_grant_for_staff(
    owner_a, customer_a, staff_support, logged_in
):
    order = archive_order(customer_a)
    with pytest.raises(PermissionDenied):
        restores.download_link(Actor(staff_support), order)
    client = logged_in(staff_support)
    response = client.post(f"/customers/{customer_a.pk}/restores/{order.pk}/download/")
    assert response["Location"].endswith(f"/restores/{order.pk}/")  # back, with the refusal
    assert not events(customer_a, "restore.link_issued")
    assert len(events(customer_a, "support.content_denied")) == 2

    grant(owner_a, customer_a, scopes=["backups"])
    response = client.post(f"/customers/{customer_a.pk}/restores/{order.pk}/download/")
    assert "/restores/download/" in response["Location"]
    [read] = events(customer_a, "support.content_read")
    assert read.target == f"restore archive of order {order.pk}"
    assert restores.download_link(Actor(owner_a), order)  # the customer needs no grant


# --- The API --------------------------------------------------------------------------------------


def api(client, method, url, body=None, token=None):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if body is None:
        return getattr(client, method)(url, **headers)
    return getattr(client, method)(
        url, json.dumps(body), content_type="application/json", **headers
    )


def test_a_customer_key_lists_creates_and_revokes_grants(client, owner_a, customer_a):
    _key, token = create_api_key(
        Actor(owner_a), customer_a, name="ops", access=ApiKey.Access.READ_WRITE
    )
    expires = (timezone.now() + timedelta(days=3)).isoformat()
    body = {"customer": customer_a.pk, "scopes": ["files", "mail"], "expires_at": expires}
    created = api(client, "post", "/api/v1/support-grants", body, token)
    assert created.status_code == 201, created.content
    assert created.json()["scopes"] == ["files", "mail"] and created.json()["live"] is True
    listed = api(client, "get", "/api/v1/support-grants", token=token).json()
    assert [g["id"] for g in listed["results"]] == [created.json()["id"]]
    revoked = api(
        client, "post", f"/api/v1/support-grants/{created.json()['id']}/revoke", {}, token
    )
    assert revoked.status_code == 200 and revoked.json()["live"] is False

    too_long = {**body, "expires_at": (timezone.now() + timedelta(days=60)).isoformat()}
    refused = api(client, "post", "/api/v1/support-grants", too_long, token)
    assert refused.status_code == 400 and "expires_at" in refused.json()["errors"]


def test_a_staff_members_key_cannot_create_a_grant(client, customer_a, staff_admin):
    MembershipFactory(customer=customer_a, user=staff_admin, role=Role.OWNER)
    _key, token = create_api_key(
        Actor(staff_admin), customer_a, name="mine", access=ApiKey.Access.READ_WRITE
    )
    body = {
        "customer": customer_a.pk,
        "scopes": ["backups"],
        "expires_at": (timezone.now() + timedelta(days=1)).isoformat(),
    }
    response = api(client, "post", "/api/v1/support-grants", body, token)
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert not SupportGrant.objects.exists()


def test_the_api_lists_a_snapshot_folder_for_staff_only_with_a_grant(
    backed_up, owner_a, customer_a, staff_support, logged_in
):
    _webhotel, snapshot = backed_up
    url = f"/api/v1/snapshots/{snapshot.pk}/entries?path=public_html"
    staff = logged_in(staff_support)
    assert staff.get(url).status_code == 403
    grant(owner_a, customer_a, scopes=["backups"])
    listed = staff.get(url)
    assert listed.status_code == 200
    names = {entry["path"] for entry in listed.json()}
    assert "public_html/page1.html" in names
    assert all(entry["path"].startswith("public_html/") for entry in listed.json())
    [read] = events(customer_a, "support.content_read")
    assert read.target.endswith("/public_html")
    # The customer lists their own snapshot without any grant; the root lists folders first.
    root = logged_in(owner_a).get(f"/api/v1/snapshots/{snapshot.pk}/entries").json()
    assert root[0]["type"] == "dir" and "public_html" in {entry["path"] for entry in root}


def test_staff_cannot_make_themselves_members_to_skip_the_grant(
    customer_a, owner_a, staff_admin, staff_support
):
    for staff in (staff_admin, staff_support):
        with pytest.raises(PermissionDenied, match="only by its own owners"):
            add_member(Actor(staff_admin), customer_a, staff.email.upper(), Role.OWNER)
    assert not customer_a.memberships.filter(user__staff_role__gt="").exists()
    [denial, _] = events(customer_a, "authz.denied")
    assert denial.target == "members.add_staff" and denial.actor == staff_admin
    with pytest.raises(PermissionDenied):
        require_content_access(Actor(staff_admin), customer_a, "files", what="/public_html")
    # The customer's own owner may still add a staff member (say, the customer's own employee).
    add_member(Actor(owner_a), customer_a, staff_support.email, Role.TECHNICAL)
    assert customer_a.memberships.filter(user=staff_support).exists()


def test_a_link_staff_got_under_a_grant_dies_with_the_grant(owner_a, customer_a, staff_support):
    order = archive_order(customer_a)
    given = grant(owner_a, customer_a, scopes=["backups"])
    staff_link = restores.download_link(Actor(staff_support), order)
    owner_link = restores.download_link(Actor(owner_a), order)
    token = staff_link.rstrip("/").rsplit("/", 1)[1]
    assert restores.order_for_download(token) == order
    [download] = [e for e in events(customer_a, "support.content_read") if "download" in e.target]
    assert download.details["grant"] == given.pk
    revoke_support_access(Actor(owner_a), given)
    with pytest.raises(PermissionDenied, match="invalid or has expired"):
        restores.order_for_download(token)
    # The customer's own link does not depend on any grant.
    assert restores.order_for_download(owner_link.rstrip("/").rsplit("/", 1)[1]) == order


def test_listing_a_snapshot_whose_objects_are_gone_is_a_clear_400(
    backed_up, owner_a, customer_a, logged_in
):
    _webhotel, snapshot = backed_up
    store = objectstore.default_store()
    [sealed] = [o.key for o in store.list() if f"/snapshots/{snapshot.snapshot_id}" in o.key]
    store.delete(sealed)
    answer = logged_in(owner_a).get(
        f"/api/v1/snapshots/{snapshot.pk}/entries", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert answer.status_code == 400
    assert answer.json()["errors"]["snapshot"] == [
        "This snapshot cannot be read from the backup store: it is missing or damaged."
    ]
