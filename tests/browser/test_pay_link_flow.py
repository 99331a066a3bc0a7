"""From a texted pay link to a payment, in Chromium at phone width (issue 22)."""

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from portal.adapters.outbox_sms import read_outbox
from portal.domain.texting import SmsConsent
from portal.services.context import Services
from portal.services.staff_pay_links import send_pay_link
from tests.browser.test_pay_flow import PhoneChecks
from tests.conftest import NOW


@pytest.mark.browser
def test_a_texted_pay_link_to_a_payment_on_a_phone(page: Page, lopez, services: Services) -> None:
    services.store.save_sms_consent(
        SmsConsent("100234", "+15555550123", NOW - timedelta(days=1), "intake form")
    )
    send_pay_link(services, "alice", "100234", "text", "127.0.0.1")
    [text] = read_outbox(services.settings.sms_outbox_dir)
    link = re.search(r"https?://\S+", text["body"]).group(0)
    assert "Lopez" not in text["body"] and "$" not in text["body"]
    phone = PhoneChecks(page)

    # The link opens Quick Pay with the account number filled in.
    page.goto(link)
    expect(page.get_by_role("heading", name="Pay your bill", level=1)).to_be_visible()
    expect(page.get_by_text("Your account number is filled in.")).to_be_visible()
    expect(page.get_by_label("Account number", exact=True)).to_have_value("100234")
    phone.check("/pay/<link>", "pay-link-375.png")

    # The patient types only the last name and date of birth.
    page.get_by_label("Last name", exact=True).fill("Lopez")
    page.get_by_label("Date of birth", exact=True).fill("1984-03-12")
    page.get_by_role("button", name="Find my balance").click()
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")
    phone.check("/account", "pay-link-account-375.png")

    # Pay the whole balance through the sandbox's checkout page.
    page.get_by_label("Amount", exact=True).fill("95.50")
    page.get_by_role("button", name="Pay this amount").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_sbx_"))
    page.get_by_label("Card number", exact=True).fill("4242 4242 4242 4242")
    page.get_by_label("Expiry (MM/YY)", exact=True).fill("12/30")
    page.get_by_label("CVC", exact=True).fill("123")
    page.get_by_role("button", name="Pay $95.50").click()
    expect(page).to_have_url(re.compile(r"/payments/[^/?]+$"))
    expect(page.get_by_test_id("receipt-amount")).to_have_text("$95.50")
    phone.check("/payments/<payment_id>", "pay-link-receipt-375.png")

    # The link still opens Quick Pay (until it expires); it never signs anyone in by itself.
    page.context.clear_cookies()
    page.goto(link)
    expect(page.get_by_label("Last name", exact=True)).to_have_value("")
    phone.assert_clean()


@pytest.mark.browser
def test_the_billing_texts_page_on_a_phone(page: Page, lopez, services: Services) -> None:
    phone = PhoneChecks(page)
    page.goto("/pay")
    page.get_by_label("Account number", exact=True).fill("100234")
    page.get_by_label("Last name", exact=True).fill("Lopez")
    page.get_by_label("Date of birth", exact=True).fill("1984-03-12")
    page.get_by_role("button", name="Find my balance").click()
    page.get_by_role("link", name=re.compile("Billing texts")).click()
    expect(page.get_by_role("heading", name="Billing texts", level=1)).to_be_visible()
    page.get_by_label("Mobile number", exact=True).fill("555-555-0123")
    page.get_by_label("Your time zone").select_option("America/Chicago")
    page.get_by_label(re.compile("I agree to get billing texts")).check()
    phone.check("/account/texts", "texts-375.png")
    page.get_by_role("button", name="Turn on billing texts").click()
    expect(page.get_by_role("heading", name="Texts are on")).to_be_visible()
    assert services.store.sms_consent("100234").phone == "+15555550123"
    [text] = read_outbox(services.settings.sms_outbox_dir)
    assert text["kind"] == "sms-confirm"
    phone.assert_clean()
