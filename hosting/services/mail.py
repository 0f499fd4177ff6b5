"""Mail domains, mailboxes, aliases and forwarders."""

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.permissions import require
from accounts.services import ensure_customer_active
from hosting.credentials import dovecot_hash, generate_password
from hosting.dns import normalize_domain
from hosting.models import MailAlias, Mailbox, MailDomain, ResourceStatus, Webhotel
from hosting.services.operations import enqueue
from hosting.services.webhotels import check_transition, refuse_while_deleting

MIN_PASSWORD_LENGTH = 10


def _enqueue(actor, mail_domain: MailDomain, action: str, target: str, params: dict):
    webhotel = mail_domain.webhotel
    return enqueue(
        actor,
        server=webhotel.server,
        customer=webhotel.customer,
        action=action,
        target=target,
        params=params,
    )


def create_mail_domain(actor: Actor, webhotel: Webhotel, *, name: str) -> MailDomain:
    require(actor, "hosting.manage", webhotel.customer)
    ensure_customer_active(webhotel.customer)
    name = normalize_domain(name)
    with transaction.atomic():
        refuse_while_deleting(Webhotel.objects.select_for_update().get(pk=webhotel.pk))
        if MailDomain.objects.filter(name=name).exists():
            raise ValidationError(
                {"name": _("%(name)s already receives mail here.") % {"name": name}}
            )
        mail_domain = MailDomain.objects.create(webhotel=webhotel, name=name)
        audit.record(actor, "maildomain.created", customer=webhotel.customer, target=name)
        _enqueue(actor, mail_domain, "maildomain.ensure", name, {"id": mail_domain.pk})
    return mail_domain


def delete_mail_domain(actor: Actor, mail_domain: MailDomain) -> None:
    """Delete the domain with all its mailboxes (and the mail in them) and aliases."""
    customer = mail_domain.webhotel.customer
    require(actor, "hosting.manage", customer)
    with transaction.atomic():
        mail_domain = MailDomain.objects.select_for_update().get(pk=mail_domain.pk)
        refuse_while_deleting(mail_domain)
        for model in (MailDomain, Mailbox, MailAlias):
            rows = (
                model.objects.filter(pk=mail_domain.pk)
                if model is MailDomain
                else (model.objects.filter(mail_domain=mail_domain))
            )
            rows.update(status=ResourceStatus.DELETING)
        audit.record(actor, "maildomain.deleted", customer=customer, target=mail_domain.name)
        _enqueue(
            actor,
            mail_domain,
            "maildomain.remove",
            mail_domain.name,
            {"id": mail_domain.pk, "domain": mail_domain.name},
        )


def _password_hash(password: str | None) -> tuple[str, str | None]:
    """The hash to store, and the password to show once when Havn generated it."""
    if password is None or password == "":
        password = generate_password()
        return dovecot_hash(password), password
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            {"password": _("Use at least %(n)d characters.") % {"n": MIN_PASSWORD_LENGTH}}
        )
    return dovecot_hash(password), None


def _check_mail_quota(webhotel: Webhotel, extra_mb: int, without: Mailbox | None = None) -> None:
    mailboxes = Mailbox.objects.filter(mail_domain__webhotel=webhotel).exclude(
        status=ResourceStatus.DELETING
    )
    if without is not None:
        mailboxes = mailboxes.exclude(pk=without.pk)
    if without is None and mailboxes.count() >= webhotel.plan.max_mailboxes:
        raise ValidationError(
            _("The plan allows %(n)d mailboxes; all are in use.")
            % {"n": webhotel.plan.max_mailboxes}
        )
    used = mailboxes.aggregate(total=Sum("quota_mb"))["total"] or 0
    if used + extra_mb > webhotel.plan.disk_quota_mb:
        raise ValidationError(
            {
                "quota_mb": _("Only %(free)d MB of the plan's %(total)d MB are free for mailboxes.")
                % {
                    "free": max(webhotel.plan.disk_quota_mb - used, 0),
                    "total": webhotel.plan.disk_quota_mb,
                }
            }
        )


def create_mailbox(
    actor: Actor,
    mail_domain: MailDomain,
    *,
    local_part: str,
    quota_mb: int = 1024,
    password: str | None = None,
) -> tuple[Mailbox, str | None]:
    """Create a mailbox; returns it and the generated password when none was given (shown once)."""
    webhotel = mail_domain.webhotel
    require(actor, "hosting.manage", webhotel.customer)
    ensure_customer_active(webhotel.customer)
    password_hash, generated = _password_hash(password)
    local_part = local_part.strip().lower()
    with transaction.atomic():
        webhotel = Webhotel.objects.select_for_update().select_related("plan").get(pk=webhotel.pk)
        mail_domain = MailDomain.objects.get(pk=mail_domain.pk)
        refuse_while_deleting(mail_domain)
        if MailAlias.objects.filter(mail_domain=mail_domain, local_part=local_part).exists():
            raise ValidationError({"local_part": _("An alias already has this address.")})
        if Mailbox.objects.filter(mail_domain=mail_domain, local_part=local_part).exists():
            raise ValidationError({"local_part": _("This mailbox already exists.")})
        _check_mail_quota(webhotel, quota_mb)
        mailbox = Mailbox(
            mail_domain=mail_domain,
            local_part=local_part,
            quota_mb=quota_mb,
            password_hash=password_hash,
        )
        mailbox.full_clean()
        mailbox.save()
        audit.record(
            actor,
            "mailbox.created",
            customer=webhotel.customer,
            target=mailbox.address,
            quota_mb=quota_mb,
        )
        _enqueue(actor, mail_domain, "mailbox.ensure", mailbox.address, {"id": mailbox.pk})
    return mailbox, generated


def update_mailbox(
    actor: Actor,
    mailbox: Mailbox,
    *,
    quota_mb: int | None = None,
    password: str | None = None,
    suspended: bool | None = None,
) -> Mailbox:
    webhotel = mailbox.mail_domain.webhotel
    require(actor, "hosting.manage", webhotel.customer)
    with transaction.atomic():
        webhotel = Webhotel.objects.select_for_update().select_related("plan").get(pk=webhotel.pk)
        mailbox = Mailbox.objects.select_related("mail_domain").get(pk=mailbox.pk)
        refuse_while_deleting(mailbox)
        fields = []
        if quota_mb is not None:
            _check_mail_quota(webhotel, quota_mb, without=mailbox)
            mailbox.quota_mb = quota_mb
            fields.append("quota_mb")
        if password:
            mailbox.password_hash, _generated = _password_hash(password)
            fields.append("password")
        if suspended is not None and suspended != (mailbox.status == ResourceStatus.SUSPENDED):
            check_transition(mailbox, suspended)
            mailbox.status = ResourceStatus.SUSPENDED if suspended else ResourceStatus.ACTIVE
            fields.append("status")
        mailbox.full_clean()
        mailbox.save()
        audit.record(
            actor,
            "mailbox.updated",
            customer=webhotel.customer,
            target=mailbox.address,
            fields=fields,
        )
        _enqueue(actor, mailbox.mail_domain, "mailbox.ensure", mailbox.address, {"id": mailbox.pk})
    return mailbox


def delete_mailbox(actor: Actor, mailbox: Mailbox) -> None:
    require(actor, "hosting.manage", mailbox.mail_domain.webhotel.customer)
    with transaction.atomic():
        mailbox = (
            Mailbox.objects.select_for_update().select_related("mail_domain").get(pk=mailbox.pk)
        )
        refuse_while_deleting(mailbox)
        Mailbox.objects.filter(pk=mailbox.pk).update(status=ResourceStatus.DELETING)
        audit.record(
            actor,
            "mailbox.deleted",
            customer=mailbox.mail_domain.webhotel.customer,
            target=mailbox.address,
        )
        _enqueue(
            actor,
            mailbox.mail_domain,
            "mailbox.remove",
            mailbox.address,
            {"id": mailbox.pk, "address": mailbox.address},
        )


def _destinations(values: list[str]) -> list[str]:
    cleaned = []
    for value in values:
        value = value.strip().lower()
        try:
            validate_email(value)
        except ValidationError:
            raise ValidationError(
                {"destinations": _("%(value)s is not an e-mail address.") % {"value": value}}
            ) from None
        if value not in cleaned:
            cleaned.append(value)
    if not cleaned:
        raise ValidationError({"destinations": _("Give at least one destination.")})
    return cleaned


def save_alias(
    actor: Actor, mail_domain: MailDomain, *, local_part: str, destinations: list[str]
) -> MailAlias:
    """Create an alias, or change where an existing one forwards to."""
    customer = mail_domain.webhotel.customer
    require(actor, "hosting.manage", customer)
    ensure_customer_active(customer)
    local_part = local_part.strip().lower()
    destinations = _destinations(destinations)
    with transaction.atomic():
        refuse_while_deleting(MailDomain.objects.select_for_update().get(pk=mail_domain.pk))
        if Mailbox.objects.filter(mail_domain=mail_domain, local_part=local_part).exists():
            raise ValidationError({"local_part": _("A mailbox already has this address.")})
        alias = MailAlias.objects.filter(mail_domain=mail_domain, local_part=local_part).first()
        alias = alias or MailAlias(mail_domain=mail_domain, local_part=local_part)
        if f"{local_part}@{mail_domain.name}" in destinations:
            raise ValidationError({"destinations": _("An alias cannot forward to itself.")})
        alias.destinations = destinations
        alias.full_clean()
        alias.save()
        audit.record(
            actor,
            "alias.saved",
            customer=customer,
            target=alias.address,
            destinations=len(destinations),
        )
        _enqueue(actor, mail_domain, "alias.ensure", alias.address, {"id": alias.pk})
    return alias


def delete_alias(actor: Actor, alias: MailAlias) -> None:
    customer = alias.mail_domain.webhotel.customer
    require(actor, "hosting.manage", customer)
    with transaction.atomic():
        alias = MailAlias.objects.select_for_update().select_related("mail_domain").get(pk=alias.pk)
        refuse_while_deleting(alias)
        MailAlias.objects.filter(pk=alias.pk).update(status=ResourceStatus.DELETING)
        audit.record(actor, "alias.deleted", customer=customer, target=alias.address)
        _enqueue(
            actor,
            alias.mail_domain,
            "alias.remove",
            alias.address,
            {"id": alias.pk, "address": alias.address},
        )
