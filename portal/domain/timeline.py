"""The account's money events in plain words: what changed what the patient owes, and why.

Built from the ledger alone, so it tells what the books tell: every payment, refund (part
or whole), reversal, adjustment, write-off, insurance payment and credit moved, each once.
Staff memos are never shown (they are notes for staff, and may say more than a patient's
page should).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.money import format_cents

# Kinds of event, as the page marks them.
STATEMENT = "statement"
PAYMENT = "payment"
REFUND = "refund"
REVERSAL = "reversal"
ADJUSTMENT = "adjustment"
WRITE_OFF = "write-off"
INSURANCE = "insurance"
CREDIT_APPLIED = "credit-applied"
CHARGE = "charge"  # a charge on its own: shown as an adjustment


_MOVES_CREDIT_ITSELF = frozenset({EntryKind.PATIENT_PAYMENT, EntryKind.REFUND, EntryKind.REVERSAL})


@dataclass(frozen=True)
class MoneyEvent:
    at: datetime
    kind: str
    words: str  # one plain sentence
    change_cents: int  # what it did to the balance: positive raised it, negative lowered it
    statement_id: str | None = None
    payment_id: str | None = None


def money_timeline(entries: Iterable[LedgerEntry]) -> tuple[MoneyEvent, ...]:
    """Every money event of an account, newest first."""
    entries = list(entries)
    imported = {(e.statement_id, e.posted_at) for e in entries if e.kind is EntryKind.CHARGE}
    # Credit moved as part of a payment, refund or reversal is told by that event (a move
    # changes no total); on its own (a new statement using a credit) it is an event.
    money_moved = {e.posted_at for e in entries if e.kind in _MOVES_CREDIT_ITSELF}
    paid = _payment_totals(entries)
    groups: dict[tuple, list[LedgerEntry]] = {}
    for e in entries:
        if e.kind is EntryKind.TRANSFER and e.posted_at in money_moved:
            continue
        groups.setdefault(_group_of(e, imported), []).append(e)
    refunded: dict[str, int] = {}  # by payment, so far (groups are in ledger order)
    events = []
    for (kind, *_), group in groups.items():
        events.append(_event(kind, group, paid, refunded))
        if kind == REFUND and group[0].payment_id:
            pid = group[0].payment_id
            refunded[pid] = refunded.get(pid, 0) + sum(e.amount_cents for e in group)
    # Newest first; of events at the same moment, the one written later first.
    order = sorted(range(len(events)), key=lambda i: (events[i].at, i), reverse=True)
    return tuple(events[i] for i in order)


def _payment_totals(entries: list[LedgerEntry]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for e in entries:
        if e.kind is EntryKind.PATIENT_PAYMENT and e.payment_id:
            totals[e.payment_id] = totals.get(e.payment_id, 0) - e.amount_cents
    return totals


# The event each kind of entry makes when it stands on its own.
_EVENT_OF = {
    EntryKind.PATIENT_PAYMENT: PAYMENT,
    EntryKind.REFUND: REFUND,
    EntryKind.REVERSAL: REVERSAL,
    EntryKind.WRITE_OFF: WRITE_OFF,
    EntryKind.ADJUSTMENT: ADJUSTMENT,
    EntryKind.INSURANCE_PAYMENT: INSURANCE,
    EntryKind.CHARGE: CHARGE,
    EntryKind.TRANSFER: CREDIT_APPLIED,
}


def _group_of(e: LedgerEntry, imported: set) -> tuple:
    """Entries written together for one reason make one event: (its kind, what ties them)."""
    if e.kind in (EntryKind.CHARGE, EntryKind.INSURANCE_PAYMENT, EntryKind.ADJUSTMENT) and (
        (e.statement_id, e.posted_at) in imported
    ):
        return (STATEMENT, e.statement_id, e.posted_at)
    kind = _EVENT_OF[e.kind]
    if kind == CREDIT_APPLIED:
        return (kind, e.posted_at)
    if e.payment_id is not None:
        return (kind, e.payment_id, e.posted_at)
    return (kind, e.statement_id, e.posted_at, e.entry_id)


def _event(
    kind: str, group: list[LedgerEntry], paid: dict[str, int], refunded: dict[str, int]
) -> MoneyEvent:
    first = group[0]
    change = sum(e.amount_cents for e in group)
    payment_id = first.payment_id
    # A payment's entries may span statements: its events name none.
    statement_id = None if payment_id else first.statement_id
    amount = format_cents(abs(change))
    on = f" (statement {statement_id})" if statement_id else ""
    if kind == STATEMENT:
        owed = f"{amount} for you to pay" if change > 0 else "nothing for you to pay"
        words = f"Statement {statement_id}: {owed} after insurance"
    elif kind == PAYMENT:
        words = f"Payment of {amount} received"
    elif kind == REFUND:
        total = paid.get(payment_id or "", 0)
        words = _refund_words(amount, change, total, refunded.get(payment_id or "", 0))
    elif kind == REVERSAL and payment_id is not None:
        words = (
            f"Payment of {amount} reversed: it was taken back by the card company or "
            "bank, so it no longer counts toward your balance"
        )
    elif kind == REVERSAL:
        words = f"Correction reversed: {amount}{on}"
    elif kind == WRITE_OFF:
        words = f"{amount} written off{on}: you no longer owe it"
    elif kind == ADJUSTMENT:
        direction = "lowered" if change < 0 else "raised"
        words = f"Adjustment {direction} your balance by {amount}{on}"
    elif kind == INSURANCE:
        words = f"Insurance paid {amount}{on}"
    elif kind == CREDIT_APPLIED:
        moved = sum(-e.amount_cents for e in group if e.statement_id is not None)
        to = sorted({e.statement_id for e in group if e.statement_id is not None})
        names = ", ".join(s for s in to if s)
        words = (
            f"Your credit of {format_cents(moved)} went to statement {names}"
            if moved > 0
            else f"{format_cents(-moved)} of credit taken back from statement {names}"
        )
        statement_id = to[0] if len(to) == 1 else None
    else:  # a charge on its own (not from a statement import)
        kind, words = ADJUSTMENT, f"Charge of {amount}{on}"
    return MoneyEvent(first.posted_at, kind, words, change, statement_id, payment_id)


def _refund_words(amount: str, cents: int, total: int, before: int) -> str:
    """A refund of `cents` on a payment of `total` of which `before` was refunded already."""
    back = "back to how you paid"
    if not total:
        return f"Refund of {amount}, {back}"
    if before == 0 and cents >= total:
        return f"Refund of {amount}: the whole payment, {back}"
    if before + cents >= total:
        return f"Refund of {amount}: the rest of your {format_cents(total)} payment, {back}"
    return f"Refund of {amount} (part of your {format_cents(total)} payment), {back}"
