"""Corrected statements on every store: a higher version replaces the lines through ledger
entries (payments stay applied; more paid than owed becomes credit); a lower or equal
version with other content is refused; for any sequence of versions and payments the
balance is the latest version's patient responsibility minus what was paid."""

import itertools
from dataclasses import replace
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.domain.ledger import EntryKind, balances
from portal.ports.ledger import ImportOutcome, StatementImport
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW, lopez_account, statement
from tests.contract.test_money_events_contract import read_all
from tests.contract.test_refund_races import another_handle
from tests.contract.test_store_contract import pending, records, run_together

SID = "S-2026-000500"


def version(owed: tuple[int, ...], number: int, due: date = date(2026, 11, 30)) -> object:
    return replace(statement(SID, owed, date(2026, 11, 1), due), version=number)


def test_a_higher_version_replaces_the_lines_and_keeps_the_old_one(store: Store):
    account = lopez_account()
    first = version((3000, 2000), 1)
    assert store.import_statement(account, first, NOW) is ImportOutcome.IMPORTED
    store.create_payment(pending("pay_1", 1000))
    posting.post_payment(store, "pay_1", "ch_1", 1000, NOW)

    second = version((3000, 500), 2, date(2026, 12, 15))
    assert store.import_statement(account, second, NOW + timedelta(days=1)) is (
        ImportOutcome.CORRECTED
    )

    stored = store.get_statement(SID)
    assert stored is not None
    # The due date of the statement replaced is kept (reminders keep their stage).
    assert (stored.version, stored.total_cents, stored.due_date) == (2, 3500, date(2026, 11, 30))
    assert [x.patient_responsibility_cents for x in stored.lines] == [3000, 500]
    (old,) = store.statement_versions(SID)
    assert (old.version, old.total_cents, len(old.lines)) == (1, 5000, 2)
    entries = records(store).entries
    assert balances(entries).by_statement[SID] == 3500 - 1000
    corrections = [e for e in entries if e.memo.startswith("Corrected statement")]
    assert {(e.kind, e.amount_cents) for e in corrections} == {
        (EntryKind.CHARGE, -1500),
    }
    assert [e.amount_cents for e in entries if e.payment_id == "pay_1"] == [-1000]


def test_a_correction_below_what_was_paid_makes_a_credit(store: Store):
    account = lopez_account()
    store.import_statement(account, version((3000,), 1), NOW)
    store.create_payment(pending("pay_1", 3000))
    posting.post_payment(store, "pay_1", "ch_1", 3000, NOW)

    outcome = store.import_statement(account, version((1200,), 2), NOW)

    assert outcome is ImportOutcome.CORRECTED
    totals = balances(records(store).entries)
    assert totals.by_statement[SID] == 0
    assert totals.credit_cents == 1800
    events, _ = read_all(store)
    assert [(e.kind, e.statement_id, e.amount_cents) for e in events[-2:]] == [
        ("transfer", SID, 1800),
        ("transfer", None, -1800),
    ]


def test_a_lower_or_equal_version_with_other_content_is_refused(store: Store):
    account = lopez_account()
    store.import_statement(account, version((3000,), 2), NOW)
    before = records(store).entries

    assert store.import_statement(account, version((2000,), 2), NOW) is ImportOutcome.CONFLICT
    assert store.import_statement(account, version((2000,), 1), NOW) is ImportOutcome.CONFLICT
    assert store.import_statement(account, version((3000,), 1), NOW) is ImportOutcome.UNCHANGED
    assert records(store).entries == before
    assert store.statement_versions(SID) == []


steps = st.lists(
    st.one_of(
        st.tuples(st.just("version"), st.lists(st.integers(0, 50_000), min_size=1, max_size=3)),
        st.tuples(st.just("pay"), st.integers(100, 40_000)),
    ),
    max_size=8,
)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(first=st.lists(st.integers(0, 50_000), min_size=1, max_size=3), sequence=steps)
def test_the_balance_is_the_latest_version_less_payments(store: Store, first, sequence):
    account_number = f"9{next(COUNTER):05d}"
    account = replace(lopez_account(), account_number=account_number)
    sid = f"S-H-{account_number}"

    def make(owed: list[int], number: int):
        return replace(
            statement(sid, tuple(owed), date(2026, 11, 1), date(2026, 11, 30), account_number),
            version=number,
        )

    assert store.import_statement(account, make(first, 1), NOW) is ImportOutcome.IMPORTED
    latest, paid, number = sum(first), 0, 1
    for n, (kind, value) in enumerate(sequence):
        if kind == "version":
            number += 1
            outcome = store.import_statement(account, make(value, number), NOW)
            assert outcome in (ImportOutcome.CORRECTED, ImportOutcome.UNCHANGED)
            latest = sum(value)
        else:
            payment_id = f"pay_{account_number}_{n}"
            store.create_payment(pending(payment_id, value, account_number=account_number))
            posting.post_payment(store, payment_id, f"ch_{payment_id}", value, NOW)
            paid += value

    found = store.account_records(account_number)
    assert found is not None
    totals = balances(found.entries)
    assert totals.account_balance_cents == latest - paid
    assert totals.by_statement.get(sid, 0) == max(0, latest - paid)
    assert totals.credit_cents == max(0, paid - latest)


COUNTER = itertools.count()


def test_a_correction_keeps_the_due_date_unless_reminders_restart(store: Store):
    account = lopez_account()
    store.import_statement(account, version((3000,), 1), NOW)
    kept = version((2000,), 2, date(2026, 12, 31))

    store.import_statements([StatementImport(account, kept)], NOW)
    again = store.import_statements([StatementImport(account, kept)], NOW)[0].outcome
    restarted = version((2500,), 3, date(2027, 1, 15))
    store.import_statements([StatementImport(account, restarted, new_due_date=True)], NOW)

    assert again is ImportOutcome.UNCHANGED  # the same file again, though stored otherwise
    _, second = store.statement_versions(SID)
    assert (second.version, second.due_date) == (2, date(2026, 11, 30))
    stored = store.get_statement(SID)
    assert stored is not None
    assert (stored.version, stored.due_date, stored.total_cents) == (3, date(2027, 1, 15), 2500)


def test_two_corrections_at_once_leave_one_consistent_statement(store: Store):
    account = lopez_account()
    store.import_statement(account, version((3000,), 1), NOW)
    store.create_payment(pending("pay_1", 1000))
    posting.post_payment(store, "pay_1", "ch_1", 1000, NOW)
    other = another_handle(store)

    outcomes = run_together(
        [
            lambda: store.import_statement(account, version((2000,), 2), NOW),
            lambda: other.import_statement(account, version((4000,), 3), NOW),
        ]
    )

    stored = store.get_statement(SID)
    assert stored is not None
    total = {2: 2000, 3: 4000}[stored.version]
    assert balances(records(store).entries).by_statement[SID] == total - 1000
    assert ImportOutcome.CORRECTED in outcomes
    assert len(store.statement_versions(SID)) == outcomes.count(ImportOutcome.CORRECTED)
