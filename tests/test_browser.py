"""The panel in a real browser: login with 2FA, staff enrolment, and every page without errors.

Headless Chromium (tests/fixtures/browser.py) against pytest-django's live server; any console
error or uncaught exception on a page fails the test (the autouse ``page_errors`` check).
"""

import base64
import shutil

import pytest
from django.utils import translation
from django_otp.oath import TOTP
from playwright.sync_api import Page, expect

from accounts import billing
from accounts.actor import Actor
from accounts.models import AuditEvent, Role
from accounts.services import create_api_key
from backups.models import RestoreOrder
from hosting import provisioning
from hosting.credentials import verify_dovecot_hash
from hosting.models import MailDomain, Operation, Webhotel
from hosting.services import webhotels
from tests.factories import (
    PASSWORD,
    CustomerFactory,
    MembershipFactory,
    PlanFactory,
    ServerFactory,
    UserFactory,
    add_totp,
    totp_code,
)
from tests.test_restores import back_up_all, run_restores

pytestmark = pytest.mark.browser


@pytest.fixture(scope="session", autouse=True)
def _orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in the test thread from its first use
    to the end of the session, and Django then refuses every ORM call there (the test database's
    setup and teardown, the factories, ``refresh_from_db``) as "called from an async context".
    The calls are plain synchronous ones, so allow them for the rest of the session. Session
    scope and autouse put this before the ``playwright`` fixture and undo it after it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        yield


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    """A Danish customer's browser (Accept-Language: da-DK): the panel negotiates the language."""
    return {**browser_context_args, "locale": "da-DK"}


class Panel:
    """The browser, pointed at the live server."""

    def __init__(self, page: Page, base_url: str):
        self.page = page
        self.base_url = base_url

    def url(self, path: str) -> str:
        return self.base_url + path

    def open(self, path: str) -> None:
        """Open a page and assert it rendered as itself: a 200, not a redirect elsewhere."""
        response = self.page.goto(self.url(path))
        assert response is not None
        assert response.status == 200, f"{path}: HTTP {response.status}"
        assert self.page.url == self.url(path), f"{path} redirected to {self.page.url}"
        expect(self.page.locator("main h1")).to_be_visible()

    def log_in_with_password(self, user) -> None:
        self.open("/login/")
        self.page.fill("input[name=email]", user.email)
        self.page.fill("input[name=password]", PASSWORD)
        self.page.locator("main form button[type=submit]").click()

    def enter_code(self, code: str) -> None:
        self.page.fill("input[name=token]", code)
        self.page.locator("main form button[type=submit]").click()

    def log_in(self, user) -> None:
        """Password, then a TOTP code when the user has a device; ends on the landing page."""
        self.log_in_with_password(user)
        device = user.totpdevice_set.filter(confirmed=True).first()
        if device is not None:
            expect(self.page).to_have_url(self.url("/login/2fa/"))
            self.enter_code(totp_code(device))
        expect(self.page.locator("input[name=password]")).to_have_count(0)
        expect(self.page.locator("input[name=token]")).to_have_count(0)


@pytest.fixture
def panel(page, live_server):
    return Panel(page, live_server.url)


def test_login_with_2fa_and_edit_profile(panel):
    page = panel.page
    user = UserFactory(full_name="Gammelt Navn")
    MembershipFactory(user=user, role=Role.OWNER, customer=CustomerFactory(name="Fjord ApS"))
    device = add_totp(user)

    panel.log_in_with_password(user)
    expect(page).to_have_url(panel.url("/login/2fa/"))
    expect(page.get_by_role("heading", name="To-faktor-godkendelse")).to_be_visible()
    panel.enter_code(totp_code(device))

    expect(page).to_have_url(panel.url("/"))
    expect(page.get_by_role("heading", name="Velkommen, Gammelt Navn")).to_be_visible()
    expect(page.get_by_role("link", name="Fjord ApS").first).to_be_visible()

    page.get_by_role("link", name="Profil", exact=True).click()
    expect(page).to_have_url(panel.url("/profile/"))
    expect(page.locator("html")).to_have_attribute("lang", "da")
    expect(page.get_by_role("heading", name="Profil", exact=True)).to_be_visible()
    page.fill("input[name=full_name]", "Nyt Navn")
    page.select_option("select[name=language]", "en")
    page.get_by_role("button", name="Gem").click()

    expect(page).to_have_url(panel.url("/profile/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name="Profile", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Save")).to_be_visible()
    expect(page.locator(".messages li.success")).to_have_text("Your profile is saved.")
    expect(page.locator("input[name=full_name]")).to_have_value("Nyt Navn")

    user.refresh_from_db()
    assert (user.full_name, user.language) == ("Nyt Navn", "en")
    event = AuditEvent.objects.get(action="profile.updated")
    assert event.actor == user
    assert event.details["fields"] == ["full_name", "language"]


def test_staff_must_enrol_2fa(panel):
    page = panel.page
    staff = UserFactory(staff_role="support")
    assert not staff.totpdevice_set.exists()

    panel.log_in_with_password(staff)
    expect(page).to_have_url(panel.url("/profile/2fa/"))
    expect(page.get_by_text("Medarbejdere skal bruge to-faktor-godkendelse")).to_be_visible()

    # Before enrolling, every other page sends staff back here.
    page.goto(panel.url("/staff/customers/"))
    expect(page).to_have_url(panel.url("/profile/2fa/"))

    secret = page.locator("#totp-secret").inner_text().strip()
    code = TOTP(base64.b32decode(secret)).token()
    panel.enter_code(f"{code:06d}")

    expect(page.get_by_role("heading", name="Dine gendannelseskoder")).to_be_visible()
    codes = page.locator("#recovery-codes li")
    expect(codes).to_have_count(10)
    assert len(set(codes.all_inner_texts())) == 10
    assert staff.totpdevice_set.filter(confirmed=True).count() == 1

    panel.open("/staff/customers/")
    expect(page.get_by_role("heading", name="Kunder")).to_be_visible()


# Every page a customer owner can GET, with a text it must show ({id} is the customer's).
def danish(message: str) -> str:
    with translation.override("da"):
        return translation.gettext(message)


OWNER_PAGES = {
    "/": "Velkommen",
    "/profile/": "Opsæt to-faktor-godkendelse",
    "/profile/2fa/": "Scan koden",
    "/profile/2fa/verify/": "To-faktor-godkendelse",
    "/customers/{id}/": "Sø & Fjord ApS",
    "/customers/{id}/members/": "tekniker@example.dk",
    "/customers/{id}/api-keys/": "deploy-nøgle",
    "/customers/{id}/webhotels/": "Sø & Fjord ApS",
    "/customers/{id}/domains/": "Sø & Fjord ApS",
    "/customers/{id}/identity/": "Sø & Fjord ApS",
    "/customers/{id}/operations/": "Sø & Fjord ApS",
    "/customers/{id}/backups/": "Sø & Fjord ApS",
    "/customers/{id}/audit/": "apikey.created",  # last: the language switch is tried here
}
# The staff pages, and a customer's pages as staff see them.
STAFF_PAGES = {
    "/staff/customers/": "Sø & Fjord ApS",
    "/staff/customers/new/": "Ny kunde",
    "/staff/audit/": "login.succeeded",
    "/staff/servers/": danish("Servers"),
    "/staff/plans/": danish("Plans"),
    "/staff/backups/": danish("Tonight's backups"),
    "/staff/identity-checks/": danish("Identity checks"),
    "/customers/{id}/": "Sø & Fjord ApS",
    "/customers/{id}/members/": "tekniker@example.dk",
    "/customers/{id}/api-keys/": "deploy-nøgle",
    "/customers/{id}/audit/": "apikey.created",
    "/profile/": "To-faktor-godkendelse er slået til",
    "/profile/2fa/": "To-faktor-godkendelse er slået til",
}


def visit_all(panel, pages: dict[str, str], customer) -> None:
    for path, text in pages.items():
        panel.open(path.format(id=customer.pk))
        expect(panel.page.locator("main")).to_contain_text(text)


def test_every_panel_page_renders_without_errors(panel):
    page = panel.page
    customer = CustomerFactory(name="Sø & Fjord ApS")
    owner = MembershipFactory(customer=customer, role=Role.OWNER).user
    MembershipFactory(customer=customer, role=Role.TECHNICAL, user__email="tekniker@example.dk")
    create_api_key(Actor(owner), customer, name="deploy-nøgle")

    for path in ["/login/", "/password-reset/", "/password-reset/MQ/bad-token/"]:
        panel.open(path)

    panel.log_in(owner)
    visit_all(panel, OWNER_PAGES, customer)

    # The language switch posts to /i18n/setlang/ and comes back to the same page in English.
    expect(page.locator("html")).to_have_attribute("lang", "da")
    page.get_by_role("button", name="EN", exact=True).click()
    expect(page).to_have_url(panel.url(f"/customers/{customer.pk}/audit/"))
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_role("heading", name=f"{customer.name}: Audit log")).to_be_visible()

    # Drop the owner's session and language cookies, then the same browser as staff.
    page.context.clear_cookies()
    staff = UserFactory(staff_role="admin")
    add_totp(staff)
    panel.log_in(staff)
    expect(page).to_have_url(panel.url("/staff/customers/"))
    visit_all(panel, STAFF_PAGES, customer)
    expect(page.locator("html")).to_have_attribute("lang", "da")


def test_customer_creates_a_webhotel_and_a_mailbox(panel, tmp_path):
    """The customer's way through the panel; the operations then run (as the worker would) on
    a sandbox server, and the panel shows the result."""
    owner = MembershipFactory(role=Role.OWNER).user
    customer = owner.memberships.get().customer
    plan = PlanFactory(name="Basis")
    ServerFactory(root=str(tmp_path / "sandbox"))
    page = panel.page
    panel.log_in(owner)

    panel.open(f"/customers/{customer.pk}/webhotels/")
    page.fill("input[name=primary_domain]", "bageriet.dk")
    page.select_option("select[name=plan]", str(plan.pk))
    page.locator("form:has(input[name=primary_domain]) button[type=submit]").click()
    expect(page.locator("main h1")).to_contain_text("bageriet.dk")
    expect(page.locator("main")).to_contain_text(danish("Being set up"))

    page.fill("input[name=name]", "bageriet.dk")
    page.locator("form:has(input[name=name]) button[type=submit]").click()
    mail_domain = MailDomain.objects.get(name="bageriet.dk")
    panel.open(f"/customers/{customer.pk}/mail-domains/{mail_domain.pk}/")
    page.fill("input[name=local_part]", "info")
    page.fill("input[name=quota_mb]", "500")
    page.locator("form:has(input[name=local_part]) button[type=submit]").first.click()
    password = page.locator("#new-password").inner_text()
    assert len(password) >= 20

    for operation in Operation.objects.filter(status="pending").order_by("pk"):
        provisioning.execute(operation.pk)
    for operation in Operation.objects.filter(status="pending").order_by("pk"):
        provisioning.execute(operation.pk)  # the certificate, queued by the webhotel's set-up
    assert set(Operation.objects.values_list("status", flat=True)) == {"done"}

    page.reload()
    expect(page.locator("main")).to_contain_text("info@bageriet.dk")
    expect(page.locator("#new-password")).to_have_count(0)  # shown once only
    webhotel = Webhotel.objects.get(primary_domain="bageriet.dk")
    sandbox = tmp_path / "sandbox"
    assert (sandbox / "webhotels" / webhotel.system_user / "public_html").is_dir()
    assert (sandbox / "mail" / "bageriet.dk" / "info" / "Maildir").is_dir()
    passwd = (sandbox / "mail" / "passwd").read_text()
    assert verify_dovecot_hash(passwd.split("info@bageriet.dk:")[1].split(":")[0], password)


def test_customer_restores_a_deleted_folder_and_pays_for_it(panel, tmp_path, s3_store, tariff):
    """Last night's backup, a deleted folder, and the customer's way back through the panel:
    choose the folder, see the price with VAT, accept, pay, and get the exact bytes back."""
    owner = MembershipFactory(role=Role.OWNER).user
    customer = owner.memberships.get().customer
    ServerFactory(root=str(tmp_path / "sandbox"))
    webhotel = webhotels.create_webhotel(
        Actor(owner), customer, primary_domain="bageriet.dk", plan=PlanFactory()
    )
    for operation in Operation.objects.filter(status="pending").order_by("pk"):
        provisioning.execute(operation.pk)
    home = tmp_path / "sandbox" / "webhotels" / webhotel.system_user / "public_html"
    (home / "opskrifter").mkdir()
    for n in range(5):
        (home / "opskrifter" / f"brød{n}.html").write_bytes(f"<p>Rugbrød {n}</p>\n".encode() * 99)
    before = {p.name: p.read_bytes() for p in (home / "opskrifter").iterdir()}
    back_up_all()
    shutil.rmtree(home / "opskrifter")

    page = panel.page
    panel.log_in(owner)
    panel.open(f"/customers/{customer.pk}/backups/webhotel/{webhotel.pk}/")
    page.locator("a[href*='/restore/']").first.click()
    page.get_by_role("link", name="public_html/").click()
    page.check("input[value='public_html/opskrifter']")
    page.select_option("select[name=destination]", "in_place")
    page.locator("main form button[type=submit]").click()

    order = RestoreOrder.objects.get(customer=customer)
    expect(page.locator("table.price")).to_contain_text(billing.format_kroner(order.gross))
    expect(page.locator("table.price")).to_contain_text(billing.format_kroner(order.vat))
    page.locator("form[action$='/accept/'] button").click()
    page.locator("form[action$='/pay/'] button").click()
    page.locator("button[name=approve]").click()
    order.refresh_from_db()
    assert order.invoice.status == "paid"

    assert run_restores() == ["done"]
    panel.open(f"/customers/{customer.pk}/restores/{order.pk}/")
    expect(page.locator("main h1")).to_contain_text(danish("Done"))
    assert {p.name: p.read_bytes() for p in (home / "opskrifter").iterdir()} == before
