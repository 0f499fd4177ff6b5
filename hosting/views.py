"""Panel pages for hosting. Each page reads through visible_to and writes through a service."""

from datetime import timedelta
from pathlib import PurePath

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import add_never_cache_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from accounts import audit
from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import has_perm, require
from hosting import forms
from hosting.dns import display_domain
from hosting.models import (
    Certificate,
    Database,
    DnsRecord,
    DnsZone,
    Domain,
    IdentityVerification,
    MailAlias,
    Mailbox,
    MailDomain,
    Operation,
    Plan,
    ResourceStatus,
    Server,
    Webhotel,
)
from hosting.services import domains, mail, servers, webhotels
from hosting.services.operations import retry_operation
from infra.registry import RegistryError

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


# --- Webhotels ------------------------------------------------------------------------------------


def _webhotel(request, customer, webhotel_id) -> Webhotel:
    return get_object_or_404(
        Webhotel.objects.visible_to(request.user).select_related("server", "plan"),
        pk=webhotel_id,
        customer=customer,
    )


@login_required
def webhotels_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    form = forms.WebhotelCreateForm(request.POST or None)
    if request.method == "POST":
        require(Actor.from_request(request), "hosting.manage", customer)
        if form.is_valid():
            data = form.cleaned_data
            try:
                webhotel = webhotels.create_webhotel(
                    Actor.from_request(request),
                    customer,
                    primary_domain=data["primary_domain"],
                    extra_domains=data["extra_domains"],
                    plan=data["plan"],
                    php_version=data["php_version"],
                )
            except ValidationError as exc:
                # With extra domains the taken name may be any of them: the message names it.
                _form_errors(form, exc, {} if data["extra_domains"] else CREATE_DOMAIN_ERRORS)
            else:
                messages.success(
                    request, _("The webhotel %(name)s is being set up.") % {"name": webhotel}
                )
                return redirect(
                    "hosting:webhotel", customer_id=customer.pk, webhotel_id=webhotel.pk
                )
    rows = (
        Webhotel.objects.visible_to(request.user)
        .filter(customer=customer)
        .select_related("server", "plan")
        .annotate(
            database_count=Count("databases", distinct=True),
            mailbox_count=Count("mail_domains__mailboxes", distinct=True),
        )
    )
    return render(
        request,
        "hosting/webhotels.html",
        {
            "customer": customer,
            "webhotels": _named(_with_operations(request, customer, "webhotel", rows)),
            "form": form,
            "can_manage": has_perm(request.user, "hosting.manage", customer),
        },
    )


def _webhotel_page(
    request,
    customer,
    webhotel,
    *,
    settings_form=None,
    database_form=None,
    maildomain_form=None,
    secret=None,
):
    [webhotel] = _named(_with_operations(request, customer, "webhotel", [webhotel]))
    databases = Database.objects.visible_to(request.user).filter(webhotel=webhotel)
    mail_domains = (
        MailDomain.objects.visible_to(request.user)
        .filter(webhotel=webhotel)
        .annotate(
            mailbox_count=Count("mailboxes", distinct=True),
            alias_count=Count("aliases", distinct=True),
        )
    )
    all_mailboxes = Mailbox.objects.visible_to(request.user).filter(mail_domain__webhotel=webhotel)
    can_manage = has_perm(request.user, "hosting.manage", customer)
    certificates = Certificate.objects.visible_to(request.user).filter(webhotel=webhotel)
    response = render(
        request,
        "hosting/webhotel.html",
        {
            "customer": customer,
            "webhotel": webhotel,
            "databases": _with_operations(request, customer, "database", databases),
            "mail_domains": [
                _display_name(md)
                for md in _with_operations(request, customer, "maildomain", mail_domains)
            ],
            "mailbox_count": all_mailboxes.count(),
            "certificates": _expiry(certificates.order_by("domain")),
            "can_manage": can_manage,
            "editable": can_manage and webhotel.status != ResourceStatus.DELETING,
            "settings_form": settings_form or forms.WebhotelSettingsForm(webhotel),
            "database_form": database_form or forms.DatabaseForm(webhotel),
            "maildomain_form": maildomain_form or forms.MailDomainForm(),
            "secret": secret,
        },
    )
    return _show_secret(response) if secret else response


def _expiry(certificates) -> list:
    """Each certificate with ``names`` (as people write them), ``days_left`` and ``ends_soon``."""
    certificates = list(certificates)
    now = timezone.now()
    for certificate in certificates:
        certificate.names = [display_domain(n) for n in certificate.domains or [certificate.domain]]
        certificate.days_left = (certificate.not_after - now).days
        certificate.expired = certificate.not_after <= now
        certificate.ends_soon = certificate.not_after <= now + CERTIFICATE_WARNING
    return certificates


@login_required
def webhotel_view(request, customer_id, webhotel_id):
    customer = _customer(request, customer_id, "hosting.view")
    webhotel = _webhotel(request, customer, webhotel_id)
    form = forms.WebhotelSettingsForm(webhotel, request.POST or None)
    if request.method == "POST":
        require(Actor.from_request(request), "hosting.manage", customer)
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return redirect(webhotel_url(webhotel))
            try:
                webhotels.update_webhotel(Actor.from_request(request), webhotel, **changes)
            except ValidationError as exc:
                _form_errors(form, exc, SETTINGS_DOMAIN_ERRORS)
            else:
                messages.success(request, _("The settings are saved and being applied."))
                return redirect(webhotel_url(webhotel))
    return _webhotel_page(request, customer, webhotel, settings_form=form)


def webhotel_url(webhotel):
    return reverse(
        "hosting:webhotel",
        kwargs={"customer_id": webhotel.customer_id, "webhotel_id": webhotel.pk},
    )


@login_required
@require_POST
def webhotel_suspend_view(request, customer_id, webhotel_id):
    customer = _customer(request, customer_id, "hosting.manage")
    webhotel = _webhotel(request, customer, webhotel_id)
    suspend = request.POST.get("suspended") == "1"
    if not suspend and webhotel.status != ResourceStatus.SUSPENDED:
        # The service would mark a webhotel still being set up as active.
        messages.error(request, _("The webhotel is not suspended."))
        return redirect(webhotel_url(webhotel))
    try:
        webhotels.set_webhotel_suspended(Actor.from_request(request), webhotel, suspend)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        if suspend:
            messages.success(request, _("The webhotel is suspended: the site answers 503."))
        else:
            messages.success(request, _("The webhotel is open again."))
    return redirect(webhotel_url(webhotel))


@login_required
@require_POST
def webhotel_delete_view(request, customer_id, webhotel_id):
    customer = _customer(request, customer_id, "hosting.manage")
    webhotel = _webhotel(request, customer, webhotel_id)
    if not _confirmed(request):
        return redirect(webhotel_url(webhotel))
    try:
        webhotels.delete_webhotel(Actor.from_request(request), webhotel)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(webhotel_url(webhotel))
    messages.success(
        request, _("The webhotel %(name)s is being deleted.") % {"name": webhotel.primary_domain}
    )
    return redirect("hosting:webhotels", customer_id=customer.pk)


# --- Databases ------------------------------------------------------------------------------------


def _database(request, customer, database_id) -> Database:
    return get_object_or_404(
        Database.objects.visible_to(request.user).select_related("webhotel__server"),
        pk=database_id,
        webhotel__customer=customer,
    )


@login_required
@require_POST
def database_create_view(request, customer_id, webhotel_id):
    customer = _customer(request, customer_id, "hosting.manage")
    webhotel = _webhotel(request, customer, webhotel_id)
    form = forms.DatabaseForm(webhotel, request.POST)
    secret = None
    if form.is_valid():
        try:
            database, password = webhotels.create_database(
                Actor.from_request(request), webhotel, **form.cleaned_data
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            # Shown on this response only (like a new API key): no redirect, nothing stored.
            secret = {
                "title": _("The database %(name)s is being set up.") % {"name": database.name},
                "user": database.user,
                "password": password,
            }
            form = None
    return _webhotel_page(request, customer, webhotel, database_form=form, secret=secret)


@login_required
@require_POST
def database_reset_password_view(request, customer_id, database_id):
    customer = _customer(request, customer_id, "hosting.manage")
    database = _database(request, customer, database_id)
    webhotel = _webhotel(request, customer, database.webhotel_id)
    try:
        password = webhotels.reset_database_password(Actor.from_request(request), database)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(webhotel_url(webhotel))
    secret = {
        "title": _("The database %(name)s has a new password.") % {"name": database.name},
        "user": database.user,
        "password": password,
    }
    return _webhotel_page(request, customer, webhotel, secret=secret)


@login_required
@require_POST
def database_delete_view(request, customer_id, database_id):
    customer = _customer(request, customer_id, "hosting.manage")
    database = _database(request, customer, database_id)
    if _confirmed(request):
        try:
            webhotels.delete_database(Actor.from_request(request), database)
        except ValidationError as exc:
            _message_errors(request, exc)
        else:
            messages.success(
                request, _("The database %(name)s is being deleted.") % {"name": database.name}
            )
    return redirect(webhotel_url(database.webhotel))


# --- Mail domains ---------------------------------------------------------------------------------


def _mail_domain(request, customer, maildomain_id) -> MailDomain:
    return get_object_or_404(
        MailDomain.objects.visible_to(request.user).select_related("webhotel__plan"),
        pk=maildomain_id,
        webhotel__customer=customer,
    )


def maildomain_url(mail_domain):
    return reverse(
        "hosting:maildomain",
        kwargs={"customer_id": mail_domain.webhotel.customer_id, "maildomain_id": mail_domain.pk},
    )


@login_required
@require_POST
def maildomain_create_view(request, customer_id, webhotel_id):
    customer = _customer(request, customer_id, "hosting.manage")
    webhotel = _webhotel(request, customer, webhotel_id)
    form = forms.MailDomainForm(request.POST)
    if form.is_valid():
        try:
            mail_domain = mail.create_mail_domain(
                Actor.from_request(request), webhotel, name=form.cleaned_data["name"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request, _("The mail domain %(name)s is being set up.") % {"name": mail_domain}
            )
            return redirect(maildomain_url(mail_domain))
    return _webhotel_page(request, customer, webhotel, maildomain_form=form)


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


@login_required
def maildomain_view(request, customer_id, maildomain_id):
    customer = _customer(request, customer_id, "hosting.view")
    return _maildomain_page(request, customer, _mail_domain(request, customer, maildomain_id))


@login_required
@require_POST
def maildomain_delete_view(request, customer_id, maildomain_id):
    customer = _customer(request, customer_id, "hosting.manage")
    mail_domain = _mail_domain(request, customer, maildomain_id)
    if not _confirmed(request):
        return redirect(maildomain_url(mail_domain))
    try:
        mail.delete_mail_domain(Actor.from_request(request), mail_domain)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(maildomain_url(mail_domain))
    messages.success(
        request, _("The mail domain %(name)s is being deleted.") % {"name": mail_domain.name}
    )
    return redirect(webhotel_url(mail_domain.webhotel))


# --- Mailboxes ------------------------------------------------------------------------------------


def _mailbox(request, customer, mailbox_id) -> Mailbox:
    return get_object_or_404(
        Mailbox.objects.visible_to(request.user).select_related("mail_domain__webhotel__plan"),
        pk=mailbox_id,
        mail_domain__webhotel__customer=customer,
    )


@login_required
@require_POST
def mailbox_create_view(request, customer_id, maildomain_id):
    customer = _customer(request, customer_id, "hosting.manage")
    mail_domain = _mail_domain(request, customer, maildomain_id)
    form = forms.MailboxCreateForm(request.POST)
    if form.is_valid():
        try:
            mailbox, generated = mail.create_mailbox(
                Actor.from_request(request),
                mail_domain,
                local_part=form.cleaned_data["local_part"],
                quota_mb=form.cleaned_data["quota_mb"],
                password=form.cleaned_data["password"] or None,
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            title = _("The mailbox %(address)s is being set up.") % {"address": mailbox.address}
            if generated is None:
                messages.success(request, title)
                return redirect(maildomain_url(mail_domain))
            # A generated password is shown on this response only.
            secret = {"title": title, "user": mailbox.address, "password": generated}
            return _maildomain_page(request, customer, mail_domain, secret=secret)
    return _maildomain_page(request, customer, mail_domain, mailbox_form=form)


@login_required
def mailbox_view(request, customer_id, mailbox_id):
    customer = _customer(request, customer_id, "hosting.view")
    mailbox = _mailbox(request, customer, mailbox_id)
    suspended = mailbox.status == ResourceStatus.SUSPENDED
    form = forms.MailboxUpdateForm(
        request.POST or None, initial={"quota_mb": mailbox.quota_mb, "suspended": suspended}
    )
    if request.method == "POST":
        require(Actor.from_request(request), "hosting.manage", customer)
        if form.is_valid():
            data = form.cleaned_data
            changes = {}
            if data["quota_mb"] != mailbox.quota_mb:
                changes["quota_mb"] = data["quota_mb"]
            if data["password"]:
                changes["password"] = data["password"]
            # Only a change: the service marks an unsuspended mailbox active, even while pending.
            if data["suspended"] != suspended:
                changes["suspended"] = data["suspended"]
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return redirect(maildomain_url(mailbox.mail_domain))
            try:
                mail.update_mailbox(Actor.from_request(request), mailbox, **changes)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The mailbox %(address)s is saved and being updated.")
                    % {"address": mailbox.address},
                )
                return redirect(maildomain_url(mailbox.mail_domain))
    [mailbox] = _with_operations(request, customer, "mailbox", [mailbox])
    can_manage = has_perm(request.user, "hosting.manage", customer)
    return render(
        request,
        "hosting/mailbox.html",
        {
            "customer": customer,
            "mailbox": mailbox,
            "mail_domain": mailbox.mail_domain,
            "form": form,
            "can_manage": can_manage,
            "editable": can_manage and mailbox.status != ResourceStatus.DELETING,
        },
    )


@login_required
@require_POST
def mailbox_delete_view(request, customer_id, mailbox_id):
    customer = _customer(request, customer_id, "hosting.manage")
    mailbox = _mailbox(request, customer, mailbox_id)
    if not _confirmed(request):
        return redirect("hosting:mailbox", customer_id=customer.pk, mailbox_id=mailbox.pk)
    try:
        mail.delete_mailbox(Actor.from_request(request), mailbox)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        messages.success(
            request,
            _("The mailbox %(address)s is being deleted.") % {"address": mailbox.address},
        )
    return redirect(maildomain_url(mailbox.mail_domain))


# --- Aliases --------------------------------------------------------------------------------------


def _alias(request, customer, alias_id) -> MailAlias:
    return get_object_or_404(
        MailAlias.objects.visible_to(request.user).select_related("mail_domain__webhotel"),
        pk=alias_id,
        mail_domain__webhotel__customer=customer,
    )


@login_required
@require_POST
def alias_create_view(request, customer_id, maildomain_id):
    customer = _customer(request, customer_id, "hosting.manage")
    mail_domain = _mail_domain(request, customer, maildomain_id)
    form = forms.AliasCreateForm(request.POST)
    if form.is_valid():
        try:
            alias = mail.save_alias(Actor.from_request(request), mail_domain, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request, _("The alias %(address)s is saved.") % {"address": alias.address}
            )
            return redirect(maildomain_url(mail_domain))
    return _maildomain_page(request, customer, mail_domain, alias_form=form)


@login_required
def alias_view(request, customer_id, alias_id):
    customer = _customer(request, customer_id, "hosting.view")
    alias = _alias(request, customer, alias_id)
    form = forms.AliasUpdateForm(request.POST or None, initial={"destinations": alias.destinations})
    if request.method == "POST":
        require(Actor.from_request(request), "hosting.manage", customer)
        if form.is_valid():
            try:
                mail.save_alias(
                    Actor.from_request(request),
                    alias.mail_domain,
                    local_part=alias.local_part,
                    destinations=form.cleaned_data["destinations"],
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(
                    request, _("The alias %(address)s is saved.") % {"address": alias.address}
                )
                return redirect(maildomain_url(alias.mail_domain))
    [alias] = _with_operations(request, customer, "alias", [alias])
    can_manage = has_perm(request.user, "hosting.manage", customer)
    return render(
        request,
        "hosting/alias.html",
        {
            "customer": customer,
            "alias": alias,
            "mail_domain": alias.mail_domain,
            "form": form,
            "can_manage": can_manage,
            "editable": can_manage and alias.status != ResourceStatus.DELETING,
        },
    )


@login_required
@require_POST
def alias_delete_view(request, customer_id, alias_id):
    customer = _customer(request, customer_id, "hosting.manage")
    alias = _alias(request, customer, alias_id)
    try:
        mail.delete_alias(Actor.from_request(request), alias)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        messages.success(
            request, _("The alias %(address)s is being deleted.") % {"address": alias.address}
        )
    return redirect(maildomain_url(alias.mail_domain))


# --- Domains --------------------------------------------------------------------------------------

# A domain that is no longer ours (given up, or moved to another registrar) cannot change.
CLOSED_DOMAIN = (Domain.Status.RELEASED, Domain.Status.TRANSFERRED_OUT)


def _domain(request, customer, domain_id) -> Domain:
    return get_object_or_404(
        Domain.objects.visible_to(request.user), pk=domain_id, customer=customer
    )


def _zone(request, domain) -> DnsZone | None:
    """The domain's DNS zone when Havn hosts its DNS, else None."""
    return DnsZone.objects.visible_to(request.user).filter(domain=domain).first()


def _with_zones(request, rows) -> list:
    """The domains, each with ``display_name`` ("blåbær.dk") and ``hosted_zone`` (or None)."""
    rows = list(rows)
    zones = DnsZone.objects.visible_to(request.user).filter(domain__in=[row.pk for row in rows])
    by_domain = {zone.domain_id: zone for zone in zones}
    for row in rows:
        row.display_name = display_domain(row.name)
        row.hosted_zone = by_domain.get(row.pk)
    return rows


def domain_url(domain):
    return reverse(
        "hosting:domain", kwargs={"customer_id": domain.customer_id, "domain_id": domain.pk}
    )


def _domain_open(request, domain) -> bool:
    if domain.status not in CLOSED_DOMAIN:
        return True
    messages.error(
        request,
        _("%(name)s is no longer registered through Havn: it cannot be changed.")
        % {"name": display_domain(domain.name)},
    )
    return False


def _identity_state(request, customer) -> dict:
    """Whether the customer, a person, must still verify their identity before registering a
    .dk name, and whether an ID document of theirs waits for review."""
    if customer.kind != Customer.Kind.PERSON:
        return {"needs_identity": False, "identity_pending": False}
    checks = IdentityVerification.objects.visible_to(request.user).filter(customer=customer)
    approved = checks.filter(status=IdentityVerification.Status.APPROVED).exists()
    return {
        "needs_identity": not approved,
        "identity_pending": (
            not approved and checks.filter(status=IdentityVerification.Status.PENDING).exists()
        ),
    }


def _domains_page(request, customer, *, register_form=None, transfer_form=None):
    rows = Domain.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "hosting/domains.html",
        {
            "customer": customer,
            "domains": _with_zones(request, rows),
            "can_manage": has_perm(request.user, "domains.manage", customer),
            "register_form": register_form or forms.DomainRegisterForm(),
            "transfer_form": transfer_form or forms.DomainTransferForm(),
            **_identity_state(request, customer),
        },
    )


@login_required
def domains_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    form = forms.DomainRegisterForm(request.POST or None)
    if request.method == "POST":
        require(Actor.from_request(request), "domains.manage", customer)
        if form.is_valid():
            try:
                domain = domains.register_domain(
                    Actor.from_request(request), customer, **form.cleaned_data
                )
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The domain %(name)s is registered.") % {"name": display_domain(domain.name)},
                )
                return redirect(domain_url(domain))
    return _domains_page(request, customer, register_form=form)


@login_required
@require_POST
def domain_transfer_in_view(request, customer_id):
    customer = _customer(request, customer_id, "domains.manage")
    form = forms.DomainTransferForm(request.POST)
    if form.is_valid():
        try:
            domain = domains.transfer_in(Actor.from_request(request), customer, **form.cleaned_data)
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The domain %(name)s is transferred to Havn.")
                % {"name": display_domain(domain.name)},
            )
            return redirect(domain_url(domain))
    return _domains_page(request, customer, transfer_form=form)


def _whois(domain) -> str:
    """The registry's public whois text; empty for a name no longer ours, or when the registry
    cannot be asked."""
    if domain.status in CLOSED_DOMAIN:
        return ""
    try:
        return domains.whois(domain)
    except RegistryError:
        return ""


def _domain_page(
    request,
    customer,
    domain,
    *,
    settings_form=None,
    renew_form=None,
    record_form=None,
    secret=None,
):
    [domain] = _with_zones(request, [domain])
    zone = domain.hosted_zone
    records = []
    if zone is not None:
        records = list(DnsRecord.objects.visible_to(request.user).filter(zone=zone))
        for record in records:
            record.display_name = display_domain(record.name)
    can_manage = has_perm(request.user, "domains.manage", customer)
    response = render(
        request,
        "hosting/domain.html",
        {
            "customer": customer,
            "domain": domain,
            "zone": zone,
            "records": records,
            "zone_text": domains.zone_text(zone) if zone is not None else "",
            "whois": _whois(domain),
            "can_manage": can_manage,
            "editable": can_manage and domain.status not in CLOSED_DOMAIN,
            "settings_form": settings_form
            or forms.DomainSettingsForm(domain, hosted_dns=zone is not None),
            "renew_form": renew_form or forms.RenewForm(),
            "record_form": record_form or forms.DnsRecordForm(),
            "secret": secret,
        },
    )
    return _show_secret(response) if secret else response


@login_required
def domain_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "hosting.view")
    domain = _domain(request, customer, domain_id)
    hosted_dns = _zone(request, domain) is not None
    # Bound on every POST: with both boxes unticked and no name servers, the POST may be empty.
    data = request.POST if request.method == "POST" else None
    form = forms.DomainSettingsForm(domain, data, hosted_dns=hosted_dns)
    if request.method == "POST":
        require(Actor.from_request(request), "domains.manage", customer)
        if not _domain_open(request, domain):
            return redirect(domain_url(domain))
        if form.is_valid():
            changes = form.changes()
            if not changes:
                messages.info(request, _("Nothing was changed."))
                return redirect(domain_url(domain))
            try:
                domains.update_domain(Actor.from_request(request), domain, **changes)
            except ValidationError as exc:
                _form_errors(form, exc)
                # The service set some fields on the object before it failed: read it again.
                domain = _domain(request, customer, domain_id)
            else:
                messages.success(request, _("The domain's settings are saved."))
                return redirect(domain_url(domain))
    return _domain_page(request, customer, domain, settings_form=form)


@login_required
@require_POST
def domain_renew_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    if not _domain_open(request, domain):
        return redirect(domain_url(domain))
    form = forms.RenewForm(request.POST)
    if form.is_valid():
        try:
            domain = domains.renew_domain(
                Actor.from_request(request), domain, years=form.cleaned_data["years"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(
                request,
                _("The domain %(name)s is renewed: it now expires on %(date)s.")
                % {
                    "name": display_domain(domain.name),
                    "date": f"{timezone.localdate(domain.expires_at):%Y-%m-%d}",
                },
            )
            return redirect(domain_url(domain))
    return _domain_page(request, customer, domain, renew_form=form)


@login_required
@require_POST
def domain_transfer_code_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    if not _domain_open(request, domain):
        return redirect(domain_url(domain))
    try:
        code = domains.transfer_code(Actor.from_request(request), domain)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(domain_url(domain))
    name = display_domain(domain.name)
    # Shown on this response only (like a password): no redirect, nothing stored.
    secret = {
        "title": _("The transfer code of %(name)s") % {"name": name},
        "note": _(
            "Copy the code now and give it to the new registrar: it is shown only this once, "
            "and Havn does not keep it. A new code replaces this one."
        ),
        "label": _("Domain"),
        "user": name,
        "password": code,
    }
    return _domain_page(request, customer, domain, secret=secret)


@login_required
@require_POST
def domain_release_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    if not _domain_open(request, domain) or not _confirmed(request):
        return redirect(domain_url(domain))
    try:
        domains.release_domain(Actor.from_request(request), domain)
    except ValidationError as exc:
        _message_errors(request, exc)
        return redirect(domain_url(domain))
    messages.success(
        request, _("The domain %(name)s is released.") % {"name": display_domain(domain.name)}
    )
    return redirect("hosting:domains", customer_id=customer.pk)


@login_required
@require_POST
def domain_dnssec_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    zone = _zone(request, domain)
    if zone is None:
        raise Http404
    enabled = request.POST.get("enabled") == "1"
    try:
        domains.set_dnssec(Actor.from_request(request), zone, enabled)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        if enabled:
            messages.success(
                request, _("DNSSEC is on: the zone is signed and its DS record is at the registry.")
            )
        else:
            messages.success(request, _("DNSSEC is off: the zone is no longer signed."))
    return redirect(domain_url(domain))


# --- DNS records ----------------------------------------------------------------------------------


def _record(request, customer, record_id) -> DnsRecord:
    return get_object_or_404(
        DnsRecord.objects.visible_to(request.user).select_related("zone__domain"),
        pk=record_id,
        zone__domain__customer=customer,
    )


def _record_errors(form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        _form_errors(form, exc, RECORD_ERRORS)
        return
    for error in exc.error_list:
        form.add_error(ZONE_ERROR_FIELDS.get(error.code), error)


def _record_label(record) -> str:
    return f"{display_domain(record.name)} {record.type}"


@login_required
@require_POST
def dns_record_create_view(request, customer_id, domain_id):
    customer = _customer(request, customer_id, "domains.manage")
    domain = _domain(request, customer, domain_id)
    zone = _zone(request, domain)
    if zone is None:
        raise Http404
    form = forms.DnsRecordForm(request.POST)
    if form.is_valid():
        try:
            record = domains.save_record(Actor.from_request(request), zone, **form.cleaned_data)
        except ValidationError as exc:
            _record_errors(form, exc)
        else:
            messages.success(
                request,
                _("The DNS record %(record)s is saved.") % {"record": _record_label(record)},
            )
            return redirect(domain_url(domain))
    return _domain_page(request, customer, domain, record_form=form)


@login_required
def dns_record_view(request, customer_id, record_id):
    customer = _customer(request, customer_id, "hosting.view")
    record = _record(request, customer, record_id)
    form = forms.DnsRecordForm(request.POST or None, initial=forms.DnsRecordForm.initial_of(record))
    if request.method == "POST":
        require(Actor.from_request(request), "domains.manage", customer)
        if form.is_valid():
            try:
                # The service sets the new values on the record it gets before checking the
                # zone: it gets its own copy, so that a refusal leaves this page's record as is.
                saved = domains.save_record(
                    Actor.from_request(request),
                    record.zone,
                    record=_record(request, customer, record.pk),
                    **form.cleaned_data,
                )
            except ValidationError as exc:
                _record_errors(form, exc)
            else:
                messages.success(
                    request,
                    _("The DNS record %(record)s is saved.") % {"record": _record_label(saved)},
                )
                return redirect(domain_url(record.zone.domain))
    [domain] = _with_zones(request, [record.zone.domain])
    record.display_name = display_domain(record.name)
    can_manage = has_perm(request.user, "domains.manage", customer)
    return render(
        request,
        "hosting/dns_record.html",
        {
            "customer": customer,
            "domain": domain,
            "record": record,
            "form": form,
            "can_manage": can_manage,
            "editable": can_manage and domain.status not in CLOSED_DOMAIN,
        },
    )


@login_required
@require_POST
def dns_record_delete_view(request, customer_id, record_id):
    customer = _customer(request, customer_id, "domains.manage")
    record = _record(request, customer, record_id)
    try:
        domains.delete_record(Actor.from_request(request), record)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        messages.success(
            request, _("The DNS record %(record)s is deleted.") % {"record": _record_label(record)}
        )
    return redirect(domain_url(record.zone.domain))


# --- Registrant identity --------------------------------------------------------------------------


def _identity_page(request, customer, *, eid_form=None, document_form=None):
    checks = IdentityVerification.objects.visible_to(request.user).filter(customer=customer)
    return render(
        request,
        "hosting/identity.html",
        {
            "customer": customer,
            "checks": checks,
            "can_manage": has_perm(request.user, "domains.manage", customer),
            "eid_form": eid_form or forms.EidForm(initial={"name": customer.name}),
            "document_form": document_form or forms.IdentityDocumentForm(),
            **_identity_state(request, customer),
        },
    )


@login_required
def identity_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    return _identity_page(request, customer)


@sensitive_post_parameters("cpr")  # kept out of error reports
@login_required
@require_POST
def identity_eid_view(request, customer_id):
    customer = _customer(request, customer_id, "domains.manage")
    form = forms.EidForm(request.POST)
    if form.is_valid():
        try:
            check = domains.verify_identity_with_eid(
                Actor.from_request(request),
                customer,
                cpr=form.cleaned_data["cpr"],
                name=form.cleaned_data["name"],
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            if check.status == IdentityVerification.Status.APPROVED:
                messages.success(
                    request,
                    _("Your identity is verified with MitID: you can register .dk domains."),
                )
            else:
                messages.error(
                    request,
                    _("The MitID check was not approved: %(reason)s") % {"reason": check.reason},
                )
            return redirect("hosting:identity", customer_id=customer.pk)
    # The form is shown again with its errors; its CPR field is empty (the widget never renders
    # the value).
    return _identity_page(request, customer, eid_form=form)


@login_required
@require_POST
def identity_upload_view(request, customer_id):
    customer = _customer(request, customer_id, "domains.manage")
    form = forms.IdentityDocumentForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            domains.submit_identity_document(
                Actor.from_request(request), customer, form.cleaned_data["document"]
            )
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The document is sent: Havn's staff will review it."))
            return redirect("hosting:identity", customer_id=customer.pk)
    return _identity_page(request, customer, document_form=form)


# --- Staff: identity documents --------------------------------------------------------------------


def _documents(request):
    return (
        IdentityVerification.objects.visible_to(request.user)
        .filter(method=IdentityVerification.Method.DOCUMENT)
        .select_related("customer")
    )


@login_required
def identity_reviews_view(request):
    require(Actor.from_request(request), "servers.view")
    documents = _documents(request)
    return render(
        request,
        "hosting/identity_reviews.html",
        {
            "pending": documents.filter(status=IdentityVerification.Status.PENDING).order_by(
                "created_at", "pk"
            ),
            "decided": documents.exclude(status=IdentityVerification.Status.PENDING).order_by(
                "-decided_at", "-pk"
            )[:25],
            "can_manage": has_perm(request.user, "servers.manage"),
        },
    )


@login_required
@require_POST
def identity_decide_view(request, verification_id):
    actor = Actor.from_request(request)
    require(actor, "servers.manage")
    check = get_object_or_404(
        _documents(request), pk=verification_id, status=IdentityVerification.Status.PENDING
    )
    form = forms.IdentityDecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(m for errors in form.errors.values() for m in errors))
        return redirect("hosting:identity_reviews")
    approved = form.cleaned_data["decision"] == "approve"
    try:
        domains.decide_identity_document(
            actor, check, approved=approved, reason=form.cleaned_data["reason"]
        )
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        if approved:
            message = _("The identity of %(customer)s is approved.")
        else:
            message = _("The document of %(customer)s is rejected.")
        messages.success(request, message % {"customer": check.customer.name})
    return redirect("hosting:identity_reviews")


@login_required
def identity_document_view(request, verification_id):
    actor = Actor.from_request(request)
    require(actor, "servers.manage")
    check = get_object_or_404(_documents(request), pk=verification_id)
    if not check.document:
        raise Http404
    try:
        document = check.document.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    # A read, but of a person's ID: each one is in the audit log.
    audit.record(actor, "identity.document_viewed", customer=check.customer, target=str(check.pk))
    # Always a download, never shown in the panel's own origin (an upload could be HTML).
    response = FileResponse(
        document,
        as_attachment=True,
        filename=f"identity-{check.pk}{PurePath(check.document.name).suffix}",
    )
    add_never_cache_headers(response)
    return response


# --- Operations -----------------------------------------------------------------------------------


def _describe(operations):
    for operation in operations:
        operation.description = ACTIONS.get(operation.action, operation.action)
    return operations


@login_required
def operations_view(request, customer_id):
    customer = _customer(request, customer_id, "hosting.view")
    operations = Operation.objects.visible_to(request.user).filter(customer=customer)
    page = Paginator(operations.order_by("-created_at", "-pk"), 50).get_page(
        request.GET.get("page")
    )
    _describe(page.object_list)
    return render(
        request,
        "hosting/operations.html",
        {
            "customer": customer,
            "page": page,
            "can_manage": has_perm(request.user, "hosting.manage", customer),
        },
    )


@login_required
@require_POST
def operation_retry_view(request, customer_id, operation_id):
    customer = _customer(request, customer_id, "hosting.manage")
    operation = get_object_or_404(
        Operation.objects.visible_to(request.user), pk=operation_id, customer=customer
    )
    try:
        retry_operation(Actor.from_request(request), operation)
    except ValidationError as exc:
        _message_errors(request, exc)
    else:
        messages.success(request, _("The operation is being tried again."))
    return redirect("hosting:operations", customer_id=customer.pk)


# --- Staff: servers -------------------------------------------------------------------------------


def _webhotel_counts(request, by: str) -> dict[int, int]:
    """How many webhotels (not being deleted) each server or plan holds."""
    rows = (
        Webhotel.objects.visible_to(request.user)
        .exclude(status=ResourceStatus.DELETING)
        .order_by()
        .values(by)
        .annotate(n=Count("pk"))
        .values_list(by, "n")
    )
    return dict(rows)


def _counted(rows, counts: dict[int, int]) -> list:
    rows = list(rows)
    for row in rows:
        row.webhotel_count = counts.get(row.pk, 0)
    return rows


@login_required
def servers_view(request):
    actor = Actor.from_request(request)
    require(actor, "servers.view")  # staff-wide: no customer given
    form = forms.ServerAddForm(request.POST or None)
    if request.method == "POST":
        require(actor, "servers.manage")
        if form.is_valid():
            try:
                server = servers.add_server(actor, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                if server.host_key:
                    messages.success(
                        request,
                        _("The server is added. Confirm its host key fingerprint before use."),
                    )
                else:
                    messages.success(request, _("The server is added."))
                return redirect("hosting:server", server_id=server.pk)
    return render(
        request,
        "hosting/servers.html",
        {
            "servers": _counted(Server.objects.all(), _webhotel_counts(request, "server")),
            "form": form,
            "can_manage": has_perm(request.user, "servers.manage"),
        },
    )


# The file ``ssh-keygen -lf`` reads on the server, by the fetched key's type.
HOST_KEY_FILES = {
    "ssh-ed25519": "/etc/ssh/ssh_host_ed25519_key.pub",
    "ecdsa-sha2-nistp256": "/etc/ssh/ssh_host_ecdsa_key.pub",
    "ecdsa-sha2-nistp384": "/etc/ssh/ssh_host_ecdsa_key.pub",
    "ecdsa-sha2-nistp521": "/etc/ssh/ssh_host_ecdsa_key.pub",
    "ssh-rsa": "/etc/ssh/ssh_host_rsa_key.pub",
    "rsa-sha2-256": "/etc/ssh/ssh_host_rsa_key.pub",
    "rsa-sha2-512": "/etc/ssh/ssh_host_rsa_key.pub",
}


def _server_page(request, server, *, form=None, host_key_form=None):
    key_type = server.host_key.split(" ", 1)[0] if server.host_key else ""
    webhotels_page = Paginator(
        Webhotel.objects.visible_to(request.user)
        .filter(server=server)
        .select_related("customer", "plan"),
        100,
    ).get_page(request.GET.get("page"))
    operations = (
        Operation.objects.visible_to(request.user)
        .filter(server=server)
        .select_related("customer")
        .order_by("-created_at", "-pk")[:25]
    )
    can_manage = has_perm(request.user, "servers.manage")
    return render(
        request,
        "hosting/server.html",
        {
            "server": server,
            "fingerprint": servers.fingerprint(server),
            "key_type": key_type,
            "key_file": HOST_KEY_FILES.get(key_type, "/etc/ssh/ssh_host_*_key.pub"),
            "webhotels": webhotels_page,
            "webhotel_count": webhotels_page.paginator.count,
            "operations": _describe(list(operations)),
            "can_manage": can_manage,
            "form": form or (forms.ServerForm(instance=server) if can_manage else None),
            "host_key_form": host_key_form or forms.HostKeyForm(),
        },
    )


@login_required
def server_view(request, server_id):
    actor = Actor.from_request(request)
    require(actor, "servers.view")
    server = get_object_or_404(Server, pk=server_id)
    form = None
    if request.method == "POST":
        require(actor, "servers.manage")
        # The form gets its own copy: a failed save must not leave the page's server changed.
        form = forms.ServerForm(request.POST, instance=Server.objects.get(pk=server.pk))
        if form.is_valid():
            try:
                servers.update_server(actor, server, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The server is saved."))
                return redirect("hosting:server", server_id=server.pk)
            server = Server.objects.get(pk=server.pk)
    return _server_page(request, server, form=form)


@login_required
@require_POST
def server_confirm_host_key_view(request, server_id):
    actor = Actor.from_request(request)
    require(actor, "servers.manage")
    server = get_object_or_404(Server, pk=server_id)
    form = forms.HostKeyForm(request.POST)
    if form.is_valid():
        try:
            servers.confirm_host_key(actor, server, form.cleaned_data["fingerprint"])
        except ValidationError as exc:
            _form_errors(form, exc)
        else:
            messages.success(request, _("The host key is confirmed and pinned."))
            return redirect("hosting:server", server_id=server.pk)
    return _server_page(request, server, host_key_form=form)


# --- Staff: plans ---------------------------------------------------------------------------------


@login_required
def plans_view(request):
    actor = Actor.from_request(request)
    require(actor, "servers.view")
    form = forms.PlanForm(request.POST or None)
    if request.method == "POST":
        require(actor, "servers.manage")
        if form.is_valid():
            try:
                plan = servers.save_plan(actor, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The plan %(name)s is created.") % {"name": plan})
                return redirect("hosting:plans")
    return render(
        request,
        "hosting/plans.html",
        {
            "plans": _counted(Plan.objects.all(), _webhotel_counts(request, "plan")),
            "form": form,
            "can_manage": has_perm(request.user, "servers.manage"),
        },
    )


@login_required
def plan_view(request, plan_id):
    actor = Actor.from_request(request)
    require(actor, "servers.view")
    plan = get_object_or_404(Plan, pk=plan_id)
    can_manage = has_perm(request.user, "servers.manage")
    form = forms.PlanForm(request.POST or None, instance=Plan.objects.get(pk=plan.pk))
    if request.method == "POST":
        require(actor, "servers.manage")
        if form.is_valid():
            try:
                servers.save_plan(actor, plan, **form.cleaned_data)
            except ValidationError as exc:
                _form_errors(form, exc)
            else:
                messages.success(request, _("The plan %(name)s is saved.") % {"name": plan})
                return redirect("hosting:plans")
            plan = Plan.objects.get(pk=plan.pk)
    return render(
        request,
        "hosting/plan.html",
        {
            "plan": plan,
            "form": form if can_manage else None,
            "webhotel_count": _webhotel_counts(request, "plan").get(plan.pk, 0),
            "can_manage": can_manage,
        },
    )
