"""The account's money events in plain words: what changed what the patient owes, and why.

Built from the ledger alone, so it tells what the books tell: every payment, refund (part
or whole), reversal, adjustment, write-off, insurance payment and credit moved, each once.
Staff memos are never shown (they are notes for staff, and may say more than a patient's
page should).
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from portal.domain.catalog import N_
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
    # `words` before the values went in, for another language's catalog: the English
    # phrase with %(name)s placeholders, and the values (ints are amounts in cents).
    phrase: str = ""
    values: tuple[tuple[str, str | int], ...] = ()


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
    amount = abs(change)
    phrase: str
    values: dict[str, str | int] = {"amount": amount}
    if statement_id:
        values["statement"] = statement_id
    if kind == STATEMENT:
        values["statement"] = f"{statement_id}"
        phrase = (
            N_("Statement %(statement)s: %(amount)s for you to pay after insurance")
            if change > 0
            else N_("Statement %(statement)s: nothing for you to pay after insurance")
        )
    elif kind == PAYMENT:
        phrase = N_("Payment of %(amount)s received")
    elif kind == REFUND:
        total = paid.get(payment_id or "", 0)
        phrase = _refund_phrase(change, total, refunded.get(payment_id or "", 0))
        values["total"] = total
    elif kind == REVERSAL and payment_id is not None:
        phrase = N_(
            "Payment of %(amount)s reversed: it was taken back by the card company or "
            "bank, so it no longer counts toward your balance"
        )
    elif kind == REVERSAL:
        phrase = _on(
            statement_id,
            N_("Correction reversed: %(amount)s"),
            N_("Correction reversed: %(amount)s (statement %(statement)s)"),
        )
    elif kind == WRITE_OFF:
        phrase = _on(
            statement_id,
            N_("%(amount)s written off: you no longer owe it"),
            N_("%(amount)s written off (statement %(statement)s): you no longer owe it"),
        )
    elif kind == ADJUSTMENT and change < 0:
        phrase = _on(
            statement_id,
            N_("Adjustment lowered your balance by %(amount)s"),
            N_("Adjustment lowered your balance by %(amount)s (statement %(statement)s)"),
        )
    elif kind == ADJUSTMENT:
        phrase = _on(
            statement_id,
            N_("Adjustment raised your balance by %(amount)s"),
            N_("Adjustment raised your balance by %(amount)s (statement %(statement)s)"),
        )
    elif kind == INSURANCE and change > 0:  # a remittance's reversal
        phrase = _on(
            statement_id,
            N_("Your insurer took back %(amount)s it had paid"),
            N_("Your insurer took back %(amount)s it had paid (statement %(statement)s)"),
        )
    elif kind == INSURANCE:
        phrase = _on(
            statement_id,
            N_("Insurance paid %(amount)s"),
            N_("Insurance paid %(amount)s (statement %(statement)s)"),
        )
    elif kind == CREDIT_APPLIED:
        moved = sum(-e.amount_cents for e in group if e.statement_id is not None)
        to = sorted({e.statement_id for e in group if e.statement_id is not None})
        values = {"amount": abs(moved), "statement": ", ".join(s for s in to if s)}
        phrase = (
            N_("Your credit of %(amount)s went to statement %(statement)s")
            if moved > 0
            else N_("%(amount)s of credit taken back from statement %(statement)s")
        )
        statement_id = to[0] if len(to) == 1 else None
    else:  # a charge on its own (not from a statement import)
        kind = ADJUSTMENT
        phrase = _on(
            statement_id,
            N_("Charge of %(amount)s"),
            N_("Charge of %(amount)s (statement %(statement)s)"),
        )
    pairs = tuple(values.items())
    words = phrase_words(phrase, pairs, format_cents)
    return MoneyEvent(first.posted_at, kind, words, change, statement_id, payment_id, phrase, pairs)


def _on(statement_id: str | None, alone: str, on_statement: str) -> str:
    return on_statement if statement_id else alone


def phrase_words(
    phrase: str, values: tuple[tuple[str, str | int], ...], money: Callable[[int], str]
) -> str:
    """The phrase with its values: amounts (ints, in cents) written by `money`."""
    return phrase % {k: money(v) if isinstance(v, int) else v for k, v in values}


def _refund_phrase(cents: int, total: int, before: int) -> str:
    """A refund of `cents` on a payment of `total` of which `before` was refunded already."""
    if not total:
        return N_("Refund of %(amount)s, back to how you paid")
    if before == 0 and cents >= total:
        return N_("Refund of %(amount)s: the whole payment, back to how you paid")
    if before + cents >= total:
        return N_("Refund of %(amount)s: the rest of your %(total)s payment, back to how you paid")
    return N_("Refund of %(amount)s (part of your %(total)s payment), back to how you paid")
