"""The retention rules, in one place (docs/privacy.md): what is deleted, after which trigger,
after how long, and how. A daily beat task applies them (``apply_all``); the staff report shows
each rule with what is due now and what earlier runs deleted.

A rule's period can be overridden in settings: ``HAVN_RETENTION_RULES = {"login_records":
{"period_days": 180}}``. Every function takes ``now`` so tests can move the clock.
"""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string
from django.utils.translation import gettext_lazy as _

from accounts.models import (
    AuditEvent,
    Invoice,
    InvoiceLine,
    LoginFailures,
    RetentionAction,
    UserSession,
)
from accounts.privacy import auditlog

# Audit actions that are login records (who logged in or tried to, from where).
LOGIN_ACTIONS = ("login.", "password.reset_requested", "2fa.")


@dataclass(frozen=True)
class Rule:
    key: str
    category: str  # the data category's key in the registry
    data: str  # what the rule deletes, for people
    trigger: str
    period_days: int
    action: str
    due: Callable[[datetime, timedelta], int] | None = None  # how many are due; None: nothing kept
    apply: Callable[[datetime, timedelta], int] | None = None  # delete what is due; the count
    # A period that another setting already governs (in days): that setting is the one to change.
    period_setting: str = ""

    @property
    def period(self) -> timedelta:
        override = settings.HAVN_RETENTION_RULES.get(self.key, {})
        if self.period_setting:
            if override:
                raise ImproperlyConfigured(
                    f"HAVN_RETENTION_RULES cannot change the rule {self.key!r}: set "
                    f"{self.period_setting} instead."
                )
            return timedelta(days=getattr(settings, self.period_setting))
        return timedelta(days=override.get("period_days", self.period_days))


# --- identity documents (their queries live in hosting/privacy.py, above this layer) --------------


def _in_hosting(name: str):
    """Call ``hosting.privacy.<name>``: accounts sits below hosting, so the rule names it."""
    return import_string(f"hosting.privacy.{name}")


def _documents(status: str):
    def due(now, period) -> int:
        return _in_hosting("id_documents_due")(status, now - period).count()

    def apply(now, period) -> int:
        return _in_hosting("delete_id_documents")(status, now - period)

    return due, apply


# --- personal data: the purge of closed accounts --------------------------------------------------


def _purges_due(now, period) -> int:
    from accounts.privacy import purge

    return len(purge.due(now))


def _purge(now, period) -> int:
    from accounts.privacy import purge

    return purge.purge_due(now)["purged"]


# --- invoices -------------------------------------------------------------------------------------


def _invoices_due(now, period):
    """Invoices whose retention has run out: issued in a financial (calendar) year that ended
    ``period`` (5 years, counted in whole years) ago, i.e. past ``Invoice.retain_until``. An
    invoice waits for its credit note, which may be younger."""
    years = round(period.days / 365.25)
    last_year = timezone.localdate(now).year - years - 1
    old = Invoice.objects.filter(year__lte=last_year)
    return old.exclude(credit_notes__in=Invoice.objects.filter(year__gt=last_year))


def _count_invoices(now, period) -> int:
    return _invoices_due(now, period).count()


def _delete_invoices(now, period) -> int:
    """Delete through plain querysets: the invoice models refuse deletes so nothing else can
    (this rule is their documented way out). Nullable links to them (restore orders) are
    cleared first; credit notes go before the invoices they credit."""
    with transaction.atomic():
        ids = list(_invoices_due(now, period).values_list("pk", flat=True))
        for relation in Invoice._meta.related_objects:
            if relation.field.null and relation.related_model is not Invoice:
                relation.related_model._base_manager.filter(
                    **{f"{relation.field.name}__in": ids}
                ).update(**{relation.field.name: None})
        models.QuerySet(InvoiceLine).filter(invoice_id__in=ids).delete()
        models.QuerySet(Invoice).filter(pk__in=ids, kind=Invoice.Kind.CREDIT_NOTE).delete()
        models.QuerySet(Invoice).filter(pk__in=ids).delete()
    return len(ids)


# --- login records --------------------------------------------------------------------------------


def _login_condition() -> Q:
    condition = Q()
    for prefix in LOGIN_ACTIONS:
        condition |= Q(action__startswith=prefix)
    return condition


def _login_records_due(now, period) -> int:
    cutoff = now - period
    return (
        AuditEvent.objects.filter(_login_condition(), created_at__lt=cutoff).count()
        + UserSession.objects.filter(created_at__lt=cutoff).count()
    )


def _delete_login_records(now, period) -> int:
    """Login audit events go through the audit log's documented bypass (auditlog.py)."""
    cutoff = now - period
    deleted = auditlog.delete(_login_condition() & Q(created_at__lt=cutoff))
    sessions, _by_model = UserSession.objects.filter(created_at__lt=cutoff).delete()
    return deleted + sessions


def _login_failures(now, period):
    return LoginFailures.objects.filter(last_failure_at__lt=now - period)


# --- export archives ------------------------------------------------------------------------------


def _exports_due(now, period) -> int:
    from accounts.models import DataExport

    return DataExport.objects.filter(status=DataExport.Status.READY, expires_at__lte=now).count()


def _expire_exports(now, period) -> int:
    from accounts.privacy.export import expire_exports

    return expire_exports(now)


_approved_due, _approved_apply = _documents("approved")
_rejected_due, _rejected_apply = _documents("rejected")

RULES: tuple[Rule, ...] = (
    Rule(
        key="cpr",
        category="hosting.identity",
        data=_("CPR number"),
        trigger=_("registrant verification with an electronic ID"),
        period_days=0,
        action=_(
            "Never stored: passed to the identity provider for the check only, kept out of the "
            "database, the audit log and the logs."
        ),
    ),
    Rule(
        key="id_documents",
        category="hosting.identity",
        data=_("ID document (approved)"),
        trigger=_("the document is approved"),
        period_days=1,
        action=_("The uploaded file is deleted; the outcome stays."),
        due=_approved_due,
        apply=_approved_apply,
    ),
    Rule(
        key="id_documents_rejected",
        category="hosting.identity",
        data=_("ID document (rejected)"),
        trigger=_("the document is rejected (4 weeks to complain, plus one)"),
        period_days=35,
        action=_("The uploaded file is deleted; the outcome stays."),
        due=_rejected_due,
        apply=_rejected_apply,
    ),
    Rule(
        key="personal_data",
        category="accounts.profile",
        data=_("All of a closed customer's data"),
        trigger=_("the last subscription ends (the account is closed)"),
        period_days=56,
        action=_("The purge runs every eraser of the data inventory; a receipt is sent."),
        due=_purges_due,
        apply=_purge,
        period_setting="HAVN_CLOSURE_GRACE_DAYS",
    ),
    Rule(
        key="invoices",
        category="accounts.invoices",
        data=_("Invoices and credit notes"),
        trigger=_("the end of the financial year they were issued in"),
        period_days=5 * 365,
        action=_("Deleted with their lines (Bookkeeping Act: 5 years)."),
        due=_count_invoices,
        apply=_delete_invoices,
    ),
    Rule(
        key="login_records",
        category="accounts.audit",
        data=_("Login records (login audit events and session records)"),
        trigger=_("the login"),
        period_days=365,
        action=_("Deleted; other audit events are anonymised at the purge."),
        due=_login_records_due,
        apply=_delete_login_records,
    ),
    Rule(
        key="login_failures",
        category="accounts.users",
        data=_("Failed-login counters"),
        trigger=_("the last failed login"),
        period_days=30,
        action=_("Deleted (the lockout needs only the last minutes)."),
        due=lambda now, period: _login_failures(now, period).count(),
        apply=lambda now, period: _login_failures(now, period).delete()[0],
    ),
    Rule(
        key="exports",
        category="accounts.exports",
        data=_("Export archives"),
        trigger=_("the archive is ready"),
        period_days=7,
        action=_("The archive is deleted from the object store when its link expires."),
        due=_exports_due,
        apply=_expire_exports,
        period_setting="HAVN_EXPORT_LINK_DAYS",
    ),
)


def rule(key: str) -> Rule:
    return next(r for r in RULES if r.key == key)


def apply_rule(rule: Rule, now: datetime | None = None) -> int:
    """Apply one rule; a run that deleted something is recorded for the staff report."""
    now = now or timezone.now()
    if rule.apply is None:
        return 0
    deleted = rule.apply(now, rule.period)
    if deleted:
        RetentionAction.objects.create(rule=rule.key, ran_at=now, deleted=deleted)
    return deleted


def apply_all(now: datetime | None = None) -> dict[str, int]:
    """Daily: every rule, in order."""
    now = now or timezone.now()
    return {r.key: apply_rule(r, now) for r in RULES}


def report(now: datetime | None = None) -> list[dict]:
    """Each rule with its period and what is due now."""
    now = now or timezone.now()
    return [
        {
            "rule": r,
            "period_days": r.period.days,
            "due": r.due(now, r.period) if r.due else None,
        }
        for r in RULES
    ]
