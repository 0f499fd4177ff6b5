"""The backup pages of the panel: a customer's snapshots, chart and on-demand backups; staff's
view of tonight's runs and each server's history.

Runs and snapshots are made directly with plausible values: the engine has its own tests. A backup
asked for on demand starts on commit, which never comes inside the ``db`` fixture's transaction."""

import re
from datetime import timedelta

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Role
from backups.models import BackupRun, Snapshot
from backups.services.runs import night_of
from backups.views import CHART_NIGHTS, SNAPSHOTS_PER_ITEM
from hosting.models import Database, Mailbox, MailDomain, Webhotel
from tests.factories import MembershipFactory, ServerFactory, WebhotelFactory

pytestmark = pytest.mark.django_db
MiB = 1024 * 1024


@pytest.fixture
def english(logged_in):
    def make(user):
        client = logged_in(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


@pytest.fixture
def server(db):
    return ServerFactory(name="bk1")


@pytest.fixture
def webhotel(customer_a, server):
    return WebhotelFactory(customer=customer_a, server=server, primary_domain="alfa.dk")


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


def snapshot(item, kind="webhotel", *, days_ago=0, stored=MiB, size=50 * MiB, **fields):
    if isinstance(item, Webhotel):
        customer, name = item.customer, item.primary_domain
    elif isinstance(item, Database):
        customer, name = item.webhotel.customer, item.name
    else:
        customer, name = item.mail_domain.webhotel.customer, item.address
    return Snapshot.objects.create(
        customer=customer,
        snapshot_id=f"{Snapshot.objects.count() + 1:064x}",
        kind=kind,
        item_id=fields.pop("item_id", item.pk),
        item_name=fields.pop("item_name", name),
        server_name="bk1",
        taken_at=timezone.now() - timedelta(days=days_ago),
        files=120,
        size=size,
        stored=stored,
        **fields,
    )


def run(webhotel, *, server=None, night=None, status="done", kind="webhotel", **fields):
    now = timezone.now()
    done = status in ("done", "partial", "failed")
    return BackupRun.objects.create(
        customer=webhotel.customer,
        server=server or webhotel.server,
        kind=kind,
        item_id=fields.pop("item_id", webhotel.pk),
        item_name=fields.pop("item_name", webhotel.primary_domain),
        night=night or night_of(now),
        status=status,
        started_at=now - timedelta(minutes=3) if status != "queued" else None,
        finished_at=now if done else None,
        **fields,
    )


def text(response) -> str:
    return response.content.decode().replace("\xa0", " ")  # filesizeformat's no-break space


def overview(customer):
    return reverse("backups:overview", args=[customer.pk])


def back_up_now(customer, kind, item_id):
    return reverse("backups:back_up_now", args=[customer.pk, kind, item_id])


# --- The customer's overview ----------------------------------------------------------------------


def test_overview_shows_own_snapshots_and_a_chart_of_stored_data(
    english, owner_a, customer_a, webhotel, database, mailbox, foreign_webhotel
):
    snapshot(webhotel, days_ago=100, stored=4 * MiB)  # before the chart: its baseline
    for days_ago in (2, 1, 0):
        snapshot(webhotel, days_ago=days_ago, stored=MiB)
    snapshot(database, "database", days_ago=0, stored=3 * MiB, complete=False)
    snapshot(foreign_webhotel, days_ago=0, stored=500 * MiB)
    response = english(owner_a).get(overview(customer_a))
    assert response.status_code == 200
    body = text(response)
    assert "alfa.dk" in body and "alfa_shop" in body and "info@alfa.dk" in body
    assert "beta-only.dk" not in body
    assert body.count('class="snapshot"') == 5
    assert "With warnings" in body  # the database's incomplete snapshot
    # One bar per night with a title each; cumulative: 4 MiB before, then +1, +1, +1+3.
    svg = re.search(r"<svg.*?</svg>", body, re.S).group(0)
    assert svg.count('class="bar"') == CHART_NIGHTS
    assert svg.count("<title>") == CHART_NIGHTS  # and the chart's own, with its id
    titles = re.findall(r"<title>([^<]*)</title></rect>", svg)
    assert titles[0].endswith(": 4.0 MB stored")
    assert [t.split(": ")[1] for t in titles[-3:]] == [
        "5.0 MB stored",
        "6.0 MB stored",
        "10.0 MB stored",
    ]
    heights = re.findall(r'class="bar"[^>]*height="([0-9.]+)"', svg)
    assert max(map(float, heights)) == float(heights[-1])  # the axis top fits the last night


def test_overview_without_snapshots_has_no_chart(english, owner_a, customer_a, webhotel):
    body = text(english(owner_a).get(overview(customer_a)))
    assert "<svg" not in body
    assert "No snapshots yet." in body


def test_overview_limits_snapshots_per_item_and_the_item_page_has_them_all(
    english, owner_a, customer_a, webhotel
):
    for days_ago in range(SNAPSHOTS_PER_ITEM + 5):
        snapshot(webhotel, days_ago=days_ago)
    client = english(owner_a)
    body = text(client.get(overview(customer_a)))
    assert body.count('class="snapshot"') == SNAPSHOTS_PER_ITEM
    item = reverse("backups:item", args=[customer_a.pk, "webhotel", webhotel.pk])
    assert "5 older snapshots" in body and item in body
    rows = re.findall(r'<tr class="snapshot">\s*<td>([^<]+)</td>', text(client.get(item)))
    assert len(rows) == SNAPSHOTS_PER_ITEM + 5
    assert rows == sorted(rows, reverse=True)  # newest first


def test_overview_shows_the_latest_run_of_each_item(
    english, owner_a, customer_a, webhotel, database, mailbox
):
    run(webhotel, night=night_of(timezone.now()) - timedelta(days=1))
    run(webhotel, status="running", progress_bytes=250 * MiB, expected_bytes=1000 * MiB)
    run(
        webhotel,
        kind="database",
        item_id=database.pk,
        item_name=database.name,
        status="failed",
        error="SshError: connection refused",
    )
    run(webhotel, kind="mailbox", item_id=mailbox.pk, item_name="info@alfa.dk", status="queued")
    body = text(english(owner_a).get(overview(customer_a)))
    assert f'<progress value="{250 * MiB}" max="{1000 * MiB}"' in body
    assert "250.0 MB of 1000.0 MB" in body
    assert "SshError: connection refused" in body
    assert "Queued" in body


def test_deleted_items_keep_their_snapshots_without_a_backup_button(
    english, owner_a, customer_a, webhotel
):
    snapshot(webhotel, kind="database", days_ago=3, item_id=999_999, item_name="alfa_old")
    body = text(english(owner_a).get(overview(customer_a)))
    assert "alfa_old" in body and "(deleted)" in body
    assert back_up_now(customer_a, "database", 999_999) not in body
    assert back_up_now(customer_a, "webhotel", webhotel.pk) in body


def test_the_overview_is_in_danish_by_default(logged_in, owner_a, customer_a, webhotel):
    snapshot(webhotel)
    body = text(logged_in(owner_a).get(overview(customer_a)))
    assert "Sikkerhedskopier" in body and "Tag en sikkerhedskopi nu" in body


# --- Back up now ----------------------------------------------------------------------------------


def test_back_up_now_requests_an_on_demand_run(english, owner_a, customer_a, webhotel):
    client = english(owner_a)
    response = client.post(back_up_now(customer_a, "webhotel", webhotel.pk))
    assert response.status_code == 302
    assert response["Location"] == f"{overview(customer_a)}#webhotel-{webhotel.pk}"
    requested = BackupRun.objects.get()
    assert (requested.kind, requested.item_id, requested.on_demand) == (
        "webhotel",
        webhotel.pk,
        True,
    )
    assert requested.customer == customer_a and requested.status == "queued"
    assert AuditEvent.objects.filter(action="backup.requested", customer=customer_a).exists()
    body = text(client.get(response["Location"]))
    assert "A backup of alfa.dk is queued" in body
    # Asking again the same day answers with the same run.
    client.post(back_up_now(customer_a, "webhotel", webhotel.pk))
    assert BackupRun.objects.count() == 1


def test_back_up_now_from_the_item_page_returns_there(english, owner_a, customer_a, database):
    response = english(owner_a).post(
        back_up_now(customer_a, "database", database.pk), {"next": "item"}
    )
    assert response["Location"] == reverse(
        "backups:item", args=[customer_a.pk, "database", database.pk]
    )
    assert BackupRun.objects.get().kind == "database"


def test_billing_sees_backups_but_cannot_start_one(english, customer_a, webhotel):
    billing = MembershipFactory(customer=customer_a, role=Role.BILLING).user
    client = english(billing)
    snapshot(webhotel)
    body = text(client.get(overview(customer_a)))
    assert "alfa.dk" in body and "Back up now" not in body
    assert client.post(back_up_now(customer_a, "webhotel", webhotel.pk)).status_code == 403
    assert not BackupRun.objects.exists()


def test_another_customers_item_is_not_found(
    english, owner_a, customer_a, customer_b, foreign_webhotel
):
    client = english(owner_a)
    assert client.post(back_up_now(customer_a, "webhotel", foreign_webhotel.pk)).status_code == 404
    assert client.post(back_up_now(customer_b, "webhotel", foreign_webhotel.pk)).status_code == 404
    item = reverse("backups:item", args=[customer_a.pk, "webhotel", foreign_webhotel.pk])
    assert client.get(item).status_code == 404
    assert client.get(reverse("backups:item", args=[customer_a.pk, "server", 1])).status_code == 404
    assert not BackupRun.objects.exists()


# --- Staff ----------------------------------------------------------------------------------------


@pytest.fixture
def tonight_runs(customer_a, webhotel, server):
    other = ServerFactory(name="bk2")
    elsewhere = WebhotelFactory(customer=customer_a, server=other, primary_domain="gamma.dk")
    return {
        "done": run(webhotel, status="done", files=103, bytes_read=5 * MiB, bytes_stored=MiB),
        "queued": run(elsewhere, status="queued"),
        "partial": run(
            webhotel,
            kind="mailbox",
            item_id=1,
            item_name="info@alfa.dk",
            status="partial",
            warnings=[{"path": "Maildir/cur/x", "message": "vanished while read"}],
        ),
        "running": run(
            elsewhere,
            kind="database",
            item_id=2,
            item_name="gamma_db",
            status="running",
            progress_bytes=30 * MiB,
            expected_bytes=120 * MiB,
        ),
        "failed": run(
            webhotel, kind="database", item_id=3, item_name="alfa_shop", status="failed",
            error="SshError: connection refused",
        ),
        "yesterday": run(
            webhotel, night=night_of(timezone.now()) - timedelta(days=1), item_name="old.dk"
        ),
        "server": BackupRun.objects.create(
            customer=None, server=other, kind="server", item_id=other.pk, item_name="bk2",
            night=night_of(timezone.now()), status="failed", error="no space left",
        ),
    }  # fmt: skip


def row_ids(body) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="run-(\d+)"', body)]


def test_tonight_lists_failures_first_then_running_queued_and_done(
    english, staff_admin, tonight_runs
):
    response = english(staff_admin).get(reverse("backups:tonight"))
    assert response.status_code == 200
    body = text(response)
    r = tonight_runs
    ids = row_ids(body)
    statuses = [BackupRun.objects.get(pk=pk).status for pk in ids]
    assert statuses == ["failed", "failed", "running", "queued", "partial", "done"]
    assert r["yesterday"].pk not in ids
    assert f'<progress value="{30 * MiB}" max="{120 * MiB}"' in body
    assert "SshError: connection refused" in body and "vanished while read" in body
    assert "Havn (server configuration)" in body
    assert '<meta http-equiv="refresh" content="10">' in body  # while runs are running
    counts = dict(re.findall(r'<span class="status-(\w+)">[^<]*<strong[^>]*>(\d+)</strong>', body))
    assert counts == {"failed": "2", "running": "1", "queued": "1", "partial": "1", "done": "1"}
    # The done run's counters: files and MB read / stored, and its duration.
    row = re.search(rf'<tr id="run-{r["done"].pk}".*?</tr>', body, re.S).group(0)
    assert "<td>103</td>" in row and "<td>5.0</td>" in row and "<td>1.0</td>" in row
    assert "0:03:00" in row


def test_tonight_filters_by_server(english, staff_admin, tonight_runs, server):
    body = text(english(staff_admin).get(reverse("backups:tonight"), {"server": server.pk}))
    r = tonight_runs
    assert row_ids(body) == [r["failed"].pk, r["partial"].pk, r["done"].pk]
    assert "<meta http-equiv" not in body  # nothing runs on this server


def test_an_earlier_night_can_be_shown(english, staff_admin, tonight_runs):
    night = night_of(timezone.now()) - timedelta(days=1)
    body = text(english(staff_admin).get(reverse("backups:tonight"), {"night": night}))
    assert row_ids(body) == [tonight_runs["yesterday"].pk]


def test_support_staff_see_the_runs_and_customers_do_not(
    english, staff_support, owner_a, tonight_runs, server
):
    support = english(staff_support)
    assert support.get(reverse("backups:tonight")).status_code == 200
    history = reverse("backups:server_history", args=[server.pk])
    assert support.get(history).status_code == 200
    customer = english(owner_a)
    assert customer.get(reverse("backups:tonight")).status_code == 403
    assert customer.get(history).status_code == 403


def test_server_history_counts_the_last_30_nights(english, staff_admin, tonight_runs, server):
    body = text(english(staff_admin).get(reverse("backups:server_history", args=[server.pk])))
    nights = re.findall(r'<tr class="night">(.*?)</tr>', body, re.S)
    assert len(nights) == 30
    tonight, yesterday = nights[0], nights[1]
    cells = re.findall(r"<td>(?:<strong[^>]*>)?([^<]*)", tonight)
    # runs, failed, running, queued, with warnings, done, files, MB read, new, stored
    assert cells == ["3", "1", "0", "0", "1", "1", "103", "5.0", "0.0", "1.0"]
    assert re.findall(r"<td>([^<]*)", yesterday)[0] == "1"
    assert "No runs." in nights[2]
