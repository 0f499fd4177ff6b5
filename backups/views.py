"""Panel pages for backups: a customer's snapshots and on-demand backups; staff's view of the
nightly runs. Each page reads through visible_to and writes through a service."""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, IntegerField, Q, Sum, Value, When, Window
from django.db.models.functions import RowNumber
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import has_perm, require
from backups.forms import RunFilterForm
from backups.models import BackupRun, ItemKind, Snapshot
from backups.services import runs
from hosting.dns import display_domain
from hosting.models import Database, Mailbox, Server, Webhotel

# The items a customer's backups are of, in the order the overview shows them.
KINDS = {
    ItemKind.WEBHOTEL: gettext_lazy("Webhotels"),
    ItemKind.DATABASE: gettext_lazy("Databases"),
    ItemKind.MAILBOX: gettext_lazy("Mailboxes"),
}
SNAPSHOTS_PER_ITEM = 30  # on the overview; the item's own page has them all, page by page
CHART_NIGHTS = 60
HISTORY_NIGHTS = 30
Status = BackupRun.Status
# Staff see what needs them first.
STATUS_ORDER = [Status.FAILED, Status.RUNNING, Status.QUEUED, Status.PARTIAL, Status.DONE]
LIVE_REFRESH_SECONDS = 10


def _customer(request, customer_id: int, permission: str) -> Customer:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    require(Actor.from_request(request), permission, customer)
    return customer


def _message_errors(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


# --- A customer's items ---------------------------------------------------------------------------


@dataclass
class Entry:
    """One webhotel, database or mailbox with its backups. ``exists`` is False for an item that
    was deleted but still has snapshots; ``live`` items are the ones backed up."""

    kind: str
    item_id: int
    name: str
    exists: bool = True
    live: bool = True
    snapshots: list = field(default_factory=list)
    snapshot_count: int = 0
    run: BackupRun | None = None

    @property
    def anchor(self) -> str:
        return f"{self.kind}-{self.item_id}"

    @property
    def more(self) -> int:
        return max(0, self.snapshot_count - len(self.snapshots))


def _hosting_items(request, customer, kind=None, item_id=None) -> list[Entry]:
    """The customer's webhotels, databases and mailboxes (of one kind and id, if given)."""
    user = request.user
    queries = {
        ItemKind.WEBHOTEL: Webhotel.objects.visible_to(user).filter(customer=customer),
        ItemKind.DATABASE: Database.objects.visible_to(user)
        .filter(webhotel__customer=customer)
        .order_by("name"),
        ItemKind.MAILBOX: Mailbox.objects.visible_to(user)
        .filter(mail_domain__webhotel__customer=customer)
        .select_related("mail_domain")
        .order_by("mail_domain__name", "local_part"),
    }
    entries = []
    for row_kind, rows in queries.items():
        if kind is not None and row_kind != kind:
            continue
        if item_id is not None:
            rows = rows.filter(pk=item_id)
        for row in rows:
            if row_kind == ItemKind.WEBHOTEL:
                name = display_domain(row.primary_domain)
            elif row_kind == ItemKind.MAILBOX:
                name = f"{row.local_part}@{display_domain(row.mail_domain.name)}"
            else:
                name = row.name
            entries.append(Entry(row_kind, row.pk, name, live=row.status in runs.LIVE))
    return entries


def _snapshots(request, customer):
    return Snapshot.objects.visible_to(request.user).filter(customer=customer)


def _runs(request, customer):
    return BackupRun.objects.visible_to(request.user).filter(customer=customer)


def _with_backups(request, customer, entries: list[Entry], kind=None, item_id=None):
    """Fill in each entry's newest snapshots, their count and its latest run; add the deleted
    items that still have snapshots. One query each, whatever the number of items."""
    snapshots, backup_runs = _snapshots(request, customer), _runs(request, customer)
    if kind is not None:
        snapshots = snapshots.filter(kind=kind, item_id=item_id)
        backup_runs = backup_runs.filter(kind=kind, item_id=item_id)
    else:
        snapshots = snapshots.filter(kind__in=list(KINDS))
        backup_runs = backup_runs.filter(kind__in=list(KINDS))
    by_key = {(e.kind, e.item_id): e for e in entries}
    counts = snapshots.order_by().values_list("kind", "item_id").annotate(n=Count("pk"))
    for row_kind, row_id, n in counts:
        entry = by_key.get((row_kind, row_id))
        if entry is None:  # deleted since: its snapshots stay until retention forgets them
            entry = by_key[row_kind, row_id] = Entry(row_kind, row_id, "", exists=False, live=False)
            entries.append(entry)
        entry.snapshot_count = n
    newest = snapshots.annotate(
        rank=Window(
            RowNumber(),
            partition_by=[F("kind"), F("item_id")],
            order_by=[F("taken_at").desc(), F("pk").desc()],
        )
    ).filter(rank__lte=SNAPSHOTS_PER_ITEM)
    for snapshot in newest.order_by("-taken_at", "-pk"):
        entry = by_key[snapshot.kind, snapshot.item_id]
        entry.snapshots.append(snapshot)
        entry.name = entry.name or snapshot.item_name
    latest = backup_runs.annotate(
        rank=Window(RowNumber(), partition_by=[F("kind"), F("item_id")], order_by=F("pk").desc())
    ).filter(rank=1)
    for run in latest:
        entry = by_key.get((run.kind, run.item_id))
        if entry is not None:
            entry.run = run
    return entries


def _grouped(entries: list[Entry]) -> list[tuple]:
    """(heading, entries) per kind; deleted items after the existing ones."""
    return [
        (label, sorted((e for e in entries if e.kind == kind), key=lambda e: not e.exists))
        for kind, label in KINDS.items()
    ]


# --- The storage chart ----------------------------------------------------------------------------

CHART = {"width": 640, "height": 220, "left": 72, "right": 8, "top": 12, "bottom": 36}


def _nice_ceiling(value: int) -> int:
    """The axis top: 1, 2 or 5 × a power of ten in the largest 1024-unit below ``value``."""
    unit = 1
    while value / unit >= 1024:
        unit *= 1024
    scaled = value / unit
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1024):
        if scaled <= step:
            return step * unit
    return 1024 * unit


def _storage_chart(request, customer, tonight: date) -> dict | None:
    """The customer's data stored (cumulative new data of every snapshot) after each of the last
    nights, as the coordinates of an SVG bar chart. None before the first snapshot."""
    snapshots = _snapshots(request, customer)
    if not snapshots.exists():
        return None
    first = tonight - timedelta(days=CHART_NIGHTS - 1)
    # A night begins at noon (runs.night_of): the window starts at noon of its first night.
    start = timezone.make_aware(datetime.combine(first, time(12)))
    total = snapshots.filter(taken_at__lt=start).aggregate(s=Sum("stored"))["s"] or 0
    per_night = defaultdict(int)
    for taken_at, stored in snapshots.filter(taken_at__gte=start).values_list("taken_at", "stored"):
        per_night[runs.night_of(taken_at)] += stored
    totals = []
    for offset in range(CHART_NIGHTS):
        night = first + timedelta(days=offset)
        total += per_night.get(night, 0)
        totals.append((night, total))

    c = CHART
    plot_width = c["width"] - c["left"] - c["right"]
    plot_height = c["height"] - c["top"] - c["bottom"]
    bottom = c["top"] + plot_height
    top_value = _nice_ceiling(max(total for _night, total in totals) or 1)
    slot = plot_width / CHART_NIGHTS
    bar_width = slot * 0.7
    points = []
    for index, (night, value) in enumerate(totals):
        height = plot_height * value / top_value
        x = c["left"] + index * slot + (slot - bar_width) / 2
        points.append(
            {
                "night": night,
                "total": value,
                "x": f"{x:.1f}",
                "y": f"{bottom - height:.1f}",
                "width": f"{bar_width:.1f}",
                "height": f"{height:.1f}",
                "centre": f"{x + bar_width / 2:.1f}",
            }
        )
    ticks = [
        {"value": top_value * fraction, "y": f"{bottom - plot_height * fraction:.1f}"}
        for fraction in (0, 0.5, 1)
    ]
    middle, axis_right = points[len(points) // 2], str(c["width"] - c["right"])
    return {
        **c,
        "points": points,
        "labelled": [  # the first, middle and last night under the axis
            {"night": points[0]["night"], "x": points[0]["x"], "anchor": "start"},
            {"night": middle["night"], "x": middle["centre"], "anchor": "middle"},
            {"night": points[-1]["night"], "x": axis_right, "anchor": "end"},
        ],
        "ticks": ticks,
        "axis_x": str(c["left"]),
        "axis_right": axis_right,
        "axis_bottom": f"{bottom:.1f}",
        "label_x": str(c["left"] - 6),
        "label_y": f"{bottom + 20:.1f}",
        "total": totals[-1][1],
        "nights": CHART_NIGHTS,
    }


# --- Customer pages -------------------------------------------------------------------------------


@login_required
def overview_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    entries = _with_backups(request, customer, _hosting_items(request, customer))
    return render(
        request,
        "backups/overview.html",
        {
            "customer": customer,
            "groups": _grouped(entries),
            "chart": _storage_chart(request, customer, runs.night_of(timezone.now())),
            "per_item": SNAPSHOTS_PER_ITEM,
            "can_manage": has_perm(request.user, "hosting.manage", customer),
            "can_restore": has_perm(request.user, "restores.order", customer),
        },
    )


def _entry(request, customer, kind: str, item_id: int) -> Entry:
    """One of the customer's items, existing or deleted with snapshots left; else 404."""
    if kind not in KINDS:
        raise Http404
    entries = _with_backups(
        request, customer, _hosting_items(request, customer, kind, item_id), kind, item_id
    )
    if not entries:
        raise Http404
    return entries[0]


@login_required
def item_view(request, customer_id, kind, item_id):
    customer = _customer(request, customer_id, "hosting.view")
    entry = _entry(request, customer, kind, item_id)
    snapshots = _snapshots(request, customer).filter(kind=kind, item_id=item_id)
    page = Paginator(snapshots.order_by("-taken_at", "-pk"), 50).get_page(request.GET.get("page"))
    recent_runs = (
        _runs(request, customer).filter(kind=kind, item_id=item_id).order_by("-pk")[:HISTORY_NIGHTS]
    )
    return render(
        request,
        "backups/item.html",
        {
            "customer": customer,
            "entry": entry,
            "kind_label": ItemKind(kind).label,
            "page": page,
            "runs": recent_runs,
            "can_manage": has_perm(request.user, "hosting.manage", customer),
            "can_restore": kind in KINDS and has_perm(request.user, "restores.order", customer),
        },
    )


def _requested(request, run: BackupRun, name: str) -> None:
    """Say what became of the request: the service returns today's on-demand run if there is one."""
    values = {"name": name}
    if run.status == Status.QUEUED:
        messages.success(request, _("A backup of %(name)s is queued: it starts shortly.") % values)
    elif run.status == Status.RUNNING:
        messages.info(request, _("A backup of %(name)s is running now.") % values)
    elif run.status == Status.FAILED:
        messages.error(
            request,
            _("Today's on-demand backup of %(name)s failed: %(error)s")
            % {**values, "error": run.error or _("no details")},
        )
    else:
        messages.info(request, _("%(name)s was already backed up on demand today.") % values)


@login_required
@require_POST
def back_up_now_view(request, customer_id, kind, item_id):
    customer = _customer(request, customer_id, "hosting.manage")
    entry = _entry(request, customer, kind, item_id)
    if not entry.exists:
        raise Http404
    try:
        run = runs.request_backup(Actor.from_request(request), kind, item_id)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        _requested(request, run, entry.name)
    if request.POST.get("next") == "item":
        return redirect("backups:item", customer_id=customer.pk, kind=kind, item_id=item_id)
    return redirect(reverse("backups:overview", args=[customer.pk]) + f"#{entry.anchor}")


# --- Staff ----------------------------------------------------------------------------------------


def _status_rank():
    return Case(
        *(When(status=status, then=Value(rank)) for rank, status in enumerate(STATUS_ORDER)),
        default=Value(len(STATUS_ORDER)),
        output_field=IntegerField(),
    )


def _counts(backup_runs) -> list[dict]:
    found = dict(backup_runs.order_by().values_list("status").annotate(n=Count("pk")))
    return [
        {"status": status, "label": Status(status).label, "count": found.get(status, 0)}
        for status in STATUS_ORDER
    ]


@login_required
def tonight_view(request):
    require(Actor.from_request(request), "servers.view")
    tonight = runs.night_of(timezone.now())
    form = RunFilterForm(request.GET or None)
    night, server = tonight, None
    if form.is_valid():
        night = form.cleaned_data["night"] or tonight
        server = form.cleaned_data["server"]
    backup_runs = BackupRun.objects.visible_to(request.user).filter(night=night)
    if server is not None:
        backup_runs = backup_runs.filter(server=server)
    counts = _counts(backup_runs)
    ordered = (
        backup_runs.select_related("customer", "server")
        .annotate(rank=_status_rank())
        .order_by("rank", "server__name", "item_name", "pk")
    )
    page = Paginator(ordered, 200).get_page(request.GET.get("page"))
    running = any(c["count"] for c in counts if c["status"] == Status.RUNNING)
    return render(
        request,
        "backups/tonight.html",
        {
            "form": form,
            "night": night,
            "is_tonight": night == tonight,
            "server": server,
            "counts": counts,
            "total": sum(c["count"] for c in counts),
            "page": page,
            "refresh": LIVE_REFRESH_SECONDS if running and night == tonight else None,
        },
    )


@login_required
def server_history_view(request, server_id):
    require(Actor.from_request(request), "servers.view")
    server = get_object_or_404(Server, pk=server_id)
    tonight = runs.night_of(timezone.now())
    first = tonight - timedelta(days=HISTORY_NIGHTS - 1)
    rows = (
        BackupRun.objects.visible_to(request.user)
        .filter(server=server, night__gte=first, night__lte=tonight)
        .order_by()
        .values("night")
        .annotate(
            total=Count("pk"),
            **{status: Count("pk", filter=Q(status=status)) for status in STATUS_ORDER},
            files=Sum("files"),
            bytes_read=Sum("bytes_read"),
            bytes_new=Sum("bytes_new"),
            bytes_stored=Sum("bytes_stored"),
        )
    )
    by_night = {row["night"]: row for row in rows}
    nights = []
    for night in (tonight - timedelta(days=n) for n in range(HISTORY_NIGHTS)):
        row = by_night.get(night, {"night": night, "total": 0})
        row["counts"] = [row.get(status, 0) for status in STATUS_ORDER]
        nights.append(row)
    return render(
        request,
        "backups/server_history.html",
        {
            "server": server,
            "nights": nights,
            "statuses": [Status(status).label for status in STATUS_ORDER],
            "history_nights": HISTORY_NIGHTS,
        },
    )
