"""The domain pages of the panel: domains, DNS records, DNSSEC, whois, registrant identity checks
(MitID and documents reviewed by staff), and the certificates on the webhotel page."""

import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEvent, Customer, Role
from hosting.dns import normalize_domain
from hosting.models import Certificate, DnsRecord, DnsZone, Domain, IdentityVerification
from hosting.registry_local import LocalRegistry
from hosting.services import domains
from tests.factories import CustomerFactory, MembershipFactory, WebhotelFactory

pytestmark = pytest.mark.django_db
CPR = "010203-1234"


@pytest.fixture
def english(logged_in):
    """A logged-in client that reads the panel in English (the messages the tests look for)."""

    def make(user):
        client = logged_in(user)
        client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
        return client

    return make


@pytest.fixture
def owner(english, owner_a):
    return english(owner_a)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def person(db):
    return CustomerFactory(name="Mette Hansen", kind=Customer.Kind.PERSON)


@pytest.fixture
def person_owner(english, person):
    return english(MembershipFactory(customer=person, role=Role.OWNER).user)


def url(name, **kwargs):
    return reverse(f"hosting:{name}", kwargs=kwargs)


def text(response) -> str:
    return response.content.decode()


def register(client, customer, name="alfa.dk", **fields):
    data = {"name": name, "years": "1", "whois_privacy": "on", "hosted_dns": "on", **fields}
    response = client.post(url("domains", customer_id=customer.pk), data)
    assert response.status_code == 302, (
        response.context and response.context["register_form"].errors
    )
    return Domain.objects.get(name=normalize_domain(name)), response


def detail(domain):
    return url("domain", customer_id=domain.customer_id, domain_id=domain.pk)


def add_record(client, domain, **fields):
    data = {"name": "@", "ttl": "3600", "priority": "", **fields}
    return client.post(
        url("dns_record_create", customer_id=domain.customer_id, domain_id=domain.pk), data
    )


# --- Domains --------------------------------------------------------------------------------------


def test_owner_registers_a_dk_domain_and_sees_it_listed(owner, customer_a):
    page = url("domains", customer_id=customer_a.pk)
    form = owner.get(page).context["register_form"]
    assert form["whois_privacy"].value() is True and form["hosted_dns"].value() is True

    domain, response = register(owner, customer_a, name="Blåbær.dk", years="2")
    assert domain.name == "xn--blbr-roah.dk"
    assert response["Location"] == detail(domain)
    assert "The domain blåbær.dk is registered." in text(owner.get(response["Location"]))
    assert domain.customer == customer_a and domain.status == "active"
    assert domain.whois_privacy and domain.zone.serial > 0
    assert domain.expires_at.year == timezone.now().year + 2

    body = text(owner.get(page))
    assert "blåbær.dk" in body and f"{domain.expires_at:%Y-%m-%d}" in body
    assert "Off" in body  # DNSSEC, on a zone hosted here
    assert "Verify your identity" not in body  # a company with a CVR number needs no check


def test_a_taken_name_is_a_field_error(owner, customer_a):
    register(owner, customer_a)
    response = owner.post(
        url("domains", customer_id=customer_a.pk), {"name": "ALFA.dk", "years": "1"}
    )
    assert response.status_code == 200
    assert "name" in response.context["register_form"].errors
    response = owner.post(url("domains", customer_id=customer_a.pk), {"name": "x.dk", "years": 11})
    assert "years" in response.context["register_form"].errors
    assert Domain.objects.count() == 1


def test_settings_change_and_name_servers_only_without_hosted_dns(owner, customer_a):
    domain, _ = register(owner, customer_a)
    form = owner.get(detail(domain)).context["settings_form"]
    assert "name_servers" not in form.fields  # Havn's name servers serve the hosted zone

    response = owner.post(detail(domain), {"whois_privacy": ""})  # both boxes unticked
    assert response.status_code == 302
    domain.refresh_from_db()
    assert (domain.auto_renew, domain.whois_privacy) == (False, False)
    response = owner.post(detail(domain), {}, follow=True)
    assert "Nothing was changed." in text(response)

    elsewhere, _ = register(owner, customer_a, name="beta.dk", hosted_dns="")
    assert not DnsZone.objects.filter(domain=elsewhere).exists()
    assert elsewhere.name_servers == []
    response = owner.post(
        detail(elsewhere),
        {
            "auto_renew": "on",
            "whois_privacy": "on",
            "name_servers": "ns1.example.net\nns2.example.net",
        },
    )
    assert response.status_code == 302
    elsewhere.refresh_from_db()
    assert elsewhere.name_servers == ["ns1.example.net", "ns2.example.net"]
    assert "ns2.example.net" in domains.whois(elsewhere)
    response = owner.post(
        detail(elsewhere), {"auto_renew": "on", "whois_privacy": "on", "name_servers": "bad..host"}
    )
    assert "name_servers" in response.context["settings_form"].errors


def test_renew_extends_the_expiry(owner, customer_a):
    domain, _ = register(owner, customer_a)
    before = domain.expires_at
    renew = url("domain_renew", customer_id=customer_a.pk, domain_id=domain.pk)
    response = owner.post(renew, {"years": "2"}, follow=True)
    domain.refresh_from_db()
    assert (domain.expires_at - before).days in (730, 731)
    assert f"now expires on {domain.expires_at:%Y-%m-%d}" in text(response)
    response = owner.post(renew, {"years": "9"})  # 12 years ahead: the registry refuses
    assert response.status_code == 200
    assert "years" in response.context["renew_form"].errors
    domain.refresh_from_db()
    assert (domain.expires_at - before).days in (730, 731)


def test_the_transfer_code_is_shown_once_and_works(owner, customer_a, customer_b):
    domain, _ = register(owner, customer_a)
    response = owner.post(
        url("domain_transfer_code", customer_id=customer_a.pk, domain_id=domain.pk)
    )
    assert response.status_code == 200  # rendered, not redirected: the code is in no URL
    assert "no-store" in response["Cache-Control"]
    code = response.context["secret"]["password"]
    assert code in text(response) and "shown only this once" in text(response)
    assert code not in text(owner.get(detail(domain)))
    assert code not in str(list(AuditEvent.objects.values_list("details", "target")))
    contact = domains.contact_of(customer_b)
    LocalRegistry(registrar="other").transfer_in("alfa.dk", code, contact, contact)


def test_transfer_in_and_release(owner, customer_a, customer_b):
    contact = domains.contact_of(customer_b)
    LocalRegistry(registrar="other").register("gamma.dk", contact, contact, 1, [], False)
    response = owner.post(
        url("domain_transfer_in", customer_id=customer_a.pk),
        {"name": "gamma.dk", "auth_code": "WRONG-CODE"},
    )
    assert "auth_code" in response.context["transfer_form"].errors
    code = LocalRegistry(registrar="other").transfer_out_code("gamma.dk")
    response = owner.post(
        url("domain_transfer_in", customer_id=customer_a.pk),
        {"name": "gamma.dk", "auth_code": code},
    )
    domain = Domain.objects.get(name="gamma.dk")
    assert response["Location"] == detail(domain) and domain.customer == customer_a

    release = url("domain_release", customer_id=customer_a.pk, domain_id=domain.pk)
    owner.post(release)  # without the confirmation box
    domain.refresh_from_db()
    assert domain.status == "active"
    response = owner.post(release, {"confirm": "1"})
    assert response["Location"] == url("domains", customer_id=customer_a.pk)
    domain.refresh_from_db()
    assert domain.status == "released"
    page = owner.get(detail(domain))
    assert not page.context["editable"] and "Get a transfer code" not in text(page)


# --- DNS ------------------------------------------------------------------------------------------


def test_records_are_added_changed_and_deleted(owner, customer_a):
    domain, _ = register(owner, customer_a)
    for fields in [
        {"name": "www", "type": "A", "value": "192.0.2.10"},
        {"name": "@", "type": "MX", "value": "mail.alfa.dk", "priority": "10"},
        {"name": "@", "type": "TXT", "value": "v=spf1 mx -all"},
    ]:
        response = add_record(owner, domain, **fields)
        assert response.status_code == 302, response.context["record_form"].errors
        assert response["Location"] == detail(domain)
    records = {r.type: r for r in DnsRecord.objects.filter(zone__domain=domain)}
    assert records["MX"].value == "mail.alfa.dk." and records["MX"].priority == 10
    assert records["TXT"].value == '"v=spf1 mx -all"'
    body = text(owner.get(detail(domain)))
    assert "192.0.2.10" in body and "mail.alfa.dk." in body and "v=spf1 mx -all" in body

    edit = url("dns_record", customer_id=customer_a.pk, record_id=records["A"].pk)
    form = owner.get(edit).context["form"]
    assert form["value"].value() == "192.0.2.10" and form["ttl"].value() == 3600
    response = owner.post(edit, {"name": "www", "type": "A", "value": "192.0.2.20", "ttl": "300"})
    assert response.status_code == 302
    records["A"].refresh_from_db()
    assert (records["A"].value, records["A"].ttl) == ("192.0.2.20", 300)

    serial = domain.zone.serial
    owner.post(url("dns_record_delete", customer_id=customer_a.pk, record_id=records["TXT"].pk))
    assert not DnsRecord.objects.filter(pk=records["TXT"].pk).exists()
    domain.zone.refresh_from_db()
    assert domain.zone.serial > serial


def test_a_cname_beside_an_a_record_and_a_bad_ip_are_field_errors(owner, customer_a):
    domain, _ = register(owner, customer_a)
    add_record(owner, domain, name="www", type="A", value="192.0.2.10")
    response = add_record(owner, domain, name="www", type="CNAME", value="alfa.dk.")
    assert response.status_code == 200
    errors = response.context["record_form"].errors
    assert "type" in errors and "cannot have other records" in str(errors["type"])
    response = add_record(owner, domain, name="x", type="A", value="300.1.1.1")
    assert "value" in response.context["record_form"].errors
    assert "“300.1.1.1” is not a valid IPv4 address." in text(response)
    response = add_record(owner, domain, name="x", type="A", value="192.0.2.1", ttl="30")
    assert "ttl" in response.context["record_form"].errors
    assert list(DnsRecord.objects.values_list("type", flat=True)) == ["A"]

    # Changing the A record into a CNAME is refused the same way, and leaves it as it was.
    record = DnsRecord.objects.get()
    add_record(owner, domain, name="www", type="AAAA", value="2001:db8::1")
    edit = url("dns_record", customer_id=customer_a.pk, record_id=record.pk)
    response = owner.post(edit, {"name": "www", "type": "CNAME", "value": "alfa.dk.", "ttl": 3600})
    assert "type" in response.context["form"].errors
    assert response.context["record"].type == "A"
    record.refresh_from_db()
    assert record.type == "A"


def test_dnssec_on_shows_the_ds_record_and_signs_the_zone(owner, customer_a):
    domain, _ = register(owner, customer_a)
    add_record(owner, domain, name="www", type="A", value="192.0.2.10")
    dnssec = url("domain_dnssec", customer_id=customer_a.pk, domain_id=domain.pk)
    assert "RRSIG" not in text(owner.get(detail(domain)))
    response = owner.post(dnssec, {"enabled": "1"}, follow=True)
    body = text(response)
    domain.zone.refresh_from_db()
    assert domain.zone.dnssec and domain.zone.ds_record
    assert f"alfa.dk. IN DS {domain.zone.ds_record}" in body
    assert "RRSIG" in response.context["zone_text"] and "RRSIG" in body
    assert "PRIVATE KEY" not in body
    assert "On" in text(owner.get(url("domains", customer_id=customer_a.pk)))

    owner.post(dnssec, {"enabled": "0"})
    domain.zone.refresh_from_db()
    assert not domain.zone.dnssec
    assert "RRSIG" not in text(owner.get(detail(domain)))


def test_whois_shows_the_company(owner, customer_a):
    domain, _ = register(owner, customer_a)
    response = owner.get(detail(domain))
    assert "Alfa ApS" in response.context["whois"]
    assert '<pre class="card" id="whois">' in text(response) and "Alfa ApS" in text(response)
    assert customer_a.email not in text(response)


# --- Registrant identity --------------------------------------------------------------------------


def database_text() -> str:
    """Every row of every table, and every session's data, as one string."""
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 -- names from introspection
            rows.append(repr(cursor.fetchall()))
    rows += [repr(session.get_decoded()) for session in Session.objects.all()]
    return "\n".join(rows)


def test_a_person_verifies_with_mitid_and_the_cpr_is_kept_nowhere(person_owner, person, caplog):
    caplog.set_level(logging.DEBUG)
    domains_page = url("domains", customer_id=person.pk)
    page = person_owner.get(domains_page)
    body = text(page)
    identity = url("identity", customer_id=person.pk)
    assert "Verify your identity before you register a .dk domain." in body
    assert f'href="{identity}#mitid"' in body and f'href="{identity}#document"' in body
    response = person_owner.post(domains_page, {"name": "hansen.dk", "years": "1"})
    assert "verify their identity" in str(response.context["register_form"].errors["name"])

    seen = []
    eid = url("identity_eid", customer_id=person.pk)
    # A form error shows the form again, with the CPR field empty.
    response = person_owner.post(eid, {"cpr": CPR, "name": ""})
    assert response.status_code == 200 and "name" in response.context["eid_form"].errors
    assert 'type="password" name="cpr"' in text(response)
    assert 'autocomplete="off"' in text(response)
    seen.append(text(response))
    response = person_owner.post(eid, {"cpr": "12345", "name": "Mette Hansen"})
    assert "cpr" in response.context["eid_form"].errors
    seen.append(text(response))

    response = person_owner.post(eid, {"cpr": CPR, "name": "Mette Hansen"}, follow=True)
    seen.append(text(response))
    assert "Your identity is verified with MitID" in text(response)
    check = IdentityVerification.objects.get(customer=person)
    assert (check.method, check.status) == ("eid", "approved")
    assert "Approved" in text(response)
    page = person_owner.get(domains_page)
    seen.append(text(page))
    assert "Verify your identity" not in text(page)
    domain, _ = register(person_owner, person, name="hansen.dk")
    seen.append(text(person_owner.get(detail(domain))))

    stored = database_text()
    for form in (CPR, CPR.replace("-", "")):
        for html in seen:
            assert form not in html
        assert form not in stored
        assert form not in caplog.text


def test_a_rejected_mitid_check_is_shown_with_its_reason(person_owner, person):
    response = person_owner.post(
        url("identity_eid", customer_id=person.pk),
        {"cpr": "010100-0000", "name": "Mette Hansen"},
        follow=True,
    )
    assert "The MitID check was not approved" in text(response)
    assert "did not match the registrant" in text(response)
    assert IdentityVerification.objects.get(customer=person).status == "rejected"
    assert "Verify your identity" in text(person_owner.get(url("domains", customer_id=person.pk)))


def test_a_document_is_uploaded_and_approved_by_staff(
    media, person_owner, person, english, staff_admin
):
    upload = url("identity_upload", customer_id=person.pk)
    response = person_owner.post(
        upload, {"document": SimpleUploadedFile("pas.exe", b"MZ", "application/octet-stream")}
    )
    assert "document" in response.context["document_form"].errors
    response = person_owner.post(
        upload,
        {"document": SimpleUploadedFile("Mette Hansen pas.pdf", b"%PDF-1.4 passport")},
        follow=True,
    )
    assert "The document is sent" in text(response)
    check = IdentityVerification.objects.get(customer=person)
    assert (check.method, check.status) == ("document", "pending")
    assert "Hansen" not in check.document.name  # stored under a random name
    assert "Waiting for review" in text(response)
    assert "Your ID document is waiting for review." in text(
        person_owner.get(url("domains", customer_id=person.pk))
    )

    staff = english(staff_admin)
    reviews = url("identity_reviews")
    page = text(staff.get(reviews))
    assert "Mette Hansen" in page
    document = url("identity_document", verification_id=check.pk)
    assert document in page
    response = staff.get(document)
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"%PDF-1.4 passport"
    assert response["Content-Disposition"].startswith("attachment")
    viewed = AuditEvent.objects.get(action="identity.document_viewed")
    assert (viewed.actor, viewed.customer, viewed.target) == (staff_admin, person, str(check.pk))

    decide = url("identity_decide", verification_id=check.pk)
    response = staff.post(decide, {"decision": "reject", "reason": ""}, follow=True)
    assert "Say why the document is rejected." in text(response)
    check.refresh_from_db()
    assert check.status == "pending"
    response = staff.post(decide, {"decision": "approve"}, follow=True)
    assert "The identity of Mette Hansen is approved." in text(response)
    check.refresh_from_db()
    assert check.status == "approved" and check.decided_at
    assert staff.post(decide, {"decision": "reject", "reason": "x"}).status_code == 404
    assert domains.identity_verified(person)
    assert "Verify your identity" not in text(
        person_owner.get(url("domains", customer_id=person.pk))
    )


def test_support_staff_see_reviews_but_cannot_decide_or_download(
    media, person, staff_support, english
):
    check = IdentityVerification.objects.create(
        customer=person,
        method="document",
        status="pending",
        document=SimpleUploadedFile("pas.pdf", b"%PDF-1.4"),
    )
    support = english(staff_support)
    page = support.get(url("identity_reviews"))
    assert page.status_code == 200 and "Mette Hansen" in text(page)
    assert url("identity_document", verification_id=check.pk) not in text(page)
    assert 'value="approve"' not in text(page)
    decide = url("identity_decide", verification_id=check.pk)
    assert support.post(decide, {"decision": "approve"}).status_code == 403
    assert support.get(url("identity_document", verification_id=check.pk)).status_code == 403
    check.refresh_from_db()
    assert check.status == "pending"
    assert not AuditEvent.objects.filter(action="identity.document_viewed").exists()


# --- Roles ----------------------------------------------------------------------------------------


def test_billing_sees_domains_but_cannot_change_them(english, owner, customer_a):
    domain, _ = register(owner, customer_a)
    add_record(owner, domain, name="www", type="A", value="192.0.2.10")
    record = DnsRecord.objects.get()
    billing = english(MembershipFactory(customer=customer_a, role=Role.BILLING).user)
    assert "alfa.dk" in text(billing.get(url("domains", customer_id=customer_a.pk)))
    page = billing.get(detail(domain))
    assert page.status_code == 200 and "192.0.2.10" in text(page)
    assert "Register domain" not in text(billing.get(url("domains", customer_id=customer_a.pk)))
    assert "Add record" not in text(page) and "Get a transfer code" not in text(page)
    kwargs = {"customer_id": customer_a.pk, "domain_id": domain.pk}
    for name, data in [
        ("domains", {"name": "billing.dk", "years": "1"}),
        ("domain_transfer_in", {"name": "x.dk", "auth_code": "x"}),
        ("domain", {"auto_renew": ""}),
        ("domain_renew", {"years": "1"}),
        ("domain_transfer_code", {}),
        ("domain_release", {"confirm": "1"}),
        ("domain_dnssec", {"enabled": "1"}),
        ("dns_record_create", {"name": "x", "type": "A", "value": "192.0.2.1", "ttl": "3600"}),
        ("dns_record", {"name": "www", "type": "A", "value": "192.0.2.9", "ttl": "3600"}),
        ("dns_record_delete", {}),
        ("identity_eid", {"cpr": CPR, "name": "X"}),
        ("identity_upload", {}),
    ]:
        if name in ("domains", "domain_transfer_in", "identity_eid", "identity_upload"):
            target = url(name, customer_id=customer_a.pk)
        elif name in ("dns_record", "dns_record_delete"):
            target = url(name, customer_id=customer_a.pk, record_id=record.pk)
        else:
            target = url(name, **kwargs)
        assert billing.post(target, data).status_code == 403, name
    domain.refresh_from_db()
    record.refresh_from_db()
    assert domain.status == "active" and domain.auto_renew and record.value == "192.0.2.10"
    assert not domain.zone.dnssec
    assert Domain.objects.count() == 1 and not IdentityVerification.objects.exists()


# --- Certificates ---------------------------------------------------------------------------------


def test_the_webhotel_page_shows_certificate_expiry(owner, customer_a):
    webhotel = WebhotelFactory(customer=customer_a, primary_domain="alfa.dk")
    now = timezone.now()
    later = Certificate.objects.create(
        webhotel=webhotel,
        domain="alfa.dk",
        domains=["alfa.dk", "www.alfa.dk"],
        not_after=now + timedelta(days=80),
        fingerprint="a" * 64,
    )
    soon = Certificate.objects.create(
        webhotel=webhotel,
        domain="xn--blbr-roah.dk",
        domains=["xn--blbr-roah.dk"],
        not_after=now + timedelta(days=10, hours=1),
        fingerprint="b" * 64,
    )
    page = owner.get(url("webhotel", customer_id=customer_a.pk, webhotel_id=webhotel.pk))
    body = text(page)
    assert "alfa.dk, www.alfa.dk" in body and "blåbær.dk" in body
    assert f"{timezone.localdate(later.not_after):%Y-%m-%d}" in body
    assert f'{timezone.localdate(soon.not_after):%Y-%m-%d} <strong class="error">' in body
    assert "ends in 10 days" in body
    assert "ends in" not in body.split("www.alfa.dk", 1)[1].split("</tr>", 1)[0]
