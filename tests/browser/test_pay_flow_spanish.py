"""Issue 18: Quick Pay end to end in Spanish, in Chromium at phone width (375 px): the
switch on the first page, look up, a statement, pay, the receipt; nothing wider than the
phone (Spanish runs about a quarter longer than English)."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_pay_flow import PhoneChecks


@pytest.mark.browser
def test_quick_pay_to_receipt_in_spanish_on_a_phone(page: Page, lopez) -> None:
    phone = PhoneChecks(page)

    # An English browser: the switch, named in Spanish and marked as Spanish, changes the
    # page it is on.
    page.goto("/pay")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    switch = page.get_by_role("navigation", name="Language").get_by_role("link", name="Español")
    expect(switch).to_have_attribute("lang", "es")
    switch.click()
    expect(page).to_have_url(re.compile(r"/pay$"))
    expect(page.locator("html")).to_have_attribute("lang", "es")
    expect(page.get_by_role("heading", name="Pague su factura", level=1)).to_be_visible()
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="Ir al contenido principal")).to_be_focused()
    phone.check("/pay", "pay-es-375.png")

    # A wrong date is named in Spanish; then the right details.
    page.get_by_label("Número de cuenta", exact=True).fill(lopez.account_number)
    page.get_by_label("Apellido", exact=True).fill(lopez.guarantor.last_name)
    page.get_by_role("button", name="Buscar mi saldo").click()
    expect(page.get_by_role("alert").filter(has_text="Hay un problema")).to_contain_text(
        "Escriba la fecha de nacimiento así: AAAA-MM-DD."
    )
    phone.check("/pay (error)")
    page.get_by_label("Fecha de nacimiento", exact=True).fill("1984-03-12")
    page.get_by_role("button", name="Buscar mi saldo").click()

    # The balance page, money and dates in the US Spanish way.
    expect(page).to_have_url(re.compile(r"/account$"))
    expect(page.get_by_role("heading", name="Su saldo", level=1)).to_be_visible()
    expect(page.get_by_test_id("balance-due")).to_have_text("$95.50")
    expect(page.get_by_text("con fecha del 1 nov 2026, vence el 30 nov 2026")).to_be_visible()
    phone.check("/account", "account-es-375.png")

    page.get_by_role("link", name="Estado de cuenta S-2026-000100").click()
    expect(page.get_by_role("heading", name="Estado de cuenta S-2026-000100")).to_be_visible()
    expect(page.get_by_text("Para qué fue cada cargo")).to_be_visible()
    phone.check("/statements/S-2026-000100", "statement-es-375.png")
    page.go_back()

    # Pay part of the balance on the checkout page (the sandbox's), then the receipt.
    page.get_by_label("Monto", exact=True).fill("25.00")
    page.get_by_role("button", name="Pagar este monto").click()
    expect(page).to_have_url(re.compile(r"/sandbox/checkout/cs_sbx_"))
    page.locator("#card_number").fill("4242 4242 4242 4242")
    page.locator("#expiry").fill("12/30")
    page.locator("#cvc").fill("123")
    phone.check("/sandbox/checkout/<session>")
    page.locator("form button[type=submit].primary").click()

    expect(page).to_have_url(re.compile(r"/payments/[^/?]+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Gracias, recibimos su pago")
    expect(page.get_by_test_id("receipt-amount")).to_have_text("$25.00")
    expect(page.get_by_text("Saldo a pagar ahora: $70.50")).to_be_visible()
    expect(page.get_by_text("Tarjeta", exact=True)).to_be_visible()
    phone.check("/payments/<payment_id>", "receipt-es-375.png")

    # Back to English on the same page, and the choice stays.
    page.get_by_role("link", name="English").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Thank you, your payment was received"
    )
    phone.assert_clean()
