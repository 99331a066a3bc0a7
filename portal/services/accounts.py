"""What a patient (or later, an associate) sees of an account: balances per statement."""

from dataclasses import dataclass
from datetime import date

from portal.adapters.store import AccountRecords
from portal.bootstrap import Services
from portal.domain.accounts import Account
from portal.domain.aging import bucket, days_past_due, practice_date
from portal.domain.ledger import Balances, EntryKind, LedgerEntry, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.services.errors import NotFound


@dataclass(frozen=True)
class StatementView:
    statement: Statement
    balance_cents: int
    days_past_due: int
    aging_bucket: str

    @property
    def status(self) -> str:
        if self.balance_cents <= 0:
            return "paid"
        return "past due" if self.days_past_due else "due"


@dataclass(frozen=True)
class AccountView:
    account: Account
    statements: tuple[StatementView, ...]  # oldest first
    payments: tuple[Payment, ...]  # newest first
    balances: Balances
    today: date
    entries: tuple[LedgerEntry, ...] = ()

    @property
    def due_cents(self) -> int:
        return self.balances.due_cents

    @property
    def credit_cents(self) -> int:
        return self.balances.credit_cents

    @property
    def open_statements(self) -> tuple[StatementView, ...]:
        return tuple(s for s in self.statements if s.balance_cents > 0)

    @property
    def paid_statements(self) -> tuple[StatementView, ...]:
        return tuple(s for s in self.statements if s.balance_cents <= 0)

    @property
    def payment_history(self) -> tuple[Payment, ...]:
        """Payments the patient made or tried, without checkouts they never finished."""
        return tuple(p for p in self.payments if p.status is not PaymentStatus.PENDING)

    def applied_to(self, payment_id: str) -> list[tuple[str | None, int]]:
        """Where a payment went: (statement id or None for credit, cents)."""
        return [
            (e.statement_id, -e.amount_cents)
            for e in self.entries
            if e.payment_id == payment_id and e.kind is EntryKind.PATIENT_PAYMENT
        ]


def account_view(services: Services, account_number: str) -> AccountView:
    records = services.store.account_records(account_number)
    if records is None:
        raise NotFound(account_number)
    return view_of(records, practice_date(services.clock.now(), services.settings.tz))


def view_of(records: AccountRecords, today: date) -> AccountView:
    totals = balances(records.entries)
    statements = tuple(
        StatementView(
            statement=s,
            balance_cents=totals.by_statement.get(s.statement_id, 0),
            days_past_due=days_past_due(s.due_date, today),
            aging_bucket=bucket(s.due_date, today),
        )
        for s in records.statements
    )
    payments = tuple(sorted(records.payments, key=lambda p: p.created_at, reverse=True))
    return AccountView(
        account=records.account,
        statements=statements,
        payments=payments,
        balances=totals,
        today=today,
        entries=records.entries,
    )
