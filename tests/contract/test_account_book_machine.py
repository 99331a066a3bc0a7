"""Any sequence of money changes ends the same, to the cent, through SQLite, through
DynamoDB (moto's server over HTTP) and through the pure domain (an AccountBook kept in
memory and updated by applying each Change): imports, payments (created, then posted,
references reused), refunds (by refund id, the same id again too), reversals,
adjustments and write-offs. The test also keeps its own arithmetic of what the account
owes, so a rule broken in the book itself (not only in one store) is caught."""

import dataclasses
import itertools
import uuid
from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite.store import SqliteStore
from portal.domain.account_book import AccountBook, AlreadyDone
from portal.domain.accounts import Account, Guarantor
from portal.domain.ledger import EntryKind, LedgerEntry, apply_credit, balances, statement_entries
from portal.domain.payments import Payment, PaymentStatus
from portal.ports.ledger import ImportOutcome, PostingResult
from portal.services import ledger as posting
from tests.conftest import NOW, statement

MACHINE_SETTINGS = settings(
    max_examples=12,
    stateful_step_count=16,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
# `make test` tries a third of the sequences; `make test-slow` (which CI runs too) all of them.
MACHINE_SIZES = [
    pytest.param(MACHINE_SETTINGS, id="full", marks=pytest.mark.slow),
    pytest.param(settings(MACHINE_SETTINGS, max_examples=4), id="third"),
]
REFERENCES = ("ref-a", "ref-b", "ref-c", "ref-d")
# Mostly amounts that fit (so changes post), sometimes too much, zero or negative.
cents = st.one_of(
    st.integers(min_value=1, max_value=2500),
    st.integers(min_value=1, max_value=2500),
    st.integers(min_value=-100, max_value=12000),
)
small_cents = st.one_of(st.integers(min_value=1, max_value=300), cents)


def rows(entries: tuple[LedgerEntry, ...]) -> list[tuple]:
    """Entries as comparable rows (entry ids differ between stores)."""
    return [dataclasses.replace(e, entry_id=None) for e in entries]


def outcome(action) -> tuple:
    """What a change answered: posted or not, and the payment and entries; or the error."""
    try:
        result = action()
    except (KeyError, ValueError) as exc:
        return ("error", type(exc).__name__, str(exc))
    if isinstance(result, PostingResult):
        return ("posted" if result.posted else "done", result.payment, rows(result.entries))
    if isinstance(result, LedgerEntry):
        return ("entry", rows((result,)))
    return ("other", result)


def make_machine(sqlite: SqliteStore, dynamodb: DynamoDbStore):
    serial = itertools.count()

    class AccountBookMachine(RuleBasedStateMachine):
        payments = Bundle("payments")
        refunds = Bundle("refunds")  # refund ids asked for (posted or not)
        statements = Bundle("statements")

        @initialize(
            target=statements,
            owed=st.lists(st.integers(min_value=0, max_value=9000), min_size=1, max_size=3),
            days=st.integers(min_value=0, max_value=120),
        )
        def open_account(self, owed, days):
            # A fresh account (and fresh unique keys) per example, on the same file and table.
            self.n = next(serial)
            self.tag = uuid.uuid4().hex[:8]
            self.account = Account(
                f"7{self.n:05d}", Guarantor("Rosa", "Diaz", date(1980, 5, 1)), ()
            )
            self.stores = (sqlite, dynamodb)
            self.book = AccountBook(self.account.account_number)
            self.at = NOW
            self.ids = itertools.count(1)
            # The test's own arithmetic: what the account owes, from what was accepted.
            self.owed = 0
            self.taken: dict[str, int] = {}  # posted payment -> cents taken
            self.references: dict[str, str] = {}  # gateway reference -> payment
            self.refunds: dict[str, tuple[str, int]] = {}  # refund id -> (payment, cents)
            self.reversed: set[str] = set()
            return self.import_statement(owed, days)

        def tick(self):
            self.at += timedelta(minutes=7)
            return self.at

        def key(self, value: str) -> str:
            return f"{self.tag}-{value}"

        def everywhere(self, on_store, on_book) -> tuple:
            """Apply through both stores and the pure book; all three answer the same."""
            answers = [outcome(lambda s=s: on_store(s)) for s in self.stores]
            book_answer = outcome(on_book)
            assert answers[0] == answers[1] == book_answer, (answers, book_answer)
            return book_answer

        def decide(self, decision):
            """The pure path: apply the change to the in-memory book."""
            if isinstance(decision, AlreadyDone):
                return PostingResult(payment=decision.payment, posted=False)
            self.book = self.book.apply(decision)
            if decision.payment is None:
                return decision.entries[0]
            return PostingResult(decision.payment, posted=True, entries=decision.entries)

        def oldest_first_split(self, amount: int) -> list[tuple[str | None, int]]:
            """How a payment should split: the oldest open statement first, then credit."""
            owed = balances(self.book.entries).by_statement
            split, left = [], amount
            for s in self.book.statements:  # oldest first
                part = min(left, owed.get(s.statement_id, 0))
                if part > 0:
                    split.append((s.statement_id, part))
                    left -= part
            return split + ([(None, left)] if left > 0 else [])

        # -- rules ---------------------------------------------------------------------

        @rule(
            target=statements,
            owed=st.lists(st.integers(min_value=0, max_value=9000), min_size=1, max_size=3),
            days=st.integers(min_value=0, max_value=120),
        )
        def import_statement(self, owed, days):
            at = self.tick()
            dated = date(2026, 6, 1) + timedelta(days=days)
            stmt = statement(
                f"S-{self.tag}-{next(self.ids)}",
                tuple(owed),
                dated,
                dated + timedelta(days=30),
                self.account.account_number,
            )
            for store in self.stores:
                assert store.import_statement(self.account, stmt, at) is ImportOutcome.IMPORTED
            header = dataclasses.replace(stmt, lines=())
            statements = sorted(
                [*self.book.statements, header], key=lambda s: (s.statement_date, s.statement_id)
            )
            new = statement_entries(stmt, at)
            new += apply_credit(
                self.account.account_number, [*self.book.entries, *new], statements, at
            )
            self.book = dataclasses.replace(
                self.book,
                version=self.book.version + 1,
                statements=tuple(statements),
                entries=self.book.entries + tuple(new),
            )
            self.owed += sum(owed)
            return stmt.statement_id

        @rule(
            target=payments,
            asked=st.integers(min_value=100, max_value=9000),
            reference=st.sampled_from(REFERENCES),
            amount=cents,
            refund_now=st.one_of(st.none(), small_cents),
        )
        def pay(self, asked, reference, amount, refund_now):
            """A new payment, then its gateway's confirmation (of `amount` taken), and
            maybe a refund on it at once."""
            payment = Payment(
                payment_id=f"pay_{self.tag}_{next(self.ids)}",
                account_number=self.account.account_number,
                amount_cents=asked,
                status=PaymentStatus.PENDING,
                method="card",
                gateway="sandbox",
                created_at=self.tick(),
            )
            for store in self.stores:
                assert store.create_payment(payment)
            self.book = dataclasses.replace(
                self.book, payments={**self.book.payments, payment.payment_id: payment}
            )
            self.post_payment(payment.payment_id, reference, amount)
            if refund_now is not None:
                self.refund_again(f"re_{next(self.ids)}", payment.payment_id, refund_now)
            return payment.payment_id

        @rule(payment_id=payments, reference=st.sampled_from(REFERENCES), amount=cents)
        def post_payment(self, payment_id, reference, amount):
            at, ref = self.tick(), self.key(reference)
            oldest_first = self.oldest_first_split(amount)
            answer = self.everywhere(
                lambda s: posting.post_payment(s, payment_id, ref, amount, at),
                lambda: self.decide(self.book.post_payment(payment_id, ref, amount, at)),
            )
            if answer[0] == "posted":
                assert payment_id not in self.taken, "a payment posted twice"
                assert ref not in self.references, "a reference posted twice"
                self.references[ref] = payment_id
                paid = [(e.statement_id, -e.amount_cents) for e in answer[2]]
                assert paid == oldest_first, "not applied oldest statement first"
                self.taken[payment_id] = amount
                self.owed -= amount
            elif answer[:2] == ("error", "ReferenceAlreadyPosted"):
                assert self.references[ref] != payment_id

        @rule(target=refunds, payment_id=payments, amount=small_cents)
        def refund(self, payment_id, amount):
            refund_id = f"re_{next(self.ids)}"
            self.refund_again(refund_id, payment_id, amount)
            return refund_id

        @rule(refund_id=refunds, payment_id=payments, amount=small_cents)
        def refund_again(self, refund_id, payment_id, amount):
            """A refund id reported again (for the same payment or, wrongly, another)."""
            at, rid = self.tick(), self.key(refund_id)
            answer = self.everywhere(
                lambda s: posting.post_refund(s, payment_id, rid, amount, at),
                lambda: self.decide(self.book.post_refund(payment_id, rid, amount, at)),
            )
            if answer[0] == "posted":
                assert rid not in self.refunds, "a refund id posted twice"
                assert payment_id in self.taken and payment_id not in self.reversed
                self.refunds[rid] = (payment_id, amount)
                given = sum(c for p, c in self.refunds.values() if p == payment_id)
                assert given <= self.taken[payment_id]
                self.owed += amount
            elif answer[0] == "done":
                assert self.refunds[rid][0] == payment_id

        @rule(payment_id=payments)
        def reverse(self, payment_id):
            at = self.tick()
            answer = self.everywhere(
                lambda s: posting.reverse_payment(s, payment_id, "Check bounced", at),
                lambda: self.decide(self.book.reverse_payment(payment_id, "Check bounced", at)),
            )
            if answer[0] == "posted":
                assert payment_id in self.taken and payment_id not in self.reversed
                self.reversed.add(payment_id)
                given = sum(c for p, c in self.refunds.values() if p == payment_id)
                self.owed += self.taken[payment_id] - given

        @rule(
            statement_id=st.one_of(statements, st.just("S-not-on-this-account")),
            kind=st.sampled_from([EntryKind.ADJUSTMENT, EntryKind.WRITE_OFF]),
            amount=cents,
        )
        def adjust(self, statement_id, kind, amount):
            at, number = self.tick(), self.account.account_number
            answer = self.everywhere(
                lambda s: posting.post_adjustment(s, number, statement_id, kind, amount, "m", at),
                lambda: self.decide(self.book.adjust(statement_id, kind, amount, "m", at)),
            )
            if answer[0] == "entry":
                self.owed -= amount
            if statement_id == "S-not-on-this-account":
                assert answer[:2] == ("error", "KeyError")

        # -- after every step -----------------------------------------------------------

        @invariant()
        def same_books_to_the_cent(self):
            if not hasattr(self, "book"):
                return
            for store in self.stores:
                stored = store.load_book(self.account.account_number)
                assert rows(stored.entries) == rows(self.book.entries), type(store).__name__
                assert stored.payments == self.book.payments
                assert stored.statements == self.book.statements
                assert stored.version == self.book.version
            totals = balances(self.book.entries)
            assert totals.account_balance_cents == self.owed
            assert not (totals.due_cents and totals.credit_cents), "credit beside an open bill"
            for payment in self.book.payments.values():
                assert 0 <= payment.refunded_cents <= payment.amount_cents

    return AccountBookMachine


@pytest.mark.parametrize("size", MACHINE_SIZES)
def test_every_sequence_of_money_changes_ends_the_same_in_every_store(
    size, moto_endpoint, tmp_path
):
    sqlite = SqliteStore(tmp_path / "machine.sqlite3")
    sqlite.migrate()
    dynamodb = DynamoDbStore(f"machine-{uuid.uuid4().hex[:12]}")
    dynamodb.migrate()
    try:
        run_state_machine_as_test(make_machine(sqlite, dynamodb), settings=size)
    finally:
        dynamodb.db.client.delete_table(TableName=dynamodb.db.name)


@pytest.mark.parametrize("kind", ["sqlite", "dynamodb"])
def test_a_change_decided_on_an_old_version_is_stale(kind, moto_endpoint, tmp_path):
    store = (
        SqliteStore(tmp_path / "stale.sqlite3")
        if kind == "sqlite"
        else DynamoDbStore(f"stale-{uuid.uuid4().hex[:12]}")
    )
    store.migrate()
    account = Account("700999", Guarantor("Rosa", "Diaz", date(1980, 5, 1)), ())
    stmt = statement("S-stale-1", (5000,), account_number="700999")
    store.import_statement(account, stmt, NOW)
    old = store.load_book("700999")
    first = old.adjust("S-stale-1", EntryKind.ADJUSTMENT, 1000, "first", NOW)
    second = old.adjust("S-stale-1", EntryKind.ADJUSTMENT, 4500, "second", NOW)
    assert store.commit(first).outcome.value == "committed"
    assert store.commit(second).outcome.value == "stale"  # 1000 + 4500 > 5000: never both
    again = store.load_book("700999")
    assert again.version == old.version + 1
    assert balances(again.entries).due_cents == 4000
