"""The privacy endpoints: export (202 and poll, download), closure and reopening, receipts."""

import io
import zipfile

import pytest

from accounts.actor import Actor
from accounts.models import AccountClosure, ApiKey, Customer
from accounts.privacy import export, purge
from accounts.services import create_api_key
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


@pytest.fixture
def auth(customer_a, owner_a):
    _key, token = create_api_key(
        Actor(owner_a), customer_a, name="ci", access=ApiKey.Access.READ_WRITE
    )
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_an_export_is_accepted_polled_and_downloaded(client, auth, customer_a):
    response = client.post("/api/v1/exports", {"customer": customer_a.pk}, **auth)
    assert response.status_code == 202
    location = response["Location"]
    assert response.json()["status"] == "queued"
    export.build_export(response.json()["id"])
    polled = client.get(location, **auth).json()
    assert polled["status"] == "ready" and polled["expires_at"]
    download = client.get(f"{location}/download", **auth)
    assert download.status_code == 200
    body = b"".join(download.streaming_content)
    assert "data.json" in zipfile.ZipFile(io.BytesIO(body)).namelist()


def test_closing_needs_the_password_and_can_be_undone(client, auth, customer_a):
    refused = client.post(
        "/api/v1/closures", {"customer": customer_a.pk, "password": "wrong"}, **auth
    )
    assert refused.status_code == 403
    closed = client.post(
        "/api/v1/closures", {"customer": customer_a.pk, "password": PASSWORD}, **auth
    )
    assert closed.status_code == 201 and closed.json()["status"] == "grace"
    customer_a.refresh_from_db()
    assert customer_a.status == Customer.Status.CLOSING
    reopened = client.post(f"/api/v1/closures/{closed.json()['id']}/reopen", **auth)
    assert reopened.status_code == 200 and reopened.json()["status"] == "reopened"
    again = client.post(f"/api/v1/closures/{closed.json()['id']}/reopen", **auth)
    assert again.status_code == 400


def test_staff_read_the_receipt_after_the_purge(logged_in, customer_a, owner_a, staff_admin):
    from accounts.privacy import closure as closures

    closure = closures.close_account(Actor(owner_a), customer_a, reauthenticated_password=PASSWORD)
    purge.purge(closure, now=closure.purge_after)
    assert AccountClosure.objects.get(pk=closure.pk).status == "purged"
    receipts = logged_in(staff_admin).get("/api/v1/erasure-receipts").json()
    [receipt] = receipts["results"]
    assert receipt["customer"] == customer_a.pk
    assert {item["key"] for item in receipt["erased"]} >= {"accounts.users", "accounts.profile"}
