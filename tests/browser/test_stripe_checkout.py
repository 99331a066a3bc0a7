"""Paying by card with PORTAL_PAYMENTS=stripe in Chromium, against the Stripe stand-in.

The portal is served live with the Stripe gateway pointed at tests/stripe_stub.py. The
patient looks up the account, pays on the stand-in's hosted checkout page and comes back
to the portal's return page. The payment is then posted by whichever of the two paths
comes first, the signed checkout.session.completed webhook or the return page asking
Stripe how the checkout ended, and posted once: one ledger posting and one receipt.
"""

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import PaymentStatus
from portal.services.context import Services
from tests.browser.conftest import PHONE
from tests.stripe_fixtures import event, signed, stripe_settings

DESKTOP = {"width": 1280, "height": 900}
VIEWPORTS = {
    "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
    "desktop": {"viewport": DESKTOP},
}
GUARANTOR_BIRTH_DATE = "1984-03-12"  # Maria Lopez, tests/conftest.py


@pytest.fixture
def services(settings: Settings, clock: FixedClock, stub) -> Services:
    """As tests/conftest.py's, with PORTAL_PAYMENTS=stripe against the stand-in: the
    browser conftest's live server and the `lopez` data are built on these services."""
    built = build_services(stripe_settings(settings, stub), clock=clock)
    built.store.migrate()
    return built


@pytest.fixture(params=sorted(VIEWPORTS))
def checkout_page(request, browser, live_server: str, stub) -> Iterator[Page]:
    """A page on the live portal (phone and desktop), with the stand-in posting its signed
    webhook to the live portal when the patient pays on its hosted page."""
    stub.webhook_url = f"{live_server}/webhooks/stripe"
    context = browser.new_context(base_url=live_server, **VIEWPORTS[request.param])
    context.set_default_timeout(10_000)
    try:
        yield context.new_page()
    finally:
        context.close()


# -- helpers ------------------------------------------------------------------------------


def open_account(page: Page, lopez) -> None:
    """Quick Pay: look the account up and land on its balance."""
    page.goto("/pay")
    expect(page.get_by_role("heading", name="Pay your bill", level=1)).to_be_visible()
    page.get_by_label("Account number", exact=True).fill(lopez.account_number)
    page.get_by_label("Last name", exact=True).fill(lopez.guarantor.last_name)
    page.get_by_label("Date of birth", exact=True).fill(GUARANTOR_BIRTH_DATE)
    page.get_by_role("button", name="Find my balance").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name="Your balance", level=1)).to_be_visible()
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")


def pay_amount_to_hosted_page(page: Page, stub, amount: str) -> str:
    """Enter `amount`, click Pay: the stand-in's hosted checkout page. Its session id."""
    page.get_by_label("Amount", exact=True).fill(amount)
    page.get_by_role("button", name="Pay this amount").click()
    hosted = re.compile(re.escape(stub.base) + r"/pay/(cs_test_[0-9a-f]+)$")
    expect(page).to_have_url(hosted)
    expect(page.get_by_role("heading", name="Stripe test checkout")).to_be_visible()
    expect(page.get_by_text(f"Amount: ${amount}")).to_be_visible()
    match = hosted.match(page.url)
    assert match, page.url
    return match.group(1)


def payment_postings(services: Services, payment_id: str) -> list:
    found = services.store.account_records("100234")
    assert found is not None
    return [
        e
        for e in found.entries
        if e.payment_id == payment_id and e.kind is EntryKind.PATIENT_PAYMENT
    ]


def outbox_files(settings: Settings) -> list[Path]:
    outbox = Path(settings.outbox_dir)
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def deliver_webhook(live_server: str, envelope: dict) -> tuple[int, dict]:
    """POST a notification signed as Stripe signs it to the live portal."""
    body, headers = signed(envelope)
    request = urllib.request.Request(
        f"{live_server}/webhooks/stripe", data=body, headers=headers, method="POST"
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, json.loads(response.read())


# -- tests --------------------------------------------------------------------------------


@pytest.mark.browser
@pytest.mark.parametrize("first", ["webhook", "return page"])
def test_card_payment_through_stripe_checkout_posts_once(
    checkout_page: Page,
    lopez,
    services: Services,
    settings: Settings,
    stub,
    live_server: str,
    first: str,
) -> None:
    page = checkout_page
    if first == "return page":
        # The webhook is late: the return page has to ask Stripe how the checkout ended.
        stub.webhook_url = None
    open_account(page, lopez)
    session_id = pay_amount_to_hosted_page(page, stub, "25.00")

    # The stand-in's Pay button: paid, (webhook,) then back to the portal's return page.
    page.get_by_role("button", name="Pay", exact=True).click()
    expect(page).to_have_url(
        re.compile(re.escape(live_server) + rf"/payments/pay_[0-9a-f]+\?session_id={session_id}$")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you, your payment was received"
    )
    expect(page.get_by_test_id("receipt-amount")).to_have_text("$25.00")
    expect(page.get_by_text("Statement S-2026-000100: $25.00")).to_be_visible()
    expect(page.get_by_text("Balance due now: $70.50")).to_be_visible()

    payment_id = re.search(r"/payments/(pay_[0-9a-f]+)\?", page.url).group(1)
    payment = services.store.get_payment(payment_id)
    assert payment is not None
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.checkout_session_id == session_id
    assert payment.amount_cents == 2500

    if first == "webhook":
        # The stand-in delivered the signed webhook before redirecting, and it was taken.
        assert [d["status"] for d in stub.webhook_deliveries] == [200]
        assert stub.webhook_deliveries[0]["event"]["type"] == "checkout.session.completed"
    else:
        # The return page posted it; now the webhook arrives, and changes nothing.
        assert stub.webhook_deliveries == []
        completed = event("checkout.session.completed", dict(stub.sessions[session_id]))
        assert deliver_webhook(live_server, completed) == (200, {"status": "processed"})
    # The return page asked Stripe only if the webhook had not posted the payment yet.
    retrieved = [
        r for r in stub.api_requests(f"/v1/checkout/sessions/{session_id}") if r.method == "GET"
    ]
    assert len(retrieved) == (1 if first == "return page" else 0), retrieved

    # Exactly one posting for the payment, on the oldest statement, and one receipt.
    postings = payment_postings(services, payment_id)
    assert [(e.statement_id, e.amount_cents) for e in postings] == [("S-2026-000100", -2500)]
    records = services.store.account_records("100234")
    assert balances(records.entries).due_cents == 7050
    emails = outbox_files(settings)
    assert len(emails) == 1, emails
    assert "maria@example.com" in emails[0].read_text()

    # Coming back to the return page (a reload, the back button) changes nothing either.
    page.reload()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you, your payment was received"
    )
    expect(page.get_by_text("Balance due now: $70.50")).to_be_visible()
    page.get_by_role("link", name="Back to your balance").click()
    expect(page.get_by_test_id("balance-due")).to_have_text("$70.50")
    assert len(payment_postings(services, payment_id)) == 1
    assert len(outbox_files(settings)) == 1


@pytest.mark.browser
def test_canceling_on_stripe_checkout_posts_nothing(
    checkout_page: Page,
    lopez,
    services: Services,
    settings: Settings,
    stub,
    live_server: str,
) -> None:
    page = checkout_page
    open_account(page, lopez)
    session_id = pay_amount_to_hosted_page(page, stub, "25.00")

    # The stand-in's Cancel link: back to the portal's cancel URL.
    page.get_by_role("link", name="Cancel").click()
    expect(page).to_have_url(
        re.compile(re.escape(live_server) + r"/payments/pay_[0-9a-f]+\?canceled=1$")
    )
    expect(page.get_by_role("heading", level=1)).to_have_text("Payment canceled")
    expect(page.get_by_role("status")).to_have_text(
        "You left the checkout page, so nothing was charged."
    )
    expect(page.get_by_text("Thank you")).to_have_count(0)

    payment_id = re.search(r"/payments/(pay_[0-9a-f]+)\?", page.url).group(1)
    payment = services.store.get_payment(payment_id)
    assert payment is not None
    assert payment.checkout_session_id == session_id
    assert payment.status is not PaymentStatus.SUCCEEDED
    assert payment.posted_at is None
    assert stub.sessions[session_id]["payment_status"] == "unpaid"
    assert stub.webhook_deliveries == []

    # Nothing posted, no receipt, the balance as it was.
    assert payment_postings(services, payment_id) == []
    records = services.store.account_records("100234")
    assert balances(records.entries).due_cents == 9550
    assert outbox_files(settings) == []
    page.get_by_role("link", name="Back to your balance").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")
