"""Panel pages: mailboxes and aliases."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from accounts.actor import Actor
from accounts.permissions import has_perm, require
from hosting import forms
from hosting.models import (
    MailAlias,
    Mailbox,
    ResourceStatus,
)
from hosting.services import mail

# What an operation does, in words; the code is shown for actions not listed here.
from hosting.views.common import (
    _confirmed,
    _customer,
    _form_errors,
    _mail_domain,
    _maildomain_page,
    _message_errors,
    _with_operations,
    maildomain_url,
)

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
