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
    for key, group in groups.items():
        events.append(_event(key, group, paid, refunded))
        if key[0] == EntryKind.REFUND.value and group[0].payment_id:
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


def _group_of(e: LedgerEntry, imported: set) -> tuple:
    """Entries written together for one reason make one event."""
    if e.kind in (EntryKind.CHARGE, EntryKind.INSURANCE_PAYMENT, EntryKind.ADJUSTMENT) and (
        (e.statement_id, e.posted_at) in imported
    ):
        return (STATEMENT, e.statement_id, e.posted_at)
    if e.kind is EntryKind.TRANSFER:
        return (CREDIT_APPLIED, e.posted_at)
    if e.payment_id is not None:
        return (e.kind.value, e.payment_id, e.posted_at)
    return (e.kind.value, e.statement_id, e.posted_at, e.entry_id)


def _event(
    key: tuple, group: list[LedgerEntry], paid: dict[str, int], refunded: dict[str, int]
) -> MoneyEvent:
    first = group[0]
    change = sum(e.amount_cents for e in group)
    statement_id, payment_id = first.statement_id, first.payment_id
    kind = key[0]
    amount = format_cents(abs(change))
    on = f" (statement {statement_id})" if statement_id else ""
    if kind == STATEMENT:
        words = f"Statement {statement_id}: {amount} for you to pay after insurance"
        if change <= 0:
            words = f"Statement {statement_id}: nothing for you to pay after insurance"
    elif kind == EntryKind.PATIENT_PAYMENT.value:
        kind, words = PAYMENT, f"Payment of {amount} received"
        statement_id = None
    elif kind == EntryKind.REFUND.value:
        total = paid.get(payment_id or "", 0)
        before = refunded.get(payment_id or "", 0)
        kind = REFUND
        if total and before == 0 and change >= total:
            words = f"Refund of {amount}: the whole payment, back to how you paid"
        elif total and before + change >= total:
            words = (
                f"Refund of {amount}: the rest of your {format_cents(total)} payment, "
                "back to how you paid"
            )
        elif total:
            words = (
                f"Refund of {amount} (part of your {format_cents(total)} payment), "
                "back to how you paid"
            )
        else:
            words = f"Refund of {amount}, back to how you paid"
        statement_id = None
    elif kind == EntryKind.REVERSAL.value:
        kind = REVERSAL
        if payment_id is not None:
            words = (
                f"Payment of {amount} reversed: it was taken back by the card company or "
                "bank, so it no longer counts toward your balance"
            )
        else:
            words = f"Correction reversed: {amount}{on}"
        statement_id = None if payment_id else statement_id
    elif kind == EntryKind.WRITE_OFF.value:
        kind, words = WRITE_OFF, f"{amount} written off{on}: you no longer owe it"
    elif kind == EntryKind.ADJUSTMENT.value:
        direction = "lowered" if change < 0 else "raised"
        kind, words = ADJUSTMENT, f"Adjustment {direction} your balance by {amount}{on}"
    elif kind == EntryKind.INSURANCE_PAYMENT.value:
        kind, words = INSURANCE, f"Insurance paid {amount}{on}"
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
