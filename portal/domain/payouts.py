"""Card money paid out by the processor in batches (payouts), net of fees, refunds and
disputes, matched to the portal's payments so the deposit the bank shows can be explained
to the cent."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime

from portal.domain.payments import Payment

CHARGE = "charge"
REFUND = "refund"
DISPUTE = "dispute"
FEE = "fee"
OTHER = "other"


@dataclass(frozen=True)
class BalanceTransaction:
    """One line of a payout: `amount_cents` gross and signed (a refund is negative), `fee`
    what the processor kept on it, `net` what it adds to the payout; `reference` the
    payment (PaymentIntent) it is about, when it is about one."""

    transaction_id: str
    category: str  # CHARGE, REFUND, DISPUTE, FEE or OTHER
    amount_cents: int
    fee_cents: int
    net_cents: int
    reference: str | None = None
    source: str = ""  # the processor's charge, refund or dispute id


@dataclass(frozen=True)
class Payout:
    payout_id: str
    amount_cents: int
    arrival_date: date
    status: str = "paid"


@dataclass(frozen=True)
class Unmatched:
    """A line the portal cannot account for: `problem` is "not posted" (money the portal
    never recorded), "amount differs", or "not paid out" (a posted payment in no payout)."""

    problem: str
    reference: str
    processor_cents: int | None
    portal_cents: int | None
    transaction_id: str = ""


@dataclass(frozen=True)
class PayoutReport:
    payout: Payout
    gross_cents: int = 0
    refunds_cents: int = 0
    disputes_cents: int = 0
    fees_cents: int = 0
    other_cents: int = 0
    fees_by_payment: dict[str, int] = field(default_factory=dict)
    unmatched: tuple[Unmatched, ...] = ()

    @property
    def net_cents(self) -> int:
        return (
            self.gross_cents
            + self.refunds_cents
            + self.disputes_cents
            + self.other_cents
            - self.fees_cents
        )

    @property
    def reconciled(self) -> bool:
        """Every line matched, and the lines add up to the bank deposit."""
        return not self.unmatched and self.net_cents == self.payout.amount_cents


@dataclass(frozen=True)
class PayoutRecord:
    """A payout as the portal keeps it: its report (sums by kind, fee per payment, every
    unmatched line), the payment references its lines hold, when it was first recorded and
    when it was first found reconciled; `version` counts its writes."""

    report: PayoutReport
    references: tuple[str, ...] = ()
    recorded_at: datetime | None = None
    reconciled_at: datetime | None = None
    version: int = 0
    # A supervisor looked into it unreconciled: who, when and what they found (cleared when
    # the processor reports it otherwise).
    checked_by: str = ""
    checked_at: datetime | None = None
    check_note: str = ""

    @property
    def needs_attention(self) -> bool:
        return not self.reconciled and self.checked_at is None

    @property
    def payout(self) -> Payout:
        return self.report.payout

    @property
    def payout_id(self) -> str:
        return self.report.payout.payout_id

    @property
    def reconciled(self) -> bool:
        return self.report.reconciled


def payout_record(
    report: PayoutReport,
    transactions: Iterable[BalanceTransaction],
    now: datetime,
    before: PayoutRecord | None = None,
) -> PayoutRecord:
    """The record of a payout reconciled now; `before`, the one kept already, gives its
    first times, version and, while its report is the same, its check (a record equal to it
    needs no write)."""
    reconciled_at = None
    if report.reconciled:
        reconciled_at = before.reconciled_at if before and before.reconciled_at else now
    record = PayoutRecord(
        report,
        tuple(sorted({t.reference for t in transactions if t.reference})),
        before.recorded_at if before else now,
        reconciled_at,
        before.version if before else 0,
    )
    if before is not None and before.report == report:
        return replace(
            record,
            checked_by=before.checked_by,
            checked_at=before.checked_at,
            check_note=before.check_note,
        )
    return record


def reconcile(
    payout: Payout,
    transactions: Iterable[BalanceTransaction],
    payments: Mapping[str, Payment],
) -> PayoutReport:
    """The payout's lines summed by kind and matched to the portal's payments (by gateway
    reference): a charge the portal never posted, or posted for another amount, a refund or
    dispute on a payment it does not know, is unmatched."""
    sums = {CHARGE: 0, REFUND: 0, DISPUTE: 0, OTHER: 0}
    fees = 0
    by_payment: dict[str, int] = {}
    unmatched: list[Unmatched] = []
    for t in transactions:
        fees += t.fee_cents
        if t.category == FEE:
            fees -= t.amount_cents  # a fee line's amount is negative: it is all fee
            continue
        sums[t.category if t.category in sums else OTHER] += t.amount_cents
        if t.category == OTHER or t.reference is None:
            continue
        payment = payments.get(t.reference)
        if payment is None:
            unmatched.append(
                Unmatched("not posted", t.reference, t.amount_cents, None, t.transaction_id)
            )
            continue
        by_payment[payment.payment_id] = by_payment.get(payment.payment_id, 0) + t.fee_cents
        if t.category == CHARGE and t.amount_cents != payment.amount_cents:
            unmatched.append(
                Unmatched(
                    "amount differs",
                    t.reference,
                    t.amount_cents,
                    payment.amount_cents,
                    t.transaction_id,
                )
            )
    return PayoutReport(
        payout=payout,
        gross_cents=sums[CHARGE],
        refunds_cents=sums[REFUND],
        disputes_cents=sums[DISPUTE],
        fees_cents=fees,
        other_cents=sums[OTHER],
        fees_by_payment=by_payment,
        unmatched=tuple(unmatched),
    )


def simulated_fee(cents: int) -> int:
    """A card processor's usual fee on a charge: 2.9% (to the nearest cent, half up) plus
    30 cents."""
    return (cents * 29 + 500) // 1000 + 30


def simulated_payout(
    payout_id: str, arrival: date, payments: Iterable[Payment]
) -> tuple[Payout, list[BalanceTransaction]]:
    """A stand-in processor's payout of these card payments, each line its charge less a
    simulated fee; the deposit is their net."""
    lines = [
        BalanceTransaction(
            f"txn_{p.payment_id}",
            CHARGE,
            p.amount_cents,
            simulated_fee(p.amount_cents),
            p.amount_cents - simulated_fee(p.amount_cents),
            p.gateway_reference,
            f"ch_{p.payment_id}",
        )
        for p in payments
    ]
    return Payout(payout_id, sum(line.net_cents for line in lines), arrival), lines


def not_paid_out(posted: Iterable[Payment], references: set[str]) -> list[Unmatched]:
    """Card payments the portal posted that no payout of the period holds (`references`:
    every payment reference the period's payouts hold)."""
    return [
        Unmatched("not paid out", p.gateway_reference, None, p.amount_cents)
        for p in posted
        if p.gateway_reference and p.gateway_reference not in references
    ]
