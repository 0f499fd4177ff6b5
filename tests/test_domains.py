"""Domains, hosted DNS, DNSSEC and registrant identity, through the services and the API."""

import json
import logging
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile

from accounts.actor import Actor
from accounts.models import AuditEvent, Customer
from hosting import dns
from hosting.models import DnsRecord, DnsZone, Domain, IdentityVerification
from hosting.registry_local import LocalRegistry
from hosting.services import domains
from infra import registry
from tests.factories import CustomerFactory, MembershipFactory

pytestmark = pytest.mark.django_db
CPR = "010203-1234"


@pytest.fixture
def person(db):
    return CustomerFactory(name="Mette Hansen", kind=Customer.Kind.PERSON)


@pytest.fixture
def person_owner(person):
    return MembershipFactory(customer=person).user


def verified(person, owner):
    return domains.verify_identity_with_eid(Actor(owner), person, cpr=CPR, name=person.name)


def test_a_dk_registrant_must_verify_first_and_the_cpr_is_kept_nowhere(
    person, person_owner, caplog
):
    with pytest.raises(ValidationError, match="verify their identity"):
        domains.register_domain(Actor(person_owner), person, name="hansen.dk")
    caplog.set_level(logging.DEBUG)
    verification = verified(person, person_owner)
    assert verification.status == IdentityVerification.Status.APPROVED
    domain = domains.register_domain(Actor(person_owner), person, name="hansen.dk")
    assert domain.status == Domain.Status.ACTIVE and domain.expires_at
    stored = json.dumps(
        [
            list(IdentityVerification.objects.values()),
            list(AuditEvent.objects.values("details", "target")),
        ],
        default=str,
    )
    for form in (CPR, CPR.replace("-", "")):
        assert form not in stored
        assert form not in caplog.text


def test_whois_hides_a_private_registrant_and_never_shows_the_payer(person, person_owner):
    verified(person, person_owner)
    domain = domains.register_domain(
        Actor(person_owner), person, name="hansen.dk", whois_privacy=True
    )
    text = domains.whois(domain)
    assert "hansen.dk" in text.lower()
    for secret in (person.name, person.address, person.email):
        assert secret not in text


def test_a_company_is_public_in_whois(customer_a, owner_a):
    domain = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    text = domains.whois(domain)
    assert customer_a.name in text
    assert customer_a.email not in text


def test_taken_and_invalid_names_are_refused(customer_a, owner_a, customer_b, owner_b):
    domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    with pytest.raises(ValidationError):
        domains.register_domain(Actor(owner_b), customer_b, name="ALFA.dk")
    with pytest.raises(ValidationError):
        domains.register_domain(Actor(owner_a), customer_a, name="-bad-.dk")
    assert Domain.objects.count() == 1


def test_renew_transfer_and_release(customer_a, owner_a):
    domain = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    before = domain.expires_at
    domain = domains.renew_domain(Actor(owner_a), domain, years=2)
    assert (domain.expires_at - before).days in (730, 731)
    code = domains.transfer_code(Actor(owner_a), domain)
    assert code and code not in json.dumps(list(AuditEvent.objects.values("details")))
    domains.release_domain(Actor(owner_a), domain)
    domain.refresh_from_db()
    assert domain.status == Domain.Status.RELEASED
    assert not DnsZone.objects.filter(domain=domain).exists()
    assert registry.get_driver().check("alfa.dk").available


def test_dns_records_are_validated_against_the_whole_zone(customer_a, owner_a):
    zone = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk").zone
    actor = Actor(owner_a)
    domains.save_record(actor, zone, name="www", type="A", value="192.0.2.10", ttl=300)
    domains.save_record(actor, zone, name="@", type="MX", value="mail.alfa.dk.", priority=10)
    with pytest.raises(ValidationError):
        domains.save_record(actor, zone, name="www", type="CNAME", value="alfa.dk.")
    with pytest.raises(ValidationError):
        domains.save_record(actor, zone, name="x", type="A", value="300.1.1.1")
    with pytest.raises(ValidationError):
        domains.save_record(actor, zone, name="x", type="A", value="192.0.2.1", ttl=30)
    assert DnsRecord.objects.filter(zone=zone).count() == 2
    text = domains.zone_text(zone)
    assert "192.0.2.10" in text and "mail.alfa.dk." in text


def test_a_closing_customer_adds_no_records_but_may_change_them(customer_a, owner_a):
    actor = Actor(owner_a)
    zone = domains.register_domain(actor, customer_a, name="alfa.dk").zone
    www = domains.save_record(actor, zone, name="www", type="A", value="192.0.2.10")
    customer_a.status = "closing"
    customer_a.save()
    with pytest.raises(ValidationError, match="no new resources"):
        domains.save_record(actor, zone, name="new", type="A", value="192.0.2.11")
    domains.save_record(actor, zone, record=www, name="www", type="A", value="192.0.2.12")
    assert list(DnsRecord.objects.filter(zone=zone).values_list("value", flat=True)) == [
        "192.0.2.12"
    ]


def test_dnssec_signs_a_zone_that_validates_and_hands_the_ds_to_the_registry(customer_a, owner_a):
    domain = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    domains.save_record(Actor(owner_a), domain.zone, name="www", type="A", value="192.0.2.10")
    zone = domains.set_dnssec(Actor(owner_a), domain.zone, True)
    signed = domains.zone_text(zone)
    assert "RRSIG" in signed and "DNSKEY" in signed
    assert "PRIVATE KEY" not in zone.signing_key_pem  # sealed at rest (infra.secretbox)
    dns.validate_signed_zone(signed, "alfa.dk")
    assert zone.ds_record.split()[1:3] == ["13", "2"]
    assert zone.ds_record.split()[-1].lower() in domains.whois(domain).lower()
    tampered = signed.replace("192.0.2.10", "192.0.2.99")
    with pytest.raises(ValidationError):
        dns.validate_signed_zone(tampered, "alfa.dk")


def test_identity_documents_are_reviewed_by_staff(person, person_owner, staff_admin):
    upload = SimpleUploadedFile("pas.pdf", b"%PDF-1.4 passport", content_type="application/pdf")
    verification = domains.submit_identity_document(Actor(person_owner), person, upload)
    assert verification.status == "pending" and verification.document.name
    with pytest.raises(ValidationError, match="why"):
        domains.decide_identity_document(Actor(staff_admin), verification, approved=False)
    domains.decide_identity_document(Actor(staff_admin), verification, approved=True)
    assert domains.identity_verified(person)


def test_the_api_registers_and_manages_dns(logged_in, customer_a, owner_a):
    client = logged_in(owner_a)
    response = client.post(
        "/api/v1/domains",
        {"customer": customer_a.pk, "name": "alfa.dk"},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    domain_id = response.json()["id"]
    response = client.post(
        "/api/v1/dns-records",
        {"domain": domain_id, "name": "www", "type": "AAAA", "value": "2001:db8::1"},
        content_type="application/json",
    )
    assert response.status_code == 201
    response = client.post(
        "/api/v1/dns-records",
        {"domain": domain_id, "name": "www", "type": "A", "value": "not-an-ip"},
        content_type="application/json",
    )
    assert response.status_code == 400 and "value" in response.json()["errors"]
    response = client.patch(
        f"/api/v1/domains/{domain_id}", {"dnssec": True}, content_type="application/json"
    )
    assert response.json()["dnssec"] is True
    zone = client.get(f"/api/v1/domains/{domain_id}/zone").json()["zone"]
    dns.validate_signed_zone(zone, "alfa.dk")


def test_a_released_name_can_be_registered_again_by_someone_else(
    customer_a, owner_a, customer_b, owner_b
):
    first = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    domains.save_record(Actor(owner_a), first.zone, name="www", type="A", value="192.0.2.1")
    domains.release_domain(Actor(owner_a), first)
    customer_b.kind, customer_b.cvr = "company", "10150817"
    customer_b.save()
    second = domains.register_domain(Actor(owner_b), customer_b, name="alfa.dk")
    assert second.pk != first.pk and second.customer == customer_b
    assert not second.zone.records.exists()


def test_a_name_coming_back_takes_nothing_of_its_previous_holder(
    customer_a, owner_a, customer_b, owner_b
):
    first = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    domains.save_record(Actor(owner_a), first.zone, name="www", type="TXT", value='"secret"')
    # A moves the name to another registrar (Havn's row is not told) …
    other = LocalRegistry(registrar="other")
    contact = domains.contact_of(customer_a)
    other.transfer_in("alfa.dk", domains.transfer_code(Actor(owner_a), first), contact, contact)
    # … and later B brings it to Havn.
    customer_b.kind, customer_b.cvr = "company", "10150817"
    customer_b.save()
    with pytest.raises(ValidationError):
        domains.transfer_in(Actor(owner_b), customer_b, name="alfa.dk", auth_code="wrong")
    code = other.transfer_out_code("alfa.dk")
    moved = domains.transfer_in(Actor(owner_b), customer_b, name="alfa.dk", auth_code=code)
    first.refresh_from_db()
    assert first.status == Domain.Status.TRANSFERRED_OUT
    assert not DnsRecord.objects.filter(zone__domain=first).exists()
    assert moved.customer == customer_b and not DnsZone.objects.filter(domain=moved).exists()


def test_documents_must_be_images_or_pdf_and_are_decided_once(person, person_owner, staff_admin):
    text = SimpleUploadedFile("pas.txt", b"just text", content_type="text/plain")
    with pytest.raises(ValidationError, match="PDF, JPEG or PNG"):
        domains.submit_identity_document(Actor(person_owner), person, text)
    png = SimpleUploadedFile("pas.png", b"\x89PNG\r\n\x1a\n....", content_type="image/png")
    verification = domains.submit_identity_document(Actor(person_owner), person, png)
    domains.decide_identity_document(
        Actor(staff_admin), verification, approved=False, reason="Unreadable"
    )
    with pytest.raises(ValidationError, match="waiting for review"):
        domains.decide_identity_document(Actor(staff_admin), verification, approved=True)
    assert not domains.identity_verified(person)


def test_name_servers_of_hosted_dns_are_havns(customer_a, owner_a):
    domain = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    with pytest.raises(ValidationError, match="name servers are Havn"):
        domains.update_domain(Actor(owner_a), domain, name_servers=["ns.example.com"])
    elsewhere = domains.register_domain(
        Actor(owner_a), customer_a, name="beta.dk", hosted_dns=False
    )
    domains.update_domain(Actor(owner_a), elsewhere, name_servers=["ns1.example.com"])
    assert "ns1.example.com" in domains.whois(elsewhere).lower()


def test_auto_renewal_and_expiry(customer_a, owner_a, time_machine):
    renewing = domains.register_domain(Actor(owner_a), customer_a, name="alfa.dk")
    lapsing = domains.register_domain(Actor(owner_a), customer_a, name="beta.dk")
    domains.update_domain(Actor(owner_a), lapsing, auto_renew=False)
    expiry = renewing.expires_at
    time_machine.move_to(expiry - timedelta(days=10))
    assert domains.renew_or_expire_domains() == (1, 0)
    renewing.refresh_from_db()
    assert renewing.expires_at.year == expiry.year + 1
    time_machine.move_to(expiry + timedelta(days=1))
    assert domains.renew_or_expire_domains() == (0, 1)
    lapsing.refresh_from_db()
    assert lapsing.status == Domain.Status.EXPIRED
    assert AuditEvent.objects.filter(action="domain.expired", target="beta.dk").exists()


def test_the_api_takes_documents_and_staff_decide_them(
    person, person_owner, staff_admin, logged_in, settings
):
    owner = logged_in(person_owner)
    owner.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    text = SimpleUploadedFile("pas.txt", b"just text")
    refused = owner.post(
        "/api/v1/identity-verifications/document",
        {"customer": person.pk, "document": text},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert refused.status_code == 400
    assert refused.json()["errors"] == {"document": ["Upload a PDF, JPEG or PNG file."]}
    pdf = SimpleUploadedFile("pas.pdf", b"%PDF-1.4 passport")
    sent = owner.post(
        "/api/v1/identity-verifications/document", {"customer": person.pk, "document": pdf}
    )
    assert sent.status_code == 201 and sent.json()["status"] == "pending"
    check = sent.json()["id"]
    # The customer cannot decide their own check, nor read the file back through the API.
    assert (
        owner.post(f"/api/v1/identity-verifications/{check}/decide", {"approved": True}).status_code
        == 403
    )
    assert owner.get(f"/api/v1/identity-verifications/{check}/document").status_code == 403

    staff = logged_in(staff_admin)
    document = staff.get(f"/api/v1/identity-verifications/{check}/document")
    assert document.status_code == 200
    assert b"".join(document.streaming_content) == b"%PDF-1.4 passport"
    assert "attachment" in document["Content-Disposition"]
    assert (
        AuditEvent.objects.filter(action="identity.document_viewed", customer=person).count() == 1
    )
    no_reason = staff.post(
        f"/api/v1/identity-verifications/{check}/decide",
        {"approved": False},
        content_type="application/json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["errors"]
    approved = staff.post(
        f"/api/v1/identity-verifications/{check}/decide",
        {"approved": True},
        content_type="application/json",
    )
    assert approved.status_code == 200 and approved.json()["status"] == "approved"
    assert domains.identity_verified(person)


def test_the_api_transfers_a_name_in(customer_a, customer_b, owner_a, logged_in):
    contact = domains.contact_of(customer_b)
    LocalRegistry(registrar="other").register("gamma.dk", contact, contact, 1, [], False)
    client = logged_in(owner_a)
    body = {"customer": customer_a.pk, "name": "gamma.dk", "auth_code": "WRONG-CODE"}
    wrong = client.post("/api/v1/domains/transfer-in", body, content_type="application/json")
    assert wrong.status_code == 400 and "auth_code" in wrong.json()["errors"]
    body["auth_code"] = LocalRegistry(registrar="other").transfer_out_code("gamma.dk")
    moved = client.post("/api/v1/domains/transfer-in", body, content_type="application/json")
    assert moved.status_code == 201, moved.content
    assert "auth_code" not in moved.json()
    assert Domain.objects.get(name="gamma.dk").customer == customer_a
