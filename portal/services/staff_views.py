"""What billing staff look at: the dashboard, search results, payment lists.

Reads that show an account's details are audited by the caller with the viewer's name.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta

from portal.domain.aging import practice_date, practice_midnight
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import Escalation
from portal.ports.reminders import DueAccount
from portal.services.context import Services


@dataclass(frozen=True)
class PaymentList:
    since: date
    until: date  # inclusive, on the practice's calendar
    payments: tuple[Payment, ...]

    @property
    def received(self) -> tuple[Payment, ...]:
        return tuple(p for p in self.payments if p.status is PaymentStatus.SUCCEEDED)

    @property
    def total_cents(self) -> int:
        return sum(p.amount_cents for p in self.received)

    @property
    def total_by_method(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for p in self.received:
            totals[p.method] += p.amount_cents
        return dict(sorted(totals.items()))


def list_payments(
    services: Services,
    since: date,
    until: date,
    status: PaymentStatus | None = None,
    method: str | None = None,
) -> PaymentList:
    tz = services.settings.tz
    start, end = practice_midnight(since, tz), practice_midnight(until + timedelta(days=1), tz)
    found = services.store.list_payments(start, end, status, method)
    return PaymentList(since=since, until=until, payments=tuple(found))


@dataclass(frozen=True)
class Dashboard:
    today: PaymentList
    problems: PaymentList  # failed payments of the last 7 days
    open_escalations: tuple[Escalation, ...]
    disputed: PaymentList  # card payments in dispute, posted in the last 120 days
    past_final_notice: tuple[DueAccount, ...]  # oldest open statement past the final notice
    remittance_items: int = 0  # open work items of insurance remittances
    unreconciled_payouts: int = 0  # card payouts kept not reconciled, not checked (issue 21)


def dashboard(services: Services) -> Dashboard:
    today = practice_date(services.clock.now(), services.settings.tz)
    return Dashboard(
        today=list_payments(services, today, today),
        problems=list_payments(
            services, today - timedelta(days=6), today, status=PaymentStatus.FAILED
        ),
        open_escalations=tuple(services.store.escalations()),
        disputed=list_payments(
            services, today - timedelta(days=120), today, status=PaymentStatus.DISPUTED
        ),
        past_final_notice=tuple(
            services.store.accounts_due(today - timedelta(days=services.settings.final_notice_day))
        ),
        remittance_items=sum(r.open_items for r in services.store.remittances_with_open_items()),
        unreconciled_payouts=sum(r.needs_attention for r in services.store.unreconciled_payouts()),
    )
