"""The deposit report's payout view: each card payout that arrived in a period, asked of
the processor, its lines matched to the portal's payments (portal/domain/payouts.py), and
the card payments posted that no payout holds."""

from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo

from portal.domain.payments import Payment
from portal.domain.payouts import (
    BalanceTransaction,
    Payout,
    PayoutReport,
    Unmatched,
    not_paid_out,
    payout_record,
    reconcile,
)
from portal.ports.payments import GatewayError
from portal.services.context import Services
from portal.services.reports import first_of_next_month

# A payout's record is written at the version read: two deliveries at once (or its two
# events) recompute and find it written, or write it again, at most this many times.
WRITE_TRIES = 5

# Card money reaches the bank a few days after the payment: the payments a period's
# payouts should hold were posted this long before their arrival dates.
PAYOUT_DELAY = timedelta(days=3)


@dataclass(frozen=True)
class PayoutView:
    reports: list[PayoutReport]
    not_paid_out: list[Unmatched]
    paid_out: bool = True  # False: the gateway is a stand-in that pays nothing out

    @property
    def reconciled(self) -> bool:
        return not self.not_paid_out and all(r.reconciled for r in self.reports)


def payout_view(services: Services, arrived_from: date, arrived_to: date) -> PayoutView:
    """The payouts arriving on days from `arrived_from` to `arrived_to` (inclusive);
    GatewayError when the processor cannot be asked."""
    gateway = services.payments
    if not gateway.pays_out:
        return PayoutView([], [], paid_out=False)
    reports = []
    references: set[str] = set()
    for payout in gateway.payouts(arrived_from, arrived_to + timedelta(days=1)):
        lines = gateway.payout_transactions(payout.payout_id)
        reports.append(reconcile(payout, lines, _payments_of(services, lines)))
        references |= {line.reference for line in lines if line.reference}
    tz = services.settings.tz
    since = _start(arrived_from - PAYOUT_DELAY, tz)
    until = _start(arrived_to + timedelta(days=1) - PAYOUT_DELAY, tz)
    posted = services.store.list_payments(since, until)
    card = [
        p
        for p in posted
        if p.gateway == gateway.name and p.posted_at is not None and p.gateway_reference
    ]
    return PayoutView(reports, not_paid_out(card, references))


def _start(day: date, tz: tzinfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=tz)


def month_fees(services: Services, month: date) -> int | None:
    """The processing fees of the card payouts arriving in the month (its first day given);
    None when the processor cannot be asked."""
    after = first_of_next_month(month)
    gateway = services.payments
    try:
        return sum(
            reconcile(p, gateway.payout_transactions(p.payout_id), {}).fees_cents
            for p in gateway.payouts(month, after)
        )
    except GatewayError:
        return None


def record_payout(services: Services, payout: Payout) -> bool | None:
    """List the payout's lines (every page), match them to the portal's payments and keep
    the result (reconciled or not): True when that wrote the record, False when it was kept
    so already (a replay), None when other writers kept changing it. GatewayError when the
    processor cannot be asked: nothing is written then."""
    lines = services.payments.payout_transactions(payout.payout_id)
    report = reconcile(payout, lines, _payments_of(services, lines))
    store = services.store
    for _ in range(WRITE_TRIES):
        before = store.get_payout(payout.payout_id)
        record = payout_record(report, lines, services.clock.now(), before)
        if record == before:
            return False
        if before is None and store.add_payout(record):
            return True
        if before is not None and store.save_payout(record) is not None:
            return True
    return None


def _payments_of(services: Services, lines: list[BalanceTransaction]) -> dict[str, Payment]:
    held = {line.reference for line in lines if line.reference}
    return {ref: p for ref in held if (p := services.store.payment_by_reference(ref))}
