"""A payment plan set up in Chromium at phone width: from the Quick Pay look-up to a
running plan (the months and day chosen, the schedule shown, the authorization ticked,
the sandbox's test card saved), with no page wider than the phone."""

import re
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.config import Settings
from portal.services.context import Services
from portal.services.statements import import_statement
from tests.browser.test_pay_flow import PhoneChecks
from tests.conftest import lopez_account, statement


@pytest.fixture
def planner(services: Services, lopez) -> None:
    """Account 100234 owes $695.50 in all: enough for a plan (the minimum is $100.00)."""
    import_statement(
        services,
        lopez_account(),
        statement("S-2026-000300", (60_000,), date(2026, 11, 20), date(2026, 12, 20)),
        notify=False,
    )


@pytest.mark.browser
def test_a_payment_plan_from_quick_pay_on_a_phone(
    page: Page, planner, services: Services, settings: Settings
) -> None:
    phone = PhoneChecks(page)

    page.goto("/pay")
    page.get_by_label("Account number", exact=True).fill("100234")
    page.get_by_label("Last name", exact=True).fill("Lopez")
    page.get_by_label("Date of birth", exact=True).fill("1984-03-12")
    page.get_by_role("button", name="Find my balance").click()
    expect(page.get_by_role("heading", name="Your balance", level=1)).to_be_visible()
    expect(page.get_by_test_id("balance-due")).to_have_text("$695.50")

    # The offer: months or a monthly amount, and a day of the month.
    page.get_by_role("link", name="Pay over time").click()
    expect(page).to_have_url(re.compile(r"/plans/new$"))
    expect(page.get_by_role("heading", name="Pay over time", level=1)).to_be_visible()
    expect(page.get_by_text("$695.50")).to_be_visible()
    phone.check("/plans/new", "plan-new-375.png")
    page.get_by_label("Number of months", exact=True).select_option("3")
    page.get_by_label("Day of the month to pay", exact=True).select_option("15")
    page.get_by_role("button", name="See the schedule").click()

    # The schedule and the authorization: nothing is saved before the box is ticked.
    expect(page.get_by_role("heading", name="Your payment plan", level=1)).to_be_visible()
    schedule = page.get_by_test_id("schedule").get_by_role("listitem")
    expect(schedule).to_have_text(
        [
            re.compile(r"^Dec 15, 2026\s+\$231\.83$"),
            re.compile(r"^Jan 15, 2027\s+\$231\.83$"),
            re.compile(r"^Feb 15, 2027\s+\$231\.84$"),
        ]
    )
    expect(page.get_by_test_id("authorization")).to_contain_text("for account 100234")
    phone.check("review", "plan-review-375.png")
    page.get_by_role("button", name="Agree and save a payment method").click()
    expect(page.get_by_role("alert")).to_contain_text("Tick the box to agree")
    assert services.store.account_plans("100234") == []
    page.get_by_label("I agree to this authorization").check()
    page.get_by_role("button", name="Agree and save a payment method").click()

    # The processor's page (the sandbox's): the test card saved, nothing charged.
    expect(page).to_have_url(re.compile(r"/sandbox/setup/cs_sbx_setup_"))
    expect(page.get_by_role("heading", name="Save a payment method", level=1)).to_be_visible()
    phone.check("/sandbox/setup/<session>", "plan-setup-375.png")
    page.get_by_label("Card number", exact=True).fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)", exact=True).fill("12/30")
    page.get_by_label("CVC", exact=True).fill("123")
    page.get_by_role("button", name="Save card").click()

    # The plan's page: the card, the schedule, the status.
    expect(page).to_have_url(re.compile(r"/plans/plan_[0-9a-f]+$"))
    expect(page.get_by_role("heading", name="Your payment plan", level=1)).to_be_visible()
    expect(
        page.get_by_role("status").filter(has_text="Your payment plan is set up")
    ).to_be_visible()
    expect(page.get_by_test_id("plan-method")).to_have_text("Visa ending in 4242")
    expect(page.get_by_test_id("plan-status")).to_have_text(re.compile("current", re.I))
    expect(page.get_by_test_id("plan-remaining")).to_have_text("$695.50")
    plan_schedule = page.get_by_test_id("schedule").get_by_role("listitem")
    expect(plan_schedule).to_have_count(3)
    expect(plan_schedule.first).to_contain_text("Dec 15, 2026")
    expect(plan_schedule.first).to_contain_text("Next")
    phone.check("/plans/<plan_id>", "plan-375.png")

    [plan] = services.store.account_plans("100234")
    assert plan.method is not None and plan.method.last4 == "4242"
    assert page.url.endswith(f"/plans/{plan.plan_id}")
    # The one e-mail: the authorization's copy; nothing was charged.
    emails = sorted(Path(settings.outbox_dir).glob("*.eml"))
    assert len(emails) == 1, emails
    assert services.store.account_records("100234").payments == ()

    phone.assert_clean()
