"""Changes larger than one DynamoDB transaction (100 items) post whole, on both stores."""

import uuid
from datetime import timedelta

import pytest

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.ports.store import Store, StoreError
from portal.services import ledger as posting
from tests.conftest import NOW, lopez_account
from tests.many_statements import add_statements, many_statements, owed_on

DAY = timedelta(days=1)
# 100 statements already take more than one DynamoDB transaction; 300 run in `make test-slow`.
COUNTS = [100, pytest.param(300, marks=pytest.mark.slow)]


def open_payment(store: Store, cents: int, payment_id: str = "pay_1") -> None:
    payment = Payment(payment_id, "100234", cents, PaymentStatus.PENDING, "card", "sandbox", NOW)
    assert store.create_payment(payment)


@pytest.mark.parametrize("count", COUNTS)
def test_a_payment_over_many_statements_posts_whole_and_reverses_whole(store: Store, count):
    statements = many_statements("100234", count)
    add_statements(store, lopez_account(), statements, NOW - DAY)
    owed = owed_on(statements)
    open_payment(store, owed)

    result = posting.post_payment(store, "pay_1", "ch_1", owed, NOW)

    assert result.posted
    records = store.account_records("100234")
    assert records is not None
    totals = balances(records.entries)
    assert totals.account_balance_cents == 0
    assert all(totals.by_statement[s.statement_id] == 0 for s in statements)
    paid = [e for e in records.entries if e.payment_id == "pay_1"]
    assert len(paid) == count
    assert len({e.entry_id for e in records.entries}) == len(records.entries) == 2 * count
    assert store.ledger_totals(NOW - DAY, NOW + DAY)[EntryKind.PATIENT_PAYMENT] == -owed
    assert store.ledger_totals(NOW, NOW + timedelta(hours=1))[EntryKind.PATIENT_PAYMENT] == -owed
    assert store.receivable_at(NOW + DAY) == 0
    assert store.open_balances(NOW + DAY) == []
    assert not posting.post_payment(store, "pay_1", "ch_1", owed, NOW).posted

    reversed_ = posting.reverse_payment(store, "pay_1", "Dispute lost", NOW + DAY)

    assert reversed_.posted
    after = balances(store.account_records("100234").entries)
    assert {s.statement_id: after.by_statement[s.statement_id] for s in statements} == {
        s.statement_id: s.total_cents for s in statements
    }
    assert store.receivable_at(NOW + 2 * DAY) == owed
    assert len(store.open_balances(NOW + 2 * DAY)) == count
    assert store.ledger_totals(NOW, NOW + 2 * DAY)[EntryKind.REVERSAL] == owed


@pytest.mark.parametrize("count", COUNTS)
def test_a_refund_across_many_statements_posts_whole(store: Store, count):
    statements = many_statements("100234", count)
    add_statements(store, lopez_account(), statements, NOW - DAY)
    owed = owed_on(statements)
    open_payment(store, owed)
    posting.post_payment(store, "pay_1", "ch_1", owed, NOW)

    result = posting.post_refund(store, "pay_1", "re_many_1", owed, NOW + DAY)

    assert result.posted
    after = balances(store.account_records("100234").entries)
    assert all(after.by_statement[s.statement_id] == s.total_cents for s in statements)
    assert store.ledger_totals(NOW, NOW + 2 * DAY)[EntryKind.REFUND] == owed


class Crash(BaseException):
    """The process dies between two transactions."""


@pytest.mark.parametrize("count", COUNTS)
def test_a_crash_between_the_transactions_is_finished_by_the_next_store(moto_endpoint, count):
    table = f"contract-{uuid.uuid4().hex[:12]}"
    store = DynamoDbStore(table)
    store.migrate()
    try:
        statements = many_statements("100234", count)
        add_statements(store, lopez_account(), statements, NOW - DAY)
        owed = owed_on(statements)
        open_payment(store, owed)
        commit = store.db.transact
        calls = []

        def first_only(actions):
            calls.append(len(actions))
            if len(calls) > 1:
                raise Crash()
            return commit(actions)

        store.db.transact = first_only
        with pytest.raises(Crash):
            posting.post_payment(store, "pay_1", "ch_1", owed, NOW)

        later = DynamoDbStore(table)
        account = later.db.get("ACCOUNT#100234", "ACCOUNT")
        assert len(account["pending_entries"]) > 0  # the crash left entries waiting
        assert later.get_payment("pay_1").status is PaymentStatus.SUCCEEDED
        records = later.account_records("100234")
        assert balances(records.entries).account_balance_cents == 0
        assert len([e for e in records.entries if e.payment_id == "pay_1"]) == count
        # Reports count every entry once, waiting or not.
        assert later.ledger_totals(NOW, NOW + timedelta(hours=1)) == {
            EntryKind.PATIENT_PAYMENT: -owed
        }
        assert later.ledger_totals(NOW - DAY, NOW + DAY)[EntryKind.PATIENT_PAYMENT] == -owed
        assert later.receivable_at(NOW + timedelta(hours=1)) == 0
        assert not posting.post_payment(later, "pay_1", "ch_1", owed, NOW).posted

        # The account's next change moves the waiting entries to items of their own.
        open_payment(later, 500, "pay_2")
        assert posting.post_payment(later, "pay_2", "ch_2", 500, NOW + DAY).posted
        account = later.db.get("ACCOUNT#100234", "ACCOUNT")
        assert "pending_entries" not in account and "GSI3PK" not in account
        stored = later.db.count(
            KeyConditionExpression="PK = :pk AND begins_with(SK, :ledger)",
            ExpressionAttributeValues={":pk": "ACCOUNT#100234", ":ledger": "LEDGER#"},
        )
        assert stored == 2 * count + 1
        assert later.ledger_totals(NOW, NOW + timedelta(hours=1)) == {
            EntryKind.PATIENT_PAYMENT: -owed
        }
        assert later.receivable_at(NOW + 2 * DAY) == -500
    finally:
        store.db.client.delete_table(TableName=table)


def test_a_failure_while_moving_entries_still_answers_posted(moto_endpoint):
    """The money is posted with the first transaction: a refused follow-up does not turn a
    charged payment into an error (the entries wait for the account's next change)."""
    table = f"contract-{uuid.uuid4().hex[:12]}"
    store = DynamoDbStore(table)
    store.migrate()
    try:
        statements = many_statements("100234", 100)
        add_statements(store, lopez_account(), statements, NOW - DAY)
        owed = owed_on(statements)
        open_payment(store, owed)
        commit = store.db.transact
        calls = []

        def refuse_after_first(actions):
            calls.append(len(actions))
            if len(calls) > 1:
                raise StoreError("DynamoDB kept refusing the write")
            return commit(actions)

        store.db.transact = refuse_after_first

        assert posting.post_payment(store, "pay_1", "ch_1", owed, NOW).posted
        assert len(calls) > 1
        assert store.db.get("ACCOUNT#100234", "ACCOUNT")["pending_entries"]
        assert balances(store.account_records("100234").entries).account_balance_cents == 0
    finally:
        store.db.client.delete_table(TableName=table)
