"""Posting a remittance on an account's book (portal/domain/remittance_posting.py), for any
amounts a balanced 835 may carry: the line then asks what the insurer says the patient
owes, the statement never stands below zero (the excess is credit), nothing is posted
twice, and a reversal puts the line back as it was."""

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from portal.domain.account_book import AccountBook
from portal.domain.ledger import EntryKind, LedgerEntry, balances, statement_entries
from portal.domain.remittance_posting import (
    ClaimLine,
    NothingToPost,
    PostedBefore,
    line_owed,
    match_claim,
    post_claim,
)
from portal.domain.remittances import Adjustment, ClaimPayment, Remittance, ServiceLine
from portal.domain.statements import LineItem
from tests.conftest import statement

AT = datetime(2026, 12, 1, 15, 0, tzinfo=UTC)
SERVED = date(2026, 10, 14)


def book_with(owed: int, paid_by_patient: int) -> tuple[AccountBook, LineItem]:
    st_ = statement("S-1", (owed,))
    st_ = dataclasses.replace(
        st_, lines=(dataclasses.replace(st_.lines[0], claim_id="C-1", service_date=SERVED),)
    )
    entries = statement_entries(st_, AT - timedelta(days=30))
    if paid_by_patient:
        entries.append(
            LedgerEntry("100234", EntryKind.PATIENT_PAYMENT, -paid_by_patient, AT, "S-1")
        )
    header = dataclasses.replace(st_, lines=())
    return AccountBook("100234", 3, (header,), tuple(entries)), st_.lines[0]


def remittance(claim: ClaimPayment, trace: str = "T-1") -> Remittance:
    return Remittance(
        3,
        "0001",
        "I",
        max(claim.paid_cents, 0),
        True,
        "ACH",
        AT.date(),
        trace,
        "P1",
        "ACME",
        (claim,),
    )


def claim(charge: int, paid: int, co: int, pr: int, status: str = "1") -> ClaimPayment:
    adjustments = tuple(
        a for a in (Adjustment("CO", "45", co), Adjustment("PR", "1", pr)) if a.amount_cents
    )
    line = ServiceLine(15, "HC", "99213", charge, paid, SERVED, adjustments)
    return ClaimPayment(
        13,
        "C-1",
        status,
        charge,
        paid,
        pr,
        lines=(line,),
    )


def apply(book: AccountBook, line: LineItem, r: Remittance) -> AccountBook:
    found = match_claim(r.claims[0], 1, [ClaimLine("100234", "S-1", line)])
    return book.apply(post_claim(book, r, found, AT))


amounts = st.integers(min_value=0, max_value=50_000)


@given(owed=amounts, paid=amounts, co=amounts, pr=amounts, by_patient=amounts)
def test_the_line_asks_what_the_insurer_says_and_an_overpayment_is_credit(
    owed, paid, co, pr, by_patient
):
    by_patient = min(by_patient, owed)
    book, line = book_with(owed, by_patient)
    r = remittance(claim(paid + co + pr, paid, co, pr))
    if not paid and owed == pr:  # the insurer changes nothing
        with pytest.raises(NothingToPost):
            apply(book, line, r)
        return

    after = apply(book, line, r)

    assert line_owed(after, "S-1", line) == pr
    totals = balances(after.entries)
    assert totals.by_statement["S-1"] == max(pr - by_patient, 0)
    assert totals.credit_cents == max(by_patient - pr, 0)
    insurance = [e for e in after.entries if e.source and e.kind is EntryKind.INSURANCE_PAYMENT]
    assert sum(e.amount_cents for e in insurance) == -paid


@given(owed=amounts, paid=amounts, co=amounts, pr=amounts)
def test_the_same_posting_again_is_refused_and_a_reversal_puts_the_line_back(owed, paid, co, pr):
    assume(paid or owed != pr)
    book, line = book_with(owed, 0)
    first = remittance(claim(paid + co + pr, paid, co, pr))
    after = apply(book, line, first)

    with pytest.raises(PostedBefore):
        apply(after, line, first)
    back = claim(-(paid + co + pr), -paid, -co, -pr, status="22")
    undone = apply(after, line, remittance(back, "T-2"))
    assert line_owed(undone, "S-1", line) == owed
    assert balances(undone.entries).by_statement["S-1"] == owed
