"""Store.import_statements: a batch of statements, each all or nothing on its own, with
the outcome and balances of each (issue 15), on every store."""

from dataclasses import replace

import pytest

from portal.adapters.dynamodb import ledger as dynamodb_ledger
from portal.adapters.sqlite import ledger as sqlite_ledger
from portal.domain import ledger
from portal.domain.payments import Payment, PaymentStatus
from portal.ports.ledger import ImportOutcome, ImportResult, StatementImport
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW, lopez_account, statement


def test_a_batch_reports_each_statement_as_one_by_one_imports_would(store: Store):
    account = lopez_account()
    assert store.import_statement(account, statement("S-1", (3000,)), NOW) is ImportOutcome.IMPORTED
    batch = [
        StatementImport(account, statement("S-2", (4550, 2000))),
        StatementImport(account, statement("S-1", (3000,))),  # the same again
        StatementImport(account, statement("S-1", (1,))),  # the same id, other content
        StatementImport(account, statement("S-3", (700,))),
    ]

    results = store.import_statements(batch, NOW)

    assert results == [
        ImportResult(ImportOutcome.IMPORTED, 6550, 3000 + 6550),
        ImportResult(ImportOutcome.UNCHANGED),
        ImportResult(ImportOutcome.CONFLICT),
        ImportResult(ImportOutcome.IMPORTED, 700, 3000 + 6550 + 700),
    ]
    records = store.account_records(account.account_number)
    assert records is not None
    assert [s.statement_id for s in records.statements] == ["S-1", "S-2", "S-3"]
    assert sum(e.amount_cents for e in records.entries) == 3000 + 6550 + 700
    assert store.import_state(["100234", "999999"], ["S-2", "S-9"]).fingerprints == {
        "S-2": statement("S-2", (4550, 2000)).fingerprint()
    }


def test_a_batch_uses_the_accounts_credit_as_one_import_would(store: Store):
    account = lopez_account()
    store.import_statement(account, statement("S-1", (3000,)), NOW)
    payment = Payment("pay_over", "100234", 8000, PaymentStatus.PENDING, "card", "stripe", NOW)
    assert store.create_payment(payment)
    posting.post_payment(store, "pay_over", "pi_over", 8000, NOW)  # 5000 beyond the balance

    results = store.import_statements([StatementImport(account, statement("S-2", (7000,)))], NOW)

    assert results == [ImportResult(ImportOutcome.IMPORTED, 2000, 2000)]
    records = store.account_records("100234")
    assert records is not None
    assert ledger.balances(records.entries).by_statement == {"S-1": 0, "S-2": 2000}


def test_a_statement_that_fails_leaves_nothing_and_those_before_it_stay(
    store: Store, monkeypatch: pytest.MonkeyPatch
):
    def entries(st, at):
        if st.statement_id == "S-BAD":
            raise RuntimeError("the disk is full")
        return ledger.statement_entries(st, at)

    monkeypatch.setattr(sqlite_ledger, "statement_entries", entries)
    monkeypatch.setattr(dynamodb_ledger, "statement_entries", entries)
    account = lopez_account()
    other = replace(lopez_account(), account_number="100235")
    batch = [
        StatementImport(account, statement("S-OK", (3000,))),
        StatementImport(other, replace(statement("S-BAD", (100,)), account_number="100235")),
        StatementImport(account, statement("S-AFTER", (700,))),
    ]

    with pytest.raises(RuntimeError, match="the disk is full"):
        store.import_statements(batch, NOW)

    assert store.get_statement("S-OK") is not None
    assert store.get_statement("S-BAD") is None
    assert store.get_account("100235") is None
    assert store.get_statement("S-AFTER") is None
    state = store.import_state(["100234", "100235"], ["S-OK", "S-BAD", "S-AFTER"])
    assert set(state.accounts) == {"100234"} and set(state.fingerprints) == {"S-OK"}
