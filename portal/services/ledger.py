"""Money changes to an account: load its book, let the book decide, commit at the version
read; a lost race (the account changed, or a key was taken meanwhile) is read again and
decided again, here and nowhere else."""

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime

from portal.domain.account_book import AccountBook, AlreadyDone, Change, KeyKind
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.ports.claims import ClaimMark
from portal.ports.ledger import CommitOutcome, PostingResult
from portal.ports.store import Store, StoreError

ATTEMPTS = 20


class ClaimHeld(Exception):
    """A claim the change was to mark done is held by another live holder: nothing was
    written."""


Marks = Callable[[AccountBook], Sequence[ClaimMark]]


def change_account(
    store: Store,
    account_number: str,
    decide: Callable[[AccountBook], Change | AlreadyDone],
    keys: Iterable[tuple[KeyKind, str]] = (),
    marks: Marks | None = None,
) -> Change | AlreadyDone:
    """Decide on the account's current book and commit; what was committed (or the book's
    answer that nothing is to be done). The book's errors go to the caller unchanged.
    `marks`: the message claims to write with the change, given the book it is decided on."""
    keys = tuple(keys)
    for _ in range(ATTEMPTS):
        book = store.load_book(account_number, keys)
        decision = decide(book)
        if isinstance(decision, AlreadyDone):
            return decision
        result = store.commit(decision, marks(book) if marks else ())
        if result.outcome is CommitOutcome.COMMITTED:
            return decision
        if result.outcome is CommitOutcome.CLAIMED:
            raise ClaimHeld()
        taken = result.key
        if result.outcome is CommitOutcome.TAKEN and taken is not None and taken not in keys:
            keys += (taken,)  # the next book knows its owner, and answers for it
    raise StoreError("the account kept changing while it was being written; try again")


def _account_of(store: Store, payment_id: str) -> str:
    payment = store.get_payment(payment_id)
    if payment is None:
        raise KeyError(payment_id)
    return payment.account_number


def _posting(decision: Change | AlreadyDone) -> PostingResult:
    if isinstance(decision, AlreadyDone):
        return PostingResult(payment=decision.payment, posted=False)
    assert decision.payment is not None
    return PostingResult(
        payment=decision.payment,
        posted=True,
        entries=decision.entries,
        book=decision.book.apply(decision),
    )


def post_payment(
    store: Store,
    payment_id: str,
    reference: str,
    amount_cents: int,
    at: datetime,
    account_number: str | None = None,
    marks: Marks | None = None,
) -> PostingResult:
    """Post a gateway-confirmed payment once per reference, oldest statement first.
    ReferenceAlreadyPosted when the reference is posted to another payment.
    `account_number`: the payment's, when the caller has read it; `marks`: claims written
    with the posting (not when it was posted before).

    The reference's owner is not read first: the commit refuses a reference already taken
    (TAKEN) and the next book knows its owner, so the usual posting saves a read."""
    return _posting(
        change_account(
            store,
            account_number or _account_of(store, payment_id),
            lambda book: book.post_payment(payment_id, reference, amount_cents, at),
            marks=marks,
        )
    )


def post_refund(
    store: Store, payment_id: str, refund_id: str, amount_cents: int, at: datetime
) -> PostingResult:
    """Post the gateway's refund `refund_id` of `amount_cents` on the payment, once per
    refund id whoever reports it (`posted` False when it was posted already); the
    payment's refunded cents and status follow. RefundExceedsPayment when the payment's
    refunds would come to more than it took; ValueError when it was never posted, or the
    refund id is posted to another payment."""
    return _posting(
        change_account(
            store,
            _account_of(store, payment_id),
            lambda book: book.post_refund(payment_id, refund_id, amount_cents, at),
            [(KeyKind.REFUND, refund_id)],
        )
    )


def reverse_payment(store: Store, payment_id: str, reason: str, at: datetime) -> PostingResult:
    """Post reversal entries for every entry of a posted (succeeded or disputed) payment,
    once; `posted` is False when it was reversed before."""
    return _posting(
        change_account(
            store,
            _account_of(store, payment_id),
            lambda book: book.reverse_payment(payment_id, reason, at),
        )
    )


def post_adjustment(
    store: Store,
    account_number: str,
    statement_id: str,
    kind: EntryKind,
    amount_cents: int,
    memo: str,
    at: datetime,
) -> LedgerEntry:
    """Lower a statement's balance by an adjustment or write-off; ValueError when the
    amount is more than the statement's balance at that moment, KeyError for a statement
    not on the account."""
    change = change_account(
        store,
        account_number,
        lambda book: book.adjust(statement_id, kind, amount_cents, memo, at),
    )
    assert isinstance(change, Change)
    return change.entries[0]
