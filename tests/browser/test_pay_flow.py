"""Quick Pay end to end in Chromium at phone width: look up, read a statement, pay, receipt."""

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from portal.config import Settings

PHONE_WIDTH = 375
SCREENSHOTS = Path("/tmp")

# The innermost elements whose right edge passes the viewport, to name in a failure.
OVERFLOWING = """(limit) => [...document.body.querySelectorAll('*')]
  .filter((el) => el.getBoundingClientRect().right > limit)
  .filter((el) => ![...el.children].some((c) => c.getBoundingClientRect().right > limit))
  .map((el) => `<${el.tagName.toLowerCase()} class="${el.className}"> `
    + `right=${Math.round(el.getBoundingClientRect().right)}: `
    + JSON.stringify(el.textContent.trim().slice(0, 60)))"""


class PhoneChecks:
    """Screenshots each page, and collects horizontal overflow so the whole flow still runs."""

    def __init__(self, page: Page):
        self.page = page
        self.problems: list[str] = []

    def check(self, where: str, screenshot: str | None = None) -> None:
        if screenshot:
            self.page.screenshot(path=str(SCREENSHOTS / screenshot), full_page=True)
        width = self.page.evaluate("document.documentElement.scrollWidth")
        if width > PHONE_WIDTH:
            culprits = "; ".join(self.page.evaluate(OVERFLOWING, PHONE_WIDTH))
            self.problems.append(
                f"{where}: page is {width}px wide at {PHONE_WIDTH}px; overflowing: {culprits}"
            )

    def assert_clean(self) -> None:
        assert not self.problems, "horizontal overflow on a phone:\n" + "\n".join(self.problems)


@pytest.mark.browser
def test_quick_pay_to_receipt_on_a_phone(page: Page, lopez, settings: Settings) -> None:
    phone = PhoneChecks(page)

    # Quick Pay: the first Tab from the top of the page lands on the skip link.
    page.goto("/pay")
    expect(page.get_by_role("heading", name="Pay your bill", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to main content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    phone.check("/pay", "pay-375.png")

    # Every input has an accessible name (its label), so get_by_label finds each one.
    account_number = page.get_by_label("Account number", exact=True)
    last_name = page.get_by_label("Last name", exact=True)
    date_of_birth = page.get_by_label("Date of birth", exact=True)
    expect(date_of_birth).to_have_attribute("type", "date")
    account_number.fill(lopez.account_number)
    last_name.fill(lopez.guarantor.last_name)
    date_of_birth.fill("1984-03-12")
    page.get_by_role("button", name="Find my balance").click()

    # Account page: the balance, the open statements and the pay forms.
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name="Your balance", level=1)).to_be_visible()
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")
    phone.check("/account", "account-375.png")

    # The oldest statement: its line item in plain words, with the procedure code.
    page.get_by_role("link", name="Statement S-2026-000100").click()
    expect(page.get_by_role("heading", name="Statement S-2026-000100", level=1)).to_be_visible()
    line_item = page.locator("li.line-item").first
    expect(line_item.get_by_role("heading", name=re.compile("Office visit"))).to_be_visible()
    expect(line_item.get_by_text("99213", exact=True)).to_be_visible()
    phone.check("/statements/S-2026-000100", "statement-375.png")
    page.go_back()

    # Pay part of the balance.
    expect(page.get_by_role("heading", name="Your balance", level=1)).to_be_visible()
    page.get_by_label("Amount", exact=True).fill("25.00")
    page.get_by_role("button", name="Pay this amount").click()

    # The sandbox's stand-in for a hosted checkout page.
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_sbx_"))
    expect(page.get_by_role("note")).to_contain_text("Test payments only")
    expect(page.get_by_text("Test payments only")).to_be_visible()
    page.get_by_label("Card number", exact=True).fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)", exact=True).fill("12/30")
    page.get_by_label("CVC", exact=True).fill("123")
    phone.check("/sandbox/checkout/<session>", "checkout-375.png")
    page.get_by_role("button", name="Pay $25.00").click()

    # The receipt (the gateway's return URL).
    expect(page).to_have_url(re.compile(r"/payments/[^/?]+$"))
    expect(page.get_by_role("heading", level=1)).to_contain_text("Thank you")
    expect(page.get_by_test_id("receipt-amount")).to_have_text("$25.00")
    expect(page.get_by_text("Balance due now: $70.50")).to_be_visible()
    phone.check("/payments/<payment_id>", "receipt-375.png")

    # Exactly one e-mail (the receipt) in the outbox.
    emails = sorted(Path(settings.outbox_dir).glob("*.eml"))
    assert len(emails) == 1, emails

    phone.assert_clean()


@pytest.mark.browser
def test_quick_pay_by_keyboard_alone(page: Page, lopez) -> None:
    """Tab order follows the form, a wrong lookup moves focus to the message, Enter submits."""
    page.goto("/pay")
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Account number", exact=True)).to_be_focused()
    page.keyboard.type("100234")
    page.keyboard.press("Tab")
    expect(page.get_by_label("Last name", exact=True)).to_be_focused()
    page.keyboard.type("Lopes")  # wrong
    page.keyboard.press("Tab")
    expect(page.get_by_label("Date of birth", exact=True)).to_be_focused()
    page.keyboard.type("03121984")  # typed as a US date into the date picker
    expect(page.get_by_label("Date of birth", exact=True)).to_have_value("1984-03-12")
    # Chromium's date input keeps one more Tab stop (its picker) before the button.
    for _ in range(2):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.tagName") == "BUTTON":
            break
    expect(page.get_by_role("button", name="Find my balance")).to_be_focused()
    page.keyboard.press("Enter")

    problem = page.locator("#lookup-error")
    expect(problem).to_contain_text("could not find an account")
    expect(problem).to_be_focused()

    page.get_by_label("Last name", exact=True).focus()
    page.keyboard.press("Control+A")
    page.keyboard.type("LÓPEZ")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Your balance", level=1)).to_be_visible()
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")
