"""Idempotency-Key on the API's writes: replay, conflicting reuse, in-flight requests, expiry."""

import hashlib
import json
from datetime import timedelta

import pytest
import time_machine
from django.test import Client, RequestFactory
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from accounts import services
from accounts.actor import Actor
from accounts.models import ApiKey, Role
from api.idempotency import fingerprint, purge_expired
from api.models import IdempotencyRecord
from hosting.models import IdentityVerification, Operation, Webhotel
from tests.factories import MembershipFactory, PlanFactory, ServerFactory

pytestmark = pytest.mark.django_db


def token_for(user, customer, **fields):
    fields.setdefault("access", ApiKey.Access.READ_WRITE)
    return services.create_api_key(Actor(user), customer, name="ci", **fields)[1]


def post(url, body, token, key=None, **headers):
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return Client().post(
        url,
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **headers,
    )


@pytest.fixture
def token(owner_a, customer_a):
    return token_for(owner_a, customer_a)


@pytest.fixture
def webhotel_body(customer_a):
    ServerFactory()
    return {"customer": customer_a.pk, "primary_domain": "idem.dk", "plan": PlanFactory().pk}


def test_same_key_and_body_replays_the_first_answer_without_running_again(token, webhotel_body):
    first = post("/api/v1/webhotels", webhotel_body, token, "create-idem-1")
    assert first.status_code == 202, first.content
    again = post("/api/v1/webhotels", webhotel_body, token, "create-idem-1")
    assert again.status_code == 202
    assert again.content == first.content
    assert again["Location"] == first["Location"] and "/api/v1/operations/" in first["Location"]
    assert again["Idempotent-Replayed"] == "true" and not first.has_header("Idempotent-Replayed")
    assert Webhotel.objects.filter(primary_domain="idem.dk").count() == 1
    assert Operation.objects.filter(action="webhotel.ensure").count() == 1


def test_json_key_order_and_spacing_do_not_make_another_body(token, customer_a):
    body = f'{{"customer": {customer_a.pk}, "name": "ordered"}}'
    reordered = f'{{"name":"ordered","customer":{customer_a.pk}}}'
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}", "HTTP_IDEMPOTENCY_KEY": "k-order"}
    first = Client().post("/api/v1/api-keys", body, content_type="application/json", **headers)
    again = Client().post("/api/v1/api-keys", reordered, content_type="application/json", **headers)
    assert first.status_code == again.status_code == 201
    assert again.json()["token"] == first.json()["token"]
    assert ApiKey.objects.filter(name="ordered").count() == 1


def test_same_key_with_another_body_is_a_422_problem(token, customer_a):
    post("/api/v1/api-keys", {"customer": customer_a.pk, "name": "one"}, token, "k-422")
    other = post(
        "/api/v1/api-keys",
        {"customer": customer_a.pk, "name": "two"},
        token,
        "k-422",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert other.status_code == 422
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["detail"] == "This Idempotency-Key was used for a different request."
    assert not ApiKey.objects.filter(name="two").exists()


def test_same_key_on_another_path_is_a_422(token, customer_a, webhotel_body):
    post("/api/v1/api-keys", {"customer": customer_a.pk, "name": "one"}, token, "k-path")
    assert post("/api/v1/webhotels", webhotel_body, token, "k-path").status_code == 422
    assert not Webhotel.objects.exists()


def test_a_request_still_running_gets_409_until_it_is_abandoned(token, customer_a):
    body = {"customer": customer_a.pk, "name": "busy"}
    post("/api/v1/api-keys", body, token, "k-busy")
    # As if the first request were still running (its answer not yet kept).
    IdempotencyRecord.objects.filter(key="k-busy").update(status=None)
    response = post("/api/v1/api-keys", body, token, "k-busy")
    assert response.status_code == 409
    assert response["Content-Type"] == "application/problem+json"
    assert ApiKey.objects.filter(name="busy").count() == 1
    # A first request silent for over 5 minutes died with its process: the key is free again.
    with time_machine.travel(timezone.now() + timedelta(minutes=6)):
        assert post("/api/v1/api-keys", body, token, "k-busy").status_code == 201
    assert ApiKey.objects.filter(name="busy").count() == 2


def test_keys_belong_to_their_caller(token, customer_a):
    other_owner = MembershipFactory(customer=customer_a, role=Role.OWNER).user
    other_token = token_for(other_owner, customer_a)
    body = {"customer": customer_a.pk, "name": "mine"}
    first = post("/api/v1/api-keys", body, token, "shared-key")
    second = post("/api/v1/api-keys", body, other_token, "shared-key")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] != second.json()["id"]
    assert ApiKey.objects.filter(name="mine").count() == 2


def test_the_session_keys_by_user(logged_in, owner_a, customer_a):
    client = logged_in(owner_a)
    body = json.dumps({"customer": customer_a.pk, "name": "by session"})
    answers = [
        client.post(
            "/api/v1/api-keys", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="s1"
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].content == answers[1].content
    assert ApiKey.objects.filter(name="by session").count() == 1


def test_errors_that_never_ran_are_not_kept(owner_a, customer_a):
    read_only = token_for(owner_a, customer_a, access=ApiKey.Access.READ)
    body = {"customer": customer_a.pk, "name": "ro"}
    assert post("/api/v1/api-keys", body, read_only, "k-403").status_code == 403
    assert not IdempotencyRecord.objects.filter(key="k-403").exists()


def test_a_validation_error_is_replayed_too(token, customer_a):
    body = {"customer": customer_a.pk}  # no name
    first = post("/api/v1/api-keys", body, token, "k-400")
    again = post("/api/v1/api-keys", body, token, "k-400")
    assert first.status_code == again.status_code == 400
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"


def test_a_bad_key_is_a_400_problem(token, customer_a):
    response = post("/api/v1/api-keys", {"customer": customer_a.pk}, token, "x" * 256)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"


def test_keys_expire_after_24_hours(token, customer_a):
    body = {"customer": customer_a.pk, "name": "daily"}
    first = post("/api/v1/api-keys", body, token, "k-day")
    with time_machine.travel(timezone.now() + timedelta(hours=23)):
        assert post("/api/v1/api-keys", body, token, "k-day").content == first.content
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        later = post("/api/v1/api-keys", body, token, "k-day")
        assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    assert ApiKey.objects.filter(name="daily").count() == 2


def test_the_periodic_purge_deletes_records_older_than_a_day(token, customer_a):
    post("/api/v1/api-keys", {"customer": customer_a.pk, "name": "a"}, token, "k-old")
    assert purge_expired(timezone.now() + timedelta(hours=23)) == 0
    assert purge_expired(timezone.now() + timedelta(hours=25)) == 1
    assert not IdempotencyRecord.objects.exists()


def test_the_schema_documents_the_header_on_every_write():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    writes = [
        (path, method, operation)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in {"post", "put", "patch", "delete"}
    ]
    assert len(writes) > 20
    for path, method, operation in writes:
        refs = [p.get("$ref") for p in operation.get("parameters", [])]
        assert "#/components/parameters/IdempotencyKey" in refs, f"{method} {path}"
    assert schema["components"]["parameters"]["IdempotencyKey"]["name"] == "Idempotency-Key"


def test_a_kept_answer_holding_a_secret_is_stored_encrypted(token, customer_a):
    first = post("/api/v1/api-keys", {"customer": customer_a.pk, "name": "s"}, token, "k-sealed")
    secret = first.json()["token"].split("_", 2)[2]
    record = IdempotencyRecord.objects.get(key="k-sealed")
    assert record.status == 201 and secret not in record.body_sealed


def test_an_eid_check_is_kept_as_a_keyed_hash_and_still_replays(token, customer_a, settings):
    """The body holds a CPR number: a plain SHA-256 of it could be reversed by trying every
    possible number, so the record holds an HMAC keyed from SECRET_KEY."""
    cpr = "150385-4711"
    body = {"customer": customer_a.pk, "cpr": cpr, "name": "Mette Hansen"}
    url = "/api/v1/identity-verifications/eid"
    first = post(url, body, token, "k-eid")
    again = post(url, body, token, "k-eid")
    assert first.status_code == again.status_code == 201, first.content
    assert again.content == first.content and again["Idempotent-Replayed"] == "true"
    assert IdentityVerification.objects.filter(customer=customer_a).count() == 1

    record = IdempotencyRecord.objects.get(key="k-eid")
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    unkeyed = hashlib.sha256()  # the fingerprint as it was: plain SHA-256 of the same parts
    for part in (b"POST", url.encode(), canonical):
        unkeyed.update(len(part).to_bytes(8, "big") + part)
    plain = {unkeyed.hexdigest(), hashlib.sha256(canonical).hexdigest()}
    plain.add(hashlib.sha256(json.dumps(body).encode()).hexdigest())
    assert len(record.fingerprint) == 64 and record.fingerprint not in plain
    assert cpr not in record.body_sealed and "1503854711" not in str(record.headers)

    # The key comes from SECRET_KEY: without it the same request gives another fingerprint.
    request = RequestFactory().post(url, json.dumps(body), content_type="application/json")
    assert fingerprint(request) == record.fingerprint
    settings.SECRET_KEY = "another-secret-key-" + "x" * 40
    assert fingerprint(request) != record.fingerprint
