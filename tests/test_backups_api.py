"""The backups API: the snapshot catalogue, run status, and backups on demand (202 and the run to
poll). A requested backup starts on commit, which never comes inside the ``db`` fixture."""

import json
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from accounts import services
from accounts.actor import Actor
from accounts.models import ApiKey, Role
from backups.models import BackupRun, Snapshot
from backups.services.runs import night_of
from hosting.models import Database, Mailbox, MailDomain
from tests.factories import MembershipFactory, WebhotelFactory

pytestmark = pytest.mark.django_db
MiB = 1024 * 1024


def bearer(token):
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def post(client, url, body, **headers):
    return client.post(url, json.dumps(body), content_type="application/json", **headers)


def token(user, customer, access=ApiKey.Access.READ_WRITE) -> str:
    return services.create_api_key(Actor(user), customer, name="ci", access=access)[1]


@pytest.fixture
def webhotel(customer_a):
    return WebhotelFactory(customer=customer_a, primary_domain="alfa.dk")


@pytest.fixture
def database(webhotel):
    return Database.objects.create(
        webhotel=webhotel,
        engine="mariadb",
        name="alfa_shop",
        user="alfa_shop",
        password_verifier="*0",
        status="active",
    )


@pytest.fixture
def mailbox(webhotel):
    domain = MailDomain.objects.create(webhotel=webhotel, name="alfa.dk", status="active")
    return Mailbox.objects.create(
        mail_domain=domain, local_part="info", password_hash="{ARGON2ID}x", status="active"
    )


@pytest.fixture
def foreign_webhotel(customer_b):
    return WebhotelFactory(customer=customer_b, primary_domain="beta-only.dk")


def snapshot(webhotel, *, kind="webhotel", item_id=None, days_ago=0, name=None):
    return Snapshot.objects.create(
        customer=webhotel.customer,
        snapshot_id=f"{Snapshot.objects.count() + 1:064x}",
        kind=kind,
        item_id=item_id or webhotel.pk,
        item_name=name or webhotel.primary_domain,
        server_name=webhotel.server.name,
        taken_at=timezone.now() - timedelta(days=days_ago),
        files=10,
        size=20 * MiB,
        stored=2 * MiB,
    )


def backup_run(webhotel, *, kind="webhotel", item_id=None, days_ago=0, **fields):
    return BackupRun.objects.create(
        customer=webhotel.customer,
        server=webhotel.server,
        kind=kind,
        item_id=item_id or webhotel.pk,
        item_name=webhotel.primary_domain,
        night=night_of(timezone.now()) - timedelta(days=days_ago),
        **fields,
    )


# --- Snapshots ------------------------------------------------------------------------------------


def test_snapshots_list_newest_first_and_filter(
    owner_a, customer_a, webhotel, database, foreign_webhotel
):
    old, new = snapshot(webhotel, days_ago=2), snapshot(webhotel)
    dump = snapshot(webhotel, kind="database", item_id=database.pk, name="alfa_shop")
    snapshot(foreign_webhotel)
    client, auth = Client(), bearer(token(owner_a, customer_a))
    listed = client.get("/api/v1/snapshots", **auth).json()
    assert [s["id"] for s in listed["results"]] == [dump.pk, new.pk, old.pk]
    assert "beta-only.dk" not in json.dumps(listed)
    by_kind = client.get("/api/v1/snapshots", {"kind": "webhotel"}, **auth).json()["results"]
    assert [s["id"] for s in by_kind] == [new.pk, old.pk]
    by_item = client.get(
        "/api/v1/snapshots", {"kind": "database", "item_id": database.pk}, **auth
    ).json()["results"]
    assert [s["id"] for s in by_item] == [dump.pk]
    by_customer = client.get("/api/v1/snapshots", {"customer": customer_a.pk}, **auth).json()
    assert by_customer["count"] == 3


def test_snapshot_detail_and_another_customers_is_404(
    owner_a, customer_a, webhotel, foreign_webhotel
):
    mine, theirs = snapshot(webhotel), snapshot(foreign_webhotel)
    client, auth = Client(), bearer(token(owner_a, customer_a))
    body = client.get(f"/api/v1/snapshots/{mine.pk}", **auth).json()
    assert body["snapshot_id"] == mine.snapshot_id
    assert (body["kind"], body["item_id"], body["size"], body["stored"]) == (
        "webhotel",
        webhotel.pk,
        20 * MiB,
        2 * MiB,
    )
    assert body["complete"] is True
    response = client.get(f"/api/v1/snapshots/{theirs.pk}", **auth)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"


# --- Runs -----------------------------------------------------------------------------------------


def test_runs_list_filter_and_detail_with_progress(
    owner_a, customer_a, webhotel, database, foreign_webhotel
):
    yesterday = backup_run(webhotel, days_ago=1, status="done", files=5, bytes_read=MiB)
    running = backup_run(
        webhotel,
        kind="database",
        item_id=database.pk,
        status="running",
        started_at=timezone.now(),
        progress_bytes=30 * MiB,
        expected_bytes=120 * MiB,
    )
    failed = backup_run(webhotel, status="failed", error="SshError: connection refused")
    backup_run(foreign_webhotel, status="failed")
    client, auth = Client(), bearer(token(owner_a, customer_a))
    listed = client.get("/api/v1/backup-runs", **auth).json()
    assert [r["id"] for r in listed["results"]] == [failed.pk, running.pk, yesterday.pk]
    assert "beta-only.dk" not in json.dumps(listed)

    def ids(**params):
        results = client.get("/api/v1/backup-runs", params, **auth).json()["results"]
        return [r["id"] for r in results]

    assert ids(status="failed") == [failed.pk]
    assert ids(kind="database", item_id=database.pk) == [running.pk]
    assert ids(night=yesterday.night.isoformat()) == [yesterday.pk]
    assert ids(customer=customer_a.pk) == [failed.pk, running.pk, yesterday.pk]
    body = client.get(f"/api/v1/backup-runs/{running.pk}", **auth).json()
    assert body["status"] == "running" and body["progress"] == 25
    assert (body["progress_bytes"], body["expected_bytes"]) == (30 * MiB, 120 * MiB)
    assert body["server"] == webhotel.server.name
    body = client.get(f"/api/v1/backup-runs/{yesterday.pk}", **auth).json()
    assert (body["files"], body["bytes_read"], body["progress"]) == (5, MiB, 100)
    body = client.get(f"/api/v1/backup-runs/{failed.pk}", **auth).json()
    assert body["error"] == "SshError: connection refused" and body["progress"] is None


def test_another_customers_run_is_404(owner_a, customer_a, foreign_webhotel):
    theirs = backup_run(foreign_webhotel, status="failed")
    response = Client().get(
        f"/api/v1/backup-runs/{theirs.pk}", **bearer(token(owner_a, customer_a))
    )
    assert response.status_code == 404


# --- Backups on demand ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["webhotel", "database", "mailbox"])
def test_post_requests_a_backup_and_answers_202_with_the_run_to_poll(
    kind, owner_a, customer_a, webhotel, database, mailbox
):
    item = {"webhotel": webhotel, "database": database, "mailbox": mailbox}[kind]
    client, auth = Client(), bearer(token(owner_a, customer_a))
    response = post(client, "/api/v1/backup-runs", {"kind": kind, "item_id": item.pk}, **auth)
    assert response.status_code == 202, response.content
    run = BackupRun.objects.get()
    assert (run.kind, run.item_id, run.on_demand, run.customer) == (kind, item.pk, True, customer_a)
    body = response.json()
    assert body["id"] == run.pk and body["status"] == "queued" and body["on_demand"] is True
    assert response["Location"].endswith(f"/api/v1/backup-runs/{run.pk}")
    polled = client.get(response["Location"], **auth)
    assert polled.status_code == 200 and polled.json()["status"] == "queued"
    # One on-demand backup a day: asking again answers with the same run.
    again = post(client, "/api/v1/backup-runs", {"kind": kind, "item_id": item.pk}, **auth)
    assert again.status_code == 202 and again.json()["id"] == run.pk
    assert BackupRun.objects.count() == 1


def test_post_for_another_customers_item_is_404(owner_a, customer_a, foreign_webhotel):
    client, auth = Client(), bearer(token(owner_a, customer_a))
    body = {"kind": "webhotel", "item_id": foreign_webhotel.pk}
    response = post(client, "/api/v1/backup-runs", body, **auth)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert not BackupRun.objects.exists()


def test_post_validates_the_kind_and_the_item(owner_a, customer_a, webhotel):
    client, auth = Client(), bearer(token(owner_a, customer_a))
    response = post(client, "/api/v1/backup-runs", {"kind": "server", "item_id": 1}, **auth)
    assert response.status_code == 400 and "kind" in response.json()["errors"]
    response = post(client, "/api/v1/backup-runs", {"kind": "webhotel"}, **auth)
    assert response.status_code == 400 and "item_id" in response.json()["errors"]
    response = post(client, "/api/v1/backup-runs", {"kind": "database", "item_id": 10**9}, **auth)
    assert response.status_code == 404
    assert not BackupRun.objects.exists()


def test_read_only_key_cannot_request_a_backup(owner_a, customer_a, webhotel):
    auth = bearer(token(owner_a, customer_a, access=ApiKey.Access.READ))
    client = Client()
    assert client.get("/api/v1/backup-runs", **auth).status_code == 200
    body = {"kind": "webhotel", "item_id": webhotel.pk}
    response = post(client, "/api/v1/backup-runs", body, HTTP_ACCEPT_LANGUAGE="en", **auth)
    assert response.status_code == 403
    assert response.json()["detail"] == "This API key is read-only."
    assert not BackupRun.objects.exists()


def test_billing_member_reads_but_cannot_request(logged_in, customer_a, webhotel):
    billing = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    client = logged_in(billing)
    snapshot(webhotel)
    assert client.get("/api/v1/snapshots").json()["count"] == 1
    response = post(client, "/api/v1/backup-runs", {"kind": "webhotel", "item_id": webhotel.pk})
    assert response.status_code == 403
    assert not BackupRun.objects.exists()


def test_the_endpoints_are_in_the_schema():
    paths = Client().get("/api/v1/schema/?format=json").json()["paths"]
    assert {"get"} <= paths["/api/v1/snapshots"].keys()
    assert {"get"} <= paths["/api/v1/snapshots/{id}"].keys()
    assert {"get", "post"} <= paths["/api/v1/backup-runs"].keys()
    assert {"get"} <= paths["/api/v1/backup-runs/{id}"].keys()
    assert "202" in paths["/api/v1/backup-runs"]["post"]["responses"]
