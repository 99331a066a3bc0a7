"""Reports for billing staff: aging as of a date, and the monthly summary.

Every figure comes from the ledger, so the reports reconcile to the cent with it.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta

from portal.domain.aging import BUCKETS, aging, practice_date, practice_midnight
from portal.domain.ledger import EntryKind
from portal.domain.payments import Payment, PaymentStatus
from portal.services.context import Services


@dataclass(frozen=True)
class AgingRow:
    account_number: str
    guarantor_name: str
    buckets: dict[str, int]

    @property
    def total_cents(self) -> int:
        return sum(self.buckets.values())


@dataclass(frozen=True)
class AgingReport:
    as_of: date
    rows: tuple[AgingRow, ...]  # oldest balances first

    @property
    def totals(self) -> dict[str, int]:
        return {name: sum(row.buckets[name] for row in self.rows) for name in BUCKETS}

    @property
    def total_cents(self) -> int:
        return sum(row.total_cents for row in self.rows)


def aging_report(services: Services, as_of: date) -> AgingReport:
    """Open statement balances at the end of `as_of` (practice calendar), per account."""
    end_of_day = practice_midnight(as_of + timedelta(days=1), services.settings.tz)
    by_account: dict[str, list] = defaultdict(list)
    names: dict[str, str] = {}
    for item in services.store.open_balances(end_of_day):
        by_account[item.account_number].append((item.due_date, item.balance_cents))
        names[item.account_number] = item.guarantor_name
    rows = [
        AgingRow(number, names[number], aging(balances, as_of))
        for number, balances in by_account.items()
    ]
    rows.sort(key=lambda r: (min(d for d, _ in by_account[r.account_number]), r.account_number))
    return AgingReport(as_of=as_of, rows=tuple(rows))


@dataclass(frozen=True)
class MonthSummary:
    month: date  # the first day of the month
    beginning_cents: int
    charges_cents: int
    insurance_payments_cents: int
    adjustments_cents: int
    patient_payments_cents: int
    refunds_cents: int
    write_offs_cents: int
    transfers_cents: int
    ending_cents: int

    @property
    def label(self) -> str:
        return f"{self.month:%b %Y}"


def first_of_next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def monthly_summary(services: Services, month: date) -> MonthSummary:
    """Charges, payments and adjustments posted in a month, and what was owed before and
    after it: beginning + the month's entries = ending, to the cent."""
    month = month.replace(day=1)
    start = practice_midnight(month, services.settings.tz)
    end = practice_midnight(first_of_next_month(month), services.settings.tz)
    totals = services.store.ledger_totals(start, end)

    def total(*kinds: EntryKind) -> int:
        return sum(totals.get(kind, 0) for kind in kinds)

    return MonthSummary(
        month=month,
        beginning_cents=services.store.receivable_at(start),
        charges_cents=total(EntryKind.CHARGE),
        insurance_payments_cents=-total(EntryKind.INSURANCE_PAYMENT),
        adjustments_cents=-total(EntryKind.ADJUSTMENT),
        # A reversal undoes a patient payment, so the two are reported together.
        patient_payments_cents=-total(EntryKind.PATIENT_PAYMENT, EntryKind.REVERSAL),
        refunds_cents=total(EntryKind.REFUND),
        write_offs_cents=-total(EntryKind.WRITE_OFF),
        transfers_cents=total(EntryKind.TRANSFER),
        ending_cents=services.store.receivable_at(end),
    )


def last_twelve_months(services: Services, month: date) -> list[MonthSummary]:
    """The twelve months ending with `month`, oldest first."""
    months = []
    current = month.replace(day=1)
    for _ in range(12):
        months.append(current)
        current = date(current.year - (current.month == 1), (current.month - 2) % 12 + 1, 1)
    return [monthly_summary(services, m) for m in reversed(months)]


RECEIVED = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REVERSED,
    PaymentStatus.REFUNDED,
    PaymentStatus.DISPUTED,
)


@dataclass(frozen=True)
class DepositDay:
    day: date
    payments: tuple[Payment, ...]  # received that day (posted), whatever happened later

    def total(self, method: str | None = None) -> int:
        return sum(p.amount_cents for p in self.payments if method in (None, p.method))

    @property
    def checks(self) -> tuple[Payment, ...]:
        return tuple(p for p in self.payments if p.method == "check")


def deposit_report(services: Services, since: date, until: date) -> list[DepositDay]:
    """Money received per practice day, by method, for matching against bank deposits and
    card payouts. A payment later reversed or refunded still counts on the day it came in."""
    start = practice_midnight(since, services.settings.tz)
    end = practice_midnight(until + timedelta(days=1), services.settings.tz)
    by_day: dict[date, list[Payment]] = defaultdict(list)
    for payment in services.store.list_payments(start, end):
        if payment.status in RECEIVED and payment.posted_at is not None:
            by_day[practice_date(payment.posted_at, services.settings.tz)].append(payment)
    return [DepositDay(day, tuple(by_day[day])) for day in sorted(by_day)]
