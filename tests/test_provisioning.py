"""End to end: services → operations → the agent over SSH on the sshd fixture's sandbox.

The tests run each pending operation the way the Celery task does (``provisioning.execute``), so
they need no worker; tests/test_worker.py proves the task path through a real worker.
"""

import fcntl
import json
import os
import signal
import threading
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.urls import reverse
from django.utils import timezone

from accounts.actor import Actor
from accounts.models import AuditEvent
from hosting import provisioning, transport
from hosting.models import Certificate, Mailbox, Operation, Server, Webhotel
from hosting.services import mail, servers, webhotels
from hosting.services.operations import retry_operation
from hosting.transport import run_agent
from infra import ssh
from tests.conftest import drain
from tests.factories import PlanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def server(sandbox_server):
    return sandbox_server


@pytest.fixture
def plan(db):
    return PlanFactory(max_databases=3, max_mailboxes=5, disk_quota_mb=20_000)


def tree(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() if path.is_file() else b"<dir>"
        for path in sorted(root.rglob("*"))
    }


def test_a_customers_hosting_appears_on_the_server(server, plan, customer_a, owner_a):
    actor, root = Actor(owner_a), Path(server.root)
    webhotel = webhotels.create_webhotel(
        actor, customer_a, primary_domain="alfa.dk", plan=plan, extra_domains=["www.alfa.dk"]
    )
    database, _password = webhotels.create_database(
        actor, webhotel, engine="mariadb", suffix="shop"
    )
    domain = mail.create_mail_domain(actor, webhotel, name="alfa.dk")
    info, _ = mail.create_mailbox(
        actor, domain, local_part="info", quota_mb=500, password="et-godt-kodeord"
    )
    mail.create_mailbox(actor, domain, local_part="salg", quota_mb=500)
    mail.save_alias(actor, domain, local_part="kontakt", destinations=["info@alfa.dk"])
    ran = drain()
    assert {op.status for op in ran} == {"done"}, [(op.action, op.error) for op in ran]

    home = root / "webhotels" / webhotel.system_user
    assert (home / "public_html").is_dir()
    assert json.loads((home / "webhotel.json").read_text())["domains"] == ["alfa.dk", "www.alfa.dk"]
    assert (root / "databases" / "mariadb" / f"{database.name}.json").is_file()
    assert (root / "mail" / "alfa.dk" / "info" / "Maildir" / "new").is_dir()
    passwd = (root / "mail" / "passwd").read_text()
    assert info.password_hash in passwd and "salg@alfa.dk" in passwd
    assert "kontakt@alfa.dk info@alfa.dk" in (root / "mail" / "virtual_aliases").read_text()
    certificate = Certificate.objects.get(webhotel=webhotel)
    assert certificate.domains == ["alfa.dk", "www.alfa.dk"]
    assert certificate.not_after > timezone.now() + timedelta(days=80)
    assert (root / "certs" / "alfa.dk" / "fullchain.pem").read_bytes().startswith(b"-----BEGIN")
    assert (root / "certs" / "alfa.dk" / "privkey.pem").stat().st_mode & 0o077 == 0
    webhotel.refresh_from_db()
    assert webhotel.status == "active"
    assert Mailbox.objects.filter(status="active").count() == 2


def test_suspend_unsuspend_and_delete_change_the_server(server, plan, customer_a, owner_a):
    actor, root = Actor(owner_a), Path(server.root)
    webhotel = webhotels.create_webhotel(actor, customer_a, primary_domain="beta.dk", plan=plan)
    drain()
    marker = root / "webhotels" / webhotel.system_user / "SUSPENDED"
    webhotels.set_webhotel_suspended(actor, webhotel, True)
    drain()
    assert marker.exists()
    webhotels.set_webhotel_suspended(actor, webhotel, False)
    drain()
    assert not marker.exists()
    webhotels.delete_webhotel(actor, webhotel)
    drain()
    assert not (root / "webhotels" / webhotel.system_user).exists()
    assert not Webhotel.objects.filter(pk=webhotel.pk).exists()


def test_every_action_run_twice_changes_nothing_the_second_time(server, plan, customer_a, owner_a):
    actor, root = Actor(owner_a), Path(server.root)
    webhotel = webhotels.create_webhotel(actor, customer_a, primary_domain="gamma.dk", plan=plan)
    domain = mail.create_mail_domain(actor, webhotel, name="gamma.dk")
    mail.create_mailbox(actor, domain, local_part="info", quota_mb=100)
    mail.save_alias(actor, domain, local_part="a", destinations=["info@gamma.dk"])
    webhotels.create_database(actor, webhotel, engine="postgresql", suffix="x")
    first = drain()
    before = tree(root)
    for operation in first:
        action, params = provisioning.agent_call(operation)
        if action == "certificate.install":
            continue  # a new certificate is new content by design
        assert run_agent(server, action, params)["changed"] is False, action
    assert tree(root) == before


def test_a_changed_host_key_is_refused_and_audited(server, plan, customer_a, owner_a):
    other_key = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    )
    Server.objects.filter(pk=server.pk).update(host_key=other_key.decode())
    webhotel = webhotels.create_webhotel(
        Actor(owner_a), customer_a, primary_domain="d.dk", plan=plan
    )
    [operation] = drain()
    assert operation.status == "failed"
    assert "host key" in operation.error.lower()
    assert AuditEvent.objects.filter(action="server.host_key_refused").exists()
    assert not (Path(server.root) / "webhotels" / webhotel.system_user).exists()


def test_an_unreachable_server_is_retried_and_the_retry_reconciles(
    sshd, server, plan, customer_a, owner_a
):
    actor = Actor(owner_a)
    webhotel = webhotels.create_webhotel(actor, customer_a, primary_domain="e.dk", plan=plan)
    operation = Operation.objects.get()
    sshd.stop()
    ssh.pool.close_all()  # a stopped sshd keeps open connections: drop the pooled ones too
    try:
        assert provisioning.execute(operation.pk) == "pending"
        operation.refresh_from_db()
        assert operation.status == "pending" and operation.error
    finally:
        sshd.start()
    assert provisioning.execute(operation.pk) == "done"
    drain()
    assert (Path(server.root) / "webhotels" / webhotel.system_user / "public_html").is_dir()


def test_a_failed_operation_can_be_retried(server, plan, customer_a, owner_a):
    actor = Actor(owner_a)
    Server.objects.filter(pk=server.pk).update(host_key_confirmed_at=None)
    webhotel = webhotels.create_webhotel(actor, customer_a, primary_domain="f.dk", plan=plan)
    [operation] = drain()
    assert operation.status == "failed" and "confirm" in operation.error
    Server.objects.filter(pk=server.pk).update(host_key_confirmed_at=timezone.now())
    retry_operation(actor, operation)
    drain()
    operation.refresh_from_db()
    assert operation.status == "done"
    assert (Path(server.root) / "webhotels" / webhotel.system_user).is_dir()


def test_a_connection_dropped_mid_operation_is_retried_to_a_consistent_server(
    server, plan, customer_a, owner_a
):
    actor, root = Actor(owner_a), Path(server.root)
    webhotel = webhotels.create_webhotel(actor, customer_a, primary_domain="g.dk", plan=plan)
    drain()
    webhotels.set_webhotel_suspended(actor, webhotel, True)
    operation = Operation.objects.get(status="pending")
    with ssh.pool.session(transport.ssh_target(server)) as client:
        connection_pid = int(client.run("echo $PPID").stdout)  # sshd process of the connection
    # Hold the agent's lock so the action is caught mid-way, then cut the connection under it.
    lock = os.open(root / ".havn-agent.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(lock, fcntl.LOCK_EX)
    cutter = threading.Timer(1.0, os.kill, (connection_pid, signal.SIGKILL))
    cutter.start()
    try:
        assert provisioning.execute(operation.pk) == "pending"
    finally:
        cutter.join()
        fcntl.flock(lock, fcntl.LOCK_UN)
        os.close(lock)
    operation.refresh_from_db()
    assert "connection" in operation.error.lower()
    assert provisioning.execute(operation.pk) == "done"
    assert (root / "webhotels" / webhotel.system_user / "SUSPENDED").exists()
    state = run_agent(server, "state.show", {})["result"]
    [entry] = [w for w in state["webhotels"] if w["system_user"] == webhotel.system_user]
    assert entry["suspended"] is True


def test_moving_a_server_needs_its_host_key_confirmed_again(server, staff_admin):
    servers.update_server(Actor(staff_admin), server, ssh_port=server.ssh_port, capacity=10)
    server.refresh_from_db()
    assert server.host_key_confirmed_at is not None  # nothing that matters moved
    servers.update_server(Actor(staff_admin), server, address="localhost")
    server.refresh_from_db()
    assert server.host_key_confirmed_at is None and server.host_key
    assert servers.fingerprint(server).startswith("SHA256:")


def on_disk(root: Path, webhotel: Webhotel, database_name: str) -> None:
    """The sandbox server holds the webhotel, its database, two mailboxes and an alias."""
    assert (root / "webhotels" / webhotel.system_user / "public_html").is_dir()
    assert (root / "databases" / "mariadb" / f"{database_name}.json").is_file()
    for local in ("info", "salg"):
        assert (root / "mail" / webhotel.primary_domain / local / "Maildir" / "cur").is_dir()
    aliases = (root / "mail" / "virtual_aliases").read_text()
    assert f"kontakt@{webhotel.primary_domain} info@{webhotel.primary_domain}" in aliases
    assert (root / "certs" / webhotel.primary_domain / "fullchain.pem").is_file()


def test_the_same_through_the_api(logged_in, server, plan, customer_a, owner_a):
    client = logged_in(owner_a)

    def post(path, body):
        response = client.post(f"/api/v1/{path}", body, content_type="application/json")
        assert response.status_code in (201, 202), response.content
        if response.status_code == 202:
            assert response["Location"].endswith(
                f"/operations/{response.json()['operation']['id']}"
            )
        return response.json()

    webhotel = post(
        "webhotels", {"customer": customer_a.pk, "primary_domain": "api.dk", "plan": plan.pk}
    )
    database = post(
        "databases", {"webhotel": webhotel["id"], "engine": "mariadb", "suffix": "shop"}
    )
    domain = post("mail-domains", {"webhotel": webhotel["id"], "name": "api.dk"})
    for local in ("info", "salg"):
        post("mailboxes", {"mail_domain": domain["id"], "local_part": local, "quota_mb": 100})
    post(
        "aliases",
        {"mail_domain": domain["id"], "local_part": "kontakt", "destinations": ["info@api.dk"]},
    )
    registered = post("domains", {"customer": customer_a.pk, "name": "api-shop.dk"})
    post(
        "dns-records",
        {"domain": registered["id"], "name": "www", "type": "A", "value": "192.0.2.7"},
    )
    drain()
    operations = client.get("/api/v1/operations").json()["results"]
    assert operations and {op["status"] for op in operations} == {"done"}
    on_disk(Path(server.root), Webhotel.objects.get(pk=webhotel["id"]), database["name"])
    zone = client.get(f"/api/v1/domains/{registered['id']}/zone").json()["zone"]
    assert "192.0.2.7" in zone
    home = Path(server.root) / "webhotels" / webhotel["system_user"]
    assert client.post(f"/api/v1/webhotels/{webhotel['id']}/suspend").status_code == 202
    drain()
    assert (home / "SUSPENDED").exists()
    assert client.post(f"/api/v1/webhotels/{webhotel['id']}/unsuspend").status_code == 202
    drain()
    assert not (home / "SUSPENDED").exists()
    for path in (
        f"databases/{database['id']}",
        f"mail-domains/{domain['id']}",
        f"webhotels/{webhotel['id']}",
    ):
        assert client.delete(f"/api/v1/{path}").status_code == 202, path
        drain()
    assert not home.exists()
    assert not (Path(server.root) / "mail" / "api.dk").exists()


def test_the_same_through_the_panel(logged_in, server, plan, customer_a, owner_a):
    client, c = logged_in(owner_a), customer_a.pk

    def post(name, data, **kwargs):
        response = client.post(
            reverse(f"hosting:{name}", kwargs={"customer_id": c, **kwargs}), data
        )
        assert response.status_code in (200, 302), response.content[:300]
        return response

    post("webhotels", {"primary_domain": "panel.dk", "plan": plan.pk, "php_version": "8.3"})
    webhotel = Webhotel.objects.get(primary_domain="panel.dk")
    post("database_create", {"engine": "mariadb", "suffix": "shop"}, webhotel_id=webhotel.pk)
    post("maildomain_create", {"name": "panel.dk"}, webhotel_id=webhotel.pk)
    domain = webhotel.mail_domains.get()
    for local in ("info", "salg"):
        post("mailbox_create", {"local_part": local, "quota_mb": 100}, maildomain_id=domain.pk)
    post(
        "alias_create",
        {"local_part": "kontakt", "destinations": "info@panel.dk"},
        maildomain_id=domain.pk,
    )
    drain()
    assert set(Operation.objects.values_list("status", flat=True)) == {"done"}
    on_disk(Path(server.root), webhotel, webhotel.databases.get().name)
    page = client.get(
        reverse("hosting:webhotel", kwargs={"customer_id": c, "webhotel_id": webhotel.pk})
    )
    assert page.status_code == 200 and b"panel.dk" in page.content


def test_a_reinstalled_servers_key_is_fetched_again_for_confirmation(
    logged_in, server, staff_admin
):
    Server.objects.filter(pk=server.pk).update(host_key="ssh-ed25519 AAAAold")
    response = logged_in(staff_admin).post(f"/api/v1/servers/{server.pk}/refresh-host-key")
    assert response.status_code == 200
    server.refresh_from_db()
    assert server.host_key.startswith("ssh-ed25519 ") and server.host_key_confirmed_at is None
    assert response.json()["host_key_fingerprint"] == servers.fingerprint(server)
