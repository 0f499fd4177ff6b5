"""A closure walked through in a real browser, from the close form to the erasure receipt, with a
fast clock: the purge is called with ``now`` past the grace period between the browser's steps."""

from datetime import timedelta

import pytest
from django.core import mail
from playwright.sync_api import expect

from accounts.models import AccountClosure, DataExport, Role
from accounts.privacy import export, purge
from accounts.privacy.registry import categories
from tests.factories import PASSWORD, CustomerFactory, MembershipFactory
from tests.test_browser import Panel, _orm_beside_playwright  # noqa: F401 -- the session fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def panel(page, live_server):
    return Panel(page, live_server.url)


def test_an_owner_exports_closes_and_reads_the_receipt(panel):
    page = panel.page
    customer = CustomerFactory(name="Lukket ApS", kind="company", cvr="10150817")
    owner = MembershipFactory(customer=customer, role=Role.OWNER).user
    panel.log_in(owner)
    panel.open(f"/customers/{customer.pk}/privacy/")

    page.locator("#request-export").click()
    expect(page.locator("#exports tbody tr")).to_have_count(1)
    requested = DataExport.objects.get(customer=customer)
    export.build_export(requested.pk)
    page.reload()
    download_link = page.locator("#exports a")
    expect(download_link).to_have_count(1)
    with page.expect_download() as download:
        download_link.click()
    assert download.value.suggested_filename.endswith(".zip")

    page.fill("input[name=password]", "not the password")
    page.locator("input[name=confirm]").check()
    page.locator("#close-account").click()
    expect(page.locator(".messages li.error")).to_be_visible()
    assert not AccountClosure.objects.filter(customer=customer).exists()

    page.fill("input[name=password]", PASSWORD)
    page.locator("input[name=confirm]").check()
    page.locator("#close-account").click()
    expect(page.locator("#reopen")).to_be_visible()
    closure = AccountClosure.objects.get(customer=customer)

    purge.purge(closure, now=closure.purge_after + timedelta(minutes=1))

    page.reload()  # the owner was erased: the session has ended
    expect(page.locator("input[name=password]")).to_be_visible()
    [message] = [m for m in mail.outbox if "/privacy/receipts/" in m.body]
    link = next(word for word in message.body.split() if "/privacy/receipts/" in word)
    page.goto(panel.url(link.split("8000", 1)[1]))
    expect(page.locator("main h1")).to_be_visible()
    erasers = [category for category in categories() if category.erase is not None]
    expect(page.locator("#erased tbody tr")).to_have_count(len(erasers))
    kept = [category for category in categories() if category.erase is None]
    expect(page.locator("#kept tbody tr")).to_have_count(len(kept))
