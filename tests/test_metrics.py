"""/metrics: the token, the series read from the database, and the alert rules evaluated by
promtool (Debian's prometheus package) against the series scraped here."""

import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from backups.metrics import broker_queue_depth
from backups.models import BackupRun
from infra.celery import app
from tests.factories import ServerFactory, WebhotelFactory

pytestmark = pytest.mark.django_db
RULES = Path(__file__).resolve().parent.parent / "deploy" / "prometheus" / "havn-alerts.yml"
TOKEN = "scrape-me-" + "x" * 20
EVAL = 20 * 60  # promtool's clock starts at 0: evaluate 20 minutes in


@pytest.fixture
def token(settings):
    settings.HAVN_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client):
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content[:300]
    assert response["Cache-Control"] == "no-store"
    return response.content.decode()


def run(item, kind, status, finished_ago, started_for=timedelta(minutes=5)):
    """A finished run; each in a night of its own (one run per item and night)."""
    now = timezone.now()
    night = date.today() - timedelta(days=BackupRun.objects.count())
    return BackupRun.objects.create(
        customer=getattr(item, "customer", None),
        server=getattr(item, "server", item),
        kind=kind,
        item_id=item.pk,
        item_name=str(item),
        night=night,
        status=status,
        bytes_read=1000,
        bytes_stored=100,
        started_at=now - finished_ago - started_for,
        finished_at=now - finished_ago,
    )


def test_metrics_need_a_configured_token(client, settings):
    settings.HAVN_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    settings.HAVN_METRICS_TOKEN = TOKEN
    assert client.get("/metrics").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405


def test_metrics_report_each_item_and_the_last_day(client, token):
    server = ServerFactory(name="web1")
    late = WebhotelFactory(server=server, primary_domain="late.dk")
    fresh = WebhotelFactory(server=server, primary_domain="fresh.dk")
    run(late, "webhotel", "done", timedelta(hours=30))
    run(fresh, "webhotel", "partial", timedelta(hours=2), started_for=timedelta(hours=2))
    run(fresh, "webhotel", "failed", timedelta(hours=1))
    families = {f.name: f for f in text_string_to_metric_families(scrape(client))}

    last = {
        s.labels["item"]: s.value
        for s in families["havn_backup_last_success_timestamp_seconds"].samples
        if s.labels["kind"] == "webhotel"
    }
    assert set(last) == {str(late.pk), str(fresh.pk)}
    now = timezone.now().timestamp()
    assert 30 * 3600 - 60 < now - last[str(late.pk)] < 30 * 3600 + 60
    assert 2 * 3600 - 60 < now - last[str(fresh.pk)] < 2 * 3600 + 60  # partial counts as good
    runs = {s.labels["status"]: s.value for s in families["havn_backup_runs"].samples}
    assert runs["failed"] == 1 and runs["partial"] == 1 and runs["done"] == 0  # 30 h ago: out
    duration = {s.name: s for s in families["havn_backup_run_duration_seconds"].samples}
    assert duration["havn_backup_run_duration_seconds_count"].value == 2
    two_hours = next(
        s.value
        for s in families["havn_backup_run_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["le"] != "+Inf" and float(s.labels["le"]) == 3600
    )
    assert two_hours == 1  # the 5-minute run, not the 2-hour one


def test_broker_queue_depth_counts_waiting_messages():
    queue = "havn-test-metrics"
    with app.connection_for_write() as conn:
        for _ in range(3):
            app.send_task("havn.no_such_task", queue=queue, connection=conn)
        try:
            assert broker_queue_depth(queue) == 3
        finally:
            conn.default_channel.queue_purge(queue)
    assert broker_queue_depth("havn-queue-that-never-was") in (0, None)


def _series(text: str, now: float) -> list[dict]:
    """The scraped samples as promtool input series, constant for 30 minutes; timestamps are
    re-based so that ages at promtool's EVAL equal the ages at scrape time."""
    out = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            value = sample.value
            if sample.name.endswith("_timestamp_seconds"):
                value = value - now + EVAL
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out.append({"series": f"{sample.name}{{{labels}}}", "values": f"{value}+0x30"})
    return out


def test_alert_rules_fire_on_the_scraped_series(client, token, tmp_path):
    assert subprocess.run(["promtool", "check", "rules", str(RULES)], check=False).returncode == 0
    server = ServerFactory(name="web9")
    run(server, "server", "done", timedelta(hours=1))
    late = WebhotelFactory(server=server, primary_domain="late.dk")
    WebhotelFactory(server=server, primary_domain="fresh.dk")  # created now: not yet due
    old_never = WebhotelFactory(server=server, primary_domain="never.dk")
    type(old_never).objects.filter(pk=old_never.pk).update(
        created_at=timezone.now() - timedelta(days=3)
    )
    type(late).objects.filter(pk=late.pk).update(created_at=timezone.now() - timedelta(days=40))
    run(late, "webhotel", "done", timedelta(hours=30))
    run(late, "webhotel", "failed", timedelta(hours=3))
    text = scrape(client)
    series = _series(text, timezone.now().timestamp())

    def missing(item):
        labels = {"kind": "webhotel", "item": str(item.pk), "server": "web9"}
        labels.update(customer=str(item.customer.pk), severity="critical")
        summary = f"No good backup of webhotel {item.pk} on web9 for 26 hours"
        return {"exp_labels": labels, "exp_annotations": {"summary": summary}}

    tests = {
        "rule_files": [str(RULES)],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": series + [{"series": 'up{job="havn"}', "values": "1+0x30"}],
                "alert_rule_test": [
                    {
                        "eval_time": f"{EVAL}s",
                        "alertname": "HavnBackupMissing",
                        "exp_alerts": [missing(late), missing(old_never)],
                    },
                    {
                        "eval_time": f"{EVAL}s",
                        "alertname": "HavnBackupRunsFailed",
                        "exp_alerts": [
                            {
                                "exp_labels": {"status": "failed", "severity": "warning"},
                                "exp_annotations": {
                                    "summary": "1 backup runs failed in the last 24 hours"
                                },
                            }
                        ],
                    },
                    {"eval_time": f"{EVAL}s", "alertname": "HavnMetricsDown", "exp_alerts": []},
                ],
            }
        ],
    }
    path = tmp_path / "havn-alerts.test.yml"
    path.write_text(yaml.safe_dump(tests))
    result = subprocess.run(
        ["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
