"""The API frame: keys, problem+json errors, pagination, throttling and the first endpoints."""

import hashlib
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.throttling import SimpleRateThrottle

from accounts import services
from accounts.actor import Actor
from accounts.models import ApiKey, AuditEvent, Customer, Membership, Role
from tests.factories import CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def send(client, method, url, body=None, **headers):
    return getattr(client, method)(
        url, json.dumps(body or {}), content_type="application/json", **headers
    )


@pytest.fixture
def key(owner_a, customer_a):
    _key, token = services.create_api_key(
        Actor(owner_a), customer_a, name="ci", access=ApiKey.Access.READ_WRITE
    )
    return token


def test_key_is_shown_once_and_stored_as_a_hash(logged_in, owner_a, customer_a):
    client = logged_in(owner_a)
    response = send(client, "post", "/api/v1/api-keys", {"customer": customer_a.pk, "name": "x"})
    assert response.status_code == 201
    token = response.json()["token"]
    stored = ApiKey.objects.get(pk=response.json()["id"])
    secret = token.split("_", 2)[2]
    assert stored.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(list(ApiKey.objects.values()), default=str)
    assert "token" not in client.get(f"/api/v1/api-keys/{stored.pk}").json()
    assert secret not in json.dumps(list(AuditEvent.objects.values("details")))


def test_key_authenticates_and_records_last_use(key, customer_a):
    response = Client().get("/api/v1/customers", **bearer(key))
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [customer_a.pk]
    assert ApiKey.objects.get().last_used_at is not None


def test_key_is_bound_to_its_customer_even_for_an_agency_user(owner_a, customer_a):
    other = CustomerFactory()
    MembershipFactory(user=owner_a, customer=other)
    _key, token = services.create_api_key(Actor(owner_a), customer_a, name="a only")
    ids = [c["id"] for c in Client().get("/api/v1/customers", **bearer(token)).json()["results"]]
    assert ids == [customer_a.pk]
    assert Client().get(f"/api/v1/customers/{other.pk}", **bearer(token)).status_code == 404


def test_read_only_key_cannot_write(owner_a, customer_a):
    _key, token = services.create_api_key(Actor(owner_a), customer_a, name="ro")
    response = send(
        Client(),
        "patch",
        f"/api/v1/customers/{customer_a.pk}",
        {"name": "X"},
        HTTP_ACCEPT_LANGUAGE="en",
        **bearer(token),
    )
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["detail"] == "This API key is read-only."
    customer_a.refresh_from_db()
    assert customer_a.name != "X"


@pytest.mark.parametrize("state", ["expired", "revoked", "garbled", "unknown"])
def test_unusable_keys_get_401(owner_a, customer_a, state):
    key, token = services.create_api_key(Actor(owner_a), customer_a, name="k")
    if state == "expired":
        ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif state == "revoked":
        services.revoke_api_key(Actor(owner_a), key)
    elif state == "garbled":
        token = token[:-2] + "xx"
    else:
        token = "havn_000000000000_nothing"
    response = Client().get("/api/v1/me", **bearer(token))
    assert response.status_code == 401
    assert response.json()["status"] == 401


def test_key_of_a_removed_member_stops_working(owner_a, customer_a):
    tech = MembershipFactory(customer=customer_a, role=Role.TECHNICAL)
    _key, token = services.create_api_key(Actor(tech.user), customer_a, name="t")
    services.remove_member(Actor(owner_a), tech)
    assert Client().get("/api/v1/me", **bearer(token)).status_code == 401


def test_key_expiry_must_be_in_the_future(logged_in, owner_a, customer_a):
    response = send(
        logged_in(owner_a),
        "post",
        "/api/v1/api-keys",
        {
            "customer": customer_a.pk,
            "name": "x",
            "expires_at": "2000-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert "expires_at" in response.json()["errors"]


def test_billing_role_cannot_create_keys(logged_in, customer_a):
    billing = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    response = send(
        logged_in(billing), "post", "/api/v1/api-keys", {"customer": customer_a.pk, "name": "x"}
    )
    assert response.status_code == 403
    assert not ApiKey.objects.exists()
    assert AuditEvent.objects.filter(action="authz.denied", actor=billing).exists()


def test_validation_errors_are_problem_json_with_field_errors(logged_in, staff_admin):
    response = send(
        logged_in(staff_admin),
        "post",
        "/api/v1/customers",
        {
            "name": "",
            "kind": "company",
            "cvr": "12345678",
            "email": "not-an-email",
        },
    )
    assert response.status_code == 400
    body = response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert body["status"] == 400 and body["type"].startswith("https://")
    assert {"name", "email", "address"} <= body["errors"].keys()


def test_model_validation_errors_become_field_errors(logged_in, staff_admin):
    response = send(
        logged_in(staff_admin),
        "post",
        "/api/v1/customers",
        {
            "name": "Firma",
            "kind": "company",
            "cvr": "12345678",
            "address": "Gade 1",
            "postal_code": "1000",
            "city": "København",
            "email": "a@b.dk",
        },
    )
    assert response.status_code == 400
    assert "cvr" in response.json()["errors"]
    assert not Customer.objects.filter(name="Firma").exists()


def test_staff_admin_creates_a_customer_with_an_invited_owner(logged_in, staff_admin):
    response = send(
        logged_in(staff_admin),
        "post",
        "/api/v1/customers",
        {
            "name": "Firma",
            "kind": "company",
            "cvr": "10150817",
            "address": "Gade 1",
            "postal_code": "1000",
            "city": "København",
            "email": "a@b.dk",
            "owner_email": "Ny.Ejer@Example.dk",
        },
    )
    assert response.status_code == 201, response.content
    membership = Membership.objects.get(customer_id=response.json()["id"])
    assert membership.user.email == "ny.ejer@example.dk" and membership.role == Role.OWNER
    assert not membership.user.has_usable_password()


def test_support_staff_list_but_cannot_create_customers(logged_in, staff_support, customer_a):
    client = logged_in(staff_support)
    assert client.get("/api/v1/customers").json()["count"] == 1
    response = send(client, "post", "/api/v1/customers", {"name": "X"})
    assert response.status_code == 403


def test_members_see_only_their_customers(logged_in, owner_a, customer_a, customer_b):
    body = logged_in(owner_a).get("/api/v1/customers").json()
    assert [c["id"] for c in body["results"]] == [customer_a.pk]


def test_me_shows_memberships_and_updates_the_profile(logged_in, owner_a, customer_a):
    client = logged_in(owner_a)
    assert client.get("/api/v1/me").json()["customers"] == [{"id": customer_a.pk, "role": "owner"}]
    response = send(client, "patch", "/api/v1/me", {"full_name": "Ny Navn", "email": "x@y.dk"})
    assert response.status_code == 200
    owner_a.refresh_from_db()
    assert owner_a.full_name == "Ny Navn" and owner_a.email != "x@y.dk"


def test_memberships_add_change_and_keep_one_owner(logged_in, owner_a, customer_a):
    client = logged_in(owner_a)
    response = send(
        client,
        "post",
        "/api/v1/memberships",
        {"customer": customer_a.pk, "email": "tech@example.dk", "role": "technical"},
    )
    assert response.status_code == 201
    tech_id = response.json()["id"]
    assert (
        send(client, "patch", f"/api/v1/memberships/{tech_id}", {"role": "billing"}).json()["role"]
        == "billing"
    )
    own = Membership.objects.get(user=owner_a)
    response = send(client, "patch", f"/api/v1/memberships/{own.pk}", {"role": "technical"})
    assert response.status_code == 400
    assert "role" in response.json()["errors"]
    response = send(
        client,
        "post",
        "/api/v1/memberships",
        {"customer": customer_a.pk, "email": "tech@example.dk", "role": "owner"},
    )
    assert response.status_code == 400
    assert client.delete(f"/api/v1/memberships/{tech_id}").status_code == 204


def test_pagination(logged_in, staff_support):
    CustomerFactory.create_batch(7)
    body = logged_in(staff_support).get("/api/v1/customers?page_size=5").json()
    assert body["count"] == 7 and len(body["results"]) == 5 and body["next"]


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"name": ' + b'"x' * 10 + b"}"])
def test_malformed_json_is_a_400_problem(logged_in, owner_a, customer_a, body):
    response = logged_in(owner_a).patch(
        f"/api/v1/customers/{customer_a.pk}", body, content_type="application/json"
    )
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_oversized_request_is_a_4xx(logged_in, owner_a, customer_a):
    big = json.dumps({"name": "x" * (3 * 1024 * 1024)})
    response = logged_in(owner_a).patch(
        f"/api/v1/customers/{customer_a.pk}", big, content_type="application/json"
    )
    assert 400 <= response.status_code < 500


def test_unknown_api_path_is_a_404_problem():
    response = Client().get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


def test_throttling_answers_429(key, monkeypatch):
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", {"anon": "3/min", "user": "3/min"})
    codes = [Client().get("/api/v1/me", **bearer(key)).status_code for _ in range(5)]
    assert codes[:3] == [200, 200, 200] and codes[3:] == [429, 429]


def test_schema_and_docs_are_served():
    schema = Client().get("/api/v1/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    assert {"/api/v1/me", "/api/v1/customers", "/api/v1/api-keys"} <= paths.keys()
    assert "apiKey" in schema.json()["components"]["securitySchemes"]
    docs = Client().get("/api/v1/docs/")
    assert docs.status_code == 200 and b"redoc" in docs.content.lower()
    assert b"cdn.jsdelivr" not in docs.content  # served locally: no internet needed
