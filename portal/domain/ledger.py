"""The append-only ledger, balances derived from it, and how a payment is applied.

Sign convention: a positive amount raises what the guarantor owes (a charge, a refund paid
back to them), a negative amount lowers it (payments, insurance, adjustments, write-offs).
An entry with no statement is unapplied money: a credit on the account.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from portal.domain.money import format_cents
from portal.domain.statements import Statement


class EntryKind(StrEnum):
    CHARGE = "charge"
    INSURANCE_PAYMENT = "insurance_payment"
    ADJUSTMENT = "adjustment"
    PATIENT_PAYMENT = "patient_payment"
    REFUND = "refund"
    WRITE_OFF = "write_off"
    REVERSAL = "reversal"
    TRANSFER = "transfer"


@dataclass(frozen=True)
class LedgerEntry:
    account_number: str
    kind: EntryKind
    amount_cents: int
    posted_at: datetime
    statement_id: str | None = None
    payment_id: str | None = None
    memo: str = ""
    entry_id: int | None = None
    source: str = ""  # the remittance posting it belongs to (posted once); "" for others


def statement_entries(statement: Statement, posted_at: datetime) -> list[LedgerEntry]:
    """The charge, insurance payment and adjustment entries a new statement brings."""
    entries = []
    for kind, sign, amount in (
        (EntryKind.CHARGE, 1, statement.charges_cents),
        (EntryKind.INSURANCE_PAYMENT, -1, statement.insurance_paid_cents),
        (EntryKind.ADJUSTMENT, -1, statement.adjustments_cents),
    ):
        if amount:
            entries.append(
                LedgerEntry(
                    account_number=statement.account_number,
                    kind=kind,
                    amount_cents=sign * amount,
                    posted_at=posted_at,
                    statement_id=statement.statement_id,
                    memo=f"Statement {statement.statement_id}",
                )
            )
    return entries


@dataclass(frozen=True)
class OpenStatement:
    statement_id: str
    statement_date: date
    balance_cents: int


@dataclass(frozen=True)
class Allocation:
    applied: tuple[tuple[str, int], ...]
    unapplied_cents: int


def allocate(amount_cents: int, open_statements: Iterable[OpenStatement]) -> Allocation:
    """Apply a payment to the oldest open statement first; what is left over is a credit."""
    if amount_cents <= 0:
        raise ValueError("a payment allocates a positive amount")
    remaining = amount_cents
    applied = []
    for st in sorted(open_statements, key=lambda s: (s.statement_date, s.statement_id)):
        if remaining == 0:
            break
        if st.balance_cents <= 0:
            continue
        part = min(remaining, st.balance_cents)
        applied.append((st.statement_id, part))
        remaining -= part
    return Allocation(applied=tuple(applied), unapplied_cents=remaining)


def payment_entries(
    account_number: str,
    payment_id: str,
    allocation: Allocation,
    posted_at: datetime,
    kind: EntryKind = EntryKind.PATIENT_PAYMENT,
) -> list[LedgerEntry]:
    """Ledger entries for an allocated payment: one per statement, one for any credit."""
    parts: list[tuple[str | None, int]] = list(allocation.applied)
    if allocation.unapplied_cents:
        parts.append((None, allocation.unapplied_cents))
    return [
        LedgerEntry(
            account_number=account_number,
            kind=kind,
            amount_cents=-cents,
            posted_at=posted_at,
            statement_id=statement_id,
            payment_id=payment_id,
            memo="Payment" if statement_id else "Payment beyond the balance (credit)",
        )
        for statement_id, cents in parts
    ]


def reversal_entries(
    entries: Iterable[LedgerEntry], reason: str, posted_at: datetime
) -> list[LedgerEntry]:
    """Entries that undo the given ones exactly (same statements, opposite amounts)."""
    return [
        LedgerEntry(
            account_number=e.account_number,
            kind=EntryKind.REVERSAL,
            amount_cents=-e.amount_cents,
            posted_at=posted_at,
            statement_id=e.statement_id,
            payment_id=e.payment_id,
            memo=f"Reversal: {reason}",
        )
        for e in entries
    ]


def credit_transfer(
    account_number: str, statement_id: str, cents: int, posted_at: datetime
) -> list[LedgerEntry]:
    """Move `cents` of the account's credit onto a statement (the sum of the pair is zero)."""
    memo = f"Credit applied to statement {statement_id}"
    return [
        LedgerEntry(account_number, EntryKind.TRANSFER, cents, posted_at, None, memo=memo),
        LedgerEntry(account_number, EntryKind.TRANSFER, -cents, posted_at, statement_id, memo=memo),
    ]


def apply_credit(
    account_number: str,
    entries: Sequence[LedgerEntry],
    statements: Sequence[Statement],
    posted_at: datetime,
) -> list[LedgerEntry]:
    """Transfers that use the account's credit on its open statements, oldest first, so a
    credit and an open statement never stand side by side."""
    totals = balances(entries)
    credit = totals.credit_cents
    moves: list[LedgerEntry] = []
    for st in sorted(
        totals.open_statements(statements), key=lambda s: (s.statement_date, s.statement_id)
    ):
        if credit == 0:
            break
        part = min(credit, st.balance_cents)
        moves += credit_transfer(account_number, st.statement_id, part, posted_at)
        credit -= part
    return moves


def reclaim_spent_credit(
    entries: Sequence[LedgerEntry], posted_at: datetime, memo: str
) -> list[LedgerEntry]:
    """Transfers that put owed money back on statements after a reversal.

    A reversed payment takes back its credit too; if later statements already used that
    credit, the account's unapplied money turns positive (owed, but on no statement). Move
    it back onto the statements that still hold transferred credit, the newest first, never
    more than the credit a statement still holds (earlier reclaims count).
    """
    owed = balances(entries).unapplied_cents
    if owed <= 0:
        return []
    held: dict[str, int] = {}  # credit a statement still holds, net of earlier reclaims
    order: list[str] = []  # statements by their latest incoming transfer, newest last
    for entry in entries:
        if entry.kind is EntryKind.TRANSFER and entry.statement_id:
            held[entry.statement_id] = held.get(entry.statement_id, 0) - entry.amount_cents
            if entry.amount_cents < 0:
                order = [sid for sid in order if sid != entry.statement_id] + [entry.statement_id]
    moves: list[LedgerEntry] = []
    account_number = entries[0].account_number
    for statement_id in reversed(order):
        if owed <= 0:
            break
        part = min(owed, held[statement_id])
        if part <= 0:
            continue
        moves += [
            LedgerEntry(account_number, EntryKind.TRANSFER, -part, posted_at, memo=memo),
            LedgerEntry(
                account_number, EntryKind.TRANSFER, part, posted_at, statement_id, memo=memo
            ),
        ]
        owed -= part
    return moves


@dataclass(frozen=True)
class Balances:
    by_statement: dict[str, int]
    unapplied_cents: int

    @property
    def account_balance_cents(self) -> int:
        """The sum of every ledger entry: negative when the account is in credit."""
        return sum(self.by_statement.values()) + self.unapplied_cents

    @property
    def due_cents(self) -> int:
        """What the guarantor still owes on open statements."""
        return sum(b for b in self.by_statement.values() if b > 0)

    @property
    def credit_cents(self) -> int:
        """Money received beyond what was owed, kept for the guarantor."""
        return max(0, -self.unapplied_cents)

    def open_statements(self, statements: Sequence[Statement]) -> list[OpenStatement]:
        return [
            OpenStatement(
                s.statement_id, s.statement_date, self.by_statement.get(s.statement_id, 0)
            )
            for s in statements
            if self.by_statement.get(s.statement_id, 0) > 0
        ]


def balances(entries: Iterable[LedgerEntry]) -> Balances:
    by_statement: dict[str, int] = {}
    unapplied = 0
    for entry in entries:
        if entry.statement_id is None:
            unapplied += entry.amount_cents
        else:
            by_statement[entry.statement_id] = (
                by_statement.get(entry.statement_id, 0) + entry.amount_cents
            )
    return Balances(by_statement=by_statement, unapplied_cents=unapplied)


def payment_reversal(
    account_number: str,
    payment_id: str,
    entries: Sequence[LedgerEntry],
    statements: Sequence[Statement],
    reason: str,
    posted_at: datetime,
) -> list[LedgerEntry]:
    """What reversing a posted payment posts: its entries undone, the credit it funded and
    another statement spent taken back, and credit still standing applied to what reopened."""
    # As if the payment never came: what it paid and anything refunded on it are undone.
    paid = [
        e
        for e in entries
        if e.payment_id == payment_id and e.kind in (EntryKind.PATIENT_PAYMENT, EntryKind.REFUND)
    ]
    moves = reversal_entries(paid, reason, posted_at)
    moves += reclaim_spent_credit(
        [*entries, *moves], posted_at, f"Credit taken back with reversed payment {payment_id}"
    )
    moves += apply_credit(account_number, [*entries, *moves], statements, posted_at)
    return moves


def balance_reduction(
    entries: Sequence[LedgerEntry],
    account_number: str,
    statement_id: str,
    kind: EntryKind,
    amount_cents: int,
    memo: str,
    posted_at: datetime,
) -> LedgerEntry:
    """An adjustment or write-off of a statement; ValueError when it is more than the
    statement's balance."""
    if kind not in (EntryKind.ADJUSTMENT, EntryKind.WRITE_OFF) or amount_cents <= 0:
        raise ValueError("an adjustment or write-off lowers a balance by a positive amount")
    balance = balances(entries).by_statement.get(statement_id, 0)
    if amount_cents > balance:
        raise ValueError(
            f"{format_cents(amount_cents)} is more than the statement's balance of "
            f"{format_cents(balance)}."
        )
    return LedgerEntry(account_number, kind, -amount_cents, posted_at, statement_id, memo=memo)


def refund_entries(
    account_number: str,
    payment_id: str,
    entries: Sequence[LedgerEntry],
    cents: int,
    posted_at: datetime,
) -> list[LedgerEntry]:
    """Money given back on a payment raises what the guarantor owes: first out of any
    credit they hold, then back onto the statements the payment paid, the newest first.
    What the payment's credit paid on other statements is taken back from them."""
    memo = f"Refund of payment {payment_id}"

    def refund(cents: int, statement_id: str | None) -> LedgerEntry:
        return LedgerEntry(
            account_number, EntryKind.REFUND, cents, posted_at, statement_id, payment_id, memo
        )

    moves: list[LedgerEntry] = []
    from_credit = min(cents, balances(entries).credit_cents)
    if from_credit:
        moves.append(
            LedgerEntry(
                account_number, EntryKind.REFUND, from_credit, posted_at, None, payment_id, memo
            )
        )
    left = cents - from_credit
    paid: dict[str, int] = {}  # what the payment still pays on each statement, in order
    for entry in entries:
        if entry.payment_id == payment_id and entry.statement_id:
            paid[entry.statement_id] = paid.get(entry.statement_id, 0) - entry.amount_cents
    for statement_id in reversed(list(paid)):
        part = min(left, paid[statement_id])
        if part > 0:
            moves.append(
                LedgerEntry(
                    account_number,
                    EntryKind.REFUND,
                    part,
                    posted_at,
                    statement_id,
                    payment_id,
                    memo,
                )
            )
            left -= part
    if left > 0:
        moves.append(refund(left, None))
        moves += reclaim_spent_credit([*entries, *moves], posted_at, memo)
    return moves
