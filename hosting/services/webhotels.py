"""Webhotels and their databases."""

import re
import secrets

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import require
from accounts.services import ensure_customer_active
from hosting.credentials import generate_password, mysql_native_verifier, scram_sha256_verifier
from hosting.dns import normalize_domain
from hosting.models import Database, Plan, ResourceStatus, Server, Webhotel
from hosting.services.operations import enqueue

WEB_ROLES = (Server.Role.WEB, Server.Role.COMBINED)


def _normalized(name: str, field: str) -> str:
    try:
        return normalize_domain(name)
    except ValidationError as exc:
        raise ValidationError({field: exc.messages}) from None


def _domains(primary: str, extra: list[str], *, exclude_pk=None) -> tuple[str, list[str]]:
    """Normalise the names (IDN to punycode) and check no other webhotel serves one of them."""
    primary = _normalized(primary, "primary_domain")
    extra_names = [
        name
        for name in dict.fromkeys(_normalized(n, "extra_domains") for n in extra)
        if name != primary
    ]
    wanted = {primary, *extra_names}
    others = Webhotel.objects.exclude(pk=exclude_pk)
    taken = set(others.filter(primary_domain__in=wanted).values_list("primary_domain", flat=True))
    for names in others.exclude(extra_domains=[]).values_list("extra_domains", flat=True):
        taken |= set(names) & wanted
    if taken:
        field = "primary_domain" if primary in taken else "extra_domains"
        raise ValidationError(
            {field: _("%(names)s is already on a webhotel.") % {"names": ", ".join(sorted(taken))}}
        )
    return primary, extra_names


def _pick_server() -> Server:
    """The active web server with the most room left."""
    servers = (
        Server.objects.filter(status=Server.Status.ACTIVE, role__in=WEB_ROLES)
        .annotate(used=Count("webhotels", filter=~Q(webhotels__status=ResourceStatus.DELETING)))
        .order_by("used", "pk")
    )
    for server in servers:
        if server.used < server.capacity:
            return server
    raise ValidationError(_("No server has room for a new webhotel. Contact support."))


def ensure_webhotel(actor, webhotel: Webhotel):
    return enqueue(
        actor,
        server=webhotel.server,
        customer=webhotel.customer,
        action="webhotel.ensure",
        target=webhotel.primary_domain,
        params={"id": webhotel.pk},
    )


def create_webhotel(
    actor: Actor,
    customer: Customer,
    *,
    primary_domain: str,
    plan: Plan,
    extra_domains: list[str] | None = None,
    php_version: str = Webhotel.PhpVersion.PHP83,
    server: Server | None = None,
) -> Webhotel:
    require(actor, "hosting.manage", customer)
    if server is not None:
        require(actor, "servers.manage")  # only staff choose the server
    ensure_customer_active(customer)
    if not plan.active:
        raise ValidationError({"plan": _("This plan is no longer on sale.")})
    with transaction.atomic():
        primary, extra = _domains(primary_domain, extra_domains or [])
        server = server or _pick_server()
        webhotel = Webhotel(
            customer=customer,
            server=server,
            plan=plan,
            primary_domain=primary,
            extra_domains=extra,
            php_version=php_version,
            system_user=f"wh{secrets.token_hex(4)}",
        )
        webhotel.full_clean()
        webhotel.save()
        audit.record(
            actor,
            "webhotel.created",
            customer=customer,
            target=primary,
            server=server.name,
            plan=plan.name,
        )
        ensure_webhotel(actor, webhotel)
    return webhotel


def update_webhotel(
    actor: Actor,
    webhotel: Webhotel,
    *,
    extra_domains=None,
    php_version=None,
    plan: Plan | None = None,
) -> Webhotel:
    require(actor, "hosting.manage", webhotel.customer)
    with transaction.atomic():
        webhotel = Webhotel.objects.select_for_update().get(pk=webhotel.pk)
        refuse_while_deleting(webhotel)
        changes = {}
        if extra_domains is not None:
            _, changes["extra_domains"] = _domains(
                webhotel.primary_domain, extra_domains, exclude_pk=webhotel.pk
            )
        if php_version is not None:
            changes["php_version"] = php_version
        if plan is not None and plan != webhotel.plan:
            if not plan.active:
                raise ValidationError({"plan": _("This plan is no longer on sale.")})
            _check_plan_fits(webhotel, plan)
            changes["plan"] = plan
        for field, value in changes.items():
            setattr(webhotel, field, value)
        webhotel.full_clean()
        webhotel.save()
        audit.record(
            actor,
            "webhotel.updated",
            customer=webhotel.customer,
            target=webhotel.primary_domain,
            fields=sorted(changes),
        )
        ensure_webhotel(actor, webhotel)
    return webhotel


def _check_plan_fits(webhotel: Webhotel, plan: Plan) -> None:
    from hosting.models import Mailbox

    if webhotel.databases.exclude(status=ResourceStatus.DELETING).count() > plan.max_databases:
        raise ValidationError({"plan": _("The webhotel has more databases than this plan allows.")})
    mailboxes = Mailbox.objects.filter(mail_domain__webhotel=webhotel)
    if mailboxes.exclude(status=ResourceStatus.DELETING).count() > plan.max_mailboxes:
        raise ValidationError({"plan": _("The webhotel has more mailboxes than this plan allows.")})


def refuse_while_deleting(resource) -> None:
    if resource.status == ResourceStatus.DELETING:
        raise ValidationError(_("This is being deleted."))


def set_webhotel_suspended(actor: Actor, webhotel: Webhotel, suspended: bool) -> Webhotel:
    """Suspend (the site answers 503) or unsuspend a webhotel. A suspension by staff (e.g. for
    abuse or unpaid bills) can only be lifted by staff."""
    require(actor, "hosting.manage", webhotel.customer)
    by_staff = actor.user.is_staff
    with transaction.atomic():
        webhotel = Webhotel.objects.select_for_update().get(pk=webhotel.pk)
        check_transition(webhotel, suspended)
        if not suspended and not by_staff:
            if webhotel.suspended_by_staff:
                audit.record(
                    actor, "authz.denied", customer=webhotel.customer, target="webhotel.unsuspend"
                )
                raise PermissionDenied(_("Staff suspended this webhotel; contact support."))
            ensure_customer_active(webhotel.customer)
        webhotel.status = ResourceStatus.SUSPENDED if suspended else ResourceStatus.ACTIVE
        webhotel.suspended_by_staff = suspended and by_staff
        webhotel.save(update_fields=["status", "suspended_by_staff"])
        audit.record(
            actor,
            "webhotel.suspended" if suspended else "webhotel.unsuspended",
            customer=webhotel.customer,
            target=webhotel.primary_domain,
        )
        ensure_webhotel(actor, webhotel)
    return webhotel


def check_transition(resource, suspended: bool) -> None:
    """Only an active resource can be suspended, and only a suspended one unsuspended."""
    if suspended and resource.status != ResourceStatus.ACTIVE:
        raise ValidationError(_("Only an active resource can be suspended."))
    if not suspended and resource.status != ResourceStatus.SUSPENDED:
        raise ValidationError(_("This is not suspended."))


def delete_webhotel(actor: Actor, webhotel: Webhotel) -> None:
    """Delete a webhotel and its files from the server; its databases and mail go first."""
    require(actor, "hosting.manage", webhotel.customer)
    with transaction.atomic():
        webhotel = Webhotel.objects.select_for_update().get(pk=webhotel.pk)
        refuse_while_deleting(webhotel)
        live = ~Q(status=ResourceStatus.DELETING)
        if webhotel.databases.filter(live).exists() or webhotel.mail_domains.filter(live).exists():
            raise ValidationError(_("Delete the webhotel's databases and mail domains first."))
        webhotel.status = ResourceStatus.DELETING
        webhotel.save(update_fields=["status"])
        audit.record(
            actor, "webhotel.deleted", customer=webhotel.customer, target=webhotel.primary_domain
        )
        enqueue(
            actor,
            server=webhotel.server,
            customer=webhotel.customer,
            action="webhotel.remove",
            target=webhotel.primary_domain,
            params={"id": webhotel.pk, "system_user": webhotel.system_user},
        )


# --- Databases ------------------------------------------------------------------------------------


def _verifier(engine: str, password: str) -> str:
    if engine == Database.Engine.MARIADB:
        return mysql_native_verifier(password)
    return scram_sha256_verifier(password)


def create_database(
    actor: Actor, webhotel: Webhotel, *, engine: str, suffix: str
) -> tuple[Database, str]:
    """Create a database named ``<system user>_<suffix>``; returns it and its password (once)."""
    require(actor, "hosting.manage", webhotel.customer)
    ensure_customer_active(webhotel.customer)
    if engine not in Database.Engine.values:
        raise ValidationError({"engine": _("Choose MariaDB or PostgreSQL.")})
    password = generate_password()
    with transaction.atomic():
        webhotel = Webhotel.objects.select_for_update().select_related("plan").get(pk=webhotel.pk)
        refuse_while_deleting(webhotel)
        in_use = webhotel.databases.exclude(status=ResourceStatus.DELETING).count()
        if in_use >= webhotel.plan.max_databases:
            raise ValidationError(
                _("The plan allows %(n)d databases; all are in use.")
                % {"n": webhotel.plan.max_databases}
            )
        if not re.fullmatch(r"[a-z0-9_]{1,20}", suffix):
            raise ValidationError({"suffix": _("1–20 lowercase letters, digits or _.")})
        name = f"{webhotel.system_user}_{suffix}"
        database = Database(
            webhotel=webhotel,
            engine=engine,
            name=name,
            user=name,  # at most 32 characters: the system user's 10, "_" and 20
            password_verifier=_verifier(engine, password),
        )
        try:
            database.full_clean()
        except ValidationError as exc:
            raise ValidationError({"suffix": exc.message_dict.get("name", exc.messages)}) from None
        database.save()
        audit.record(
            actor, "database.created", customer=webhotel.customer, target=name, engine=engine
        )
        _ensure_database(actor, database)
    return database, password


def _ensure_database(actor, database: Database):
    return enqueue(
        actor,
        server=database.webhotel.server,
        customer=database.webhotel.customer,
        action="database.ensure",
        target=database.name,
        params={"id": database.pk},
    )


def reset_database_password(actor: Actor, database: Database) -> str:
    require(actor, "hosting.manage", database.webhotel.customer)
    password = generate_password()
    with transaction.atomic():
        database = Database.objects.select_for_update().get(pk=database.pk)
        refuse_while_deleting(database)
        database.password_verifier = _verifier(database.engine, password)
        database.save(update_fields=["password_verifier"])
        audit.record(
            actor,
            "database.password_reset",
            customer=database.webhotel.customer,
            target=database.name,
        )
        _ensure_database(actor, database)
    return password


def delete_database(actor: Actor, database: Database) -> None:
    require(actor, "hosting.manage", database.webhotel.customer)
    with transaction.atomic():
        database = Database.objects.select_for_update().get(pk=database.pk)
        refuse_while_deleting(database)
        database.status = ResourceStatus.DELETING
        database.save(update_fields=["status"])
        audit.record(
            actor, "database.deleted", customer=database.webhotel.customer, target=database.name
        )
        enqueue(
            actor,
            server=database.webhotel.server,
            customer=database.webhotel.customer,
            action="database.remove",
            target=database.name,
            params={
                "id": database.pk,
                "engine": database.engine,
                "name": database.name,
                "user": database.user,
            },
        )
