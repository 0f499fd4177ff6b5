"""A faithful local domain registry: the default `infra.registry.RegistryDriver`.

It plays the registry (DK Hostmaster for .dk) in its own table, `RegistryDomain`: the registry's
records, not Havn's customer-owned `hosting.models.Domain`. Several registrars share it; Havn is
``"havn"``, and a test can register a name "elsewhere" with ``LocalRegistry(registrar="other")``.
The rules it keeps are described in docs/drivers.md.
"""

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import asdict
from datetime import datetime

import idna
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import validate_cvr
from infra.registry import (
    ACTIVE,
    EXPIRED,
    MAX_YEARS,
    AuthCodeInvalid,
    Availability,
    Contact,
    DomainInfo,
    DomainNotFound,
    DomainUnavailable,
    RegistryDriver,
    RegistryError,
    normalise_domain,
)

HAVN = "havn"
TLDS = frozenset({"dk", "com", "net", "org", "eu"})
RESERVED = frozenset({"example", "test", "localhost", "invalid", "nic", "whois", "dk-hostmaster"})
NO_ENTRIES = "No entries found for the selected source.\n"
ANONYMOUS = "Anonymous"
MAX_NAME_SERVERS = 13

_DK_LABEL = re.compile(r"^[0-9a-zæøåäöüé]([0-9a-zæøåäöüé-]*[0-9a-zæøåäöüé])?$")
_HOST_LABEL = re.compile(r"^[0-9a-z]([0-9a-z-]{0,61}[0-9a-z])?$")
_DS = re.compile(r"^(\d{1,5}) (\d{1,3}) (\d) ([0-9a-f]+)$")
_DIGEST_LENGTHS = {1: 40, 2: 64, 4: 96}  # SHA-1, SHA-256, SHA-384 in hex
_PHONE = re.compile(r"^\+?[0-9 ]{8,20}$")


class RegistryDomain(models.Model):
    """One domain as the registry holds it. Registrant and payer are `Contact`s as dicts."""

    name = models.CharField(max_length=253, unique=True)
    registrar = models.CharField(max_length=32, default=HAVN)
    registrant = models.JSONField()
    payer = models.JSONField()
    privacy = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    name_servers = models.JSONField(default=list, blank=True)
    ds_records = models.JSONField(default=list, blank=True)
    auth_code_hash = models.CharField(max_length=64, blank=True)

    class Meta:
        app_label = "hosting"
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_private(self) -> bool:
        """Whois hides the registrant only for a private person who asked for it."""
        return self.privacy and self.registrant.get("kind") == "person"


class LocalRegistry(RegistryDriver):
    def __init__(self, registrar: str = HAVN):
        self.registrar = registrar

    # --- reading ----------------------------------------------------------------------------------
    def check(self, name: str) -> Availability:
        try:
            name = _registrable(name)
        except DomainUnavailable as error:
            return Availability(False, str(error))
        if RegistryDomain.objects.filter(name=name).exists():
            return Availability(False, _("%(name)s is already registered.") % {"name": name})
        return Availability(True)

    def info(self, name: str) -> DomainInfo:
        domain = RegistryDomain.objects.filter(name=normalise_domain(name)).first()
        if domain is None:
            raise DomainNotFound(_("%(name)s is not registered.") % {"name": name})
        return _info(domain)

    def whois(self, name: str) -> str:
        try:
            domain = RegistryDomain.objects.filter(name=normalise_domain(name)).first()
        except DomainUnavailable:
            domain = None
        return NO_ENTRIES if domain is None else _whois(domain)

    # --- registering and moving -------------------------------------------------------------------
    def register(self, name, registrant, payer, years, name_servers, privacy) -> DomainInfo:
        name = _registrable(name)
        tld = name.rsplit(".", 1)[1]
        _check_contact(tld, registrant, _("registrant"))
        _check_contact(tld, payer, _("payer"))
        years, name_servers = _years(years), _name_servers(name_servers)
        now = timezone.now()
        try:
            with transaction.atomic():
                domain = RegistryDomain.objects.create(
                    name=name,
                    registrar=self.registrar,
                    registrant=asdict(registrant),
                    payer=asdict(payer),
                    privacy=privacy,
                    created_at=now,
                    expires_at=_add_years(now, years),
                    name_servers=name_servers,
                )
        except IntegrityError:
            raise DomainUnavailable(_("%(name)s is already registered.") % {"name": name}) from None
        return _info(domain)

    def renew(self, name: str, years: int) -> DomainInfo:
        with transaction.atomic():
            domain = self._sponsored(name)
            expires_at = _add_years(domain.expires_at, _years(years))
            if expires_at > _add_years(timezone.now(), MAX_YEARS):
                raise RegistryError(
                    _("A domain can be paid for at most %(years)d years ahead.")
                    % {"years": MAX_YEARS}
                )
            domain.expires_at = expires_at
            domain.save(update_fields=["expires_at"])
        return _info(domain)

    def transfer_in(self, name, auth_code, registrant, payer) -> DomainInfo:
        name = normalise_domain(name)
        tld = name.rsplit(".", 1)[-1]
        _check_contact(tld, registrant, _("registrant"))
        _check_contact(tld, payer, _("payer"))
        with transaction.atomic():
            domain = RegistryDomain.objects.select_for_update().filter(name=name).first()
            if domain is None:
                raise DomainNotFound(_("%(name)s is not registered.") % {"name": name})
            if domain.registrar == self.registrar:
                raise RegistryError(_("%(name)s is already registered with us.") % {"name": name})
            if not domain.auth_code_hash or not hmac.compare_digest(
                _hash_code(auth_code), domain.auth_code_hash
            ):
                raise AuthCodeInvalid(
                    _("The authorisation code for %(name)s is not valid.") % {"name": name}
                )
            domain.registrar = self.registrar
            domain.registrant = asdict(registrant)
            domain.payer = asdict(payer)
            domain.auth_code_hash = ""  # a code moves the domain once
            domain.save()
        return _info(domain)

    def transfer_out_code(self, name: str) -> str:
        code = "-".join(re.findall("....", base64.b32encode(secrets.token_bytes(15)).decode()))
        with transaction.atomic():
            domain = self._sponsored(name)
            domain.auth_code_hash = _hash_code(code)  # replaces, and so invalidates, older codes
            domain.save(update_fields=["auth_code_hash"])
        return code

    def release(self, name: str) -> None:
        with transaction.atomic():
            self._sponsored(name).delete()

    # --- changing ---------------------------------------------------------------------------------
    def update_contacts(self, name: str, registrant: Contact) -> None:
        with transaction.atomic():
            domain = self._sponsored(name)
            _check_contact(domain.name.rsplit(".", 1)[1], registrant, _("registrant"))
            domain.registrant = asdict(registrant)
            domain.save(update_fields=["registrant"])

    def set_name_servers(self, name: str, ns: list[str]) -> None:
        servers = _name_servers(ns)
        with transaction.atomic():
            domain = self._sponsored(name)
            domain.name_servers = servers
            domain.save(update_fields=["name_servers"])

    def set_ds_records(self, name: str, ds: list[str]) -> None:
        records = [_ds_record(record) for record in ds]
        with transaction.atomic():
            domain = self._sponsored(name)
            domain.ds_records = list(dict.fromkeys(records))
            domain.save(update_fields=["ds_records"])

    def set_privacy(self, name: str, privacy: bool) -> None:
        with transaction.atomic():
            domain = self._sponsored(name)
            domain.privacy = privacy
            domain.save(update_fields=["privacy"])

    def _sponsored(self, name: str) -> RegistryDomain:
        """The locked row of a domain this registrar holds; `DomainNotFound` otherwise."""
        domain = RegistryDomain.objects.select_for_update().filter(name=normalise_domain(name))
        domain = domain.first()
        if domain is None or domain.registrar != self.registrar:
            raise DomainNotFound(_("%(name)s is not registered with us.") % {"name": name})
        return domain


def _registrable(name: str) -> str:
    """``name`` normalised, or `DomainUnavailable`: not a second-level name we sell, or reserved."""
    name = normalise_domain(name)
    labels = name.split(".")
    if len(labels) != 2:
        raise DomainUnavailable(
            _("%(name)s cannot be registered: only names directly under a top-level domain can.")
            % {"name": name}
        )
    label, tld = labels
    if tld not in TLDS:
        raise DomainUnavailable(_("We do not sell .%(tld)s domains.") % {"tld": tld})
    if tld == "dk" and not _DK_LABEL.match(label):
        raise DomainUnavailable(_("%(name)s is not a valid domain name.") % {"name": name})
    if label in RESERVED:
        raise DomainUnavailable(_("%(name)s is reserved.") % {"name": name})
    return name


def _check_contact(tld: str, contact: Contact, role: str) -> None:
    """A .dk name needs a complete, plausible contact; other TLDs a name and an e-mail address."""
    missing = []
    if contact.kind not in ("person", "company") or not contact.name.strip():
        missing.append(_("name"))
    try:
        validate_email(contact.email)
    except ValidationError:
        missing.append(_("e-mail"))
    if tld == "dk":
        danish = contact.country == "DK"
        postal_code = r"\d{4}" if danish else r".*\S.*"  # Danish postal codes have four digits
        checks = [
            (_("address"), contact.address.strip()),
            (_("postal code"), re.fullmatch(postal_code, contact.postal_code)),
            (_("city"), contact.city.strip()),
            (_("country"), re.fullmatch(r"[A-Z]{2}", contact.country)),
            (_("phone"), _PHONE.match(contact.phone)),
        ]
        missing += [label for label, ok in checks if not ok]
        if contact.kind == "company" and danish:
            try:
                validate_cvr(contact.cvr)
            except ValidationError:
                missing.append(_("CVR number"))
    if missing:
        raise RegistryError(
            _("The %(role)s's contact data is incomplete or not valid: %(fields)s.")
            % {"role": role, "fields": ", ".join(missing)}
        )


def _years(years: int) -> int:
    if not isinstance(years, int) or not 1 <= years <= MAX_YEARS:
        raise RegistryError(
            _("A domain is registered for 1 to %(years)d years.") % {"years": MAX_YEARS}
        )
    return years


def _add_years(moment: datetime, years: int) -> datetime:
    try:
        return moment.replace(year=moment.year + years)
    except ValueError:  # 29 February into a year without it
        return moment.replace(year=moment.year + years, day=28)


def _name_servers(hosts: list[str]) -> list[str]:
    servers = []
    for host in hosts:
        try:
            ascii_host = idna.encode(normalise_domain(host)).decode()
        except (RegistryError, idna.IDNAError):
            ascii_host = ""
        labels = ascii_host.split(".")
        if len(labels) < 2 or not all(_HOST_LABEL.match(label) for label in labels):
            raise RegistryError(_("%(host)s is not a valid name server.") % {"host": host})
        servers.append(ascii_host)
    servers = list(dict.fromkeys(servers))
    if len(servers) > MAX_NAME_SERVERS:
        raise RegistryError(
            _("A domain can have at most %(count)d name servers.") % {"count": MAX_NAME_SERVERS}
        )
    return servers


def _ds_record(record: str) -> str:
    """``"<key tag> <algorithm> <digest type> <digest>"`` normalised; `RegistryError` if not."""
    match = _DS.match(" ".join(record.split()).lower())
    if match:
        key_tag, algorithm, digest_type, digest = match.groups()
        if (
            int(key_tag) <= 65535
            and int(algorithm) <= 255
            and _DIGEST_LENGTHS.get(int(digest_type)) == len(digest)
        ):
            return f"{int(key_tag)} {int(algorithm)} {digest_type} {digest.upper()}"
    raise RegistryError(_("%(record)s is not a valid DS record.") % {"record": record})


def _hash_code(code: str) -> str:
    """Codes are 120 random bits, so a plain SHA-256 is enough; spaces and case do not count."""
    return hashlib.sha256("".join(code.split()).upper().encode()).hexdigest()


def _info(domain: RegistryDomain) -> DomainInfo:
    return DomainInfo(
        name=domain.name,
        status=ACTIVE if domain.expires_at > timezone.now() else EXPIRED,
        expires_at=domain.expires_at,
        name_servers=list(domain.name_servers),
        ds_records=list(domain.ds_records),
        privacy=domain.is_private,
    )


def _whois(domain: RegistryDomain) -> str:
    """DK Hostmaster's layout. The payer is never shown, nor a private person's identity."""
    registrant = domain.registrant

    def date(moment: datetime) -> str:
        return timezone.localdate(moment).isoformat()

    if domain.is_private:
        name = address = postal_code = city = ANONYMOUS
    else:
        name = registrant["name"]
        if registrant.get("kind") == "company":  # the company's name, not its contact person's
            name = registrant.get("organisation") or name
        address, postal_code, city = (registrant[key] for key in ("address", "postal_code", "city"))
    rows = [
        ("Domain", domain.name),
        ("DNS", idna.encode(domain.name).decode()),
        ("Registered", date(domain.created_at)),
        ("Expires", date(domain.expires_at)),
        ("Dnssec", "Signed delegation" if domain.ds_records else "Unsigned delegation"),
        *[("DS", record) for record in domain.ds_records],
        ("Status", _info(domain).status.capitalize()),
        None,
        "Registrant",
        ("Name", name),
        ("Address", address),
        ("Postalcode", postal_code),
        ("City", city),
        ("Country", registrant["country"]),
    ]
    if not domain.is_private and registrant.get("phone"):
        rows.append(("Phone", registrant["phone"]))
    rows += [None, "Nameservers", *[("Hostname", host) for host in domain.name_servers]]
    lines = [
        "" if row is None else row if isinstance(row, str) else f"{row[0] + ':':22}{row[1]}"
        for row in rows
    ]
    return "\n".join(lines) + "\n"
