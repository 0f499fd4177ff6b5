"""Formatting for the backup pages: byte counts in MB and run durations."""

from django import template
from django.template.defaultfilters import floatformat
from django.utils import timezone

register = template.Library()

MB = 1024 * 1024  # as filesizeformat counts: its "MB" is 1024 × 1024 bytes


@register.filter
def mb(value) -> str:
    """Bytes as megabytes with one decimal, in the page's number format."""
    return floatformat((value or 0) / MB, 1)


@register.filter
def run_duration(run) -> str:
    """How long a run took, or has been running so far, as H:MM:SS; "—" before it started."""
    if run.started_at is None:
        return "—"
    end = run.finished_at or (timezone.now() if run.status == "running" else None)
    if end is None:
        return "—"
    seconds = max(0, int((end - run.started_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"
