"""Servers and plans: staff only."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import audit
from accounts.actor import Actor
from accounts.permissions import require
from hosting.models import Plan, Server
from infra import ssh

SERVER_FIELDS = (
    "name",
    "address",
    "ssh_port",
    "ssh_user",
    "role",
    "datacenter",
    "capacity",
    "status",
    "transport",
    "profile",
    "root",
)
PLAN_FIELDS = ("name", "disk_quota_mb", "max_databases", "max_mailboxes", "price_dkk", "active")


def add_server(actor: Actor, **data) -> Server:
    """Register a server and fetch its host key; staff confirm the fingerprint before use."""
    require(actor, "servers.manage")
    server = Server(**{f: v for f, v in data.items() if f in SERVER_FIELDS})
    server.full_clean()
    server.host_key = _fetch_host_key(server)
    with transaction.atomic():
        server.save()
        audit.record(
            actor, "server.added", target=server.name, fingerprint=fingerprint(server) or ""
        )
    return server


def fingerprint(server: Server) -> str | None:
    return ssh.fingerprint(server.host_key) if server.host_key else None


def confirm_host_key(actor: Actor, server: Server, fingerprint_seen: str) -> Server:
    """Pin the fetched key once staff confirm its fingerprint matches the server's own."""
    require(actor, "servers.manage")
    if fingerprint_seen.strip() != fingerprint(server):
        raise ValidationError({"fingerprint": _("The fingerprint does not match the fetched key.")})
    with transaction.atomic():
        server.host_key_confirmed_at = timezone.now()
        server.save(update_fields=["host_key_confirmed_at"])
        audit.record(
            actor, "server.host_key_confirmed", target=server.name, fingerprint=fingerprint(server)
        )
    return server


def update_server(actor: Actor, server: Server, **data) -> Server:
    """Change a server. A new address, port or transport means a new host key to confirm."""
    require(actor, "servers.manage")
    unknown = set(data) - set(SERVER_FIELDS)
    if unknown:
        raise ValidationError({field: _("This field cannot be changed here.") for field in unknown})
    moved = any(
        data.get(f, getattr(server, f)) != getattr(server, f)
        for f in ("address", "ssh_port", "transport")
    )
    with transaction.atomic():
        for field, value in data.items():
            setattr(server, field, value)
        server.full_clean()
        if moved:
            server.host_key, server.host_key_confirmed_at = _fetch_host_key(server), None
        server.save()
        audit.record(
            actor, "server.updated", target=server.name, fields=sorted(data), new_host_key=moved
        )
    return server


def _fetch_host_key(server: Server) -> str:
    if server.transport != Server.Transport.SSH:
        return ""
    try:
        return ssh.fetch_host_key(server.address, server.ssh_port)
    except ssh.SshError as exc:
        raise ValidationError(
            {"address": _("Cannot reach the server: %(error)s") % {"error": exc}}
        ) from None


def refresh_host_key(actor: Actor, server: Server) -> Server:
    """Fetch the key again (after a server was reinstalled); staff must confirm it anew."""
    require(actor, "servers.manage")
    with transaction.atomic():
        server.host_key, server.host_key_confirmed_at = _fetch_host_key(server), None
        server.save(update_fields=["host_key", "host_key_confirmed_at"])
        audit.record(
            actor,
            "server.host_key_refreshed",
            target=server.name,
            fingerprint=fingerprint(server) or "",
        )
    return server


def save_plan(actor: Actor, plan: Plan | None = None, **data) -> Plan:
    require(actor, "servers.manage")
    plan = plan or Plan()
    with transaction.atomic():
        for field, value in data.items():
            if field not in PLAN_FIELDS:
                raise ValidationError({field: _("Unknown field.")})
            setattr(plan, field, value)
        plan.full_clean()
        plan.save()
        audit.record(actor, "plan.saved", target=plan.name, fields=sorted(data))
    return plan
