"""Helpers shared by the hosting panel pages."""

from datetime import timedelta

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Sum
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import has_perm, require
from hosting import forms
from hosting.dns import display_domain
from hosting.models import (
    MailAlias,
    Mailbox,
    MailDomain,
    Operation,
    ResourceStatus,
)

# What an operation does, in words; the code is shown for actions not listed here.


# What an operation does, in words; the code is shown for actions not listed here.
ACTIONS = {
    "webhotel.ensure": gettext_lazy("Set up or update the webhotel"),
    "webhotel.remove": gettext_lazy("Delete the webhotel"),
    "database.ensure": gettext_lazy("Set up or update the database"),
    "database.remove": gettext_lazy("Delete the database"),
    "maildomain.ensure": gettext_lazy("Set up the mail domain"),
    "maildomain.remove": gettext_lazy("Delete the mail domain"),
    "mailbox.ensure": gettext_lazy("Set up or update the mailbox"),
    "mailbox.remove": gettext_lazy("Delete the mailbox"),
    "alias.ensure": gettext_lazy("Set up or update the alias"),
    "alias.remove": gettext_lazy("Delete the alias"),
    "certificate.issue": gettext_lazy("Issue a TLS certificate"),
}

# The services' "domains" error names no form field: it belongs to the field the names came from.
CREATE_DOMAIN_ERRORS = {"domains": "primary_domain"}
SETTINGS_DOMAIN_ERRORS = {"domains": "extra_domains"}
# The DNS rules call a record's type "rtype"; the form calls it "type".
RECORD_ERRORS = {"rtype": "type"}
# A refusal that concerns the zone as a whole (hosting.dns.validate_rrsets) names no field: the
# field each one is about, by its code, so that the form shows it there.
ZONE_ERROR_FIELDS = {
    "cname_multiple": "type",
    "cname_conflict": "type",
    "ns_conflict": "type",
    "below_delegation": "name",
    "duplicate": "value",
    "ttl_mismatch": "ttl",
}
# A certificate this close to its end is shown as a warning: renewal starts 30 days before.
CERTIFICATE_WARNING = timedelta(days=30)


def _form_errors(form, exc: ValidationError, fields: dict | None = None) -> None:
    """Put a service's ValidationError onto the form, by field where the form has it.

    ``fields`` renames the service's keys to the form's field names."""
    if hasattr(exc, "error_dict"):
        for field, errors in exc.error_dict.items():
            field = (fields or {}).get(field, field)
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc)


def _message_errors(request, exc: ValidationError) -> None:
    messages.error(request, " ".join(exc.messages))


def _customer(request, customer_id: int, permission: str) -> Customer:
    customer = get_object_or_404(Customer.objects.visible_to(request.user), pk=customer_id)
    require(Actor.from_request(request), permission, customer)
    return customer


def _confirmed(request) -> bool:
    """A deletion that loses data needs its confirmation box ticked."""
    if request.POST.get("confirm"):
        return True
    messages.error(request, _("Tick the box to confirm the deletion."))
    return False


def _with_operations(request, customer, key: str, rows) -> list:
    """The rows, each with ``operation``: its newest operation (or None), for the status column."""
    rows = list(rows)
    by_pk = {row.pk: row for row in rows}
    for row in rows:
        row.operation = None
    if by_pk:
        operations = Operation.objects.visible_to(request.user).filter(
            customer=customer, action__startswith=f"{key}.", params__id__in=list(by_pk)
        )
        for operation in operations.order_by("-pk"):
            row = by_pk.get(operation.params.get("id"))
            if row is not None and row.operation is None:
                row.operation = operation
    return rows


def _named(webhotels) -> list:
    """Each webhotel with ``names``: its domains as people write them ("blåbær.dk", not the
    stored "xn--blbr-roah.dk"), the primary domain first."""
    webhotels = list(webhotels)
    for webhotel in webhotels:
        webhotel.names = [display_domain(name) for name in webhotel.domains]
    return webhotels


def _display_name(mail_domain):
    mail_domain.display_name = display_domain(mail_domain.name)
    return mail_domain


def _show_secret(response):
    """A page that shows a password once must not be kept by a browser or a proxy."""
    add_never_cache_headers(response)
    return response


def _describe(operations):
    for operation in operations:
        operation.description = ACTIONS.get(operation.action, operation.action)
    return operations


def maildomain_url(mail_domain):
    return reverse(
        "hosting:maildomain",
        kwargs={"customer_id": mail_domain.webhotel.customer_id, "maildomain_id": mail_domain.pk},
    )


def _mail_domain(request, customer, maildomain_id) -> MailDomain:
    return get_object_or_404(
        MailDomain.objects.visible_to(request.user).select_related("webhotel__plan"),
        pk=maildomain_id,
        webhotel__customer=customer,
    )


def _maildomain_page(
    request, customer, mail_domain, *, mailbox_form=None, alias_form=None, secret=None
):
    [mail_domain] = _with_operations(request, customer, "maildomain", [mail_domain])
    _display_name(mail_domain)
    [webhotel] = _named([mail_domain.webhotel])
    mailboxes = Mailbox.objects.visible_to(request.user).filter(mail_domain=mail_domain)
    aliases = MailAlias.objects.visible_to(request.user).filter(mail_domain=mail_domain)
    # The plan's limits count every mailbox of the webhotel, on all its mail domains.
    all_mailboxes = Mailbox.objects.visible_to(request.user).filter(mail_domain__webhotel=webhotel)
    can_manage = has_perm(request.user, "hosting.manage", customer)
    response = render(
        request,
        "hosting/maildomain.html",
        {
            "customer": customer,
            "webhotel": webhotel,
            "mail_domain": mail_domain,
            "mailboxes": _with_operations(
                request, customer, "mailbox", mailboxes.select_related("mail_domain")
            ),
            "aliases": _with_operations(
                request, customer, "alias", aliases.select_related("mail_domain")
            ),
            "mailbox_count": all_mailboxes.count(),
            "mailbox_quota_mb": all_mailboxes.aggregate(total=Sum("quota_mb"))["total"] or 0,
            "can_manage": can_manage,
            "editable": can_manage and mail_domain.status != ResourceStatus.DELETING,
            "mailbox_form": mailbox_form or forms.MailboxCreateForm(),
            "alias_form": alias_form or forms.AliasCreateForm(),
            "secret": secret,
        },
    )
    return _show_secret(response) if secret else response


def webhotel_url(webhotel):
    return reverse(
        "hosting:webhotel",
        kwargs={"customer_id": webhotel.customer_id, "webhotel_id": webhotel.pk},
    )
