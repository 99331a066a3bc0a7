"""Helpers for driving the portal through the Flask test client (CSRF is on)."""

import email
import re
from datetime import date
from email import policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import Statement
from portal.services.statements import import_statement
from tests.conftest import csrf_token, line, statement

GUARANTOR = {"account_number": "100234", "last_name": "Lopez", "date_of_birth": "1984-03-12"}
GOOD_CARD = "4242424242424242"


def env(address: str | None) -> dict:
    return {"REMOTE_ADDR": address} if address else {}


def path_of(location: str) -> str:
    """The path (and query) of a redirect's Location, absolute or not."""
    parts = urlsplit(location)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def token_from(client, path: str, address: str | None = None) -> str:
    page = client.get(path, environ_base=env(address))
    assert page.status_code == 200, (path, page.status_code)
    return csrf_token(page.get_data(as_text=True))


def lookup(client, address: str | None = None, **fields: str):
    """Submit the Quick Pay form (guarantor details unless overridden)."""
    token = token_from(client, "/pay", address)
    data = {**GUARANTOR, **fields, "csrf_token": token}
    return client.post("/pay", data=data, environ_base=env(address))


def sign_in(client, address: str | None = None, **fields: str) -> None:
    response = lookup(client, address, **fields)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert path_of(response.headers["Location"]) == "/account"


def lookup_error(html: str) -> str:
    match = re.search(
        r'<div class="error-summary" role="alert" id="lookup-error"><p>(.*?)</p>', html
    )
    assert match, "no lookup error on the page"
    return match.group(1)


def start_payment(client, amount: str):
    token = token_from(client, "/account")
    return client.post("/payments", data={"amount": amount, "csrf_token": token})


def open_checkout(client, amount: str) -> str:
    """POST /payments and return the sandbox checkout page's path."""
    response = start_payment(client, amount)
    assert response.status_code == 303, response.get_data(as_text=True)
    path = path_of(response.headers["Location"])
    assert re.fullmatch(r"/sandbox/checkout/cs_sbx_[\w.\-]+", path), path
    return path


def checkout_form(client, checkout_path: str, card: str = GOOD_CARD) -> dict:
    token = token_from(client, checkout_path)
    return {"card_number": card, "expiry": "12/30", "cvc": "123", "csrf_token": token}


def pay(client, checkout_path: str, card: str = GOOD_CARD):
    return client.post(checkout_path, data=checkout_form(client, checkout_path, card))


def session_id_of(checkout_path: str) -> str:
    return checkout_path.rsplit("/", 1)[1]


def eml_files(outbox: Path) -> list[Path]:
    return sorted(outbox.glob("*.eml")) if outbox.exists() else []


def read_eml(path: Path) -> EmailMessage:
    return email.message_from_bytes(path.read_bytes(), policy=policy.default)


def balance_due(html: str) -> str:
    match = re.search(r'data-testid="balance-due">([^<]+)<', html)
    assert match, "no balance on the page"
    return match.group(1)


def older_statement(account_number: str = "100234") -> Statement:
    """S-2026-000100: $30.00, dated 2026-09-01, for a visit on 2026-08-14."""
    return Statement(
        statement_id="S-2026-000100",
        account_number=account_number,
        statement_date=date(2026, 9, 1),
        due_date=date(2026, 9, 30),
        lines=(line("1", owed=3000, service_date=date(2026, 8, 14)),),
    )


def newer_statement(account_number: str = "100234") -> Statement:
    """S-2026-000123: $45.50 + $20.00, dated 2026-11-01."""
    return Statement(
        statement_id="S-2026-000123",
        account_number=account_number,
        statement_date=date(2026, 11, 1),
        due_date=date(2026, 11, 30),
        lines=(line("1", owed=4550), line("2", owed=2000)),
    )


@pytest.fixture
def patient(client, lopez):
    """A client signed in to account 100234 (balance $95.50)."""
    sign_in(client)
    return client


@pytest.fixture
def smith(services) -> Account:
    """A second account, 100777, with S-2026-000200 ($30.00 due 2026-11-30)."""
    account = Account(
        account_number="100777",
        guarantor=Guarantor("John", "Smith", date(1970, 5, 5), email="john@example.com"),
        patients=(Patient("P1", "Tom", "Smith", date(2010, 7, 7)),),
    )
    import_statement(
        services, account, statement("S-2026-000200", account_number="100777"), notify=False
    )
    return account
