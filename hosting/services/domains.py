"""Domain names (through the registry driver), hosted DNS zones, and registrant verification."""

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_variables

from accounts import audit
from accounts.actor import Actor
from accounts.models import Customer
from accounts.permissions import require
from accounts.services import ensure_customer_active
from hosting import dns
from hosting.models import DnsRecord, DnsZone, Domain, IdentityVerification
from infra import identity, registry, secretbox

SIGNATURE_VALIDITY = timedelta(days=30)


def contact_of(customer: Customer) -> registry.Contact:
    company = customer.kind == Customer.Kind.COMPANY
    return registry.Contact(
        name=customer.name,
        organisation=customer.name if company else "",
        address=customer.address,
        postal_code=customer.postal_code,
        city=customer.city,
        country=customer.country,
        email=customer.email,
        phone=customer.phone,
        kind="company" if company else "person",
        cvr=customer.cvr,
    )


def _registry_errors(call, field: str = "name"):
    try:
        return call()
    except registry.RegistryError as exc:
        raise ValidationError({field: str(exc)}) from None


def identity_verified(customer: Customer) -> bool:
    """Companies are identified by their CVR number; persons need an approved verification."""
    if customer.kind == Customer.Kind.COMPANY:
        return bool(customer.cvr)
    return customer.verifications.filter(status=IdentityVerification.Status.APPROVED).exists()


def _require_identity(customer: Customer, name: str) -> None:
    if name.endswith(".dk") and not identity_verified(customer):
        raise ValidationError(
            {
                "name": _(
                    "A .dk registrant must verify their identity first (MitID or an ID document)."
                )
            }
        )


def register_domain(
    actor: Actor,
    customer: Customer,
    *,
    name: str,
    years: int = 1,
    whois_privacy: bool = True,
    hosted_dns: bool = True,
) -> Domain:
    """Register a name with the customer as registrant (and payer); optionally host its DNS."""
    require(actor, "domains.manage", customer)
    ensure_customer_active(customer)
    name = dns.normalize_domain(name)
    _require_identity(customer, name)
    driver = registry.get_driver()
    unicode_name = dns.display_domain(name)
    availability = driver.check(unicode_name)
    if not availability.available:
        raise ValidationError({"name": availability.reason or _("The name is not available.")})
    name_servers = settings.HAVN_NAME_SERVERS if hosted_dns else []
    contact = contact_of(customer)
    info = _registry_errors(
        lambda: driver.register(unicode_name, contact, contact, years, name_servers, whois_privacy)
    )
    with transaction.atomic():
        _retire_live_row(name)  # e.g. released earlier by its previous holder
        domain = Domain.objects.create(
            customer=customer,
            name=name,
            status=Domain.Status.ACTIVE,
            expires_at=info.expires_at,
            name_servers=info.name_servers,
            whois_privacy=whois_privacy,
        )
        if hosted_dns:
            DnsZone.objects.create(domain=domain, serial=_serial(0))
        audit.record(actor, "domain.registered", customer=customer, target=name, years=years)
    return domain


def renew_domain(actor: Actor, domain: Domain, *, years: int = 1) -> Domain:
    if actor.is_authenticated:  # the daily auto-renewal acts as the system
        require(actor, "domains.manage", domain.customer)
    driver = registry.get_driver()
    with transaction.atomic():
        info = _registry_errors(
            lambda: driver.renew(dns.display_domain(domain.name), years), "years"
        )
        domain.expires_at, domain.status = info.expires_at, Domain.Status.ACTIVE
        domain.save(update_fields=["expires_at", "status"])
        audit.record(
            actor, "domain.renewed", customer=domain.customer, target=domain.name, years=years
        )
    return domain


def update_domain(
    actor: Actor,
    domain: Domain,
    *,
    auto_renew: bool | None = None,
    whois_privacy: bool | None = None,
    name_servers: list[str] | None = None,
) -> Domain:
    """Change renewal, whois privacy or (for DNS hosted elsewhere) the name servers. The registry
    is told first; the database follows only when it agreed."""
    require(actor, "domains.manage", domain.customer)
    driver, unicode_name = registry.get_driver(), dns.display_domain(domain.name)
    changes = {}
    if auto_renew is not None and auto_renew != domain.auto_renew:
        changes["auto_renew"] = auto_renew
    if whois_privacy is not None and whois_privacy != domain.whois_privacy:
        _registry_errors(lambda: driver.set_privacy(unicode_name, whois_privacy))
        changes["whois_privacy"] = whois_privacy
    if name_servers is not None:
        if DnsZone.objects.filter(domain=domain).exists():
            raise ValidationError(
                {"name_servers": _("Havn hosts this domain's DNS, so its name servers are Havn's.")}
            )
        hosts = [dns.normalize_domain(host) for host in name_servers]
        if hosts != domain.name_servers:
            _registry_errors(lambda: driver.set_name_servers(unicode_name, hosts), "name_servers")
            changes["name_servers"] = hosts
    if not changes:
        return domain
    with transaction.atomic():
        Domain.objects.filter(pk=domain.pk).update(**changes)
        audit.record(
            actor,
            "domain.updated",
            customer=domain.customer,
            target=domain.name,
            fields=sorted(changes),
        )
    domain.refresh_from_db()
    return domain


def transfer_code(actor: Actor, domain: Domain) -> str:
    """A fresh authorisation code for moving the domain to another registrar (shown once)."""
    require(actor, "domains.manage", domain.customer)
    code = _registry_errors(
        lambda: registry.get_driver().transfer_out_code(dns.display_domain(domain.name))
    )
    audit.record(actor, "domain.transfer_code", customer=domain.customer, target=domain.name)
    return code


def _retire_live_row(name: str) -> None:
    """The name left its previous holder in Havn (released, or moved away): end that row and
    its hosted zone, so that nothing of the previous holder passes to the next."""
    for old in Domain.objects.filter(name=name).exclude(status__in=Domain.GONE):
        DnsRecord.objects.filter(zone__domain=old).delete()
        DnsZone.objects.filter(domain=old).delete()
        old.status = Domain.Status.TRANSFERRED_OUT
        old.save(update_fields=["status"])


def transfer_in(
    actor: Actor, customer: Customer, *, name: str, auth_code: str, whois_privacy: bool = True
) -> Domain:
    """Move a name to Havn with the authorisation code from its current registrar."""
    require(actor, "domains.manage", customer)
    ensure_customer_active(customer)
    name = dns.normalize_domain(name)
    _require_identity(customer, name)
    contact, driver, unicode_name = (
        contact_of(customer),
        registry.get_driver(),
        dns.display_domain(name),
    )
    info = _registry_errors(
        lambda: driver.transfer_in(unicode_name, auth_code.strip(), contact, contact),
        "auth_code",
    )
    _registry_errors(lambda: driver.set_privacy(unicode_name, whois_privacy))
    with transaction.atomic():
        _retire_live_row(name)
        domain = Domain.objects.create(
            customer=customer,
            name=name,
            status=Domain.Status.ACTIVE,
            expires_at=info.expires_at,
            name_servers=info.name_servers,
            whois_privacy=whois_privacy,
        )
        audit.record(actor, "domain.transferred_in", customer=customer, target=name)
    return domain


def release_domain(actor: Actor, domain: Domain) -> None:
    """Give the name up at the registry; hosted DNS for it ends."""
    require(actor, "domains.manage", domain.customer)
    with transaction.atomic():
        _registry_errors(lambda: registry.get_driver().release(dns.display_domain(domain.name)))
        DnsRecord.objects.filter(zone__domain=domain).delete()
        DnsZone.objects.filter(domain=domain).delete()
        domain.status = Domain.Status.RELEASED
        domain.save(update_fields=["status"])
        audit.record(actor, "domain.released", customer=domain.customer, target=domain.name)


def whois(domain: Domain) -> str:
    return registry.get_driver().whois(dns.display_domain(domain.name))


# --- Hosted DNS -----------------------------------------------------------------------------------


def _serial(current: int) -> int:
    """A YYYYMMDDnn serial that always grows."""
    today = int(timezone.now().strftime("%Y%m%d")) * 100
    return max(today, current + 1)


def _normalized(zone: DnsZone, record: DnsRecord) -> dns.NormalizedRecord:
    return dns.validate_record(
        zone.domain.name, record.name, record.type, record.value, record.ttl, record.priority
    )


def save_record(
    actor: Actor,
    zone: DnsZone,
    *,
    record: DnsRecord | None = None,
    name: str,
    type: str,
    value: str,
    ttl: int = 3600,
    priority: int | None = None,
) -> DnsRecord:
    """Add or change a record; the whole zone is checked again (a CNAME beside other data…)."""
    customer = zone.domain.customer
    require(actor, "domains.manage", customer)
    if record is None:
        ensure_customer_active(customer)
    with transaction.atomic():
        zone = DnsZone.objects.select_for_update().select_related("domain").get(pk=zone.pk)
        checked = dns.validate_record(zone.domain.name, name, type, value, ttl, priority)
        # Work on a fresh copy: a refused change must not alter the caller's object.
        record = DnsRecord.objects.get(pk=record.pk, zone=zone) if record else DnsRecord(zone=zone)
        record.name, record.type, record.value = checked.name, checked.rtype, checked.value
        record.ttl, record.priority = checked.ttl, checked.priority
        others = zone.records.exclude(pk=record.pk) if record.pk else zone.records.all()
        dns.validate_rrsets([*(_normalized(zone, other) for other in others), checked])
        record.save()
        zone.serial = _serial(zone.serial)
        zone.save(update_fields=["serial"])
        audit.record(
            actor,
            "dns.record_saved",
            customer=customer,
            target=zone.domain.name,
            record=f"{checked.name} {checked.rtype}",
        )
    return record


def delete_record(actor: Actor, record: DnsRecord) -> None:
    zone = record.zone
    require(actor, "domains.manage", zone.domain.customer)
    with transaction.atomic():
        zone = DnsZone.objects.select_for_update().select_related("domain").get(pk=zone.pk)
        record.delete()
        zone.serial = _serial(zone.serial)
        zone.save(update_fields=["serial"])
        audit.record(
            actor,
            "dns.record_deleted",
            customer=zone.domain.customer,
            target=zone.domain.name,
            record=f"{record.name} {record.type}",
        )


def zone_text(zone: DnsZone) -> str:
    """The zone file, signed when DNSSEC is on."""
    records = [_normalized(zone, record) for record in zone.records.all()]
    name_servers = settings.HAVN_NAME_SERVERS
    text = dns.render_zone(
        zone.domain.name,
        records,
        serial=zone.serial,
        primary_ns=name_servers[0],
        hostmaster=settings.HAVN_HOSTMASTER,
        ns=name_servers,
    )
    if not zone.dnssec:
        return text
    now = timezone.now()
    return dns.sign_zone(
        text,
        zone.domain.name,
        secretbox.unseal(zone.signing_key_pem),
        inception=now,
        expiration=now + SIGNATURE_VALIDITY,
    )


def set_dnssec(actor: Actor, zone: DnsZone, enabled: bool) -> DnsZone:
    """Sign the zone (a new key; its DS record goes to the registry) or stop signing it."""
    customer = zone.domain.customer
    require(actor, "domains.manage", customer)
    driver, unicode_name = registry.get_driver(), dns.display_domain(zone.domain.name)
    with transaction.atomic():
        zone = DnsZone.objects.select_for_update().select_related("domain").get(pk=zone.pk)
        if enabled == zone.dnssec:
            return zone
        if enabled:
            key_pem, _algorithm = dns.generate_signing_key()
            zone.signing_key_pem = secretbox.seal(key_pem.decode())
            zone.ds_record = dns.ds_record(zone.domain.name, key_pem)
            _registry_errors(lambda: driver.set_ds_records(unicode_name, [zone.ds_record]))
        else:
            _registry_errors(lambda: driver.set_ds_records(unicode_name, []))
            zone.signing_key_pem, zone.ds_record = "", ""
        zone.dnssec = enabled
        zone.serial = _serial(zone.serial)
        zone.save(update_fields=["dnssec", "signing_key_pem", "ds_record", "serial"])
        audit.record(
            actor,
            "dns.dnssec_enabled" if enabled else "dns.dnssec_disabled",
            customer=customer,
            target=zone.domain.name,
        )
    return zone


# --- Registrant identity --------------------------------------------------------------------------


@sensitive_variables("cpr")
def verify_identity_with_eid(
    actor: Actor, customer: Customer, *, cpr: str, name: str
) -> IdentityVerification:
    """Check the registrant with an electronic ID. The CPR number goes to the driver and nowhere
    else: not to the database, the audit log or any log line."""
    require(actor, "domains.manage", customer)
    result = identity.get_identity_driver().verify_eid(cpr, name)
    del cpr
    with transaction.atomic():
        verification = IdentityVerification.objects.create(
            customer=customer,
            method=IdentityVerification.Method.EID,
            status=(
                IdentityVerification.Status.APPROVED
                if result.approved
                else IdentityVerification.Status.REJECTED
            ),
            reference=result.reference,
            reason=result.reason,
            decided_at=timezone.now(),
        )
        audit.record(
            actor,
            "identity.eid_checked",
            customer=customer,
            target=result.reference,
            approved=result.approved,
        )
    return verification


def submit_identity_document(actor: Actor, customer: Customer, document) -> IdentityVerification:
    """A registrant outside Denmark uploads an ID document for staff to review."""
    require(actor, "domains.manage", customer)
    if document.size > 10 * 1024 * 1024:
        raise ValidationError({"document": _("The file is larger than 10 MB.")})
    head = document.read(8)
    document.seek(0)
    if not head.startswith((b"%PDF", b"\xff\xd8\xff", b"\x89PNG")):
        raise ValidationError({"document": _("Upload a PDF, JPEG or PNG file.")})
    pending = customer.verifications.filter(status=IdentityVerification.Status.PENDING)
    if pending.count() >= 3:
        raise ValidationError({"document": _("Three documents already wait for review.")})
    with transaction.atomic():
        verification = IdentityVerification.objects.create(
            customer=customer,
            method=IdentityVerification.Method.DOCUMENT,
            status=IdentityVerification.Status.PENDING,
            document=document,
        )
        audit.record(
            actor, "identity.document_submitted", customer=customer, target=str(verification.pk)
        )
    return verification


def decide_identity_document(
    actor: Actor, verification: IdentityVerification, *, approved: bool, reason: str = ""
) -> IdentityVerification:
    require(actor, "servers.manage")  # staff administrators review documents
    if not approved and not reason.strip():
        raise ValidationError({"reason": _("Say why the document is rejected.")})
    with transaction.atomic():
        verification = IdentityVerification.objects.select_for_update().get(pk=verification.pk)
        if (
            verification.method != IdentityVerification.Method.DOCUMENT
            or verification.status != IdentityVerification.Status.PENDING
        ):
            raise ValidationError(_("Only a document waiting for review can be decided."))
        verification.status = (
            IdentityVerification.Status.APPROVED
            if approved
            else IdentityVerification.Status.REJECTED
        )
        verification.reason, verification.decided_at = reason.strip(), timezone.now()
        verification.save(update_fields=["status", "reason", "decided_at"])
        audit.record(
            actor,
            "identity.document_decided",
            customer=verification.customer,
            target=str(verification.pk),
            approved=approved,
        )
    return verification


RENEW_BEFORE = timedelta(days=30)


def renew_or_expire_domains(now=None) -> tuple[int, int]:
    """Daily: renew for a year the auto-renewing domains that end within 30 days, and mark the
    others expired once their time is up. Returns (renewed, expired)."""
    now = now or timezone.now()
    renewed = expired = 0
    due = Domain.objects.filter(status=Domain.Status.ACTIVE, expires_at__lt=now + RENEW_BEFORE)
    for domain in due.select_related("customer"):
        if domain.auto_renew and domain.customer.status == Customer.Status.ACTIVE:
            try:
                renew_domain(Actor.system(), domain, years=1)
                renewed += 1
            except ValidationError as exc:
                audit.record(
                    Actor.system(),
                    "domain.renewal_failed",
                    customer=domain.customer,
                    target=domain.name,
                    error=" ".join(exc.messages),
                )
        elif domain.expires_at <= now:
            Domain.objects.filter(pk=domain.pk).update(status=Domain.Status.EXPIRED)
            audit.record(
                Actor.system(), "domain.expired", customer=domain.customer, target=domain.name
            )
            expired += 1
    return renewed, expired


def open_identity_document(actor: Actor, verification: IdentityVerification):
    """A staff administrator opens an uploaded ID document; every opening is audited."""
    require(actor, "servers.manage")
    if not verification.document:
        raise FileNotFoundError("no document")
    document = verification.document.open("rb")
    audit.record(
        actor,
        "identity.document_viewed",
        customer=verification.customer,
        target=str(verification.pk),
    )
    return document
