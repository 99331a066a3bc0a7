"""What a patient (or later, an associate) sees of an account: balances per statement, and
each line item as the signed-in person may see it (portal/domain/viewers.py)."""

from dataclasses import dataclass, replace
from datetime import date

from portal.domain.accounts import Account
from portal.domain.aging import bucket, days_past_due, practice_date
from portal.domain.ledger import Balances, EntryKind, LedgerEntry, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import LineItem, Statement
from portal.domain.timeline import MoneyEvent, money_timeline
from portal.domain.viewers import GUARANTOR, OTHER_PATIENT, Viewer
from portal.ports.ledger import AccountRecords
from portal.services.context import Services
from portal.services.errors import NotFound


@dataclass(frozen=True)
class LineView:
    """A line item as the viewer may see it: in full (`item`, with the patient's name), or,
    for another patient on the account, only its date of service and what is owed."""

    service_date: date
    owed_cents: int
    patient_name: str  # OTHER_PATIENT when the line is another patient's
    item: LineItem | None = None  # None: another patient's line, no detail

    @property
    def in_full(self) -> bool:
        return self.item is not None


@dataclass(frozen=True)
class StatementView:
    statement: Statement  # for a patient: another patient's lines hold only their amounts
    balance_cents: int
    days_past_due: int
    aging_bucket: str
    lines: tuple[LineView, ...] = ()  # what the pages and the PDF show, one per line item

    @property
    def status(self) -> str:
        if self.balance_cents <= 0:
            return "paid"
        return "past due" if self.days_past_due else "due"

    @property
    def hides_lines(self) -> bool:
        """Some of its lines are another patient's, shown as their date and amount only."""
        return any(not line.in_full for line in self.lines)


@dataclass(frozen=True)
class AccountView:
    account: Account
    statements: tuple[StatementView, ...]  # oldest first
    payments: tuple[Payment, ...]  # newest first
    balances: Balances
    today: date
    entries: tuple[LedgerEntry, ...] = ()
    viewer: Viewer = GUARANTOR
    # SES reported the guarantor's address as undeliverable (set on a patient's page only).
    email_undeliverable: bool = False

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
    def timeline(self) -> tuple[MoneyEvent, ...]:
        """Every money event of the account in plain words, newest first."""
        return money_timeline(self.entries)

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


def account_view(
    services: Services, account_number: str, viewer: Viewer | None = None
) -> AccountView:
    """The account as `viewer` may see it (the guarantor, who sees everything, by default)."""
    records = services.store.account_records(account_number)
    if records is None:
        raise NotFound(account_number)
    today = practice_date(services.clock.now(), services.settings.tz)
    return view_of(records, today, viewer or Viewer.guarantor())


def patient_page(
    services: Services,
    account_number: str,
    session_id: str,
    viewer: Viewer,
    statement_id: str | None = None,
) -> tuple[str | None, AccountView | None]:
    """A signed-in patient's page in one store read (Store.patient_page): whom the browser
    session is for (None once it ended), and while it lasts the account as `viewer` may see
    it, with every statement (without lines) and the payments for the account page, or
    only the statement shown for a statement page (None for an unknown account). The
    caller checks the session's subject before showing anything."""
    now = services.clock.now()
    page = services.store.patient_page(session_id, now, account_number, statement_id)
    if page.records is None:
        return page.subject, None
    today = practice_date(now, services.settings.tz)
    view = view_of(page.records, today, viewer)
    return page.subject, replace(view, email_undeliverable=page.email_undeliverable)


def view_of(records: AccountRecords, today: date, viewer: Viewer | None = None) -> AccountView:
    """The account's view. For a patient viewer, nothing of another patient is left in it
    (name, date of birth, provider, code, description, diagnosis codes) but the dates of
    service and the amounts, so no page or PDF built from it can show more; the balance and
    the statements' totals stay the same."""
    viewer = viewer or Viewer.guarantor()
    totals = balances(records.entries)
    names = {p.patient_id: p.display_name for p in records.account.patients}
    statements = tuple(
        StatementView(
            statement=_visible_statement(s, viewer),
            balance_cents=totals.by_statement.get(s.statement_id, 0),
            days_past_due=days_past_due(s.due_date, today),
            aging_bucket=bucket(s.due_date, today),
            lines=tuple(_line_view(line, viewer, names) for line in s.lines),
        )
        for s in records.statements
    )
    payments = tuple(sorted(records.payments, key=lambda p: p.created_at, reverse=True))
    account = records.account
    if not viewer.is_guarantor:
        patients = tuple(p for p in account.patients if viewer.sees_in_full(p.patient_id))
        account = replace(account, patients=patients)
    return AccountView(
        account=account,
        statements=statements,
        payments=payments,
        balances=totals,
        today=today,
        entries=records.entries,
        viewer=viewer,
    )


def _line_view(line: LineItem, viewer: Viewer, names: dict[str, str]) -> LineView:
    if not viewer.sees_in_full(line.patient_id):
        return LineView(line.service_date, line.patient_responsibility_cents, OTHER_PATIENT)
    name = names.get(line.patient_id, line.patient_id)
    return LineView(line.service_date, line.patient_responsibility_cents, name, line)


def _visible_statement(statement: Statement, viewer: Viewer) -> Statement:
    """The statement with another patient's lines reduced to their date and amounts (so the
    statement's totals are unchanged)."""
    if viewer.is_guarantor:
        return statement
    lines = tuple(
        line
        if viewer.sees_in_full(line.patient_id)
        else replace(
            line,
            patient_id="",
            provider="",
            code_system="",
            code="",
            description="",
            diagnosis_codes=(),
        )
        for line in statement.lines
    )
    return replace(statement, lines=lines)
