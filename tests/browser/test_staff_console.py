"""The billing console end to end in Chromium: sign in with a TOTP code, find an account,
post a check, and the account page's layout at desktop and phone widths."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.services.context import Services
from portal.services.staff_actions import post_manual_payment
from portal.services.staff_auth import StaffSetup, add_staff_user, current_code

DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 812}
SCREENSHOTS = Path("/tmp")
PASSWORD = "correct horse battery staple"

# The innermost elements whose right edge passes the viewport, to name in a failure.
# Anything inside a .table-wrap is left out: those scroll sideways on purpose.
OVERFLOWING = """(limit) => [...document.body.querySelectorAll('*')]
  .filter((el) => !el.closest('.table-wrap'))
  .filter((el) => el.getBoundingClientRect().right > limit)
  .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > limit))
  .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}"> `
    + `right=${Math.round(el.getBoundingClientRect().right)}: `
    + JSON.stringify(el.textContent.trim().slice(0, 60)))"""


def _new_page(browser, live_server: str, **options):
    context = browser.new_context(base_url=live_server, **options)
    context.set_default_timeout(10_000)
    return context, context.new_page()


@pytest.fixture
def desktop(browser, live_server: str):
    """A desktop-sized page (1280 x 900) whose relative URLs go to the live server."""
    context, tab = _new_page(browser, live_server, viewport=DESKTOP)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def phone(browser, live_server: str):
    """A phone-sized page (375 x 812, touch), as tests/browser/conftest.py's `page`."""
    context, tab = _new_page(browser, live_server, viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def associate(services: Services) -> StaffSetup:
    return add_staff_user(services, "sam.rivera", "associate", PASSWORD)


def sign_in(page: Page, associate: StaffSetup, services: Services) -> None:
    """Password, then the authenticator code, ending on the dashboard."""
    page.goto("/staff/login")
    expect(page.get_by_role("heading", name="Billing staff sign-in", level=1)).to_be_visible()
    page.get_by_label("Username", exact=True).fill(associate.user.username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(re.compile(r"/staff/login/code$"))
    page.get_by_label("Code from your authenticator app").fill(
        current_code(associate.user, services)
    )
    page.get_by_role("button", name="Sign in").click()

    expect(page).to_have_url(re.compile(r"/staff/$"))
    expect(page.get_by_role("heading", name=re.compile(r"^Today, "), level=1)).to_be_visible()
    expect(page.get_by_role("button", name=f"Sign out {associate.user.username}")).to_be_visible()


@pytest.mark.browser
def test_associate_signs_in_finds_an_account_and_posts_a_check(
    desktop: Page, lopez, associate: StaffSetup, services: Services
) -> None:
    page = desktop
    sign_in(page, associate, services)
    page.screenshot(path=str(SCREENSHOTS / "staff-dashboard.png"), full_page=True)

    # Search from the dashboard's own form (not the one in the header).
    search = page.get_by_role("search").filter(has=page.get_by_label("Find an account"))
    search.get_by_label("Find an account").fill("Lopez")
    search.get_by_role("button", name="Search").click()
    expect(page).to_have_url(re.compile(r"/staff/search\?q=Lopez$"))
    expect(page.get_by_role("heading", name=re.compile(r"1 result for .Lopez."))).to_be_visible()
    page.get_by_role("link", name=re.compile(r"account 100234")).click()

    # The account page.
    expect(page).to_have_url(re.compile(r"/staff/accounts/100234$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("account 100234")
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")
    expect(page.get_by_test_id("ledger-total")).to_have_text("$95.50")

    # Post a $40.00 check.
    post = page.get_by_role("region", name="Post a payment")
    post.get_by_label("Method", exact=True).select_option(label="Check")
    post.get_by_label("Amount", exact=True).fill("40.00")
    post.get_by_label("Check number", exact=True).fill("1001")
    post.get_by_role("button", name="Post payment").click()

    # Back on the account page (303 after the POST), with the result.
    expect(page).to_have_url(re.compile(r"/staff/accounts/100234$"))
    expect(page.get_by_role("status").filter(has_text="Posted")).to_have_text(
        "Posted $40.00 (check)."
    )
    expect(page.get_by_test_id("balance-due")).to_have_text("$55.50")
    expect(page.get_by_test_id("ledger-total")).to_have_text("$55.50")

    payments = page.get_by_role("table", name="Payments on this account, newest first")
    posted_row = payments.get_by_role("row").filter(has_text="$40.00")
    expect(posted_row).to_have_count(1)
    expect(posted_row).to_contain_text("Check #1001")
    expect(posted_row).to_contain_text("Succeeded")

    activity = page.get_by_role("region", name="Recent activity on this account")
    entry = activity.get_by_role("listitem").filter(has_text="post payment")
    expect(entry).to_have_count(1)
    expect(entry).to_contain_text(associate.user.username)

    page.screenshot(path=str(SCREENSHOTS / "staff-account.png"), full_page=True)


@pytest.mark.browser
def test_staff_account_page_fits_a_phone(
    phone: Page, lopez, associate: StaffSetup, services: Services
) -> None:
    """At 375 px only the .table-wrap containers may scroll sideways, never the page."""
    # A posted check, so the payments table and the reversal form are on the page too.
    post_manual_payment(
        services, "sam.rivera", "100234", "check", "40.00", "1001", "a" * 32, "127.0.0.1"
    )
    page = phone
    sign_in(page, associate, services)
    page.goto("/staff/accounts/100234")
    expect(page.get_by_test_id("balance-due")).to_have_text("$55.50")
    page.screenshot(path=str(SCREENSHOTS / "staff-account-375.png"), full_page=True)

    problems = []
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        culprits = "; ".join(page.evaluate(OVERFLOWING, PHONE["width"]))
        problems.append(f"as loaded: page is {width}px wide; overflowing: {culprits}")

    # Every collapsed section opened, too.
    page.evaluate("document.querySelectorAll('details').forEach((d) => { d.open = true; })")
    width = page.evaluate("document.documentElement.scrollWidth")
    if width > PHONE["width"]:
        culprits = "; ".join(page.evaluate(OVERFLOWING, PHONE["width"]))
        problems.append(f"details open: page is {width}px wide; overflowing: {culprits}")

    assert not problems, f"horizontal overflow at {PHONE['width']}px:\n" + "\n".join(problems)


@pytest.mark.browser
def test_every_console_page_fits_a_phone(phone: Page, lopez, services: Services) -> None:
    """An admin walks every console page at 375 px: only tables may scroll sideways."""
    admin = add_staff_user(services, "ada.admin", "admin", PASSWORD)
    post_manual_payment(
        services, "ada.admin", "100234", "check", "40.00", "1001", "c" * 32, "127.0.0.1"
    )
    sign_in(phone, admin, services)
    problems = []
    for path in (
        "/staff/",
        "/staff/search?q=Lopez",
        "/staff/accounts/100234",
        "/staff/payments",
        "/staff/escalations",
        "/staff/reports/aging",
        "/staff/reports/monthly",
        "/staff/reports/deposits",
        "/staff/audit",
        "/staff/users",
        "/staff/password",
    ):
        response = phone.goto(path)
        assert response is not None and response.status == 200, path
        width = phone.evaluate("document.documentElement.scrollWidth")
        if width > PHONE["width"]:
            culprits = "; ".join(phone.evaluate(OVERFLOWING, PHONE["width"]))
            problems.append(f"{path}: {width}px wide: {culprits}")
    assert not problems, "\n".join(problems)
