"""Panel pages: webhotels, their databases and mail domains."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.permissions import has_perm, require
from hosting import forms
from hosting.dns import display_domain
from hosting.models import (
    Certificate,
    Database,
    Mailbox,
    MailDomain,
    ResourceStatus,
    Webhotel,
)
from hosting.services import mail, webhotels

# What an operation does, in words; the code is shown for actions not listed here.
from hosting.views.common import (
    CERTIFICATE_WARNING,
    CREATE_DOMAIN_ERRORS,
    SETTINGS_DOMAIN_ERRORS,
    _confirmed,
    _customer,
    _display_name,
    _form_errors,
    _mail_domain,
    _maildomain_page,
    _message_errors,
    _named,
    _show_secret,
    _with_operations,
    maildomain_url,
    webhotel_url,
)

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
