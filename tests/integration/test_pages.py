"""The patient's pages: account, statement, health check, and their caching headers."""

import re
from dataclasses import replace
from datetime import timedelta

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.domain.payments import Payment, PaymentStatus
from portal.services import ledger as posting
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account
from tests.integration.conftest import balance_due, newer_statement, sign_in


def text_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def visible(html: str) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_account_page_shows_balance_and_open_statements(patient):
    html = text_of(patient.get("/account"))

    assert balance_due(html) == "$95.50"
    assert "Account 100234" in html
    assert "Maria Lopez" in html
    assert 'href="/statements/S-2026-000100"' in html
    assert 'href="/statements/S-2026-000123"' in html
    page = visible(html)
    assert "$30.00" in page
    assert "$65.50" in page
    assert "Past due" in page  # S-2026-000100 was due 2026-09-30
    assert "No payments yet." in page


def test_account_page_lists_payments_made_but_not_unfinished_checkouts(patient, services):
    store = services.store
    for payment_id, amount, minutes in (("pay_done", 2500, 1), ("pay_open", 1200, 2)):
        store.create_payment(
            Payment(
                payment_id=payment_id,
                account_number="100234",
                amount_cents=amount,
                status=PaymentStatus.PENDING,
                method="card",
                gateway="sandbox",
                created_at=NOW - timedelta(days=1, minutes=-minutes),
            )
        )
    posting.post_payment(store, "pay_done", "ref-done", 2500, NOW - timedelta(days=1))

    html = text_of(patient.get("/account"))
    history = html.split('id="history-heading"', 1)[1]

    assert balance_due(html) == "$70.50"
    assert 'href="/payments/pay_done"' in history
    assert "$25.00 by card" in history
    assert "Succeeded" in history
    assert "pay_open" not in html
    assert "No payments yet." not in history


def test_statement_page_shows_line_items_with_codes(patient):
    html = text_of(patient.get("/statements/S-2026-000123"))
    page = visible(html)

    assert "Statement S-2026-000123" in page
    assert "99213" in page
    assert "Office visit, established patient" in page
    assert "J06.9" in page
    assert "Insurance paid" in page
    assert "$120.00" in page  # each line's insurance payment
    assert "You owe $45.50" in page
    assert "You owe $20.00" in page
    assert "Dr. Chen" in page
    assert "Ana Lopez" in page  # the patient of the lines
    assert re.search(r'data-testid="statement-balance">\$65\.50', html)


def test_statement_of_another_account_is_not_found(patient, services):
    other = replace(lopez_account(), account_number="200555")
    theirs = replace(newer_statement("200555"), statement_id="S-2026-000999")
    import_statement(services, other, theirs)

    assert patient.get("/statements/S-2026-000999").status_code == 404
    assert patient.get("/statements/S-0000-000000").status_code == 404
    assert patient.get("/statements/S-2026-000123").status_code == 200


@pytest.mark.parametrize(
    "path", ["/pay", "/account", "/statements/S-2026-000123", "/statements/S-2026-000100"]
)
def test_pages_are_not_cached(patient, path):
    response = patient.get(path)

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_redirects_and_errors_are_not_cached(client, lopez):
    assert "no-store" in client.get("/account").headers["Cache-Control"]
    assert "no-store" in client.get("/payments/pay_unknown").headers["Cache-Control"]


def test_receipt_page_is_not_cached(patient, services):
    services.store.create_payment(
        Payment("pay_x", "100234", 1000, PaymentStatus.PENDING, "card", "sandbox", NOW)
    )
    response = patient.get("/payments/pay_x")

    assert response.status_code == 200
    assert "no-store" in response.headers["Cache-Control"]


def test_unknown_payment_is_not_found(client, lopez):
    assert client.get("/payments/pay_unknown").status_code == 404


def test_healthz(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_healthz_reports_an_unmigrated_store(settings, clock):
    app = create_app(services=build_services(settings, clock=clock))  # never migrated
    response = app.test_client().get("/healthz")

    assert response.status_code == 503
    assert response.get_json() == {"status": "unavailable"}


def test_sign_in_as_another_account_sees_only_its_own_statements(client, services, lopez):
    other = replace(lopez_account(), account_number="200555")
    theirs = replace(newer_statement("200555"), statement_id="S-2026-000555")
    import_statement(services, other, theirs)
    sign_in(client, account_number="200555")

    html = text_of(client.get("/account"))

    assert "S-2026-000555" in html
    assert "S-2026-000100" not in html
    assert client.get("/statements/S-2026-000123").status_code == 404
