"""hosting.dns: domain names, record rules, zone files and DNSSEC. No database."""

import re
import time

import dns.dnssec
import dns.rdata
import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.exceptions import ValidationError
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from hosting.dns import (
    NormalizedRecord,
    display_domain,
    ds_record,
    generate_signing_key,
    normalize_domain,
    render_zone,
    sign_zone,
    validate_record,
    validate_rrsets,
    validate_signed_zone,
)

ZONE = "example.dk"
SOA = {
    "serial": 2026010101,
    "primary_ns": "ns1.havn.dk",
    "hostmaster": "hostmaster@havn.dk",
    "ns": ["ns1.havn.dk", "ns2.havn.dk."],
}


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def codes(error: ValidationError) -> set[str]:
    return {e.code for e in error.error_list}


def field_codes(error: ValidationError) -> dict[str, set[str]]:
    return {field: {e.code for e in errors} for field, errors in error.error_dict.items()}


def record(name, rtype, value, ttl=3600, priority=None, zone=ZONE) -> NormalizedRecord:
    return validate_record(zone, name, rtype, value, ttl, priority)


# Domain names


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("Blåbær.DK.", "xn--blbr-roah.dk"),
        ("københavn.dk", "xn--kbenhavn-54a.dk"),
        ("  Example.COM. ", "example.com"),
        ("xn--blbr-roah.dk", "xn--blbr-roah.dk"),
        ("www.ÆRØ.dk", "www.xn--r-3fa9c.dk"),
        ("例え。jp", "xn--r8jz45g.jp"),  # ideographic full stop
    ],
)
def test_normalize_domain(given, expected):
    assert normalize_domain(given) == expected


def test_display_domain_gives_unicode():
    assert display_domain("xn--blbr-roah.dk") == "blåbær.dk"
    assert display_domain("XN--KBENHAVN-54A.DK.") == "københavn.dk"
    assert display_domain("xn--zz.dk") == "xn--zz.dk"  # undecodable: shown as it is


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("", "required"),
        ("  .. ", "empty_label"),
        ("www..example.dk", "empty_label"),
        (".example.dk", "empty_label"),
        ("a" * 64 + ".dk", "label_too_long"),
        ("-shop.dk", "hyphen"),
        ("shop-.dk", "hyphen"),
        ("ab--cd.dk", "hyphen"),
        ("xn--zz.dk", "invalid_idn"),
        ("my_shop.dk", "invalid_characters"),
        ("shop!.dk", "invalid_characters"),
        ("dk", "single_label"),
        ("example.123", "numeric_tld"),
        ("192.0.2.1", "numeric_tld"),
        ("*.example.dk", "wildcard"),
        (".".join(["a" * 63] * 4) + ".dk", "name_too_long"),
    ],
)
def test_invalid_domains_refused(name, code):
    with pytest.raises(ValidationError) as caught:
        normalize_domain(name)
    assert codes(caught.value) == {code}


def test_messages_name_the_problem():
    with pytest.raises(ValidationError) as caught:
        normalize_domain("a" * 64 + ".dk")
    assert "64 characters" in caught.value.messages[0]
    with pytest.raises(ValidationError) as caught:
        normalize_domain("my_shop.dk")
    assert "“my_shop”" in caught.value.messages[0]


LDH_LABEL = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True).filter(
    lambda label: label[2:4] != "--"
)
DANISH_LABEL = st.text(alphabet="abcdeøæåéüxyz019", min_size=1, max_size=20)


@given(labels=st.lists(st.one_of(LDH_LABEL, DANISH_LABEL), min_size=1, max_size=4))
def test_normalize_is_idempotent_and_round_trips(labels):
    name = ".".join([*labels, "dk"])
    normal = normalize_domain(name)
    assert normal == normal.lower()
    assert normal.isascii()
    assert normalize_domain(normal) == normal
    assert normalize_domain(normal.upper() + ".") == normal
    assert normalize_domain(display_domain(normal)) == normal
    assert display_domain(normal) == name  # these inputs are already in normal Unicode form


# Records


@pytest.mark.parametrize(
    ("args", "name", "value", "priority"),
    [
        (("@", "A", " 192.0.2.1 "), "@", "192.0.2.1", None),
        (("www", "A", "192.0.2.1"), "www", "192.0.2.1", None),
        (("www.example.dk", "A", "192.0.2.1"), "www", "192.0.2.1", None),
        (("WWW.example.dk.", "A", "192.0.2.1"), "www", "192.0.2.1", None),
        (("*", "A", "192.0.2.1"), "*", "192.0.2.1", None),
        (("*.shop", "A", "192.0.2.1"), "*.shop", "192.0.2.1", None),
        (("blåbær", "A", "192.0.2.1"), "xn--blbr-roah", "192.0.2.1", None),
        (("", "AAAA", "2001:DB8:0::1"), "@", "2001:db8::1", None),
        (("www", "CNAME", "Shop.Example.NET"), "www", "shop.example.net.", None),
        (("www", "CNAME", "@"), "www", "example.dk.", None),
        (("s1._domainkey", "CNAME", "s1._domainkey.mail.example"), "s1._domainkey", None, None),
        (("@", "MX", "mail.example.dk", 10), "@", "mail.example.dk.", 10),
        (("@", "MX", "20 mx.københavn.dk."), "@", "mx.xn--kbenhavn-54a.dk.", 20),
        (("@", "MX", ".", 0), "@", ".", 0),
        (("_dmarc", "TXT", "v=DMARC1; p=none"), "_dmarc", '"v=DMARC1; p=none"', None),
        (("@", "TXT", '"v=spf1 -all"'), "@", '"v=spf1 -all"', None),
        (("@", "TXT", '"v=DKIM1; " "p=abc"'), "@", '"v=DKIM1; p=abc"', None),
        (("@", "TXT", 'say "hi" \\o/'), "@", '"say \\"hi\\" \\\\o/"', None),
        (("_sip._tcp", "SRV", "5 5060 sip.example.dk", 10), "_sip._tcp", None, 10),
        (("_sip._tls.voip", "SRV", "10 5 5061 sip.example.dk."), "_sip._tls.voip", None, 10),
        (("_xmpp._tcp", "SRV", "0 0 .", 0), "_xmpp._tcp", "0 0 .", 0),
        (("@", "CAA", '0 issue "letsencrypt.org"'), "@", '0 issue "letsencrypt.org"', None),
        (("@", "CAA", "0 ISSUEWILD ;"), "@", '0 issuewild ";"', None),
        (("@", "CAA", '128 iodef "mailto:sec@example.dk"'), "@", None, None),
        (("sub", "NS", "ns1.other.dk"), "sub", "ns1.other.dk.", None),
    ],
)
def test_valid_records(args, name, value, priority):
    normal = validate_record(ZONE, *args[:3], 3600, args[3] if len(args) > 3 else None)
    assert normal.zone == ZONE
    assert normal.name == name
    assert normal.rtype == args[1]
    assert normal.priority == priority
    if value is not None:
        assert normal.value == value
    # dnspython reads every normalised record back.
    dns.rdata.from_text("IN", normal.rtype, normal.rdata)


def test_record_in_idn_zone():
    normal = validate_record("blåbær.dk", "www.blåbær.dk", "A", "192.0.2.1", 300, None)
    assert (normal.zone, normal.name, normal.fqdn) == (
        "xn--blbr-roah.dk",
        "www",
        "www.xn--blbr-roah.dk",
    )
    assert normal.to_text() == "www 300 IN A 192.0.2.1"


@pytest.mark.parametrize(
    ("name", "rtype", "value", "ttl", "priority", "field", "code"),
    [
        ("@", "A", "300.1.1.1", 3600, None, "value", "invalid_ipv4"),
        ("@", "A", "2001:db8::1", 3600, None, "value", "ipv6_in_a"),
        ("@", "A", "0.0.0.0", 3600, None, "value", "unusable_address"),  # noqa: S104
        ("@", "A", "224.0.0.1", 3600, None, "value", "unusable_address"),
        ("@", "A", "255.255.255.255", 3600, None, "value", "unusable_address"),
        ("@", "A", "192.0.2.1", 3600, 10, "priority", "priority"),
        ("@", "AAAA", "192.0.2.1", 3600, None, "value", "ipv4_in_aaaa"),
        ("@", "AAAA", "2001:db8::g", 3600, None, "value", "invalid_ipv6"),
        ("@", "AAAA", "fe80::1%eth0", 3600, None, "value", "invalid_ipv6"),
        ("@", "AAAA", "ff02::1", 3600, None, "value", "unusable_address"),
        ("@", "CNAME", "other.example.net", 3600, None, "name", "cname_at_apex"),
        ("www", "CNAME", "www.example.dk", 3600, None, "value", "cname_loop"),
        ("www", "CNAME", "192.0.2.1", 3600, None, "value", "ip_not_hostname"),
        ("@", "MX", "mail.example.dk", 3600, -1, "priority", "number_range"),
        ("@", "MX", "mail.example.dk", 3600, 65536, "priority", "number_range"),
        ("@", "MX", "mail.example.dk", 3600, None, "priority", "required"),
        ("@", "MX", "192.0.2.1", 3600, 10, "value", "ip_not_hostname"),
        ("@", "MX", "mail_1.example.dk", 3600, 10, "value", "invalid_characters"),
        ("@", "TXT", "", 3600, None, "value", "required"),
        ("@", "TXT", "blåbær", 3600, None, "value", "not_printable"),
        ("@", "TXT", "a\tb", 3600, None, "value", "not_printable"),
        ("@", "TXT", "x" * 5000, 3600, None, "value", "txt_too_long"),
        ("sip._tcp", "SRV", "5 5060 sip.example.dk", 3600, 10, "name", "srv_name"),
        ("@", "SRV", "5 5060 sip.example.dk", 3600, 10, "name", "srv_name"),
        ("_sip._tcp", "SRV", "5 70000 sip.example.dk", 3600, 10, "value", "number_range"),
        ("_sip._tcp", "SRV", "5060 sip.example.dk", 3600, 10, "value", "parts"),
        ("_sip._tcp", "SRV", "5 5060", 3600, None, "value", "parts"),
        ("@", "MX", "", 3600, 10, "value", "parts"),
        ("@", "CAA", '0 policy "letsencrypt.org"', 3600, None, "value", "caa_tag"),
        ("@", "CAA", 'issue "letsencrypt.org"', 3600, None, "value", "caa_parts"),
        ("@", "CAA", '1 issue "letsencrypt.org"', 3600, None, "value", "caa_flags"),
        ("@", "CAA", '0 issue "lets encrypt"', 3600, None, "value", "caa_issuer"),
        ("@", "CAA", '0 iodef "sec@example.dk"', 3600, None, "value", "caa_iodef"),
        ("@", "NS", "ns1.other.dk", 3600, None, "name", "ns_at_apex"),
        ("*", "NS", "ns1.other.dk", 3600, None, "name", "wildcard"),
        ("www.", "A", "192.0.2.1", 3600, None, "name", "outside_zone"),
        ("w*w", "A", "192.0.2.1", 3600, None, "name", "wildcard"),
        ("a.*", "A", "192.0.2.1", 3600, None, "name", "wildcard"),
        ("_www", "A", "192.0.2.1", 3600, None, "name", "invalid_characters"),
        ("a" * 64, "A", "192.0.2.1", 3600, None, "name", "label_too_long"),
        ("@", "A", "192.0.2.1", 30, None, "ttl", "ttl_range"),
        ("@", "A", "192.0.2.1", 100000, None, "ttl", "ttl_range"),
        ("@", "A", "192.0.2.1", "3600", None, "ttl", "ttl_range"),
        ("@", "PTR", "host.example.dk", 3600, None, "rtype", "unsupported_type"),
    ],
)
def test_invalid_records_refused(name, rtype, value, ttl, priority, field, code):
    with pytest.raises(ValidationError) as caught:
        validate_record(ZONE, name, rtype, value, ttl, priority)
    assert field_codes(caught.value) == {field: {code}}


def test_record_errors_are_collected_per_field():
    with pytest.raises(ValidationError) as caught:
        validate_record(ZONE, "-bad", "A", "300.1.1.1", 30, None)
    assert set(caught.value.message_dict) == {"name", "value", "ttl"}
    assert "60" in caught.value.message_dict["ttl"][0]


def test_ttl_limits_are_allowed():
    assert record("@", "A", "192.0.2.1", ttl=60).ttl == 60
    assert record("@", "A", "192.0.2.1", ttl=86400).ttl == 86400


def test_long_txt_is_split_into_strings():
    text = "".join(chr(ord("a") + i % 26) for i in range(600))
    normal = record("@", "TXT", text)
    rdata = dns.rdata.from_text("IN", "TXT", normal.value)
    assert [len(s) for s in rdata.strings] == [255, 255, 90]
    assert b"".join(rdata.strings).decode() == text


def test_txt_quotes_and_backslashes_survive():
    text = 'v=1; note="a \\ b"'
    rdata = dns.rdata.from_text("IN", "TXT", record("@", "TXT", text).value)
    assert rdata.strings == (text.encode(),)


# Zone rules


def test_cname_beside_other_records_refused():
    records = [record("www", "CNAME", "shop.example.net"), record("www", "A", "192.0.2.1")]
    with pytest.raises(ValidationError) as caught:
        validate_rrsets(records)
    assert codes(caught.value) == {"cname_conflict"}
    assert "www.example.dk" in caught.value.messages[0]


def test_two_cnames_refused():
    records = [record("www", "CNAME", "a.example.net"), record("www", "CNAME", "b.example.net")]
    with pytest.raises(ValidationError) as caught:
        validate_rrsets(records)
    assert codes(caught.value) == {"cname_multiple"}


def test_duplicate_records_refused():
    records = [record("www", "AAAA", "2001:db8::1"), record("www", "AAAA", "2001:DB8:0:0::1")]
    with pytest.raises(ValidationError) as caught:
        validate_rrsets(records)
    assert codes(caught.value) == {"duplicate"}
    assert "www.example.dk" in caught.value.messages[0]


def test_rrset_ttls_must_match():
    records = [record("@", "A", "192.0.2.1", ttl=300), record("@", "A", "192.0.2.2", ttl=600)]
    with pytest.raises(ValidationError) as caught:
        validate_rrsets(records)
    assert codes(caught.value) == {"ttl_mismatch"}


def test_delegation_rules():
    ns = record("sub", "NS", "ns1.other.dk")
    validate_rrsets([ns, record("ns1.sub", "A", "192.0.2.53")])  # glue
    with pytest.raises(ValidationError) as caught:
        validate_rrsets([ns, record("sub", "A", "192.0.2.1")])
    assert codes(caught.value) == {"ns_conflict"}
    with pytest.raises(ValidationError) as caught:
        validate_rrsets([ns, record("_x.sub", "TXT", "hello")])
    assert codes(caught.value) == {"below_delegation"}


def test_idn_owner_named_in_unicode():
    records = [
        validate_record("blåbær.dk", "www", "CNAME", "a.example.net", 300, None),
        validate_record("blåbær.dk", "www", "TXT", "x", 300, None),
    ]
    with pytest.raises(ValidationError) as caught:
        validate_rrsets(records)
    assert "www.blåbær.dk" in caught.value.messages[0]


# Zone files


def zone_records() -> list[NormalizedRecord]:
    return [
        record("@", "A", "192.0.2.1", ttl=300),
        record("@", "AAAA", "2001:db8::1", ttl=300),
        record("@", "MX", "mail.example.dk", priority=10),
        record("@", "TXT", "v=spf1 mx -all"),
        record("@", "CAA", '0 issue "letsencrypt.org"'),
        record("www", "CNAME", "@"),
        record("mail", "A", "192.0.2.25"),
        record("*.shop", "A", "192.0.2.80"),
        record("_dmarc", "TXT", "v=DMARC1; p=reject"),
        record("_imaps._tcp", "SRV", "1 993 mail.example.dk", priority=0),
        record("lab", "NS", "ns.lab-hosting.dk"),
        record("ns.lab", "A", "192.0.2.53"),
    ]


def test_render_zone_parses_and_holds_records():
    records = zone_records()
    text = render_zone(ZONE, reversed(records), **SOA)
    zone = dns.zone.from_text(text, origin="example.dk.", relativize=False)
    soa = zone.find_rdataset("example.dk.", "SOA")[0]
    assert (soa.serial, soa.mname.to_text(), soa.rname.to_text()) == (
        2026010101,
        "ns1.havn.dk.",
        "hostmaster.havn.dk.",
    )
    apex_ns = {r.target.to_text() for r in zone.find_rdataset("example.dk.", "NS")}
    assert apex_ns == {"ns1.havn.dk.", "ns2.havn.dk."}
    for r in records:
        rdataset = zone.find_rdataset(r.fqdn + ".", r.rtype)
        assert dns.rdata.from_text("IN", r.rtype, r.rdata) in rdataset
        assert rdataset.ttl == r.ttl
    assert text == render_zone(ZONE, records, **SOA)  # stable order


def test_render_zone_refuses_bad_input():
    with pytest.raises(ValidationError) as caught:
        render_zone(ZONE, [record("www", "A", "192.0.2.1", zone="other.dk")], **SOA)
    assert codes(caught.value) == {"outside_zone"}
    with pytest.raises(ValidationError):
        render_zone(ZONE, [record("w", "CNAME", "a.dk"), record("w", "A", "192.0.2.1")], **SOA)
    with pytest.raises(ValidationError):
        render_zone(ZONE, [], **{**SOA, "ns": []})
    with pytest.raises(ValidationError):
        render_zone(ZONE, [], **{**SOA, "serial": 2**32})


def test_hostmaster_with_dot_in_local_part():
    text = render_zone(ZONE, [], **{**SOA, "hostmaster": "dns.admin@havn.dk"})
    zone = dns.zone.from_text(text, origin="example.dk.")
    assert zone.find_rdataset("@", "SOA")[0].rname.labels[:2] == (b"dns.admin", b"havn")


# DNSSEC

NOW = int(time.time())
VALIDITY = {"inception": NOW - 3600, "expiration": NOW + 14 * 86400}


@pytest.fixture(scope="module")
def signing_key() -> bytes:
    pem, algorithm = generate_signing_key()
    assert algorithm == dns.dnssec.Algorithm.ECDSAP256SHA256 == 13
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    return pem


@pytest.fixture(scope="module")
def signed(signing_key) -> str:
    with translation.override("en"):
        text = render_zone(ZONE, zone_records(), **SOA)
        return sign_zone(text, ZONE, signing_key, **VALIDITY)


def test_signed_zone_validates(signed):
    zone = dns.zone.from_text(signed, origin="example.dk.")
    assert zone.find_rdataset("@", "DNSKEY")[0].flags == 257
    assert zone.find_rdataset("www", "RRSIG", "CNAME")
    assert zone.find_rdataset("@", "NSEC")
    validate_signed_zone(signed, ZONE)
    validate_signed_zone(signed, "Example.DK.", now=NOW + 86400)


def test_tampered_record_fails_validation(signed):
    assert "mail 3600 IN A 192.0.2.25\n" in signed
    tampered = signed.replace("mail 3600 IN A 192.0.2.25\n", "mail 3600 IN A 192.0.2.26\n")
    with pytest.raises(ValidationError) as caught:
        validate_signed_zone(tampered, ZONE)
    assert codes(caught.value) == {"bad_signature"}
    assert caught.value.messages == ["The signature of mail.example.dk A is not valid."]


def test_removed_rrset_breaks_nsec_chain(signed):
    dmarc = re.compile(r"_dmarc \d+ IN (TXT|RRSIG TXT) ")
    kept = [line for line in signed.splitlines() if not dmarc.match(line)]
    with pytest.raises(ValidationError) as caught:
        validate_signed_zone("\n".join(kept), ZONE)
    assert codes(caught.value) == {"nsec_chain"}


def test_unsigned_or_expired_zone_fails(signed):
    with pytest.raises(ValidationError) as caught:
        validate_signed_zone(render_zone(ZONE, zone_records(), **SOA), ZONE)
    assert codes(caught.value) == {"no_dnskey"}
    with pytest.raises(ValidationError) as caught:
        validate_signed_zone(signed, ZONE, now=NOW + 30 * 86400)
    assert codes(caught.value) == {"bad_signature"}


def test_other_key_fails(signed):
    other, _ = generate_signing_key()
    text = render_zone(ZONE, zone_records(), **SOA)
    theirs = sign_zone(text, ZONE, other, **VALIDITY)
    ours_dnskey = next(line for line in signed.splitlines() if " DNSKEY " in line)
    theirs_dnskey = next(line for line in theirs.splitlines() if " DNSKEY " in line)
    with pytest.raises(ValidationError):
        validate_signed_zone(theirs.replace(theirs_dnskey, ours_dnskey), ZONE)


def test_resigning_replaces_old_signatures(signed, signing_key):
    later = {"inception": NOW, "expiration": NOW + 30 * 86400}
    resigned = sign_zone(signed, ZONE, signing_key, **later)
    validate_signed_zone(resigned, ZONE, now=NOW + 20 * 86400)
    zone = dns.zone.from_text(resigned, origin="example.dk.")
    assert len(zone.find_rdataset("@", "DNSKEY")) == 1
    assert len(zone.find_rdataset("@", "RRSIG", "SOA")) == 1


def test_ds_record(signed, signing_key):
    ds = ds_record(ZONE, signing_key)
    match = re.fullmatch(r"(\d+) 13 2 ([0-9a-f]{64})", ds)
    assert match
    dnskey = dns.zone.from_text(signed, origin="example.dk.").find_rdataset("@", "DNSKEY")[0]
    assert int(match.group(1)) == dns.dnssec.key_id(dnskey)
    assert ds == dns.dnssec.make_ds("example.dk.", dnskey, "SHA256").to_text()
    assert ds_record("EXAMPLE.dk.", signing_key.decode()) == ds


def test_bad_keys_and_times_refused(signing_key):
    text = render_zone(ZONE, [], **SOA)
    rsa_pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    for key in (b"not a key", rsa_pem):
        with pytest.raises(ValidationError) as caught:
            sign_zone(text, ZONE, key, **VALIDITY)
        assert codes(caught.value) == {"invalid_key"}
    with pytest.raises(ValidationError) as caught:
        sign_zone(text, ZONE, signing_key, inception=NOW, expiration=NOW)
    assert codes(caught.value) == {"validity"}
    with pytest.raises(ValidationError) as caught:
        sign_zone("@ IN SOA broken", ZONE, signing_key, **VALIDITY)
    assert codes(caught.value) == {"zone_syntax"}
