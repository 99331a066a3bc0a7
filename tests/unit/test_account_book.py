"""The AccountBook decides each money change without I/O (the stores only load and commit)."""

from dataclasses import replace
from datetime import date, timedelta

import pytest

from portal.domain.account_book import (
    AccountBook,
    AlreadyDone,
    Change,
    KeyKind,
    ReferenceAlreadyPosted,
)
from portal.domain.ledger import EntryKind, balances, statement_entries
from portal.domain.payments import Payment, PaymentStatus, RefundExceedsPayment
from tests.conftest import NOW, statement

OLD = statement("S-1", (3000,), date(2026, 9, 1), date(2026, 9, 30))
NEW = statement("S-2", (5000,), date(2026, 11, 1), date(2026, 11, 30))
LATER = NOW + timedelta(hours=1)


def book(**payments: int) -> AccountBook:
    return AccountBook(
        "100234",
        version=3,
        statements=(OLD, NEW),
        entries=tuple(statement_entries(OLD, NOW) + statement_entries(NEW, NOW)),
        payments={
            pid: Payment(pid, "100234", cents, PaymentStatus.PENDING, "card", "sandbox", NOW)
            for pid, cents in payments.items()
        },
    )


def posted(start: AccountBook, payment_id: str, cents: int) -> AccountBook:
    change = start.post_payment(payment_id, f"ref-{payment_id}", cents, NOW)
    assert isinstance(change, Change)
    return start.apply(change)


def test_a_payment_pays_the_oldest_statement_first_and_claims_its_reference():
    change = book(p1=4000).post_payment("p1", "ref-1", 4000, NOW)
    assert isinstance(change, Change)
    assert [(e.statement_id, e.amount_cents) for e in change.entries] == [
        ("S-1", -3000),
        ("S-2", -1000),
    ]
    assert change.version == 3
    assert [(c.kind, c.value, c.payment_id) for c in change.claims] == [
        (KeyKind.REFERENCE, "ref-1", "p1")
    ]
    assert change.payment.status is PaymentStatus.SUCCEEDED
    after = book(p1=4000).apply(change)
    assert after.version == 4 and balances(after.entries).due_cents == 4000
    assert isinstance(after.post_payment("p1", "ref-1", 4000, LATER), AlreadyDone)


def test_a_reference_of_another_payment_is_refused():
    start = book(p1=100, p2=100)
    taken = replace(start, owners={(KeyKind.REFERENCE, "ref-x"): "p2"})
    with pytest.raises(ReferenceAlreadyPosted, match="already posted to p2"):
        taken.post_payment("p1", "ref-x", 100, NOW)


def test_a_refund_id_posts_once_and_never_to_another_payment():
    paid = posted(posted(book(p1=2000, p2=500), "p1", 2000), "p2", 500)
    change = paid.post_refund("p1", "re_1", 500, LATER)
    assert isinstance(change, Change)
    after = paid.apply(change)
    assert after.payments["p1"].refunded_cents == 500
    assert isinstance(after.post_refund("p1", "re_1", 500, LATER), AlreadyDone)
    with pytest.raises(ValueError, match="Refund re_1 is already posted to p1"):
        after.post_refund("p2", "re_1", 100, LATER)
    with pytest.raises(RefundExceedsPayment):
        after.post_refund("p1", "re_2", 1501, LATER)


def test_a_reversal_is_once_and_only_of_a_posted_payment():
    with pytest.raises(ValueError, match="cannot be reversed"):
        book(p1=100).reverse_payment("p1", "bounced", NOW)
    paid = posted(book(p1=3000), "p1", 3000)
    change = paid.reverse_payment("p1", "bounced", LATER)
    after = paid.apply(change)
    assert after.payments["p1"].status is PaymentStatus.REVERSED
    assert balances(after.entries).due_cents == 8000
    assert isinstance(after.reverse_payment("p1", "bounced", LATER), AlreadyDone)


def test_an_adjustment_is_of_a_statement_on_the_account_within_its_balance():
    with pytest.raises(KeyError):
        book().adjust("S-9", EntryKind.ADJUSTMENT, 100, "m", NOW)
    with pytest.raises(ValueError, match="more than the statement's balance"):
        book().adjust("S-1", EntryKind.WRITE_OFF, 3001, "m", NOW)
    change = book().adjust("S-1", EntryKind.WRITE_OFF, 3000, "m", NOW)
    assert [(e.kind, e.amount_cents) for e in change.entries] == [(EntryKind.WRITE_OFF, -3000)]


def test_a_change_applies_only_to_the_version_it_was_decided_on():
    start = book()
    change = start.adjust("S-1", EntryKind.ADJUSTMENT, 100, "m", NOW)
    moved = start.apply(change)
    with pytest.raises(ValueError, match="decided at version 3 on 4"):
        moved.apply(change)
