"""Money events: what the practice system posts from the portal, one per ledger entry a
money change (payment, refund, reversal, adjustment, write-off, plan installment, credit
transfer, remittance) commits. A statement's own charge, insurance and adjustment lines are
the practice's data already and are not events."""

import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from portal.domain.account_book import Change, KeyKind
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.payments import INSTALLMENT_PAYMENT_PREFIX, Payment
from portal.domain.remittance_posting import source_of

KINDS = {
    EntryKind.PATIENT_PAYMENT: "payment",
    EntryKind.REFUND: "refund",
    EntryKind.REVERSAL: "reversal",
    EntryKind.ADJUSTMENT: "adjustment",
    EntryKind.WRITE_OFF: "write_off",
    EntryKind.TRANSFER: "transfer",
    EntryKind.INSURANCE_PAYMENT: "remittance",
    EntryKind.CHARGE: "charge",
}
INSTALLMENT = "installment"
EVENT_KINDS = (*KINDS.values(), INSTALLMENT)


@dataclass(frozen=True)
class MoneyEvent:
    """One event: `amount_cents` is the ledger amount (positive raises what the guarantor
    owes, negative lowers it), so an account's events add up to what they moved."""

    event_id: str
    kind: str
    account_number: str
    statement_id: str | None
    amount_cents: int
    method: str | None
    reference: str | None
    occurred_at: datetime

    def to_json(self) -> dict:
        return {
            "event_id": self.event_id,
            "kind": self.kind,
            "account_number": self.account_number,
            "statement_id": self.statement_id,
            "amount_cents": self.amount_cents,
            "method": self.method,
            "reference": self.reference,
            "occurred_at": self.occurred_at.astimezone(UTC).isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict) -> "MoneyEvent":
        return cls(
            event_id=data["event_id"],
            kind=data["kind"],
            account_number=data["account_number"],
            statement_id=data["statement_id"],
            amount_cents=int(data["amount_cents"]),
            method=data["method"],
            reference=data["reference"],
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
        )


def new_event_id() -> str:
    return "ev_" + secrets.token_hex(12)


def change_events(change: Change) -> list[MoneyEvent]:
    """The events of a money change, one per entry, in the order they are posted."""
    payments = dict(change.book.payments)
    if change.payment is not None:
        payments[change.payment.payment_id] = change.payment
    refund_ids = [c.value for c in change.claims if c.kind is KeyKind.REFUND]
    return entry_events(change.entries, payments, refund_ids[0] if refund_ids else None)


def entry_events(
    entries: Iterable[LedgerEntry],
    payments: Mapping[str, Payment] | None = None,
    refund_id: str | None = None,
) -> list[MoneyEvent]:
    """An event per entry (`payments`: the payments the entries name, by id; `refund_id`:
    the processor's id of the refund the entries post, if they post one)."""
    found = payments or {}
    events = []
    for entry in entries:
        payment = found.get(entry.payment_id) if entry.payment_id else None
        kind = KINDS[entry.kind]
        if kind == "payment" and payment is not None and _is_installment(payment):
            kind = INSTALLMENT
        reference = payment.gateway_reference if payment is not None else None
        if payment is None and (posted := source_of(entry)) is not None:
            reference = posted.posting  # the remittance's id and the claim line's place
        if entry.kind is EntryKind.REFUND and refund_id:
            reference = refund_id
        events.append(
            MoneyEvent(
                event_id=new_event_id(),
                kind=kind,
                account_number=entry.account_number,
                statement_id=entry.statement_id,
                amount_cents=entry.amount_cents,
                method=payment.method if payment is not None else None,
                reference=reference,
                occurred_at=entry.posted_at,
            )
        )
    return events


def _is_installment(payment: Payment) -> bool:
    return payment.is_plan_charge or payment.payment_id.startswith(INSTALLMENT_PAYMENT_PREFIX)
