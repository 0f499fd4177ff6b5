"""Restores through the panel and the API: choose what and from when, see the price with VAT,
accept, pay through the local provider, follow, download; staff waive and recover servers."""

import json
import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from accounts import billing, services
from accounts.actor import Actor
from accounts.models import ApiKey, Invoice
from backups.models import RestoreItem, RestoreOrder, ServerRecovery, Snapshot
from backups.services import restores
from tests.test_restores import back_up_all, run_restores, tree

pytestmark = pytest.mark.django_db


@pytest.fixture
def backed_up(s3_store, hosted, tariff):
    webhotel, home = hosted
    (home / "docs").mkdir()
    (home / "docs" / "guide.txt").write_text("Vejledning\n" * 300)
    before = tree(home)
    back_up_all()
    return webhotel, home, before


def snapshot_url(customer, webhotel):
    snapshot = webhotel_snapshot(webhotel)
    return f"/customers/{customer.pk}/backups/webhotel/{webhotel.pk}/snapshots/{snapshot}/restore/"


def webhotel_snapshot(webhotel):
    return Snapshot.objects.get(kind="webhotel", item_id=webhotel.pk).snapshot_id


def test_the_customer_restores_a_deleted_folder_through_the_panel(
    backed_up, customer_a, owner_a, logged_in, django_capture_on_commit_callbacks
):
    webhotel, home, before = backed_up
    (home / "docs" / "guide.txt").unlink()
    (home / "docs").rmdir()
    client = logged_in(owner_a)

    browse = client.get(snapshot_url(customer_a, webhotel) + "?path=public_html")
    assert browse.status_code == 200
    page = browse.content.decode()
    assert 'value="public_html/docs"' in page and "page1.html" in page

    response = client.post(
        snapshot_url(customer_a, webhotel),
        {"pick": ["public_html/docs"], "destination": "in_place", "archive_format": "tar.zst"},
    )
    order = RestoreOrder.objects.get(customer=customer_a)
    assert response["Location"] == f"/customers/{customer_a.pk}/restores/{order.pk}/"
    price = billing.quote_price("file", len("Vejledning\n" * 300))
    page = client.get(response["Location"]).content.decode()
    assert billing.format_kroner(price.gross) in page  # the price with VAT, before accepting
    assert billing.format_kroner(price.vat) in page

    client.post(f"/customers/{customer_a.pk}/restores/{order.pk}/accept/")
    order.refresh_from_db()
    assert order.status == "invoiced"
    payment = client.post(f"/customers/{customer_a.pk}/restores/{order.pk}/pay/")
    assert payment.status_code == 302 and "/payments/local/" in payment["Location"]
    token = payment["Location"].split("/")[3]
    with django_capture_on_commit_callbacks(execute=True):
        billing.confirm_payment({"token": token})
    assert run_restores() == ["done"]
    assert tree(home) == before
    page = client.get(f"/customers/{customer_a.pk}/restores/{order.pk}/").content.decode()
    assert order.invoice.number in page


def test_a_path_not_in_the_snapshot_is_a_form_error_and_no_order(
    backed_up, customer_a, owner_a, logged_in
):
    webhotel, _home, _before = backed_up
    client = logged_in(owner_a)
    response = client.post(
        snapshot_url(customer_a, webhotel),
        {"paths": "public_html/nowhere", "destination": "in_place", "archive_format": "zip"},
    )
    assert response.status_code == 200
    assert "public_html/nowhere" in response.content.decode()
    assert not RestoreOrder.objects.exists()


def test_a_restore_larger_than_the_quota_is_refused_at_the_quote(backed_up, customer_a, owner_a):
    webhotel, _home, _before = backed_up
    webhotel.plan.disk_quota_mb = 1
    webhotel.plan.save()
    with pytest.raises(Exception, match="disk quota"):
        restores.quote(
            Actor(owner_a), customer_a, kind="webhotel", item_id=webhotel.pk, destination="in_place"
        )
    restores.quote(  # an archive is not limited by the webhotel's quota
        Actor(owner_a), customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )


def test_a_restore_whose_worker_died_is_failed_and_credited(
    backed_up, customer_a, owner_a, staff_support
):
    webhotel, _home, _before = backed_up
    order = restores.quote(
        Actor(owner_a), customer_a, kind="webhotel", item_id=webhotel.pk, destination="download"
    )
    order = restores.waive(
        Actor(staff_support),
        restores.accept(Actor(owner_a), order),
        reason="Goodwill after the outage on Monday",
    )
    item = order.items.get()
    RestoreItem.objects.filter(pk=item.pk).update(
        status="running", started_at=timezone.now() - timedelta(hours=13)
    )
    assert restores.fail_stale(timezone.now() - timedelta(hours=2)) == 0
    assert restores.fail_stale() == 1
    order.refresh_from_db()
    assert order.status == "failed" and "stopped" in order.error


def test_the_api_quotes_accepts_and_gives_a_download_link(
    backed_up, customer_a, owner_a, client, django_capture_on_commit_callbacks
):
    webhotel, _home, before = backed_up
    token = services.create_api_key(
        Actor(owner_a), customer_a, name="ci", access=ApiKey.Access.READ_WRITE
    )[1]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {token}"}
    body = {
        "customer": customer_a.pk,
        "kind": "webhotel",
        "item_id": webhotel.pk,
        "destination": "download",
        "paths": ["public_html/docs"],
    }
    created = client.post(
        "/api/v1/restore-orders", json.dumps(body), content_type="application/json", **auth
    )
    assert created.status_code == 201, created.content
    order = created.json()
    assert (order["status"], order["scope"]) == ("quoted", "file")
    assert order["gross"] == billing.quote_price("file", order["size_bytes"]).gross

    accepted = client.post(f"/api/v1/restore-orders/{order['id']}/accept", **auth)
    assert accepted.json()["status"] == "invoiced" and accepted.json()["invoice"]
    again = client.post(f"/api/v1/restore-orders/{order['id']}/accept", **auth)
    assert again.status_code == 400
    assert again["Content-Type"].startswith("application/problem+json")

    paid = client.post(f"/api/v1/restore-orders/{order['id']}/pay", **auth)
    assert paid.status_code == 200 and "/payments/local/" in paid.json()["url"]
    with django_capture_on_commit_callbacks(execute=True):
        billing.confirm_payment({"token": paid.json()["url"].split("/")[-2]})
    assert run_restores() == ["done"]
    status = client.get(f"/api/v1/restore-orders/{order['id']}", **auth).json()
    assert status["status"] == "done" and status["items"][0]["verified"]
    link = client.post(f"/api/v1/restore-orders/{order['id']}/download-link", **auth).json()
    archive = client.get(re.sub(r"^https?://[^/]+", "", link["url"]))
    data = b"".join(archive.streaming_content)
    assert len(data) == link["size"] == status["archive_size"]
    assert Invoice.objects.get(pk=status["invoice_id"]).status == "paid"


def test_a_quote_for_a_bad_destination_is_a_field_error(backed_up, customer_a, owner_a, client):
    webhotel, _home, _before = backed_up
    token = services.create_api_key(
        Actor(owner_a), customer_a, name="ci", access=ApiKey.Access.READ_WRITE
    )[1]
    database = webhotel.databases.get()
    body = {
        "customer": customer_a.pk,
        "kind": "database",
        "item_id": database.pk,
        "destination": "side_folder",
    }
    response = client.post(
        "/api/v1/restore-orders",
        json.dumps(body),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 400
    assert "destination" in json.dumps(response.json())
    assert not RestoreOrder.objects.exists()


def test_staff_start_a_recovery_from_the_console_and_see_the_report(
    backed_up, customer_a, staff_support, logged_in, sandbox_server
):
    client = logged_in(staff_support)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    assert client.get("/staff/recoveries/").status_code == 200
    # The form takes whole minutes: the backups were taken a few minutes before the crash.
    Snapshot.objects.update(taken_at=F("taken_at") - timedelta(minutes=5))
    at = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    response = client.post(
        "/staff/recoveries/",
        {"server": sandbox_server.pk, "at": at, "parallel": 2, "waive_reason": ""},
    )
    recovery = ServerRecovery.objects.get()
    assert response["Location"] == f"/staff/recoveries/{recovery.pk}/"
    assert run_restores().count("done") == 3
    recovery.refresh_from_db()
    assert recovery.status == "done"
    page = client.get(response["Location"]).content.decode()
    assert "3 restored, 0 failed" in page
    order = recovery.orders.get()
    assert order.invoice.number in page
