"""Carrying out an operation: build the agent request from the database, run it, complete it.

``*.ensure`` actions read the resource's current row, so whatever earlier attempts did, the server
ends up as the database says (reconciliation by re-running). ``*.remove`` actions carry the names
they need in the operation's params, and delete the row when the server is clean.
"""

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.actor import Actor
from hosting.models import (
    Certificate,
    Database,
    MailAlias,
    Mailbox,
    MailDomain,
    Operation,
    ResourceStatus,
    Webhotel,
)
from hosting.services import operations
from hosting.transport import AgentError, run_agent
from infra import acme, ssh


def _webhotel(webhotel: Webhotel) -> dict:
    return {
        "system_user": webhotel.system_user,
        "domains": webhotel.domains,
        "php_version": webhotel.php_version,
        "quota_mb": webhotel.plan.disk_quota_mb,
        "suspended": webhotel.status == ResourceStatus.SUSPENDED,
    }


def _database(database: Database) -> dict:
    return {
        "engine": database.engine,
        "name": database.name,
        "user": database.user,
        "password_verifier": database.password_verifier,
    }


def _mailbox(mailbox: Mailbox) -> dict:
    return {
        "address": mailbox.address,
        "password_hash": mailbox.password_hash,
        "quota_mb": mailbox.quota_mb,
        "suspended": mailbox.status == ResourceStatus.SUSPENDED,
    }


def _alias(alias: MailAlias) -> dict:
    return {"address": alias.address, "destinations": alias.destinations}


# action: (model, agent params from the row) for ensure; model for remove.
ENSURE = {
    "webhotel.ensure": (Webhotel, _webhotel),
    "database.ensure": (Database, _database),
    "maildomain.ensure": (MailDomain, lambda domain: {"domain": domain.name}),
    "mailbox.ensure": (Mailbox, _mailbox),
    "alias.ensure": (MailAlias, _alias),
}
REMOVE = {
    "webhotel.remove": (Webhotel, ("system_user",)),
    "database.remove": (Database, ("engine", "name", "user")),
    "maildomain.remove": (MailDomain, ("domain",)),
    "mailbox.remove": (Mailbox, ("address",)),
    "alias.remove": (MailAlias, ("address",)),
}


def issue_certificate(operation: Operation) -> tuple[str, dict] | None:
    """Get a certificate for the webhotel's domains and hand the agent the key: the private key
    exists only in this process and on the server, never in Havn's database."""
    webhotel = Webhotel.objects.filter(pk=operation.params["id"]).first()
    if webhotel is None or webhotel.status == ResourceStatus.DELETING:
        return None
    key_pem, csr_pem = acme.new_key_and_csr(webhotel.domains)
    issued = acme.get_acme_driver().issue(webhotel.domains, csr_pem)
    operation.issued = issued  # recorded by complete() once the server has it
    return "certificate.install", {
        "system_user": webhotel.system_user,
        "domain": webhotel.primary_domain,
        "fullchain_pem": issued.fullchain_pem.decode(),
        "key_pem": key_pem.decode(),
    }


def agent_call(operation: Operation) -> tuple[str, dict] | None:
    """The agent action and params for the operation; None when there is nothing left to do."""
    if operation.action == "certificate.issue":
        return issue_certificate(operation)
    if operation.action in ENSURE:
        model, params = ENSURE[operation.action]
        row = model.objects.filter(pk=operation.params["id"]).first()
        if row is None or row.status == ResourceStatus.DELETING:
            return None  # deleted meanwhile: the remove operation owns the server side now
        return operation.action, params(row)
    model, names = REMOVE[operation.action]
    return operation.action, {name: operation.params[name] for name in names}


def complete(operation: Operation) -> None:
    """Bring the row's state in line with what the server now has."""
    if operation.action == "certificate.issue":
        issued = getattr(operation, "issued", None)
        if issued is not None:
            webhotel = Webhotel.objects.get(pk=operation.params["id"])
            Certificate.objects.update_or_create(
                webhotel=webhotel,
                domain=webhotel.primary_domain,
                defaults={
                    "not_after": issued.not_after,
                    "fingerprint": issued.fingerprint_sha256,
                    "domains": webhotel.domains,
                },
            )
        return
    if operation.action == "webhotel.ensure":
        _certificate_if_needed(operation)
    if operation.action in ENSURE:
        model = ENSURE[operation.action][0]
        model.objects.filter(pk=operation.params["id"], status=ResourceStatus.PENDING).update(
            status=ResourceStatus.ACTIVE
        )
        return
    model = REMOVE[operation.action][0]
    if model is MailDomain:
        Mailbox.objects.filter(mail_domain_id=operation.params["id"]).delete()
        MailAlias.objects.filter(mail_domain_id=operation.params["id"]).delete()
    model.objects.filter(pk=operation.params["id"]).delete()


def _certificate_if_needed(operation: Operation) -> None:
    """After a webhotel is set up or its domains change, make sure a certificate covers them."""
    webhotel = Webhotel.objects.filter(pk=operation.params["id"]).first()
    if webhotel is None:
        return
    certificate = webhotel.certificates.filter(domain=webhotel.primary_domain).first()
    if (
        certificate is None
        or certificate.domains != webhotel.domains
        or acme.needs_renewal(certificate.not_after)
    ):
        operations.enqueue(
            Actor.system(),
            server=webhotel.server,
            customer=webhotel.customer,
            action="certificate.issue",
            target=webhotel.primary_domain,
            params={"id": webhotel.pk},
        )


def execute(operation_id: int) -> str:
    """Run one operation. Returns its new status; ``pending`` means "retry later"."""
    operation = operations.claim(operation_id)
    if operation is None:
        return "skipped"
    try:
        call = agent_call(operation)
        if call is not None:
            run_agent(operation.server, *call)
    except ssh.TransientSshError as exc:
        operations.finish(operation, error=str(exc), retry_later=True)
        return Operation.Status.PENDING
    except (AgentError, ssh.SshError, acme.AcmeError) as exc:
        if isinstance(exc, ssh.HostKeyMismatch):
            audit.record(
                Actor.system(),
                "server.host_key_refused",
                target=operation.server.name,
                error=str(exc),
            )
        operations.finish(operation, error=str(exc))
        return Operation.Status.FAILED
    with transaction.atomic():
        complete(operation)
        operations.finish(operation)
    return Operation.Status.DONE


def renew_due_certificates() -> int:
    """Enqueue a new certificate for every webhotel whose certificate ends within 30 days."""
    due = (
        Certificate.objects.filter(not_after__lt=timezone.now() + acme.RENEW_BEFORE)
        .exclude(webhotel__status=ResourceStatus.DELETING)
        .select_related("webhotel__server", "webhotel__customer")
    )
    count = 0
    for certificate in due:
        webhotel = certificate.webhotel
        operations.enqueue(
            Actor.system(),
            server=webhotel.server,
            customer=webhotel.customer,
            action="certificate.issue",
            target=webhotel.primary_domain,
            params={"id": webhotel.pk},
        )
        count += 1
    return count
