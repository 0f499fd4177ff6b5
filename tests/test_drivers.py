"""Drivers for what the machine cannot run: the domain registry, MitID and an ACME CA."""

import dataclasses
import logging
import stat
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from hosting.registry_local import LocalRegistry, RegistryDomain
from infra import acme, identity, registry
from infra.registry import (
    AuthCodeInvalid,
    Contact,
    DomainNotFound,
    DomainUnavailable,
    RegistryError,
)

PERSON = Contact(
    name="Karin Skjultsen",
    organisation="",
    address="Gemmestien 7",
    postal_code="8000",
    city="Aarhus C",
    country="DK",
    email="karin.skjultsen@example.dk",
    phone="+45 20 31 42 53",
    kind="person",
)
COMPANY = Contact(
    name="Otto Kontaktsen",
    organisation="Alfa ApS",
    address="Havnegade 1",
    postal_code="1058",
    city="København K",
    country="DK",
    email="info@alfa.example",
    phone="+45 33 12 34 56",
    kind="company",
    cvr="10150817",
)
PAYER = Contact(
    name="Bente Betalersen",
    organisation="Betalerfirmaet ApS",
    address="Pengegyden 99",
    postal_code="5000",
    city="Odense C",
    country="DK",
    email="bente.betalersen@example.dk",
    phone="+45 70 71 72 73",
    kind="company",
    cvr="10150817",
)
PAYER_MARKERS = ["Bente", "Betalersen", "Betalerfirmaet", "Pengegyden", "+45 70 71 72 73"]
NS = ["ns1.havn.dk", "ns2.havn.dk"]
DS = "12345 13 2 " + "ab" * 32
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)


# --- domain registry ------------------------------------------------------------------------------
@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_register_a_free_name_then_it_is_taken_for_everyone():
    havn = LocalRegistry()
    assert havn.check("Alfa.DK") == registry.Availability(True, "")

    info = havn.register("Alfa.DK", COMPANY, PAYER, 1, NS, privacy=False)

    assert info == registry.DomainInfo(
        name="alfa.dk",
        status=registry.ACTIVE,
        expires_at=datetime(2026, 3, 10, 12, 0, tzinfo=UTC),
        name_servers=NS,
        ds_records=[],
        privacy=False,
    )
    taken = havn.check("alfa.dk")
    assert not taken.available and "alfa.dk" in taken.reason
    with pytest.raises(DomainUnavailable):
        havn.register("alfa.dk", PERSON, PAYER, 1, NS, privacy=True)
    with pytest.raises(DomainUnavailable):
        LocalRegistry(registrar="other").register("alfa.dk", PERSON, PAYER, 1, NS, privacy=True)
    assert RegistryDomain.objects.get().registrar == "havn"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name", ["example.dk", "test.com", "havn.xyz", "a..dk", "www.alfa.dk", "-alfa.dk", "x_y.dk", ""]
)
def test_reserved_unsold_and_malformed_names_are_unavailable_with_a_reason(name):
    result = LocalRegistry().check(name)
    assert not result.available and result.reason


@pytest.mark.django_db
def test_danish_letters_are_allowed_in_dk_names():
    havn = LocalRegistry()
    assert havn.check("Æblegrød.dk").available
    assert havn.register("Æblegrød.dk", PERSON, PAYER, 1, NS, privacy=True).name == "æblegrød.dk"
    assert "DNS:                  xn--blegrd-oua3m.dk" in havn.whois("æblegrød.dk")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "registrant",
    [
        dataclasses.replace(PERSON, address=""),
        dataclasses.replace(PERSON, postal_code="80000"),
        dataclasses.replace(PERSON, phone="ring mig"),
        dataclasses.replace(PERSON, email="karin"),
        dataclasses.replace(PERSON, country="Danmark"),
        dataclasses.replace(COMPANY, cvr=""),
        dataclasses.replace(COMPANY, cvr="12345678"),  # fails the modulus-11 control
    ],
)
def test_dk_names_need_a_complete_valid_contact(registrant):
    with pytest.raises(RegistryError, match="registrant"):
        LocalRegistry().register("kontakt.dk", registrant, PAYER, 1, NS, privacy=False)
    assert LocalRegistry().check("kontakt.dk").available


@pytest.mark.django_db
def test_other_tlds_need_only_a_name_and_an_e_mail_address():
    minimal = Contact("Jo", "", "", "", "", "", "jo@example.net", "", "person")
    assert LocalRegistry().register("havn-drivers.com", minimal, minimal, 1, [], False).name
    with pytest.raises(RegistryError, match="payer"):
        LocalRegistry().register("havn-x.com", minimal, dataclasses.replace(minimal, email=""),
                                 1, [], False)  # fmt: skip


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_renew_extends_the_expiry_by_whole_years_at_most_ten_ahead():
    havn = LocalRegistry()
    havn.register("forny.dk", PERSON, PAYER, 1, NS, privacy=True)

    assert havn.renew("forny.dk", 1).expires_at == datetime(2027, 3, 10, 12, tzinfo=UTC)
    assert havn.info("forny.dk").expires_at == datetime(2027, 3, 10, 12, tzinfo=UTC)
    assert havn.renew("forny.dk", 8).expires_at == datetime(2035, 3, 10, 12, tzinfo=UTC)
    for years in (1, 0, 11):
        with pytest.raises(RegistryError):
            havn.renew("forny.dk", years)
    with pytest.raises(DomainNotFound):
        LocalRegistry(registrar="other").renew("forny.dk", 1)
    with pytest.raises(DomainNotFound):
        havn.renew("ukendt.dk", 1)
    assert havn.info("forny.dk").expires_at == datetime(2035, 3, 10, 12, tzinfo=UTC)


@pytest.mark.django_db
def test_an_unpaid_domain_is_reported_as_expired():
    with time_machine.travel(NOW, tick=False):
        LocalRegistry().register("udloebet.dk", PERSON, PAYER, 1, NS, privacy=True)
    with time_machine.travel(NOW + timedelta(days=400), tick=False):
        assert LocalRegistry().info("udloebet.dk").status == registry.EXPIRED
        assert "Status:               Expired" in LocalRegistry().whois("udloebet.dk")
        assert not LocalRegistry().check("udloebet.dk").available


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_transfer_needs_the_latest_auth_code_and_spends_it():
    other, havn = LocalRegistry(registrar="other"), LocalRegistry()
    other.register("flyt.dk", PERSON, PAYER, 2, NS, privacy=True)
    with pytest.raises(DomainNotFound):
        havn.transfer_out_code("flyt.dk")  # only the domain's registrar hands out codes

    old_code = other.transfer_out_code("flyt.dk")
    code = other.transfer_out_code("flyt.dk")
    stored = RegistryDomain.objects.get(name="flyt.dk").auth_code_hash
    assert code != old_code and stored and code not in stored

    for wrong in ("WRONG-CODE", old_code, ""):
        with pytest.raises(AuthCodeInvalid):
            havn.transfer_in("flyt.dk", wrong, COMPANY, PAYER)
    assert RegistryDomain.objects.get(name="flyt.dk").registrar == "other"

    info = havn.transfer_in("flyt.dk", f" {code.lower()} ", COMPANY, PAYER)

    assert info.expires_at == datetime(2027, 3, 10, 12, tzinfo=UTC)  # a move, not a renewal
    moved = RegistryDomain.objects.get(name="flyt.dk")
    assert (moved.registrar, moved.registrant["name"], moved.auth_code_hash) == (
        "havn",
        COMPANY.name,
        "",
    )
    with pytest.raises(RegistryError):
        LocalRegistry(registrar="third").transfer_in("flyt.dk", code, PERSON, PAYER)
    with pytest.raises(DomainNotFound):
        other.set_name_servers("flyt.dk", NS)
    with pytest.raises(DomainNotFound):
        havn.transfer_in("ukendt.dk", code, PERSON, PAYER)


@pytest.mark.django_db
def test_release_makes_the_name_free_again():
    havn = LocalRegistry()
    havn.register("slip.dk", PERSON, PAYER, 1, NS, privacy=True)
    with pytest.raises(DomainNotFound):
        LocalRegistry(registrar="other").release("slip.dk")

    havn.release("slip.dk")

    assert havn.check("slip.dk").available
    assert havn.whois("slip.dk") == "No entries found for the selected source.\n"
    with pytest.raises(DomainNotFound):
        havn.info("slip.dk")


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_whois_hides_a_protected_person_shows_a_company_and_never_the_payer():
    havn = LocalRegistry()
    havn.register("skjult.dk", PERSON, PAYER, 1, NS, privacy=True)
    havn.register("alfa.dk", COMPANY, PAYER, 1, NS, privacy=True)  # no protection for companies
    havn.register("aaben.dk", PERSON, PAYER, 1, NS, privacy=False)

    hidden = havn.whois("skjult.dk")
    assert "Domain:               skjult.dk" in hidden
    assert "Registered:           2025-03-10" in hidden
    assert "Expires:              2026-03-10" in hidden
    assert "Name:                 Anonymous" in hidden
    assert "Address:              Anonymous" in hidden
    assert "Country:              DK" in hidden
    for private in ("Karin", "Skjultsen", "Gemmestien", "8000", "Aarhus", PERSON.phone, "@"):
        assert private not in hidden
    assert havn.info("skjult.dk").privacy

    company = havn.whois("alfa.dk")
    assert "Name:                 Alfa ApS" in company
    assert "Address:              Havnegade 1" in company
    assert "Otto" not in company and COMPANY.email not in company
    assert not havn.info("alfa.dk").privacy

    public = havn.whois("aaben.dk")
    assert "Name:                 Karin Skjultsen" in public
    assert "Postalcode:           8000" in public
    assert PERSON.email not in public

    havn.set_privacy("aaben.dk", True)
    assert "Karin" not in havn.whois("aaben.dk")
    havn.update_contacts("skjult.dk", COMPANY)
    assert "Alfa ApS" in havn.whois("skjult.dk")

    for text in (hidden, company, public, havn.whois("aaben.dk"), havn.whois("skjult.dk")):
        for marker in [*PAYER_MARKERS, PAYER.email]:
            assert marker not in text
    assert havn.whois("ukendt.dk") == "No entries found for the selected source.\n"
    assert havn.whois("ikke et navn") == "No entries found for the selected source.\n"


@pytest.mark.django_db
def test_name_servers_and_ds_records_are_set_and_shown_in_whois():
    havn = LocalRegistry()
    havn.register("dnssec.dk", PERSON, PAYER, 1, NS, privacy=True)
    assert "Dnssec:               Unsigned delegation" in havn.whois("dnssec.dk")

    havn.set_name_servers("dnssec.dk", ["NS1.Example.NET.", "ns2.example.net", "ns1.example.net"])
    havn.set_ds_records("dnssec.dk", [DS])

    text = havn.whois("dnssec.dk")
    assert "Hostname:             ns1.example.net\nHostname:             ns2.example.net\n" in text
    assert "ns1.havn.dk" not in text
    assert f"DS:                   12345 13 2 {'AB' * 32}" in text
    assert "Dnssec:               Signed delegation" in text
    info = havn.info("dnssec.dk")
    assert info.name_servers == ["ns1.example.net", "ns2.example.net"]
    assert info.ds_records == [f"12345 13 2 {'AB' * 32}"]

    for bad in (["ikke en vært"], ["ns1"], [f"ns{n}.example.net" for n in range(14)]):
        with pytest.raises(RegistryError):
            havn.set_name_servers("dnssec.dk", bad)
    for bad in ("12345 13 2 abcd", "70000 13 2 " + "ab" * 32, "x 13 2 " + "ab" * 32):
        with pytest.raises(RegistryError):
            havn.set_ds_records("dnssec.dk", [bad])
    havn.set_ds_records("dnssec.dk", [])
    assert "DS:" not in havn.whois("dnssec.dk")


class RejectEveryone(identity.IdentityDriver):
    def verify_eid(self, cpr, name):
        return identity.IdentityResult(False, "x", "no")


def test_drivers_are_chosen_by_settings(settings, tmp_path):
    assert isinstance(registry.get_driver(), LocalRegistry)
    assert isinstance(identity.get_identity_driver(), identity.LocalIdentityDriver)
    settings.VAR_DIR = tmp_path
    local_ca = acme.get_acme_driver()
    assert isinstance(local_ca, acme.LocalCaDriver) and local_ca.ca_dir == tmp_path / "acme-ca"

    settings.HAVN_IDENTITY_DRIVER = "tests.test_drivers.RejectEveryone"
    assert isinstance(identity.get_identity_driver(), RejectEveryone)


# --- identity (MitID) -----------------------------------------------------------------------------
@pytest.mark.parametrize("cpr", ["070761-4285", "0707614285", "010101-9000"])
def test_a_valid_cpr_is_approved_and_appears_nowhere_afterwards(cpr, caplog):
    caplog.set_level(logging.DEBUG)

    result = identity.get_identity_driver().verify_eid(cpr, "Karin Skjultsen")

    assert result.approved and result.reference and result.reason == ""
    forms = {cpr, cpr.replace("-", ""), f"{cpr[:6]}-{cpr[-4:]}"}
    for value in (result.reference, result.reason, repr(result)):
        assert not any(form in value for form in forms)
    logged = caplog.text + "".join(str(record.__dict__) for record in caplog.records)
    assert not any(form in logged for form in forms)


@pytest.mark.parametrize(
    "cpr",
    [
        "310299-1234",  # 31 February
        "011399-1234",  # month 13
        "000199-1234",  # day 0
        "010130-4000",  # 1 January 2030: not born yet
        "01019-91234",
        "010199-123",
        "010199 1234",
        "abcdef-ghij",
        "",
    ],
)
def test_a_malformed_cpr_is_rejected_with_a_reason(cpr, caplog):
    caplog.set_level(logging.DEBUG)
    result = identity.LocalIdentityDriver().verify_eid(cpr, "Karin Skjultsen")
    assert not result.approved and result.reason
    if cpr:
        assert cpr not in result.reason + result.reference + caplog.text


def test_the_test_cpr_and_a_missing_name_are_rejected():
    driver = identity.LocalIdentityDriver()
    mismatch = driver.verify_eid("010100-0000", "Karin Skjultsen")
    assert not mismatch.approved and mismatch.reason
    nameless = driver.verify_eid("070761-4285", "  ")
    assert not nameless.approved and nameless.reason


@pytest.mark.parametrize(
    ("cpr", "born"),
    [
        ("010199-1000", date(1999, 1, 1)),
        ("010136-4000", date(2036, 1, 1)),
        ("010137-4000", date(1937, 1, 1)),
        ("010101-9000", date(2001, 1, 1)),
        ("010157-5000", date(2057, 1, 1)),
        ("010158-5000", date(1858, 1, 1)),
        ("290200-4000", date(2000, 2, 29)),
        ("290200-2000", None),  # 1900 was no leap year
    ],
)
def test_the_century_follows_the_seventh_digit(cpr, born):
    assert identity.birth_date(cpr) == born


# --- ACME -----------------------------------------------------------------------------------------
def test_the_local_ca_issues_a_90_day_certificate_for_both_names(tmp_path):
    key_pem, csr_pem = acme.new_key_and_csr(["havn.dk", "www.havn.dk"])
    key = serialization.load_pem_private_key(key_pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    now = datetime.now(UTC)

    issued = acme.LocalCaDriver(tmp_path / "ca").issue(["havn.dk", "www.havn.dk"], csr_pem)

    leaf, ca = x509.load_pem_x509_certificates(issued.fullchain_pem)
    leaf.verify_directly_issued_by(ca)
    ca.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert leaf.public_key() == key.public_key()
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert set(names.get_values_for_type(x509.DNSName)) == {"havn.dk", "www.havn.dk"}
    assert abs(issued.not_after - (now + timedelta(days=90))) < timedelta(minutes=1)
    assert issued.not_after == leaf.not_valid_after_utc
    assert issued.serial == leaf.serial_number
    assert issued.fingerprint_sha256 == leaf.fingerprint(leaf.signature_hash_algorithm).hex()
    assert stat.S_IMODE((tmp_path / "ca" / "ca.key").stat().st_mode) == 0o600

    assert not acme.needs_renewal(issued.not_after, now)
    assert not acme.needs_renewal(issued.not_after, now + timedelta(days=59))
    assert acme.needs_renewal(issued.not_after, now + timedelta(days=60))
    assert acme.needs_renewal(issued.not_after, now + timedelta(days=100))

    again = acme.LocalCaDriver(tmp_path / "ca").issue(["havn.dk", "www.havn.dk"], csr_pem)
    assert x509.load_pem_x509_certificates(again.fullchain_pem)[1] == ca  # one CA, made once
    assert again.serial != issued.serial


def test_idn_names_are_requested_as_a_labels(tmp_path):
    _key, csr_pem = acme.new_key_and_csr(["Æblegrød.dk", "*.æblegrød.dk"])
    issued = acme.LocalCaDriver(tmp_path).issue(["æblegrød.dk", "*.æblegrød.dk"], csr_pem)
    leaf = x509.load_pem_x509_certificates(issued.fullchain_pem)[0]
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [
        "xn--blegrd-oua3m.dk",
        "*.xn--blegrd-oua3m.dk",
    ]


def test_the_local_ca_refuses_a_request_for_other_names(tmp_path):
    driver = acme.LocalCaDriver(tmp_path)
    _key, csr_pem = acme.new_key_and_csr(["havn.dk"])
    with pytest.raises(acme.AcmeError):
        driver.issue(["havn.dk", "www.havn.dk"], csr_pem)
    with pytest.raises(acme.AcmeError):
        driver.issue(["andet.dk"], csr_pem)
    with pytest.raises(acme.AcmeError):
        driver.issue(["havn.dk"], b"not a CSR")
    with pytest.raises(acme.AcmeError):
        acme.new_key_and_csr([])
