"""API keys: scopes per resource family, read-only keys, IP allow-lists, rotation, rate limits
with RateLimit headers, and the last use shown in the panel."""

import json
from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts import services
from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent
from api import scopes
from api.throttling import AnonThrottle, KeyThrottle

pytestmark = pytest.mark.django_db


def make_key(user, customer, **fields):
    fields.setdefault("access", ApiKey.Access.READ_WRITE)
    return services.create_api_key(Actor(user), customer, name="ci", **fields)


def call(token, method="get", url="/api/v1/customers", body=None, **extra):
    client = Client(**{k: v for k, v in extra.items() if k == "REMOTE_ADDR"})
    headers = {k: v for k, v in extra.items() if k != "REMOTE_ADDR"}
    return getattr(client, method)(
        url,
        json.dumps(body) if body is not None else None,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        HTTP_ACCEPT_LANGUAGE="en",
        **headers,
    )


# --- Scopes ---------------------------------------------------------------------------------------


def test_every_endpoint_belongs_to_a_known_family():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    unmapped = {
        path
        for path in schema["paths"]
        if scopes.family_of(path) is None and scopes.segment(path) not in scopes.UNSCOPED
    }
    assert unmapped == set(), "map these URL prefixes to a family in api/scopes.py"
    assert set(scopes.FAMILIES.values()) <= set(ApiKey.Scope.values)


def test_a_scoped_key_reaches_its_families_only(owner_a, customer_a):
    _key, token = make_key(owner_a, customer_a, scopes=["hosting", "backups"])
    assert call(token, url="/api/v1/webhotels").status_code == 200
    assert call(token, url="/api/v1/snapshots").status_code == 200
    denied = call(token, url="/api/v1/invoices")
    assert denied.status_code == 403
    assert denied["Content-Type"] == "application/problem+json"
    assert denied.json()["detail"] == "This API key's scopes do not cover this resource."
    assert call(token, url="/api/v1/customers").status_code == 403
    # A write outside its families is refused before anything runs.
    created = call(
        token, "post", "/api/v1/api-keys", {"customer": customer_a.pk, "name": "escalate"}
    )
    assert created.status_code == 403
    assert not ApiKey.objects.filter(name="escalate").exists()


def test_a_key_without_scopes_reaches_everything(owner_a, customer_a):
    _key, token = make_key(owner_a, customer_a)
    for url in ("/api/v1/customers", "/api/v1/webhotels", "/api/v1/invoices", "/api/v1/webhooks"):
        assert call(token, url=url).status_code == 200, url


def test_unknown_scopes_are_refused(owner_a, customer_a):
    with pytest.raises(ValidationError) as refused:
        make_key(owner_a, customer_a, scopes=["hosting", "root"])
    assert "scopes" in refused.value.message_dict


def test_scopes_and_allow_list_through_the_api(owner_a, customer_a, logged_in):
    response = logged_in(owner_a).post(
        "/api/v1/api-keys",
        json.dumps(
            {
                "customer": customer_a.pk,
                "name": "narrow",
                "scopes": ["domains"],
                "allowed_ips": ["192.0.2.7", "2001:db8::/32"],
            }
        ),
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["scopes"] == ["domains"]
    assert response.json()["allowed_ips"] == ["192.0.2.7/32", "2001:db8::/32"]


# --- Read-only and the allow-list -----------------------------------------------------------------


def test_a_read_only_key_cannot_post(owner_a, customer_a):
    _key, token = make_key(owner_a, customer_a, access=ApiKey.Access.READ)
    assert call(token, url="/api/v1/api-keys").status_code == 200
    response = call(token, "post", "/api/v1/api-keys", {"customer": customer_a.pk, "name": "x"})
    assert response.status_code == 403
    assert response.json()["detail"] == "This API key is read-only."
    assert not ApiKey.objects.filter(name="x").exists()


def test_the_ip_allow_list_is_checked_against_remote_addr(owner_a, customer_a):
    _key, token = make_key(owner_a, customer_a, allowed_ips=["192.0.2.0/24"])
    assert call(token, REMOTE_ADDR="192.0.2.44").status_code == 200
    outside = call(token, REMOTE_ADDR="198.51.100.1", HTTP_X_FORWARDED_FOR="192.0.2.44")
    assert outside.status_code == 403
    assert outside["Content-Type"] == "application/problem+json"
    assert outside.json()["detail"] == "This API key may not be used from this address."


def test_a_bad_network_is_a_field_error(owner_a, customer_a):
    with pytest.raises(ValidationError) as refused:
        make_key(owner_a, customer_a, allowed_ips=["10.0.0.0/33"])
    assert "allowed_ips" in refused.value.message_dict


# --- Rotation -------------------------------------------------------------------------------------


def test_rotation_keeps_both_keys_working_during_the_grace_period(owner_a, customer_a):
    old, old_token = make_key(owner_a, customer_a, scopes=["hosting"], allowed_ips=["127.0.0.0/8"])
    new, new_token = services.rotate_api_key(Actor(owner_a), old)
    assert new_token != old_token and new.rotated_from == old
    assert (new.access, new.scopes, new.allowed_ips, new.name) == (
        old.access,
        old.scopes,
        old.allowed_ips,
        old.name,
    )
    assert AuditEvent.objects.filter(action="apikey.rotated", target=old.prefix).exists()
    for token in (old_token, new_token):
        assert call(token, url="/api/v1/webhotels").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert call(old_token, url="/api/v1/webhotels").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert call(old_token, url="/api/v1/webhotels").status_code == 401
        assert call(new_token, url="/api/v1/webhotels").status_code == 200
    with pytest.raises(ValidationError):
        services.rotate_api_key(Actor(owner_a), old)


def test_rotation_through_the_api_shows_the_new_token_once(owner_a, customer_a):
    old, old_token = make_key(owner_a, customer_a)
    response = call(old_token, "post", f"/api/v1/api-keys/{old.pk}/rotate")
    assert response.status_code == 201
    new_token = response.json()["token"]
    assert response.json()["rotated_from"] == old.pk
    assert call(new_token).status_code == 200
    assert "token" not in call(new_token, url=f"/api/v1/api-keys/{response.json()['id']}").json()


def test_rotation_in_the_panel(owner_a, customer_a, logged_in):
    old, _token = make_key(owner_a, customer_a)
    page = logged_in(owner_a).post(f"/customers/{customer_a.pk}/api-keys/{old.pk}/rotate/")
    assert page.status_code == 200
    new = ApiKey.objects.get(rotated_from=old)
    assert f"havn_{new.prefix}_".encode() in page.content  # the new token, shown once
    old.refresh_from_db()
    assert old.expires_at <= timezone.now() + timedelta(hours=24)


# --- Rate limits ----------------------------------------------------------------------------------


@pytest.fixture
def low_rate(monkeypatch):
    rates = {"anon": "3/min", "user": "3/min"}
    for throttle in (AnonThrottle, KeyThrottle):
        monkeypatch.setattr(throttle, "THROTTLE_RATES", rates)


def test_rate_limit_headers_and_429_per_key(owner_a, customer_a, low_rate):
    _key, token = make_key(owner_a, customer_a)
    _other, other_token = make_key(owner_a, customer_a)
    answers = [call(token, url="/api/v1/me") for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a["RateLimit-Limit"] for a in answers] == ["3"] * 4
    assert [a["RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    assert all(0 < int(a["RateLimit-Reset"]) <= 60 for a in answers)
    assert 0 < int(answers[3]["Retry-After"]) <= 60
    assert answers[3]["Content-Type"] == "application/problem+json"
    # Another key of the same user has its own budget.
    fresh = call(other_token, url="/api/v1/me")
    assert fresh.status_code == 200 and fresh["RateLimit-Remaining"] == "2"


def test_anonymous_callers_get_headers_too(low_rate):
    response = Client().get("/api/v1/me")
    assert response.status_code in (401, 403)
    assert response["RateLimit-Limit"] == "3"


def test_a_replay_counts_and_carries_the_headers(owner_a, customer_a, low_rate):
    _key, token = make_key(owner_a, customer_a)
    body = {"customer": customer_a.pk, "name": "replayed"}
    headers = {"HTTP_IDEMPOTENCY_KEY": "rl"}
    first = call(token, "post", "/api/v1/api-keys", body, **headers)
    again = call(token, "post", "/api/v1/api-keys", body, **headers)
    assert again["Idempotent-Replayed"] == "true"
    assert (first["RateLimit-Remaining"], again["RateLimit-Remaining"]) == ("2", "1")


# --- Last use -------------------------------------------------------------------------------------


def test_last_use_is_recorded_at_most_once_a_minute_and_shown_in_the_panel(
    owner_a, customer_a, logged_in
):
    key, token = make_key(owner_a, customer_a)
    page = logged_in(owner_a).get(f"/customers/{customer_a.pk}/api-keys/")
    assert b"Never" in page.content or b"Aldrig" in page.content
    call(token)
    first_use = ApiKey.objects.get(pk=key.pk).last_used_at
    assert first_use is not None
    call(token)
    assert ApiKey.objects.get(pk=key.pk).last_used_at == first_use
    with time_machine.travel(timezone.now() + timedelta(minutes=2)):
        call(token)
    assert ApiKey.objects.get(pk=key.pk).last_used_at > first_use
    page = logged_in(owner_a).get(f"/customers/{customer_a.pk}/api-keys/")
    assert page.context["keys"].get(pk=key.pk).last_used_at is not None
    assert b'class="last-used">\xe2\x80\x94' not in page.content


def test_the_panel_creates_a_narrow_key_and_explains_a_bad_network(owner_a, customer_a, logged_in):
    client = logged_in(owner_a)
    url = f"/customers/{customer_a.pk}/api-keys/"
    data = {"name": "deploy", "access": "read_write", "scopes": ["hosting", "domains"]}
    bad = client.post(url, {**data, "allowed_ips": "192.0.2.0/24\nnot-an-address"})
    assert bad.status_code == 200 and "allowed_ips" in bad.context["form"].errors
    assert not ApiKey.objects.filter(name="deploy").exists()
    good = client.post(url, {**data, "allowed_ips": "192.0.2.0/24\n2001:db8::1"})
    assert good.status_code == 200 and good.context["token"]
    key = ApiKey.objects.get(name="deploy")
    assert key.scopes == ["domains", "hosting"]
    assert key.allowed_ips == ["192.0.2.0/24", "2001:db8::1/128"]


# --- Staff keys -----------------------------------------------------------------------------------


def test_staff_make_a_staff_key_in_a_session_and_it_acts_with_their_staff_role(
    staff_admin, logged_in, customer_b
):
    session = logged_in(staff_admin)
    created = session.post(
        "/api/v1/api-keys", {"name": "automation", "access": "read_write"}, "application/json"
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["customer"] is None
    # No expiry given: the longest a staff key may live.
    expires = timezone.datetime.fromisoformat(body["expires_at"])
    assert timedelta(days=89) < expires - timezone.now() <= timedelta(days=90)
    token = body["token"]
    # Staff-only endpoints answer, and every customer is visible, as for the staff member.
    assert call(token, url="/api/v1/servers").status_code == 200
    customers = call(token, url="/api/v1/customers").json()["results"]
    assert customer_b.pk in {c["id"] for c in customers}
    # A key cannot make another staff key: that needs the two-factor session.
    again = call(token, "post", "/api/v1/api-keys", {"name": "more"})
    assert again.status_code == 403
    assert again.json()["detail"] == "Staff keys are made from a session with two-factor login."


def test_a_staff_key_stops_when_its_maker_stops_being_staff(staff_admin):
    _key, token = services.create_api_key(Actor(staff_admin), None, name="ops")
    assert call(token, url="/api/v1/servers").status_code == 200
    staff_admin.staff_role = ""
    staff_admin.save(update_fields=["staff_role"])
    assert call(token, url="/api/v1/servers").status_code == 401


def test_staff_keys_must_expire_within_the_limit(staff_admin, settings):
    settings.HAVN_STAFF_KEY_MAX_DAYS = 30
    with pytest.raises(ValidationError) as refused:
        services.create_api_key(
            Actor(staff_admin), None, name="ops", expires_at=timezone.now() + timedelta(days=31)
        )
    assert refused.value.message_dict["expires_at"] == ["A staff key must expire within 30 days."]


def test_only_staff_make_staff_keys_and_only_their_maker_manages_one(
    owner_a, customer_a, staff_admin, staff_support, logged_in
):
    # A customer's member who leaves out the customer gets a field error, not a staff key.
    _key, owner_token = make_key(owner_a, customer_a)
    answer = call(owner_token, "post", "/api/v1/api-keys", {"name": "x"})
    assert answer.status_code == 400
    assert answer.json()["errors"] == {"customer": ["This field is required."]}
    with pytest.raises(PermissionDenied):
        services.create_api_key(Actor(owner_a), None, name="x")
    # Another staff member neither sees nor revokes an admin's staff key.
    key, _token = services.create_api_key(Actor(staff_admin), None, name="admin's")
    other = logged_in(staff_support)
    listed = other.get("/api/v1/api-keys").json()["results"]
    assert key.pk not in {k["id"] for k in listed}
    assert other.delete(f"/api/v1/api-keys/{key.pk}").status_code == 404
    with pytest.raises(PermissionDenied):
        services.revoke_api_key(Actor(staff_support), key)
    # Customers never see staff keys.
    assert key.pk not in {
        k["id"] for k in call(owner_token, url="/api/v1/api-keys").json()["results"]
    }
    assert ApiKey.objects.get(pk=key.pk).revoked_at is None


def test_the_staff_keys_page_makes_rotates_and_revokes_own_keys(staff_admin, logged_in, settings):
    session = logged_in(staff_admin)
    session.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = session.post("/staff/api-keys/", {"name": "nightly report", "access": "read"})
    assert page.status_code == 200
    assert b"shown only this once" in page.content
    key = ApiKey.objects.get(created_by=staff_admin, customer=None)
    assert key.name == "nightly report" and key.expires_at is not None
    rotated = session.post(f"/staff/api-keys/{key.pk}/rotate/")
    assert rotated.status_code == 200 and b"shown only this once" in rotated.content
    successor = ApiKey.objects.get(rotated_from=key)
    assert successor.customer is None and successor.expires_at == key.expires_at
    assert session.post(f"/staff/api-keys/{successor.pk}/revoke/").status_code == 302
    assert ApiKey.objects.get(pk=successor.pk).revoked_at is not None
    listing = session.get("/staff/api-keys/")
    assert b"nightly report" in listing.content and b"Revoked" in listing.content
