"""Ledger entries, balances, and applying payments oldest statement first."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.domain.ledger import (
    Allocation,
    EntryKind,
    LedgerEntry,
    OpenStatement,
    allocate,
    balances,
    credit_transfer,
    payment_entries,
    statement_entries,
)
from portal.domain.statements import LineItem, Statement
from tests.conftest import line, statement
from tests.examples import examples

AT = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
ACCOUNT = "100234"


def entry(amount: int, statement_id: str | None, kind: EntryKind = EntryKind.CHARGE):
    return LedgerEntry(ACCOUNT, kind, amount, AT, statement_id)


# --- allocate -------------------------------------------------------------------------


def test_allocate_pays_the_oldest_statement_first():
    opens = [
        OpenStatement("S-3", date(2026, 11, 1), 5000),
        OpenStatement("S-1", date(2026, 9, 1), 3000),
        OpenStatement("S-2", date(2026, 10, 1), 2000),
    ]
    result = allocate(4000, opens)
    assert result == Allocation(applied=(("S-1", 3000), ("S-2", 1000)), unapplied_cents=0)


def test_allocate_breaks_date_ties_by_statement_id():
    same_day = date(2026, 10, 1)
    opens = [OpenStatement("S-B", same_day, 1000), OpenStatement("S-A", same_day, 1000)]
    assert allocate(1500, opens).applied == (("S-A", 1000), ("S-B", 500))


def test_allocate_exact_balance_leaves_nothing_over():
    opens = [OpenStatement("S-1", date(2026, 9, 1), 3000)]
    assert allocate(3000, opens) == Allocation(applied=(("S-1", 3000),), unapplied_cents=0)


def test_allocate_remainder_becomes_unapplied_credit():
    opens = [
        OpenStatement("S-1", date(2026, 9, 1), 3000),
        OpenStatement("S-2", date(2026, 10, 1), 2000),
    ]
    result = allocate(6000, opens)
    assert result.applied == (("S-1", 3000), ("S-2", 2000))
    assert result.unapplied_cents == 1000


def test_allocate_with_nothing_open_is_all_credit():
    assert allocate(2500, []) == Allocation(applied=(), unapplied_cents=2500)


def test_allocate_skips_statements_with_no_balance():
    opens = [
        OpenStatement("S-1", date(2026, 8, 1), 0),
        OpenStatement("S-2", date(2026, 9, 1), -500),
        OpenStatement("S-3", date(2026, 10, 1), 700),
    ]
    assert allocate(1000, opens) == Allocation(applied=(("S-3", 700),), unapplied_cents=300)


@pytest.mark.parametrize("amount", [0, -1, -5000])
def test_allocate_refuses_zero_or_negative(amount):
    with pytest.raises(ValueError, match="positive"):
        allocate(amount, [OpenStatement("S-1", date(2026, 9, 1), 3000)])


# --- entries --------------------------------------------------------------------------


def test_payment_entries_sum_to_minus_the_amount():
    allocation = Allocation(applied=(("S-1", 3000), ("S-2", 2000)), unapplied_cents=1000)
    entries = payment_entries(ACCOUNT, "pay_x", allocation, AT)
    assert sum(e.amount_cents for e in entries) == -6000
    assert [(e.statement_id, e.amount_cents) for e in entries] == [
        ("S-1", -3000),
        ("S-2", -2000),
        (None, -1000),
    ]
    assert {e.kind for e in entries} == {EntryKind.PATIENT_PAYMENT}
    assert {e.payment_id for e in entries} == {"pay_x"}
    assert {e.account_number for e in entries} == {ACCOUNT}
    assert all(e.posted_at == AT for e in entries)
    assert "credit" in entries[-1].memo


def test_payment_entries_without_credit_have_no_unapplied_entry():
    allocation = Allocation(applied=(("S-1", 3000),), unapplied_cents=0)
    entries = payment_entries(ACCOUNT, "pay_x", allocation, AT, kind=EntryKind.INSURANCE_PAYMENT)
    assert [(e.statement_id, e.amount_cents, e.kind) for e in entries] == [
        ("S-1", -3000, EntryKind.INSURANCE_PAYMENT)
    ]


def test_statement_entries_net_to_the_statement_total():
    st = statement(owed=(4550, 2000, 0))
    entries = statement_entries(st, AT)
    assert sum(e.amount_cents for e in entries) == st.total_cents == 6550
    assert [e.kind for e in entries] == [
        EntryKind.CHARGE,
        EntryKind.INSURANCE_PAYMENT,
        EntryKind.ADJUSTMENT,
    ]
    assert entries[0].amount_cents == st.charges_cents
    assert entries[1].amount_cents == -st.insurance_paid_cents
    assert entries[2].amount_cents == -st.adjustments_cents
    assert {e.statement_id for e in entries} == {st.statement_id}
    assert {e.account_number for e in entries} == {st.account_number}


def test_statement_entries_leave_out_zero_amounts():
    st = replace(
        statement(),
        lines=(line("1", insurance_paid_cents=0, adjustment_cents=0, charge_cents=3000),),
    )
    entries = statement_entries(st, AT)
    assert [(e.kind, e.amount_cents) for e in entries] == [(EntryKind.CHARGE, 3000)]


def test_credit_transfer_sums_to_zero_and_moves_credit_onto_the_statement():
    pair = credit_transfer(ACCOUNT, "S-9", 1200, AT)
    assert sum(e.amount_cents for e in pair) == 0
    assert [(e.statement_id, e.amount_cents) for e in pair] == [(None, 1200), ("S-9", -1200)]
    assert {e.kind for e in pair} == {EntryKind.TRANSFER}
    before = balances([entry(-1500, None, EntryKind.PATIENT_PAYMENT), entry(2000, "S-9")])
    after = balances([entry(-1500, None, EntryKind.PATIENT_PAYMENT), entry(2000, "S-9"), *pair])
    assert before.credit_cents == 1500
    assert after.credit_cents == 300
    assert after.by_statement == {"S-9": 800}
    assert after.account_balance_cents == before.account_balance_cents


# --- balances -------------------------------------------------------------------------


def test_balances_of_nothing():
    b = balances([])
    assert b.by_statement == {}
    assert (b.unapplied_cents, b.account_balance_cents, b.due_cents, b.credit_cents) == (
        0,
        0,
        0,
        0,
    )


def test_balances_by_statement_and_credit():
    entries = [
        entry(18500, "S-1"),
        entry(-15500, "S-1", EntryKind.INSURANCE_PAYMENT),
        entry(-3000, "S-1", EntryKind.PATIENT_PAYMENT),
        entry(5000, "S-2"),
        entry(-1000, "S-2", EntryKind.PATIENT_PAYMENT),
        entry(-700, None, EntryKind.PATIENT_PAYMENT),
    ]
    b = balances(entries)
    assert b.by_statement == {"S-1": 0, "S-2": 4000}
    assert b.unapplied_cents == -700
    assert b.account_balance_cents == 3300 == sum(e.amount_cents for e in entries)
    assert b.due_cents == 4000
    assert b.credit_cents == 700


def test_positive_unapplied_is_not_credit():
    b = balances([entry(500, None, EntryKind.REFUND)])
    assert b.credit_cents == 0
    assert b.account_balance_cents == 500


def test_open_statements_lists_only_those_with_a_balance():
    s1 = statement("S-1", statement_date=date(2026, 9, 1))
    s2 = statement("S-2", statement_date=date(2026, 10, 1))
    s3 = statement("S-3", statement_date=date(2026, 11, 1))
    b = balances([entry(3000, "S-1"), entry(-3000, "S-1"), entry(1000, "S-2")])
    assert b.open_statements([s1, s2, s3]) == [OpenStatement("S-2", date(2026, 10, 1), 1000)]


# --- properties -----------------------------------------------------------------------

DATES = st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 12, 31))


@st.composite
def open_statements(draw):
    count = draw(st.integers(min_value=0, max_value=8))
    ids = draw(
        st.lists(st.from_regex(r"\AS-[0-9]{1,3}\Z"), min_size=count, max_size=count, unique=True)
    )
    # A small set of dates so that ties (decided by statement id) happen often.
    dates = draw(st.lists(DATES, min_size=1, max_size=4))
    return [
        OpenStatement(
            sid,
            draw(st.sampled_from(dates)),
            draw(st.integers(min_value=1, max_value=10**7)),
        )
        for sid in ids
    ]


@settings(max_examples=examples(200))
@given(open_statements(), st.integers(min_value=1, max_value=10**8))
def test_allocation_properties(opens, amount):
    result = allocate(amount, opens)
    by_id = {s.statement_id: s for s in opens}
    oldest_first = sorted(opens, key=lambda s: (s.statement_date, s.statement_id))
    parts = dict(result.applied)

    assert len(parts) == len(result.applied)  # no statement twice
    assert sum(parts.values()) + result.unapplied_cents == amount
    assert result.unapplied_cents >= 0
    for sid, part in result.applied:
        assert 0 < part <= by_id[sid].balance_cents
    # Oldest first: a later statement gets money only once every earlier one is paid off.
    for i, later in enumerate(oldest_first):
        if parts.get(later.statement_id, 0):
            for earlier in oldest_first[:i]:
                assert parts.get(earlier.statement_id, 0) == earlier.balance_cents
    # The applied parts are listed oldest first.
    order = [s.statement_id for s in oldest_first if s.statement_id in parts]
    assert [sid for sid, _ in result.applied] == order
    if result.unapplied_cents > 0:
        assert all(parts.get(s.statement_id, 0) == s.balance_cents for s in opens)
    assert result.unapplied_cents == max(0, amount - sum(s.balance_cents for s in opens))


@st.composite
def line_items(draw, line_id: str) -> LineItem:
    owed = draw(st.integers(min_value=0, max_value=10**6))
    insurance = draw(st.integers(min_value=0, max_value=10**6))
    adjustment = draw(st.integers(min_value=0, max_value=10**6))
    return line(
        line_id,
        owed=owed,
        charge_cents=insurance + adjustment + owed,
        insurance_paid_cents=insurance,
        adjustment_cents=adjustment,
        patient_responsibility_cents=owed,
    )


class Books:
    """A guarantor account driven the way portal/adapters/sqlite/ledger.py drives it."""

    def __init__(self) -> None:
        self.statements: list[Statement] = []
        self.entries: list[LedgerEntry] = []
        self.owed = 0
        self.paid = 0
        self.overpaid = False
        self.clock = AT

    def tick(self) -> datetime:
        self.clock += timedelta(minutes=1)
        return self.clock

    def import_statement(self, st_: Statement) -> None:
        at = self.tick()
        new = statement_entries(st_, at)
        credit = balances(self.entries).credit_cents
        if credit and st_.total_cents:
            applied = min(credit, st_.total_cents)
            new += credit_transfer(st_.account_number, st_.statement_id, applied, at)
        self.statements.append(st_)
        self.entries += new
        self.owed += st_.total_cents

    def pay(self, payment_id: str, amount: int) -> None:
        before = balances(self.entries)
        if amount > before.due_cents:
            self.overpaid = True
        allocation = allocate(amount, before.open_statements(self.statements))
        new = payment_entries(ACCOUNT, payment_id, allocation, self.tick())
        assert sum(e.amount_cents for e in new) == -amount
        self.entries += new
        self.paid += amount

    def check(self) -> None:
        b = balances(self.entries)
        assert sum(e.amount_cents for e in self.entries) == b.account_balance_cents
        assert b.account_balance_cents == sum(b.by_statement.values()) + b.unapplied_cents
        assert all(cents >= 0 for cents in b.by_statement.values()), b.by_statement
        for st_ in self.statements:
            assert b.by_statement.get(st_.statement_id, 0) <= st_.total_cents
        assert b.unapplied_cents <= 0
        assert b.due_cents - b.credit_cents == b.account_balance_cents
        # No cent created or lost.
        assert self.owed - self.paid == b.account_balance_cents
        if b.credit_cents:
            assert b.due_cents == 0, "credit kept while a statement is still open"
        if not self.overpaid:
            assert sum(b.by_statement.values()) == b.account_balance_cents
            assert b.credit_cents == 0


@settings(max_examples=examples(200))
@given(st.data())
def test_ledger_simulation_keeps_every_cent(data):
    books = Books()
    steps = data.draw(st.integers(min_value=1, max_value=12), label="steps")
    for step in range(steps):
        if data.draw(st.booleans(), label="new statement?"):
            count = data.draw(st.integers(min_value=1, max_value=3), label="lines")
            lines = tuple(data.draw(line_items(str(i + 1))) for i in range(count))
            when = data.draw(DATES, label="statement date")
            books.import_statement(
                Statement(
                    statement_id=f"S-{step:03d}",
                    account_number=ACCOUNT,
                    statement_date=when,
                    due_date=when + timedelta(days=30),
                    lines=lines,
                )
            )
        else:
            due = balances(books.entries).due_cents
            if data.draw(st.booleans(), label="overpay?"):
                amount = data.draw(st.integers(min_value=due + 1, max_value=due + 10**6))
            elif due > 0:
                amount = data.draw(st.integers(min_value=1, max_value=due))
            else:
                continue
            books.pay(f"pay_{step}", amount)
        books.check()
