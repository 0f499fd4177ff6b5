"""Webhooks: signed deliveries to a real local HTTP receiver, retries with backoff, the log,
test deliveries, the events the services emit, and the refusal of private addresses."""

import json
import re
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import time_machine
from django.conf import settings
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import timezone

from accounts import webhooks
from accounts.actor import Actor
from accounts.models import ApiKey
from accounts.services import create_api_key
from api.models import WebhookAttempt, WebhookDelivery
from api.webhooks import services
from backups.models import BackupRun
from backups.services import runs
from hosting.models import Operation
from hosting.services import operations
from tests.factories import WebhotelFactory

pytestmark = pytest.mark.django_db
DOCS = Path(settings.BASE_DIR) / "docs" / "api.md"


class Receiver:
    """An HTTP server on 127.0.0.1 in a thread: records each request, answers the next status."""

    def __init__(self):
        self.requests: list[dict] = []
        self.statuses: list[int] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "http://10.0.0.1/internal")
                self.end_headers()
                self.wfile.write(f"answer {status}".encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?x=1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    settings.HAVN_WEBHOOK_ALLOW_PRIVATE = True
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def endpoint(receiver, owner_a, customer_a):
    events = ["operation.done", "operation.failed", "backup.failed", "restore.done"]
    endpoint, secret = services.create_endpoint(
        Actor(owner_a), customer_a, url=receiver.url, events=events
    )
    endpoint.secret = secret
    return endpoint


def documented_verify():
    """The verification snippet from docs/api.md, run as a receiver would paste it."""
    text = DOCS.read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "def verify(" in b)
    namespace: dict = {}
    exec(code, namespace)  # noqa: S102 -- our own documentation
    return namespace["verify"]


def deliver_now(delivery_id, django_capture_on_commit_callbacks):
    """One attempt; the retry it schedules on commit is swallowed (the test plays the clock)."""
    with django_capture_on_commit_callbacks(execute=False) as scheduled:
        status = services.attempt(delivery_id)
    return status, scheduled


def emitted(django_capture_on_commit_callbacks, emit):
    """Run ``emit`` and its on-commit announcement; returns the deliveries queued."""
    with django_capture_on_commit_callbacks(execute=False) as announced:
        emit()
    with django_capture_on_commit_callbacks(execute=False):  # not the Celery publish
        for callback in announced:
            callback()
    return list(WebhookDelivery.objects.order_by("pk"))


def test_signature_verifies_with_the_documented_snippet(
    endpoint, receiver, django_capture_on_commit_callbacks, owner_a
):
    delivery = services.send_test(Actor(owner_a), endpoint)
    status, _ = deliver_now(delivery.pk, django_capture_on_commit_callbacks)
    assert status == WebhookDelivery.Status.DELIVERED
    [request] = receiver.requests
    header, body = request["headers"]["Havn-Signature"], request["body"]
    assert re.fullmatch(r"t=\d+,v1=[0-9a-f]{64}", header)
    verify = documented_verify()
    assert verify(endpoint.secret, header, body)
    assert not verify(endpoint.secret, header, body.replace(b"test", b"tesT"))
    assert not verify("whsec_wrong", header, body)
    assert json.loads(body)["event"] == "webhook.test"
    assert request["headers"]["Havn-Delivery"] == str(delivery.uuid)


def test_a_500_is_retried_with_growing_delays_until_it_succeeds(
    endpoint, receiver, django_capture_on_commit_callbacks, customer_a
):
    receiver.statuses = [500, 500]
    [delivery] = emitted(
        django_capture_on_commit_callbacks,
        lambda: webhooks.emit(customer_a, "operation.done", {"operation": {"id": 7}}),
    )
    start = timezone.now()
    status, scheduled = deliver_now(delivery.pk, django_capture_on_commit_callbacks)
    assert status == WebhookDelivery.Status.PENDING and len(scheduled) == 1
    delivery.refresh_from_db()
    first_wait = delivery.next_attempt_at - start
    assert timedelta(seconds=29) < first_wait <= timedelta(seconds=31)
    # Not due yet: a duplicate or early task finds nothing to do.
    assert services.attempt(delivery.pk) is None
    with time_machine.travel(start + timedelta(seconds=31)):
        assert deliver_now(delivery.pk, django_capture_on_commit_callbacks)[0] == "pending"
        delivery.refresh_from_db()
        assert delivery.next_attempt_at - timezone.now() > first_wait * 1.9
    with time_machine.travel(start + timedelta(seconds=31 + 61)):
        assert deliver_now(delivery.pk, django_capture_on_commit_callbacks)[0] == "delivered"
    log = list(WebhookAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.response_status) for a in log] == [(1, 500), (2, 500), (3, 200)]
    assert all(a.latency_ms is not None for a in log)
    assert log[0].response_body == "answer 500"
    assert [r["headers"]["Havn-Attempt"] for r in receiver.requests] == ["1", "2", "3"]
    assert len({r["body"] for r in receiver.requests}) == 1  # the same event every time
    assert [services.retry_delay(n).total_seconds() for n in range(1, 8)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
    ]


def test_a_delivery_fails_after_the_last_attempt(
    endpoint, receiver, django_capture_on_commit_callbacks, customer_a, settings
):
    settings.HAVN_WEBHOOK_MAX_ATTEMPTS = 2
    receiver.statuses = [503, 302]  # a redirect is not followed: it fails too
    [delivery] = emitted(
        django_capture_on_commit_callbacks,
        lambda: webhooks.emit(customer_a, "operation.failed", {"operation": {"id": 8}}),
    )
    deliver_now(delivery.pk, django_capture_on_commit_callbacks)
    with time_machine.travel(timezone.now() + timedelta(minutes=1)):
        status, scheduled = deliver_now(delivery.pk, django_capture_on_commit_callbacks)
    assert status == WebhookDelivery.Status.FAILED and scheduled == []
    assert len(receiver.requests) == 2
    assert list(delivery.log.values_list("response_status", flat=True)) == [503, 302]


def test_unreachable_receiver_is_logged_with_its_error(
    endpoint, receiver, django_capture_on_commit_callbacks, owner_a
):
    receiver.close()
    delivery = services.send_test(Actor(owner_a), endpoint)
    assert deliver_now(delivery.pk, django_capture_on_commit_callbacks)[0] == "pending"
    attempt = delivery.log.get()
    assert attempt.response_status is None and "Connection" in attempt.error


def test_only_subscribed_active_endpoints_get_an_event(
    endpoint, receiver, django_capture_on_commit_callbacks, customer_a, customer_b, owner_b
):
    services.create_endpoint(
        Actor(owner_b), customer_b, url=receiver.url, events=["operation.done"]
    )
    quiet, _secret = services.create_endpoint(
        Actor(endpoint.created_by), customer_a, url=receiver.url, events=["backup.failed"]
    )
    deliveries = emitted(
        django_capture_on_commit_callbacks,
        lambda: webhooks.emit(customer_a, "operation.done", {"operation": {"id": 1}}),
    )
    assert [d.endpoint_id for d in deliveries] == [endpoint.pk]
    services.update_endpoint(Actor(endpoint.created_by), endpoint, active=False)
    WebhookDelivery.objects.all().delete()
    assert (
        emitted(
            django_capture_on_commit_callbacks,
            lambda: webhooks.emit(customer_a, "operation.done", {"operation": {"id": 2}}),
        )
        == []
    )


def test_an_event_is_not_announced_when_its_transaction_rolls_back(
    endpoint, django_capture_on_commit_callbacks, customer_a
):
    from django.db import transaction

    with (
        django_capture_on_commit_callbacks(execute=False) as announced,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        webhooks.emit(customer_a, "operation.done", {})
        raise RuntimeError
    assert announced == []


def test_services_emit_their_events(endpoint, django_capture_on_commit_callbacks, customer_a):
    webhotel = WebhotelFactory(customer=customer_a)
    operation = Operation.objects.create(
        customer=customer_a, server=webhotel.server, action="webhotel.ensure", target="a.dk"
    )
    run = BackupRun.objects.create(
        customer=customer_a,
        server=webhotel.server,
        kind="webhotel",
        item_id=webhotel.pk,
        item_name="a.dk",
        night=timezone.localdate(),
    )

    def finish_both():
        operations.finish(operation, error="disk full")
        operations.finish(operation, error="later", retry_later=True)  # not finished: no event
        runs._finish(run, BackupRun.Status.FAILED, error="SshError: refused")

    deliveries = emitted(django_capture_on_commit_callbacks, finish_both)
    bodies = [json.loads(d.body) for d in deliveries]
    assert [b["event"] for b in bodies] == ["operation.failed", "backup.failed"]
    assert bodies[0]["data"]["operation"]["error"] == "disk full"
    assert bodies[1]["data"]["backup_run"]["error"] == "SshError: refused"


def test_private_addresses_are_refused_unless_allowed(owner_a, customer_a, settings):
    settings.HAVN_WEBHOOK_ALLOW_PRIVATE = False
    for url in (
        "http://127.0.0.1:8000/x",
        "http://10.1.2.3/x",
        "http://[::1]/x",
        "http://169.254.169.254/",
    ):
        with pytest.raises(ValidationError) as refused:
            services.create_endpoint(Actor(owner_a), customer_a, url=url, events=["backup.failed"])
        assert "url" in refused.value.message_dict, url
    with pytest.raises(ValidationError):
        services.create_endpoint(
            Actor(owner_a), customer_a, url="ftp://example.com/", events=["backup.failed"]
        )


def test_an_address_that_turned_private_is_refused_at_sending(
    endpoint, receiver, django_capture_on_commit_callbacks, owner_a, settings
):
    delivery = services.send_test(Actor(owner_a), endpoint)
    settings.HAVN_WEBHOOK_ALLOW_PRIVATE = False
    assert deliver_now(delivery.pk, django_capture_on_commit_callbacks)[0] == "pending"
    assert receiver.requests == []
    assert "private" in delivery.log.get().error


# --- API and panel --------------------------------------------------------------------------------


def test_api_manages_endpoints_shows_the_secret_once_and_reads_the_log(
    receiver, owner_a, customer_a, django_capture_on_commit_callbacks
):
    _key, token = create_api_key(
        Actor(owner_a), customer_a, name="hooks", access=ApiKey.Access.READ_WRITE
    )
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    created = client.post(
        "/api/v1/webhooks",
        {"customer": customer_a.pk, "url": receiver.url, "events": ["backup.failed"]},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    hook = created.json()
    assert hook["secret"].startswith("whsec_")
    assert "secret" not in client.get(f"/api/v1/webhooks/{hook['id']}").json()
    changed = client.patch(
        f"/api/v1/webhooks/{hook['id']}", {"active": False}, content_type="application/json"
    )
    assert changed.json()["active"] is False
    test = client.post(f"/api/v1/webhooks/{hook['id']}/test")
    assert test.status_code == 202 and test.json()["event"] == "webhook.test"
    deliver_now(test.json()["id"], django_capture_on_commit_callbacks)  # also when inactive
    log = client.get(f"/api/v1/webhooks/{hook['id']}/deliveries").json()["results"]
    assert log[0]["status"] == "delivered" and log[0]["log"][0]["response_status"] == 200
    assert documented_verify()(
        hook["secret"],
        receiver.requests[0]["headers"]["Havn-Signature"],
        receiver.requests[0]["body"],
    )
    assert client.delete(f"/api/v1/webhooks/{hook['id']}").status_code == 204
    assert not WebhookDelivery.objects.exists()


def test_the_panel_creates_a_webhook_and_sends_a_test_delivery(
    receiver, owner_a, customer_a, logged_in, django_capture_on_commit_callbacks
):
    client = logged_in(owner_a)
    base = f"/customers/{customer_a.pk}/webhooks/"
    page = client.post(base, {"url": receiver.url, "events": ["operation.done"], "active": "on"})
    assert page.status_code == 200
    secret = page.context["secret"]
    assert secret.startswith("whsec_") and secret.encode() in page.content
    endpoint = customer_a.webhooks.get()
    assert secret.encode() not in client.get(base).content  # shown once
    response = client.post(f"{base}{endpoint.pk}/test/")
    assert response.status_code == 302
    delivery = WebhookDelivery.objects.get(endpoint=endpoint, test=True)
    deliver_now(delivery.pk, django_capture_on_commit_callbacks)
    detail = client.get(f"{base}{endpoint.pk}/")
    assert b"webhook.test" in detail.content and b"200" in detail.content
    assert documented_verify()(
        secret, receiver.requests[0]["headers"]["Havn-Signature"], receiver.requests[0]["body"]
    )


def test_a_billing_member_reads_but_cannot_send(customer_a, endpoint, logged_in):
    from accounts.models import Role
    from tests.factories import MembershipFactory

    billing = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    client = logged_in(billing)
    assert (
        client.post(f"/customers/{customer_a.pk}/webhooks/{endpoint.pk}/test/").status_code == 403
    )
    assert not WebhookDelivery.objects.exists()


def test_lost_tasks_are_resumed_and_old_log_purged(endpoint, owner_a):
    delivery = services.send_test(Actor(owner_a), endpoint)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="sending", claimed_at=timezone.now() - timedelta(minutes=10)
    )
    later = timezone.now() + timedelta(minutes=2)
    assert services.resume_due(later) == 1
    assert WebhookDelivery.objects.get(pk=delivery.pk).status == "pending"
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="delivered")
    assert services.purge_log(timezone.now() + timedelta(days=29)) == 0
    assert services.purge_log(timezone.now() + timedelta(days=31)) >= 1
    assert not WebhookDelivery.objects.exists()


def test_a_finished_restore_order_emits_restore_done(
    endpoint, django_capture_on_commit_callbacks, customer_a
):
    from backups.models import RestoreItem, RestoreOrder
    from backups.services import restores

    order = RestoreOrder.objects.create(
        customer=customer_a,
        scope="webhotel",
        destination="download",
        status="running",
        expires_at=timezone.now() + timedelta(days=1),
    )
    RestoreItem.objects.create(
        order=order,
        kind="webhotel",
        item_id=1,
        item_name="a.dk",
        snapshot_id="ab" * 32,
        taken_at=timezone.now(),
        status="done",
    )
    [delivery] = emitted(django_capture_on_commit_callbacks, lambda: restores._settle(order.pk))
    body = json.loads(delivery.body)
    assert body["event"] == "restore.done"
    assert body["data"]["restore_order"] == {"id": order.pk, "status": "done", "error": ""}
