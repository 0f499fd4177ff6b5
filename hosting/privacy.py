"""What the hosting app holds about a customer (the data inventory, docs/privacy.md), and how a
closure suspends and a reopening resumes the customer's services."""

from contextlib import suppress

from django.db import transaction
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from accounts.models import Customer
from accounts.privacy.closure import account_closing, account_reopened
from accounts.privacy.registry import Category, register
from hosting import dns
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
    ResourceStatus,
    Webhotel,
)
from hosting.services.operations import enqueue
from hosting.transport import run_agent
from infra import registry

CONTRACT = _("GDPR art. 6(1)(b): the contract")
UNTIL_PURGE = _("While a subscription is active, then until the purge 8 weeks after closure.")


# --- closure: suspend, and resume on reopening ----------------------------------------------------


def _ensure(actor, resource, webhotel: Webhotel, action: str, target: str) -> None:
    enqueue(
        actor,
        server=webhotel.server,
        customer=webhotel.customer,
        action=action,
        target=target,
        params={"id": resource.pk},
    )


def _set_status(actor, ids: dict, status: str) -> None:
    for webhotel in Webhotel.objects.filter(pk__in=ids.get("webhotels", [])).select_related(
        "server", "customer"
    ):
        Webhotel.objects.filter(pk=webhotel.pk).update(status=status, suspended_by_staff=False)
        _ensure(actor, webhotel, webhotel, "webhotel.ensure", webhotel.primary_domain)
    mailboxes = Mailbox.objects.filter(pk__in=ids.get("mailboxes", [])).select_related(
        "mail_domain__webhotel__server", "mail_domain__webhotel__customer"
    )
    for mailbox in mailboxes:
        Mailbox.objects.filter(pk=mailbox.pk).update(status=status)
        _ensure(actor, mailbox, mailbox.mail_domain.webhotel, "mailbox.ensure", mailbox.address)


@receiver(account_closing, dispatch_uid="hosting.suspend_on_closure")
def suspend_on_closure(sender, actor, customer, **kwargs):
    """Suspend every active webhotel (the sites answer 503) and mailbox (no mail login) at once;
    return their ids so a reopening resumes exactly these."""
    ids = {
        "webhotels": list(
            Webhotel.objects.filter(customer=customer, status=ResourceStatus.ACTIVE).values_list(
                "pk", flat=True
            )
        ),
        "mailboxes": list(
            Mailbox.objects.filter(
                mail_domain__webhotel__customer=customer, status=ResourceStatus.ACTIVE
            ).values_list("pk", flat=True)
        ),
    }
    _set_status(actor, ids, ResourceStatus.SUSPENDED)
    return "hosting", ids


@receiver(account_reopened, dispatch_uid="hosting.resume_on_reopening")
def resume_on_reopening(sender, actor, customer, suspended, **kwargs):
    ids = suspended.get("hosting", {})
    still = {
        "webhotels": list(
            Webhotel.objects.filter(
                pk__in=ids.get("webhotels", []), status=ResourceStatus.SUSPENDED
            ).values_list("pk", flat=True)
        ),
        "mailboxes": list(
            Mailbox.objects.filter(
                pk__in=ids.get("mailboxes", []), status=ResourceStatus.SUSPENDED
            ).values_list("pk", flat=True)
        ),
    }
    _set_status(actor, still, ResourceStatus.ACTIVE)


# --- server content: webhotels, databases, mail ---------------------------------------------------


def export_hosting(customer: Customer) -> list[dict]:
    webhotels = Webhotel.objects.filter(customer=customer).select_related("plan", "server")
    return [
        {
            "primary_domain": webhotel.primary_domain,
            "extra_domains": webhotel.extra_domains,
            "plan": webhotel.plan.name,
            "server": webhotel.server.name,
            "php_version": webhotel.php_version,
            "status": webhotel.status,
            "created_at": webhotel.created_at,
            "disk_used_mb": webhotel.disk_used_mb,
            "databases": list(webhotel.databases.values("engine", "name", "user", "created_at")),
            "mail_domains": [
                {
                    "name": mail_domain.name,
                    "mailboxes": [
                        {"address": box.address, "quota_mb": box.quota_mb, "status": box.status}
                        for box in mail_domain.mailboxes.all()
                    ],
                    "aliases": [
                        {"address": alias.address, "destinations": alias.destinations}
                        for alias in mail_domain.aliases.all()
                    ],
                }
                for mail_domain in webhotel.mail_domains.all()
            ],
            "certificates": list(
                webhotel.certificates.values("domain", "domains", "not_after", "fingerprint")
            ),
        }
        for webhotel in webhotels
    ]


def _remove(server, action: str, params: dict, model, pk: int) -> None:
    """Remove one resource from its server (the agent's idempotent remove), then its row."""
    run_agent(server, action, params)
    model.objects.filter(pk=pk).delete()


def erase_hosting(customer: Customer, purge) -> None:
    """Remove every webhotel with its files, databases and mail from the servers, synchronously
    (an unreachable server fails the step; the purge retries it), then the rows and the
    customer's operation history."""
    for webhotel in Webhotel.objects.filter(customer=customer).select_related("server"):
        server = webhotel.server
        for mail_domain in MailDomain.objects.filter(webhotel=webhotel):
            for alias in MailAlias.objects.filter(mail_domain=mail_domain):
                _remove(server, "alias.remove", {"address": alias.address}, MailAlias, alias.pk)
            for box in Mailbox.objects.filter(mail_domain=mail_domain):
                _remove(server, "mailbox.remove", {"address": box.address}, Mailbox, box.pk)
            params = {"domain": mail_domain.name}
            _remove(server, "maildomain.remove", params, MailDomain, mail_domain.pk)
        for database in Database.objects.filter(webhotel=webhotel):
            params = {"engine": database.engine, "name": database.name, "user": database.user}
            _remove(server, "database.remove", params, Database, database.pk)
        with transaction.atomic():
            run_agent(server, "webhotel.remove", {"system_user": webhotel.system_user})
            Certificate.objects.filter(webhotel=webhotel).delete()
            webhotel.delete()
    Operation.objects.filter(customer=customer).delete()


# --- domains and DNS ------------------------------------------------------------------------------


def export_domains(customer: Customer) -> list[dict]:
    domains = Domain.objects.filter(customer=customer).select_related("zone")
    result = []
    for domain in domains:
        zone = getattr(domain, "zone", None)
        result.append(
            {
                "name": domain.name,
                "status": domain.status,
                "expires_at": domain.expires_at,
                "auto_renew": domain.auto_renew,
                "name_servers": domain.name_servers,
                "whois_privacy": domain.whois_privacy,
                "dns": None
                if zone is None
                else {
                    "dnssec": zone.dnssec,
                    "records": list(
                        zone.records.values("name", "type", "value", "ttl", "priority")
                    ),
                },
            }
        )
    return result


def erase_domains(customer: Customer, purge) -> None:
    """Release every name the customer still holds at the registry (a name transferred out on
    the customer's request during the grace period is already gone), then drop the hosted zones
    and the domain rows."""
    driver = registry.get_driver()
    for domain in Domain.objects.filter(customer=customer).exclude(status__in=Domain.GONE):
        with suppress(registry.DomainNotFound):  # released or transferred away already
            driver.release(dns.display_domain(domain.name))
    with transaction.atomic():
        DnsRecord.objects.filter(zone__domain__customer=customer).delete()
        DnsZone.objects.filter(domain__customer=customer).delete()
        Domain.objects.filter(customer=customer).delete()


# --- registrant identity --------------------------------------------------------------------------


def export_identity(customer: Customer) -> list[dict]:
    return list(
        IdentityVerification.objects.filter(customer=customer).values(
            "method", "status", "reference", "reason", "created_at", "decided_at"
        )
    )


def delete_document(verification: IdentityVerification) -> None:
    """Delete an uploaded ID document's file and clear the field (idempotent)."""
    if verification.document:
        verification.document.delete(save=False)
    IdentityVerification.objects.filter(pk=verification.pk).update(document="")


def id_documents_due(status: str, decided_before):
    """Verifications with ``status`` decided before the time whose document is still kept
    (the retention rules ``id_documents`` and ``id_documents_rejected``)."""
    return IdentityVerification.objects.filter(
        status=status, decided_at__lte=decided_before
    ).exclude(document="")


def delete_id_documents(status: str, decided_before) -> int:
    verifications = list(id_documents_due(status, decided_before))
    for verification in verifications:
        delete_document(verification)
    return len(verifications)


def erase_identity(customer: Customer, purge) -> None:
    for verification in IdentityVerification.objects.filter(customer=customer):
        delete_document(verification)
    IdentityVerification.objects.filter(customer=customer).delete()


register(
    Category(
        key="hosting.content",
        label=_("Webhotels, databases and mail"),
        purpose=_("Run the customer's websites, databases and mailboxes."),
        legal_basis=CONTRACT,
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(Webhotel, Database, MailDomain, Mailbox, MailAlias, Certificate, Operation),
        stores=("server-files", "server-databases", "server-mail"),
        export=export_hosting,
        erase=erase_hosting,
        erase_order=10,
    )
)
register(
    Category(
        key="hosting.domains",
        label=_("Domains and DNS"),
        purpose=_("Register the customer's domain names and serve their DNS."),
        legal_basis=CONTRACT,
        retention=UNTIL_PURGE,
        retention_rule="personal_data",
        models=(Domain, DnsZone, DnsRecord),
        stores=("dns", "registry"),
        export=export_domains,
        erase=erase_domains,
        erase_order=20,
    )
)
register(
    Category(
        key="hosting.identity",
        label=_("Registrant identity checks"),
        purpose=_("Verify a domain registrant's identity, as the .dk registry requires."),
        legal_basis=_("GDPR art. 6(1)(c): the .dk registry's terms under the Domain Act"),
        retention=_(
            "The CPR number is never stored. An ID document 1 day after approval, 5 weeks after "
            "a rejection; the outcome until the purge."
        ),
        retention_rule="id_documents",
        models=(IdentityVerification,),
        stores=("media",),
        export=export_identity,
        erase=erase_identity,
        erase_order=25,
    )
)
