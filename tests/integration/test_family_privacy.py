"""Minimum necessary on a family account (issue 13 item 9).

Account 100234: the guarantor Maria Lopez (1984-03-12), the patients Ana Lopez (P1,
2015-06-02) and José Núñez-Lopez (P2, 2018-01-09). Signed in with a patient's details, the
statement page and its PDF show that patient's lines in full and another patient's only by
date of service and amount owed ("Another patient on this account"); the guarantor sees
everything. The balance and paying it are the same whoever signed in. The session records
who signed in, on the server as in the signed cookie, and both must agree.
"""

import io
import re
from dataclasses import dataclass
from datetime import date

import pytest
from pypdf import PdfReader

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import Statement
from portal.domain.viewers import OTHER_PATIENT, Viewer
from portal.services.accounts import account_view
from portal.services.statements import import_statement
from tests.conftest import line
from tests.integration.conftest import (
    balance_due,
    checkout_form,
    open_checkout,
    path_of,
    sign_in,
)

FAMILY = "S-2026-000124"
ANA = {"last_name": "Lopez", "date_of_birth": "2015-06-02"}
JOSE = {"last_name": "Nunez-Lopez", "date_of_birth": "2018-01-09"}
MARIA = {"last_name": "Lopez", "date_of_birth": "1984-03-12"}


@dataclass(frozen=True)
class Visit:
    """What a patient's line says that only that patient (and the guarantor) may see."""

    name: tuple[str, ...]  # the patient's names as printed
    secrets: tuple[str, ...]  # code, description, diagnosis codes, provider
    seen_on: str  # the date of service as the pages print it
    owed: str


# Ana's visit (two lines) and José's (one line, $20.00 owed), each with its own details.
ANAS = Visit(
    ("Ana",),
    ("99214", "Office visit, moderate complexity", "J45.909", "Dr. Okonkwo-Reyes"),
    "Oct 6, 2026",
    "$45.50",
)
JOSES = Visit(
    ("José", "Núñez"),
    ("83036", "Hemoglobin A1c test", "E78.5", "I10", "Priya Natarajan"),
    "Oct 21, 2026",
    "$20.00",
)


@pytest.fixture
def family(services, lopez) -> Statement:
    """S-2026-000124 ($45.50 for Ana, $20.00 for José) on top of lopez's $95.50."""
    lines = (
        line(
            "1",
            "P1",
            4550,
            service_date=date(2026, 10, 6),
            provider="Dr. Okonkwo-Reyes",
            code="99214",
            description="Office visit, moderate complexity",
            diagnosis_codes=("J45.909",),
        ),
        line(
            "2",
            "P2",
            2000,
            service_date=date(2026, 10, 21),
            provider="Priya Natarajan, NP",
            code="83036",
            description="Hemoglobin A1c test",
            diagnosis_codes=("E78.5", "I10"),
        ),
    )
    st = Statement(FAMILY, "100234", date(2026, 11, 10), date(2026, 12, 10), lines)
    import_statement(services, lopez, st, notify=False)
    return st


def pdf_text(data: bytes) -> str:
    reader = PdfReader(io.BytesIO(data))
    return " ".join(" ".join(page.extract_text().split()) for page in reader.pages)


def pages_for(client, who: dict) -> dict[str, str]:
    """The account page, the family statement's page and its PDF's text, signed in as `who`."""
    sign_in(client, **who)
    pdf = client.get(f"/statements/{FAMILY}.pdf")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    page = client.get(f"/statements/{FAMILY}")
    assert page.status_code == 200
    return {
        "account": client.get("/account").get_data(as_text=True),
        "statement": page.get_data(as_text=True),
        "pdf": pdf_text(pdf.data),
    }


def assert_shown_in_full(text: str, visit: Visit, where: str) -> None:
    for value in (*visit.name, *visit.secrets, visit.seen_on, visit.owed):
        assert value in text, (where, value)


def assert_only_date_and_amount(text: str, visit: Visit, where: str) -> None:
    for value in (*visit.name, *visit.secrets):
        assert value not in text, (where, value)
    assert visit.seen_on in text and visit.owed in text, where
    assert OTHER_PATIENT in text, where


@pytest.mark.parametrize(
    ("who", "own", "other"), [(ANA, ANAS, JOSES), (JOSE, JOSES, ANAS)], ids=["ana", "jose"]
)
def test_a_patient_sees_their_own_lines_in_full_and_the_others_by_date_and_amount(
    client, family, who, own, other
):
    pages = pages_for(client, who)
    for where in ("statement", "pdf"):
        assert_shown_in_full(pages[where], own, where)
        assert_only_date_and_amount(pages[where], other, where)
    assert "For privacy, another patient's visits show only their date" in pages["statement"]
    for value in (*other.name, *other.secrets):
        assert value not in pages["account"], value
    # Totals are the statement's: $65.50 owed on it, $161.00 on the account.
    assert "$65.50" in pages["statement"] and "$65.50" in pages["pdf"]
    assert balance_due(pages["account"]) == "$161.00"


def test_the_guarantor_sees_every_line_in_full(client, family):
    pages = pages_for(client, MARIA)
    for where in ("statement", "pdf"):
        assert_shown_in_full(pages[where], ANAS, where)
        assert_shown_in_full(pages[where], JOSES, where)
        assert OTHER_PATIENT not in pages[where], where
    assert "For privacy" not in pages["statement"]
    assert balance_due(pages["account"]) == "$161.00"


@pytest.mark.parametrize("who", [ANA, JOSE, MARIA], ids=["ana", "jose", "maria"])
def test_the_balance_and_paying_it_are_the_same_whoever_signed_in(client, services, family, who):
    sign_in(client, **who)
    assert balance_due(client.get("/account").get_data(as_text=True)) == "$161.00"
    checkout = open_checkout(client, "161.00")
    paid = client.post(checkout, data=checkout_form(client, checkout))
    assert paid.status_code == 303
    receipt = client.get(path_of(paid.headers["Location"])).get_data(as_text=True)
    assert "Balance due now: <strong>$0.00</strong>" in receipt
    assert balance_due(client.get("/account").get_data(as_text=True)) == "$0.00"
    statement = client.get(f"/statements/{FAMILY}").get_data(as_text=True)
    assert re.search(r'data-testid="statement-balance">\$0\.00', statement)


def test_a_patients_session_cannot_be_turned_into_the_guarantors(client, family):
    """The cookie is signed, but the server's record decides: a cookie edited to say
    'guarantor' (as if the secret key had leaked) ends the session."""
    sign_in(client, **ANA)
    with client.session_transaction() as session:
        assert session["viewer"] == ["P1"]
        session["viewer"] = "guarantor"
    response = client.get(f"/statements/{FAMILY}")
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"
    # Ended for good: setting the cookie back does not revive it.
    with client.session_transaction() as session:
        assert "viewer" not in session and "sid" not in session


def test_a_session_opened_before_the_rule_ends_and_asks_to_look_up_again(client, services, family):
    """Such a session recorded only the account, not who signed in: it cannot be trusted
    with the guarantor's view, so it ends cleanly (the Quick Pay page, then a fresh start)."""
    now = services.clock.now()
    services.store.open_web_session("old-session", "patient:100234", now)
    with client.session_transaction() as session:
        session.update(account_number="100234", sid="old-session", seen_at=now.isoformat())
    response = client.get("/account")
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"
    assert services.store.web_session_subject("old-session", now) is None
    sign_in(client, **ANA)
    assert OTHER_PATIENT in client.get(f"/statements/{FAMILY}").get_data(as_text=True)


# -- the rule without a browser: the view model the pages and the PDF are drawn from ---------


def test_a_patients_view_holds_nothing_of_the_other_patient(services, family):
    """Not only hidden by the templates: no name, date of birth, code, description or provider
    of José is anywhere in the view built for Ana."""
    view = account_view(services, "100234", Viewer.patients(["P1"]))
    dumped = repr(view)
    for value in ("José", "Jos\\xe9", "Núñez", "2018, 1, 9", *JOSES.secrets):
        assert value not in dumped, value
    assert [p.first_name for p in view.account.patients] == ["Ana"]
    item = next(s for s in view.statements if s.statement.statement_id == FAMILY)
    assert [(s.patient_name, s.owed_cents, s.in_full) for s in item.lines] == [
        ("Ana Lopez", 4550, True),
        (OTHER_PATIENT, 2000, False),
    ]
    # Totals are unchanged.
    full = account_view(services, "100234")
    whole = next(s for s in full.statements if s.statement.statement_id == FAMILY)
    for total in ("total_cents", "charges_cents", "insurance_paid_cents", "adjustments_cents"):
        assert getattr(item.statement, total) == getattr(whole.statement, total), total
    assert view.balances == full.balances


def test_whom_the_details_sign_in_as():
    account = Account(
        "100900",
        Guarantor("Harriet", "Quill", date(1958, 2, 27)),
        (
            Patient("P0", "Harriet", "Quill", date(1958, 2, 27)),  # the guarantor, a patient too
            Patient("P1", "Oskar", "Quill", date(2012, 10, 23)),
            Patient("P2", "Mira", "Quill", date(2012, 10, 23)),  # Oskar's twin
        ),
    )
    assert account.viewer_for("Quill", date(1958, 2, 27)) == Viewer.guarantor()
    # Twins have the same details: a sign-in with them is for both.
    assert account.viewer_for("quill", date(2012, 10, 23)) == Viewer.patients(["P1", "P2"])
    assert account.viewer_for("Quill", date(2012, 10, 24)) is None
    assert account.viewer_for("", date(1958, 2, 27)) is None
