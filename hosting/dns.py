"""DNS rules of Havn: domain names, records, zone files and DNSSEC signing.

Pure functions, no models: the zone and record models call these. Every refusal is a
``django.core.exceptions.ValidationError`` with a translated message and a ``code``; record errors
are keyed by field ("name", "rtype", "value", "ttl", "priority"). See docs/dns.md.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import dns.dnssec
import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.zone
import idna
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from dns.rdtypes.util import Bitmap

RECORD_TYPES = ("A", "AAAA", "CNAME", "MX", "TXT", "SRV", "CAA", "NS")
MIN_TTL, MAX_TTL = 60, 86400
TXT_STRING_LENGTH = 255  # one <character-string> (RFC 1035 3.3)
TXT_MAX_LENGTH = 4096  # whole value; far beyond any SPF, DKIM or DMARC value
CAA_TAGS = ("issue", "issuewild", "iodef")
# Zone file defaults: SOA and apex NS TTL, SOA timers (refresh, retry, expire, negative TTL).
ZONE_TTL = 3600
SOA_TIMERS = (14400, 3600, 1209600, 300)
ALGORITHM = dns.dnssec.Algorithm.ECDSAP256SHA256  # 13

_UNDERSCORE_TYPES = {"TXT", "SRV", "CNAME"}  # _dmarc, _sip._tcp, selector._domainkey (DKIM)
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})  # full stops UTS 46 maps
_LDH = re.compile(r"[a-z0-9-]+\Z")
_LDH_UNDERSCORE = re.compile(r"[a-z0-9_-]+\Z")
_QUOTED = re.compile(r'\s*"((?:[^"\\]|\\.)*)"')
_ESCAPE = re.compile(r"\\(\d{3}|.)")
_DNSSEC_TYPES = {
    dns.rdatatype.RRSIG,
    dns.rdatatype.NSEC,
    dns.rdatatype.NSEC3,
    dns.rdatatype.NSEC3PARAM,
    dns.rdatatype.DNSKEY,
}
_IN = dns.rdataclass.IN


@dataclass(frozen=True, slots=True)
class NormalizedRecord:
    """A checked record. ``value`` is zone-file rdata without the priority."""

    zone: str  # A-label form, no trailing dot: "xn--blbr-roah.dk"
    name: str  # relative to the zone, "@" for the apex: "www", "_sip._tcp", "*"
    rtype: str  # one of RECORD_TYPES
    value: str  # "192.0.2.1", "mail.example.dk.", '"v=spf1 -all"', "5 5060 sip.example.dk."
    ttl: int
    priority: int | None = None  # MX and SRV only

    @property
    def fqdn(self) -> str:
        return self.zone if self.name == "@" else f"{self.name}.{self.zone}"

    @property
    def rdata(self) -> str:
        """The full rdata as in a zone file, priority included."""
        return self.value if self.priority is None else f"{self.priority} {self.value}"

    def to_text(self) -> str:
        """The record as one zone-file line (owner relative to the zone)."""
        return f"{self.name} {self.ttl} IN {self.rtype} {self.rdata}"


# Domain names


def _ascii_label(label: str, *, underscore: bool = False) -> str:
    """One lower-case label in its ASCII (A-label) form, or a ValidationError naming the problem."""
    if not label:
        raise ValidationError(
            _("The name has an empty label (two dots in a row, or a dot at the start)."),
            code="empty_label",
        )
    if not label.isascii():
        try:
            unicode = idna.uts46_remap(label, std3_rules=True, transitional=False)
            if not unicode.isascii():
                idna.check_label(unicode)
                unicode = "xn--" + unicode.encode("punycode").decode("ascii")
        except UnicodeError:  # idna.IDNAError is one
            raise ValidationError(
                _("“%(label)s” is not a valid internationalised (IDN) label."),
                code="invalid_idn",
                params={"label": label},
            ) from None
        label = unicode
    if len(label) > 63:
        raise ValidationError(
            _("The label “%(label)s” is %(length)d characters long; at most 63 are allowed."),
            code="label_too_long",
            params={"label": label, "length": len(label)},
        )
    if not (_LDH_UNDERSCORE if underscore else _LDH).match(label):
        if underscore:
            message = _("The label “%(label)s” may only hold letters, digits, - and _.")
        else:
            message = _("The label “%(label)s” may only hold letters, digits and hyphens.")
        raise ValidationError(message, code="invalid_characters", params={"label": label})
    if label.startswith("-") or label.endswith("-"):
        raise ValidationError(
            _("The label “%(label)s” cannot begin or end with a hyphen."),
            code="hyphen",
            params={"label": label},
        )
    if label[2:4] == "--":
        if not label.startswith("xn--"):
            raise ValidationError(
                _("The label “%(label)s” cannot have “--” in the third and fourth positions."),
                code="hyphen",
                params={"label": label},
            )
        try:
            valid = idna.alabel(idna.ulabel(label)).decode("ascii") == label
        except UnicodeError:
            valid = False
        if not valid:
            raise ValidationError(
                _("“%(label)s” is not a valid punycode (xn--) label."),
                code="invalid_idn",
                params={"label": label},
            )
    return label


def _labels(name: str, *, underscore: bool = False, wildcard: bool = False) -> list[str]:
    text = name.strip().translate(_DOTS).lower()
    text = text.removesuffix(".")
    if not text:
        raise ValidationError(_("Enter a domain name."), code="required")
    labels = text.split(".")
    for i, label in enumerate(labels):
        if label == "*" and wildcard and i == 0:
            continue
        if "*" in label:
            if wildcard:
                message = _("“*” is only allowed as the whole leftmost label (a wildcard).")
            else:
                message = _("A wildcard (“*”) is not allowed here.")
            raise ValidationError(message, code="wildcard")
        labels[i] = _ascii_label(label, underscore=underscore)
    return labels


def _domain(labels: list[str]) -> str:
    result = ".".join(labels)
    if len(result) > 253:
        raise ValidationError(
            _("The domain name is %(length)d characters long; at most 253 are allowed."),
            code="name_too_long",
            params={"length": len(result)},
        )
    if len(labels) < 2:
        raise ValidationError(
            _("“%(name)s” needs at least two labels, such as “example.dk”."),
            code="single_label",
            params={"name": result},
        )
    if labels[-1].isdigit():
        raise ValidationError(
            _("The top-level domain “%(tld)s” cannot be all digits."),
            code="numeric_tld",
            params={"tld": labels[-1]},
        )
    return result


def normalize_domain(name: str) -> str:
    """Lower-case A-label form (IDNA 2008), no trailing dot: "Blåbær.DK." -> "xn--blbr-roah.dk"."""
    return _domain(_labels(name))


def display_domain(a_label: str) -> str:
    """The Unicode form, "xn--blbr-roah.dk" -> "blåbær.dk". Undecodable labels stay as they are."""
    labels = a_label.strip().lower().removesuffix(".").split(".")
    for i, label in enumerate(labels):
        if label.startswith("xn--"):
            with contextlib.suppress(UnicodeError):
                labels[i] = idna.ulabel(label)
    return ".".join(labels)


def _hostname(value: str, zone: str, *, underscore: bool = False) -> str:
    """A record's target: fully qualified ("@" is the zone), returned with a trailing dot."""
    text = value.strip()
    if text == "@":
        return zone + "."
    try:
        ipaddress.ip_address(text)
    except ValueError:
        pass
    else:
        raise ValidationError(
            _("Enter a host name here, not an IP address."), code="ip_not_hostname"
        )
    return _domain(_labels(text, underscore=underscore)) + "."


# Records


def _field_error(field: str, message: str, code: str, **params) -> ValidationError:
    return ValidationError({field: ValidationError(message, code=code, params=params or None)})


def _owner(zone: str, name: str, rtype: str) -> str:
    """The owner name relative to the zone; "@" for the apex."""
    text = name.strip()
    if text in ("", "@"):
        labels: list[str] = []
    else:
        labels = _labels(text, underscore=rtype in _UNDERSCORE_TYPES, wildcard=rtype != "NS")
        zone_labels = zone.split(".")
        if labels[-len(zone_labels) :] == zone_labels:  # "www.example.dk" in example.dk: www
            labels = labels[: -len(zone_labels)]
        elif text.endswith("."):
            raise ValidationError(
                _("“%(name)s” is not inside the zone %(zone)s."),
                code="outside_zone",
                params={"name": text, "zone": display_domain(zone)},
            )
        _domain([*labels, *zone_labels])  # length of the whole name
    if not labels:
        if rtype == "CNAME":
            raise ValidationError(
                _("A CNAME record cannot be at the zone apex (@); use A/AAAA records there."),
                code="cname_at_apex",
            )
        if rtype == "NS":
            raise ValidationError(
                _("The zone's own name servers are set by Havn; NS records delegate subdomains."),
                code="ns_at_apex",
            )
    if rtype == "SRV" and not (
        len(labels) >= 2 and all(len(x) > 1 and x.startswith("_") for x in labels[:2])
    ):
        raise ValidationError(
            _("An SRV record's name must begin with _service._protocol, such as “_sip._tcp”."),
            code="srv_name",
        )
    return ".".join(labels) or "@"


def _ttl(ttl: int) -> int:
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not MIN_TTL <= ttl <= MAX_TTL:
        raise ValidationError(
            _("The TTL must be a whole number of seconds from %(min)d to %(max)d (24 hours)."),
            code="ttl_range",
            params={"min": MIN_TTL, "max": MAX_TTL},
        )
    return ttl


def _number(text: str | int, field: str, message: str) -> int:
    """A whole number 0..65535 (priority, weight, port); ``message`` says which."""
    if isinstance(text, int) and not isinstance(text, bool):
        number = text
    elif isinstance(text, str) and text.isdigit() and text.isascii():
        number = int(text)
    else:
        number = -1
    if not 0 <= number <= 65535:
        raise _field_error(field, message, "number_range")
    return number


def _split_priority(value: str, priority: int | None, rtype: str) -> tuple[int, list[str]]:
    """MX/SRV: the priority comes as its own field or as the value's first word."""
    parts = value.split()
    fields = 1 if rtype == "MX" else 3
    message = _("The priority must be a whole number from 0 to 65535.")
    if priority is None:
        if len(parts) == fields + 1:
            return _number(parts[0], "priority", message), parts[1:]
        if len(parts) == fields:
            raise _field_error("priority", _("Enter a priority."), "required")
    else:
        number = _number(priority, "priority", message)
        if len(parts) == fields:
            return number, parts
    if rtype == "MX":
        hint = _("Enter the mail server's host name, such as “mail.example.dk”.")
    else:
        hint = _("Enter weight, port and target, such as “5 5060 sip.example.dk”.")
    raise _field_error("value", hint, "parts")


def _no_priority(priority: int | None) -> None:
    if priority is not None:
        raise _field_error("priority", _("Only MX and SRV records have a priority."), "priority")


def _a(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value.strip())
    except ValueError:
        if ":" in value:
            raise ValidationError(
                _("“%(value)s” is an IPv6 address; use an AAAA record."),
                code="ipv6_in_a",
                params={"value": value},
            ) from None
        raise ValidationError(
            _("“%(value)s” is not a valid IPv4 address."),
            code="invalid_ipv4",
            params={"value": value},
        ) from None
    if (
        address.is_unspecified
        or address.is_multicast
        or address == ipaddress.IPv4Address("255.255.255.255")
    ):
        raise ValidationError(
            _("%(value)s cannot be used: it is an unspecified, multicast or broadcast address."),
            code="unusable_address",
            params={"value": str(address)},
        )
    return str(address)


def _aaaa(value: str) -> str:
    text = value.strip()
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        try:
            ipaddress.IPv4Address(text)
        except ValueError:
            pass
        else:
            raise ValidationError(
                _("“%(value)s” is an IPv4 address; use an A record."),
                code="ipv4_in_aaaa",
                params={"value": value},
            ) from None
        address = None
    if address is None or address.scope_id:
        raise ValidationError(
            _("“%(value)s” is not a valid IPv6 address."),
            code="invalid_ipv6",
            params={"value": value},
        )
    if address.is_unspecified or address.is_multicast:
        raise ValidationError(
            _("%(value)s cannot be used: it is an unspecified or multicast address."),
            code="unusable_address",
            params={"value": address.compressed},
        )
    return address.compressed


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _unquote(value: str) -> str:
    """'"a" "b"' (zone-file form, as often pasted) -> "ab"; anything else is taken as it is."""
    parts, end = [], 0
    for match in _QUOTED.finditer(value):
        if match.start() != end:
            return value
        parts.append(match.group(1))
        end = match.end()
    if not parts or value[end:].strip():
        return value

    def unescape(m: re.Match[str]) -> str:
        escaped = m.group(1)
        return chr(int(escaped)) if escaped.isdigit() else escaped

    return "".join(_ESCAPE.sub(unescape, part) for part in parts)


def _printable(text: str, message: str) -> None:
    """Printable ASCII only; ``message`` gets the offending code point as %(code)04X."""
    for char in text:
        if not " " <= char <= "~":
            raise ValidationError(message, code="not_printable", params={"code": ord(char)})


def _txt(value: str) -> str:
    text = _unquote(value.strip())
    if not text:
        raise ValidationError(_("Enter a TXT value."), code="required")
    if len(text) > TXT_MAX_LENGTH:
        raise ValidationError(
            _("A TXT value can be at most %(max)d characters long."),
            code="txt_too_long",
            params={"max": TXT_MAX_LENGTH},
        )
    _printable(text, _("A TXT value may only hold printable ASCII; U+%(code)04X is not allowed."))
    chunks = [text[i : i + TXT_STRING_LENGTH] for i in range(0, len(text), TXT_STRING_LENGTH)]
    return " ".join(_quote(chunk) for chunk in chunks)


def _caa(value: str, zone: str) -> str:
    parts = value.strip().split(None, 2)
    if len(parts) != 3:
        raise ValidationError(
            _('Enter a CAA value as “flags tag value”, such as: 0 issue "letsencrypt.org".'),
            code="caa_parts",
        )
    flags, tag, content = parts[0], parts[1].lower(), _unquote(parts[2])
    if flags not in ("0", "128"):
        raise ValidationError(_("CAA flags must be 0, or 128 for critical."), code="caa_flags")
    if tag not in CAA_TAGS:
        raise ValidationError(
            _("“%(tag)s” is not a supported CAA tag; use issue, issuewild or iodef."),
            code="caa_tag",
            params={"tag": parts[1]},
        )
    _printable(
        content, _("A CAA value may only hold printable ASCII; U+%(code)04X is not allowed.")
    )
    if tag == "iodef":
        if not re.match(r"(mailto:|https?://)\S+\Z", content):
            raise ValidationError(
                _("An iodef value must be a mailto: or https:// address."), code="caa_iodef"
            )
    else:
        issuer = content.split(";", 1)[0].strip()
        if issuer:  # empty (";") means no CA may issue
            try:
                issuer = _hostname(issuer, zone).removesuffix(".")
            except ValidationError:
                raise ValidationError(
                    _("“%(issuer)s” is not a valid CA domain name."),
                    code="caa_issuer",
                    params={"issuer": issuer},
                ) from None
            content = issuer + content[len(content.split(";", 1)[0]) :]
    return f"{flags} {tag} {_quote(content)}"


def _value(zone: str, rtype: str, value: str, priority: int | None) -> tuple[int | None, str]:
    """(priority, value) for one type; field errors come keyed, the rest count as "value"."""
    if rtype in ("MX", "SRV"):
        number, parts = _split_priority(value, priority, rtype)
        if rtype == "MX":
            if parts[0] == "." and number == 0:
                return 0, "."  # null MX (RFC 7505): the domain takes no mail
            return number, _hostname(parts[0], zone)
        weight = _number(parts[0], "value", _("The weight must be a whole number from 0 to 65535."))
        port = _number(parts[1], "value", _("The port must be a whole number from 0 to 65535."))
        target = "." if parts[2] == "." else _hostname(parts[2], zone)
        return number, f"{weight} {port} {target}"
    _no_priority(priority)
    if rtype == "A":
        return None, _a(value)
    if rtype == "AAAA":
        return None, _aaaa(value)
    if rtype == "TXT":
        return None, _txt(value)
    if rtype == "CAA":
        return None, _caa(value, zone)
    return None, _hostname(value, zone, underscore=rtype == "CNAME")  # CNAME, NS


def validate_record(
    zone: str, name: str, rtype: str, value: str, ttl: int, priority: int | None = None
) -> NormalizedRecord:
    """Check one record and return its normal form. ``name`` is relative to ``zone`` ("@" for the
    apex; a name ending in the zone, like "www.example.dk", is taken as "www")."""
    zone = normalize_domain(zone)
    rtype = rtype.strip().upper()
    if rtype not in RECORD_TYPES:
        raise _field_error(
            "rtype",
            _("%(rtype)s records are not supported; use one of %(types)s."),
            "unsupported_type",
            rtype=rtype,
            types=", ".join(RECORD_TYPES),
        )
    errors: dict[str, list[ValidationError]] = defaultdict(list)
    results: dict[str, object] = {}

    def attempt(field: str, check, *args) -> None:
        try:
            results[field] = check(*args)
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for key, items in error.error_dict.items():
                    errors[key].extend(items)
            else:
                errors[field].extend(error.error_list)

    attempt("name", _owner, zone, name, rtype)
    attempt("ttl", _ttl, ttl)
    attempt("value", _value, zone, rtype, value, priority)
    if errors:
        raise ValidationError(dict(errors))
    record_priority, record_value = results["value"]
    record = NormalizedRecord(
        zone, results["name"], rtype, record_value, results["ttl"], record_priority
    )
    if rtype == "CNAME" and record.value == record.fqdn + ".":
        raise _field_error("value", _("A CNAME record cannot point to itself."), "cname_loop")
    try:  # last check: dnspython reads it as the zone file will hold it
        dns.rdata.from_text(_IN, rtype, record.rdata, origin=dns.name.root)
    except (dns.exception.DNSException, ValueError):
        raise _field_error(
            "value", _("This is not a valid %(rtype)s value."), "invalid", rtype=rtype
        ) from None
    return record


# Zones


def validate_rrsets(records: Iterable[NormalizedRecord]) -> None:
    """Rules between records: CNAME alone at its name (RFC 1034), no duplicates, one TTL per RRset
    (RFC 2181), NS delegations alone at their name, only glue below them."""
    by_name: dict[str, list[NormalizedRecord]] = defaultdict(list)
    for record in records:
        by_name[record.fqdn].append(record)
    delegations = [fqdn for fqdn, recs in by_name.items() if any(r.rtype == "NS" for r in recs)]
    errors = []
    for fqdn, recs in by_name.items():
        shown = display_domain(fqdn)
        types = sorted({r.rtype for r in recs})
        if sum(r.rtype == "CNAME" for r in recs) > 1:
            errors.append(
                ValidationError(
                    _("%(name)s has more than one CNAME record; only one is allowed."),
                    code="cname_multiple",
                    params={"name": shown},
                )
            )
        if "CNAME" in types and len(types) > 1:
            errors.append(
                ValidationError(
                    _("%(name)s has a CNAME record, so it cannot have other records (%(types)s)."),
                    code="cname_conflict",
                    params={"name": shown, "types": ", ".join(t for t in types if t != "CNAME")},
                )
            )
        if "NS" in types and len(types) > 1:
            errors.append(
                ValidationError(
                    _("%(name)s is delegated with NS records, so it cannot have other records."),
                    code="ns_conflict",
                    params={"name": shown},
                )
            )
        parent = next((d for d in delegations if fqdn.endswith("." + d)), None)
        if parent and set(types) - {"A", "AAAA"}:
            errors.append(
                ValidationError(
                    _("%(name)s is below the delegated %(parent)s; only A/AAAA glue can be there."),
                    code="below_delegation",
                    params={"name": shown, "parent": display_domain(parent)},
                )
            )
        seen = set()
        ttls = defaultdict(set)
        for r in recs:
            ttls[r.rtype].add(r.ttl)
            if (r.rtype, r.rdata) in seen:
                errors.append(
                    ValidationError(
                        _("%(name)s has the same %(rtype)s record twice: %(value)s"),
                        code="duplicate",
                        params={"name": shown, "rtype": r.rtype, "value": r.rdata},
                    )
                )
            seen.add((r.rtype, r.rdata))
        for rtype, values in ttls.items():
            if len(values) > 1:
                errors.append(
                    ValidationError(
                        _("The %(rtype)s records of %(name)s must all have the same TTL."),
                        code="ttl_mismatch",
                        params={"name": shown, "rtype": rtype},
                    )
                )
    if errors:
        raise ValidationError(errors)


def _rname(hostmaster: str, zone: str) -> str:
    """SOA RNAME: "hostmaster@havn.dk" (or "hostmaster.havn.dk") -> "hostmaster.havn.dk."."""
    local, at, domain = hostmaster.strip().rpartition("@")
    if not at:
        return _hostname(hostmaster, zone)
    if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+", local):
        raise ValidationError(
            _("“%(email)s” is not a valid hostmaster address."),
            code="hostmaster",
            params={"email": hostmaster},
        )
    return local.replace(".", "\\.") + "." + _hostname(domain, zone)


def render_zone(
    zone: str,
    records: Iterable[NormalizedRecord],
    *,
    serial: int,
    primary_ns: str,
    hostmaster: str,
    ns: list[str],
) -> str:
    """A BIND zone file: SOA, the apex NS records from ``ns``, then ``records`` in a stable order.
    ``hostmaster`` is an e-mail address (or an SOA RNAME)."""
    origin = normalize_domain(zone)
    records = list(records)
    if not 0 <= serial < 2**32:
        raise ValidationError(_("The SOA serial must be from 0 to 4294967295."), code="serial")
    if not ns:
        raise ValidationError(_("A zone needs at least one name server."), code="no_ns")
    for record in records:
        if record.zone != origin:
            raise ValidationError(
                _("The record for %(name)s is not in the zone %(zone)s."),
                code="outside_zone",
                params={"name": display_domain(record.fqdn), "zone": display_domain(origin)},
            )
    validate_rrsets(records)
    name_servers = sorted({_hostname(server, origin) for server in ns})
    refresh, retry, expire, minimum = SOA_TIMERS
    lines = [
        f"; {display_domain(origin)}, written by Havn",
        f"$ORIGIN {origin}.",
        f"$TTL {ZONE_TTL}",
        f"@ {ZONE_TTL} IN SOA {_hostname(primary_ns, origin)} {_rname(hostmaster, origin)} "
        f"{serial} {refresh} {retry} {expire} {minimum}",
        *(f"@ {ZONE_TTL} IN NS {server}" for server in name_servers),
    ]

    def order(r: NormalizedRecord) -> tuple:
        owner = () if r.name == "@" else tuple(reversed(r.name.split(".")))
        return owner, RECORD_TYPES.index(r.rtype), r.priority or 0, r.value

    lines += [r.to_text() for r in sorted(records, key=order)]
    text = "\n".join(lines) + "\n"
    dns.zone.from_text(text, origin=origin + ".", relativize=False)  # must read back
    return text


# DNSSEC


def generate_signing_key() -> tuple[bytes, dns.dnssec.Algorithm]:
    """A new ECDSA P-256 key (algorithm 13) as unencrypted PKCS#8 PEM: encrypt it at rest."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return pem, ALGORITHM


def _private_key(pem: bytes | str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(
            pem.encode() if isinstance(pem, str) else pem, password=None
        )
    except (ValueError, TypeError):
        raise ValidationError(
            _("The DNSSEC key is not a readable PEM private key."), code="invalid_key"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValidationError(
            _("The DNSSEC key must be an ECDSA P-256 key (algorithm 13)."), code="invalid_key"
        )
    return key


def _dnskey(key: ec.EllipticCurvePrivateKey):
    # One combined signing key (CSK): zone key + SEP flag, 257. It signs every RRset.
    flags = dns.dnssec.Flag.ZONE | dns.dnssec.Flag.SEP
    return dns.dnssec.make_dnskey(key.public_key(), ALGORITHM, flags=flags)


def _read_zone(text: str, origin: dns.name.Name) -> dns.zone.Zone:
    try:
        return dns.zone.from_text(text, origin=origin, relativize=False)
    except dns.exception.DNSException as error:
        raise ValidationError(
            _("The zone file could not be read: %(error)s"),
            code="zone_syntax",
            params={"error": str(error)},
        ) from None


def sign_zone(
    zone_text: str,
    zone_name: str,
    private_key_pem: bytes | str,
    *,
    inception: datetime | int,
    expiration: datetime | int,
) -> str:
    """The zone signed with one key: DNSKEY added, every authoritative RRset given an RRSIG, and an
    NSEC chain. DNSSEC records already in ``zone_text`` are replaced. Times are aware datetimes or
    seconds since the epoch."""
    origin = dns.name.from_text(normalize_domain(zone_name))
    key = _private_key(private_key_pem)
    start = inception.timestamp() if isinstance(inception, datetime) else inception
    end = expiration.timestamp() if isinstance(expiration, datetime) else expiration
    if end <= start:
        raise ValidationError(
            _("The signatures' expiration must come after their inception."), code="validity"
        )
    zone = _read_zone(zone_text, origin)
    for name, node in list(zone.nodes.items()):
        node.rdatasets[:] = [r for r in node.rdatasets if r.rdtype not in _DNSSEC_TYPES]
        if not node.rdatasets:
            del zone.nodes[name]
    dns.dnssec.sign_zone(
        zone, keys=[(key, _dnskey(key))], inception=int(start), expiration=int(end)
    )
    return zone.to_text(want_origin=True)


def ds_record(zone_name: str, private_key_pem: bytes | str) -> str:
    """The DS rdata (SHA-256) for the registry: "<key tag> 13 2 <hex digest>"."""
    origin = normalize_domain(zone_name) + "."
    return dns.dnssec.make_ds(origin, _dnskey(_private_key(private_key_pem)), "SHA256").to_text()


def validate_signed_zone(
    signed_text: str, zone_name: str, *, now: datetime | float | None = None
) -> None:
    """Check a signed zone: every authoritative RRset has a valid RRSIG by the apex DNSKEY at
    ``now`` (default: the current time), and the NSEC chain covers every name and type."""
    origin = dns.name.from_text(normalize_domain(zone_name))
    zone = _read_zone(signed_text, origin)
    when = now.timestamp() if isinstance(now, datetime) else now
    apex = zone.get_node(origin)
    dnskeys = apex.get_rdataset(_IN, dns.rdatatype.DNSKEY) if apex else None
    if not dnskeys:
        raise ValidationError(_("The zone has no DNSKEY record at its apex."), code="no_dnskey")
    keys = {origin: dnskeys}
    errors = []

    def fail(message: str, code: str, name: dns.name.Name, rdtype=None) -> None:
        rrset = display_domain(name.to_text(omit_final_dot=True))
        if rdtype is not None:
            rrset += " " + dns.rdatatype.to_text(rdtype)
        errors.append(ValidationError(message, code=code, params={"rrset": rrset}))

    secure: list[dns.name.Name] = []
    delegation = None
    for name in sorted(zone.nodes):
        if delegation is not None and name.is_subdomain(delegation):
            continue  # glue below a delegation is not signed
        node = zone.nodes[name]
        is_cut = name != origin and node.get_rdataset(_IN, dns.rdatatype.NS) is not None
        delegation = name if is_cut else None
        secure.append(name)
        for rdataset in node.rdatasets:
            rdtype = rdataset.rdtype
            if rdtype == dns.rdatatype.RRSIG or (
                is_cut and rdtype not in (dns.rdatatype.DS, dns.rdatatype.NSEC)
            ):
                continue
            signatures = node.get_rdataset(_IN, dns.rdatatype.RRSIG, covers=rdtype)
            if signatures is None:
                fail(_("%(rrset)s has no signature (RRSIG)."), "unsigned", name, rdtype)
                continue
            try:
                dns.dnssec.validate((name, rdataset), (name, signatures), keys, now=when)
            except dns.exception.DNSException:
                fail(_("The signature of %(rrset)s is not valid."), "bad_signature", name, rdtype)
    for i, name in enumerate(secure):
        node = zone.nodes[name]
        nsec = node.get_rdataset(_IN, dns.rdatatype.NSEC)
        types = sorted({r.rdtype for r in node.rdatasets})
        if (
            nsec is None
            or nsec[0].next.derelativize(origin) != secure[(i + 1) % len(secure)]
            or tuple(nsec[0].windows) != tuple(Bitmap.from_rdtypes(types).windows)
        ):
            fail(_("The NSEC chain is broken at %(rrset)s."), "nsec_chain", name)
    if errors:
        raise ValidationError(errors)
