"""Prometheus metrics of the nightly work, read from the database at scrape time.

Served at ``/metrics`` to a scraper holding ``HAVN_METRICS_TOKEN`` (docs/operations.md, alert
rules in ``deploy/prometheus/havn-alerts.yml``). Every value is computed from the rows that
already record the work, so any number of web processes report the same figures and no worker
needs a metrics port.
"""

import hmac
import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Max, Q, Sum
from django.http import Http404, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from kombu.exceptions import ChannelError
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, HistogramMetricFamily

from backups.models import BackupRun
from backups.services.runs import live_items
from infra.celery import app

log = logging.getLogger(__name__)

GOOD = (BackupRun.Status.DONE, BackupRun.Status.PARTIAL)
DURATION_BUCKETS = (60, 300, 900, 3600, 4 * 3600, 8 * 3600)
ITEM_LABELS = ["kind", "item", "server", "customer"]
QUEUES = ("celery",)


def _labels(item) -> list[str]:
    customer = str(item.customer.pk) if item.customer else ""
    return [item.kind, str(item.row.pk), item.server.name, customer]


class BackupCollector:
    """The collector registered for one scrape (``collect`` is called once per request)."""

    def __init__(self, now=None, queue_depth=None):
        self.now = now or timezone.now()
        self.queue_depth = queue_depth

    def collect(self):
        yield from self._items()
        yield from self._runs()
        if self.queue_depth is not None:
            yield from self._queues()

    def _items(self):
        last = GaugeMetricFamily(
            "havn_backup_last_success_timestamp_seconds",
            "When the item's last good backup (done or done with warnings) finished; 0: never.",
            labels=ITEM_LABELS,
        )
        since = GaugeMetricFamily(
            "havn_backup_item_created_timestamp_seconds",
            "When the item was created (0 for a server's configuration).",
            labels=ITEM_LABELS,
        )
        good = {
            (row["kind"], row["item_id"]): row["last"]
            for row in BackupRun.objects.filter(status__in=GOOD, finished_at__isnull=False)
            .values("kind", "item_id")
            .annotate(last=Max("finished_at"))
        }
        for item in live_items():
            labels = _labels(item)
            finished = good.get((item.kind, item.row.pk))
            last.add_metric(labels, finished.timestamp() if finished else 0)
            created = getattr(item.row, "created_at", None)
            since.add_metric(labels, created.timestamp() if created else 0)
        yield last
        yield since

    def _runs(self):
        recent = BackupRun.objects.filter(
            Q(finished_at__gte=self.now - timedelta(hours=24)) | Q(finished_at__isnull=True)
        )
        runs = GaugeMetricFamily(
            "havn_backup_runs",
            "Backup runs by status: queued and running now; done, partial and failed in the "
            "last 24 hours.",
            labels=["status"],
        )
        counts = dict(recent.values_list("status").annotate(n=Count("pk")))
        for status in BackupRun.Status.values:
            runs.add_metric([status], counts.get(status, 0))
        yield runs
        totals = recent.aggregate(read=Sum("bytes_read"), stored=Sum("bytes_stored"))
        yield GaugeMetricFamily(
            "havn_backup_read_bytes_last_24h",
            "Bytes read from the servers by the runs finished in the last 24 hours or running.",
            value=totals["read"] or 0,
        )
        yield GaugeMetricFamily(
            "havn_backup_stored_bytes_last_24h",
            "New bytes stored (after deduplication) by the same runs.",
            value=totals["stored"] or 0,
        )
        durations = [
            (finished - started).total_seconds()
            for started, finished in recent.filter(
                started_at__isnull=False, finished_at__isnull=False
            ).values_list("started_at", "finished_at")
        ]
        buckets = [[str(b), sum(d <= b for d in durations)] for b in DURATION_BUCKETS]
        buckets.append(["+Inf", len(durations)])
        yield HistogramMetricFamily(
            "havn_backup_run_duration_seconds",
            "Duration of the finished backup runs of the last 24 hours.",
            buckets=buckets,
            sum_value=sum(durations),
        )

    def _queues(self):
        depth = GaugeMetricFamily(
            "havn_queue_messages", "Messages waiting in the broker queue.", labels=["queue"]
        )
        for queue in QUEUES:
            count = self.queue_depth(queue)
            if count is not None:
                depth.add_metric([queue], count)
        yield depth


def broker_queue_depth(queue: str) -> int | None:
    """Messages waiting in ``queue`` on the Celery broker; None when the broker does not answer
    (a broker outage must not fail the scrape: the missing series shows it)."""
    try:
        with app.connection_for_read() as conn:
            return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
    except ChannelError as exc:
        if "NOT_FOUND" in str(exc):
            return 0  # never declared: nothing was ever sent to it
        log.warning("metrics: queue %s not readable: %s", queue, exc)
        return None
    except Exception as exc:
        log.warning("metrics: queue %s not readable: %s", queue, type(exc).__name__)
        return None


@require_GET
def metrics_view(request):
    """The scrape endpoint: 404 unless a token is configured, 401 without it."""
    token = settings.HAVN_METRICS_TOKEN
    if not token:
        raise Http404
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return HttpResponse(status=401, headers={"WWW-Authenticate": "Bearer"})
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackupCollector(queue_depth=broker_queue_depth))
    response = HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response
