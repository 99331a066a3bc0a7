"""An account's book: its statements, ledger and payments as read at one version, and the
one place each money rule is decided. A store loads a book, a method here decides the
change, and the store commits it only if the account is still at the version read."""

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from portal.domain.accounts import Account
from portal.domain.ledger import (
    EntryKind,
    LedgerEntry,
    allocate,
    balance_reduction,
    balances,
    payment_entries,
    payment_reversal,
    refund_entries,
)
from portal.domain.payments import REVERSIBLE_STATUSES, Payment, PaymentStatus, refunded_total
from portal.domain.statements import Statement


class KeyKind(StrEnum):
    """Values only one payment may ever hold, whatever account it is on."""

    REFERENCE = "reference"  # a gateway reference (the money movement)
    REFUND = "refund"  # a processor's refund id


@dataclass(frozen=True)
class ClaimedKey:
    """A unique value a change takes for a payment (a refund carries its amount)."""

    kind: KeyKind
    value: str
    payment_id: str
    amount_cents: int = 0


class ReferenceAlreadyPosted(ValueError):
    """A gateway reference (the money movement) is already posted to another payment."""

    def __init__(self, reference: str, payment_id: str):
        super().__init__(f"Gateway reference {reference} is already posted to {payment_id}.")
        self.reference = reference
        self.payment_id = payment_id


# Fields of a payment each change writes.
POSTED_FIELDS = (
    "status",
    "gateway_reference",
    "amount_cents",
    "requested_cents",
    "posted_at",
    "failure_message",
)
REFUNDED_FIELDS = ("status", "refunded_cents")
REVERSED_FIELDS = ("status",)


@dataclass(frozen=True)
class Change:
    """What one decision posts: entries to append, the payment's new state (its `fields`
    written, on condition it is still `payment_before`), the unique keys it claims, and the
    book (at `book.version`) it was decided on."""

    book: "AccountBook"
    at: datetime
    entries: tuple[LedgerEntry, ...] = ()
    payment_before: Payment | None = None
    payment: Payment | None = None
    fields: tuple[str, ...] = ()
    claims: tuple[ClaimedKey, ...] = ()

    @property
    def account_number(self) -> str:
        return self.book.account_number

    @property
    def version(self) -> int:
        return self.book.version


@dataclass(frozen=True)
class AlreadyDone:
    """The change was made before (the same payment posted, refund id posted, reversal):
    nothing to write; `payment` as it stands."""

    payment: Payment


@dataclass(frozen=True)
class AccountBook:
    account_number: str
    version: int = 0
    statements: tuple[Statement, ...] = ()  # headers, oldest first
    entries: tuple[LedgerEntry, ...] = ()
    payments: dict[str, Payment] = field(default_factory=dict)
    # Owners (payment ids) of the unique keys the loader was asked about, and those claimed
    # through this book since; a key not here is free as far as the book knows.
    owners: dict[tuple[KeyKind, str], str] = field(default_factory=dict)
    # The account's guarantor and patients as read with the book (None: no such account).
    account: Account | None = field(default=None, compare=False, repr=False)
    # What the store read (e.g. the DynamoDB account item), for its commit; not domain.
    stored: Any = field(default=None, compare=False, repr=False)

    def payment(self, payment_id: str) -> Payment:
        try:
            return self.payments[payment_id]
        except KeyError:
            raise KeyError(payment_id) from None

    # -- decisions ---------------------------------------------------------------------

    def post_payment(
        self, payment_id: str, reference: str, amount_cents: int, at: datetime
    ) -> Change | AlreadyDone:
        """A gateway-confirmed payment, once, oldest statement first; ReferenceAlreadyPosted when
        the reference is posted to another payment."""
        payment = self.payment(payment_id)
        if payment.posted_at is not None:
            return AlreadyDone(payment)
        # The amount is checked before the reference: a store's book need not know who
        # holds a reference (the commit's conditional write finds out), so a bad amount
        # must be refused the same way whichever book decides.
        open_now = balances(self.entries).open_statements(self.statements)
        allocation = allocate(amount_cents, open_now)
        owner = self.owners.get((KeyKind.REFERENCE, reference))
        if owner is not None and owner != payment_id:
            raise ReferenceAlreadyPosted(reference, owner)
        return Change(
            book=self,
            at=at,
            entries=tuple(payment_entries(self.account_number, payment_id, allocation, at)),
            payment_before=payment,
            payment=payment.succeeded(reference, amount_cents, at),
            fields=POSTED_FIELDS,
            claims=(ClaimedKey(KeyKind.REFERENCE, reference, payment_id),),
        )

    def post_refund(
        self, payment_id: str, refund_id: str, amount_cents: int, at: datetime
    ) -> Change | AlreadyDone:
        """The processor's refund `refund_id`, once whoever reports it; ValueError when it
        is posted to another payment or the payment was never posted, RefundExceedsPayment
        when the refunds would come to more than the payment took."""
        payment = self.payment(payment_id)
        owner = self.owners.get((KeyKind.REFUND, refund_id))
        if owner is not None:
            if owner != payment_id:
                raise ValueError(f"Refund {refund_id} is already posted to {owner}.")
            return AlreadyDone(payment)
        total = refunded_total(payment, amount_cents)
        entries = refund_entries(self.account_number, payment_id, self.entries, amount_cents, at)
        return Change(
            book=self,
            at=at,
            entries=tuple(entries),
            payment_before=payment,
            payment=payment.refunded(total),
            fields=REFUNDED_FIELDS,
            claims=(ClaimedKey(KeyKind.REFUND, refund_id, payment_id, amount_cents),),
        )

    def reverse_payment(self, payment_id: str, reason: str, at: datetime) -> Change | AlreadyDone:
        """Undo a posted (succeeded or disputed) payment, once."""
        payment = self.payment(payment_id)
        if payment.status is PaymentStatus.REVERSED:
            return AlreadyDone(payment)
        if payment.posted_at is None or payment.status not in REVERSIBLE_STATUSES:
            raise ValueError(f"Payment {payment_id} is {payment.status}; it cannot be reversed.")
        entries = payment_reversal(
            self.account_number, payment_id, self.entries, self.statements, reason, at
        )
        return Change(
            book=self,
            at=at,
            entries=tuple(entries),
            payment_before=payment,
            payment=dataclasses.replace(payment, status=PaymentStatus.REVERSED),
            fields=REVERSED_FIELDS,
        )

    def adjust(
        self, statement_id: str, kind: EntryKind, amount_cents: int, memo: str, at: datetime
    ) -> Change:
        """Lower a statement's balance by an adjustment or write-off; KeyError for a
        statement not on the account, ValueError for more than its balance."""
        if statement_id not in {s.statement_id for s in self.statements}:
            raise KeyError(statement_id)
        entry = balance_reduction(
            self.entries, self.account_number, statement_id, kind, amount_cents, memo, at
        )
        return Change(book=self, at=at, entries=(entry,))

    # -- the book after a change -------------------------------------------------------

    def apply(self, change: Change) -> "AccountBook":
        """The book as it stands once `change` (decided on this book) is committed."""
        if change.version != self.version:
            raise ValueError(f"a change decided at version {change.version} on {self.version}")
        payments = dict(self.payments)
        if change.payment is not None:
            payments[change.payment.payment_id] = change.payment
        owners = dict(self.owners)
        owners.update({(c.kind, c.value): c.payment_id for c in change.claims})
        return dataclasses.replace(
            self,
            version=self.version + 1,
            entries=self.entries + change.entries,
            payments=payments,
            owners=owners,
            stored=None,
        )
