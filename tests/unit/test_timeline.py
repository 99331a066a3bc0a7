"""The account's money events in plain words, from the ledger alone."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.account_book import AccountBook, Change
from portal.domain.ledger import EntryKind, statement_entries
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.timeline import money_timeline
from tests.conftest import NOW, statement

OLD = statement("S-1", (3000,), date(2026, 9, 1), date(2026, 9, 30))
NEW = statement("S-2", (5000,), date(2026, 11, 1), date(2026, 11, 30))


def hours(n: int):
    return NOW + timedelta(hours=n)


def opened(*payments: tuple[str, int]) -> AccountBook:
    return AccountBook(
        "100234",
        statements=(OLD, NEW),
        entries=tuple(statement_entries(OLD, NOW) + statement_entries(NEW, NOW)),
        payments={
            pid: Payment(pid, "100234", cents, PaymentStatus.PENDING, "card", "sandbox", NOW)
            for pid, cents in payments
        },
    )


def then(book: AccountBook, change) -> AccountBook:
    assert isinstance(change, Change), change
    return book.apply(change)


def words(book: AccountBook) -> list[str]:
    return [e.words for e in money_timeline(book.entries)]


def test_a_partial_refund_and_a_write_off_are_told_in_plain_words():
    """The issue's example: a $4.00 partial refund and a $3.10 write-off, each its own line,
    newest first, with what it did to the balance."""
    book = opened(("p1", 4550))
    book = then(book, book.post_payment("p1", "ref-1", 4550, hours(1)))
    book = then(book, book.post_refund("p1", "re-1", 400, hours(2)))
    book = then(book, book.adjust("S-2", EntryKind.WRITE_OFF, 310, "small balance", hours(3)))

    events = money_timeline(book.entries)

    assert [e.words for e in events] == [
        "$3.10 written off (statement S-2): you no longer owe it",
        "Refund of $4.00 (part of your $45.50 payment), back to how you paid",
        "Payment of $45.50 received",
        "Statement S-2: $50.00 for you to pay after insurance",
        "Statement S-1: $30.00 for you to pay after insurance",
    ]
    assert [e.change_cents for e in events][:3] == [-310, 400, -4550]
    assert "small balance" not in " ".join(e.words for e in events)  # staff memos stay staff's


def test_a_whole_refund_and_a_reversal_say_so():
    book = opened(("p1", 2000), ("p2", 1000))
    book = then(book, book.post_payment("p1", "ref-1", 2000, hours(1)))
    book = then(book, book.post_payment("p2", "ref-2", 1000, hours(2)))
    book = then(book, book.post_refund("p1", "re-1", 2000, hours(3)))
    book = then(book, book.reverse_payment("p2", "chargeback", hours(4)))

    assert words(book)[:2] == [
        "Payment of $10.00 reversed: it was taken back by the card company or bank, so it no "
        "longer counts toward your balance",
        "Refund of $20.00: the whole payment, back to how you paid",
    ]


def test_an_adjustment_after_the_statement_is_its_own_event():
    book = opened()
    book = then(book, book.adjust("S-1", EntryKind.ADJUSTMENT, 500, "courtesy", hours(1)))
    assert words(book)[0] == "Adjustment lowered your balance by $5.00 (statement S-1)"


def test_a_payment_beyond_the_balance_then_a_new_statement_uses_the_credit():
    book = opened(("p1", 9000))
    book = then(book, book.post_payment("p1", "ref-1", 9000, hours(1)))  # $10.00 over
    assert words(book)[0] == "Payment of $90.00 received"  # its credit told by the payment


@given(
    steps=st.lists(
        st.tuples(
            st.sampled_from(["pay", "refund", "reverse", "adjust", "write-off"]),
            st.integers(1, 9000),
        ),
        max_size=12,
    )
)
def test_the_events_add_up_to_the_balance(steps):
    """Whatever happened, the events' changes sum to what the ledger says is owed: nothing
    is told twice and nothing is left out."""
    book = opened(*((f"p{i}", 9000) for i in range(len(steps))))
    at = 1
    for i, (step, cents) in enumerate(steps):
        posted = [p for p in book.payments.values() if p.posted_at is not None]
        try:
            if step == "pay":
                change = book.post_payment(f"p{i}", f"ref-{i}", cents, hours(at))
            elif step == "refund" and posted:
                change = book.post_refund(posted[-1].payment_id, f"re-{i}", cents, hours(at))
            elif step == "reverse" and posted:
                change = book.reverse_payment(posted[0].payment_id, "chargeback", hours(at))
            elif step in ("adjust", "write-off"):
                kind = EntryKind.ADJUSTMENT if step == "adjust" else EntryKind.WRITE_OFF
                change = book.adjust("S-2", kind, cents, "", hours(at))
            else:
                continue
        except (ValueError, KeyError):
            continue  # refused (more than the balance, nothing left to refund...)
        if isinstance(change, Change):
            book = book.apply(change)
        at += 1
    events = money_timeline(book.entries)
    assert sum(e.change_cents for e in events) == sum(e.amount_cents for e in book.entries)
    assert all(e.words for e in events)
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
