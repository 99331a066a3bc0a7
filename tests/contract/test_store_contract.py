"""The Store contract: the same tests run against every Store adapter (see conftest.py)."""

import threading
from collections.abc import Callable
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.ledger import Balances, EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.ports.ledger import AccountRecords, ImportOutcome
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW, line, lopez_account, statement

ACCOUNT = "100234"
OLDER = "S-2026-000100"  # $30.00, dated 2026-09-01
NEWER = "S-2026-000123"  # $45.50 + $20.00, dated 2026-11-01
DUE = 3000 + 4550 + 2000


# -- helpers ---------------------------------------------------------------------------


def seed(store: Store, at: datetime = NOW) -> Account:
    """Account 100234 with an older $30.00 statement and a newer $65.50 one."""
    account = lopez_account()
    assert store.import_statement(account, older_statement(), at) is ImportOutcome.IMPORTED
    newer = statement(NEWER, (4550, 2000))
    assert store.import_statement(account, newer, at) is ImportOutcome.IMPORTED
    return account


def older_statement() -> Statement:
    return Statement(
        OLDER,
        ACCOUNT,
        date(2026, 9, 1),
        date(2026, 9, 30),
        (line("1", owed=3000, service_date=date(2026, 8, 14)),),
    )


def pending(
    payment_id: str,
    amount_cents: int,
    created_at: datetime = NOW,
    account_number: str = ACCOUNT,
) -> Payment:
    return Payment(
        payment_id=payment_id,
        account_number=account_number,
        amount_cents=amount_cents,
        status=PaymentStatus.PENDING,
        method="card",
        gateway="sandbox",
        created_at=created_at,
    )


def records(store: Store, account_number: str = ACCOUNT) -> AccountRecords:
    found = store.account_records(account_number)
    assert found is not None
    return found


def totals(store: Store, account_number: str = ACCOUNT) -> Balances:
    return balances(records(store, account_number).entries)


def ledger(store: Store, account_number: str = ACCOUNT) -> list[tuple]:
    """The ledger as comparable rows (entry ids differ between adapters)."""
    return [
        (e.kind, e.amount_cents, e.statement_id, e.payment_id)
        for e in records(store, account_number).entries
    ]


def payment_rows(store: Store, payment_id: str) -> list[tuple[str | None, int]]:
    return [
        (e.statement_id, e.amount_cents)
        for e in records(store).entries
        if e.payment_id == payment_id
    ]


def run_together(calls: list[Callable[[], object]]) -> list[object]:
    """Start every call at the same moment (a Barrier), each in its own thread."""
    barrier = threading.Barrier(len(calls))
    results: list[object] = [None] * len(calls)
    errors: list[BaseException] = []

    def worker(index: int, call: Callable[[], object]) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "a thread is still running"
    assert not errors, errors
    return results


# -- schema and health -----------------------------------------------------------------


def test_migrate_is_idempotent_and_returns_the_version(store: Store):
    seed(store)
    before = records(store)

    first = store.migrate()
    second = store.migrate()

    assert isinstance(first, int)
    assert first >= 1
    assert second == first
    assert records(store) == before


def test_ping_answers_when_the_store_is_ready(store: Store):
    assert store.ping() is None


# -- statements and accounts -----------------------------------------------------------


def test_import_statement_then_the_same_content_again_is_unchanged(store: Store):
    account = lopez_account()
    stmt = statement(NEWER, (4550, 2000))

    assert store.import_statement(account, stmt, NOW) is ImportOutcome.IMPORTED
    before = records(store)
    assert store.import_statement(account, stmt, NOW + timedelta(hours=1)) is (
        ImportOutcome.UNCHANGED
    )

    assert records(store) == before
    assert len([e for e in before.entries if e.kind is EntryKind.CHARGE]) == 1


def test_import_conflict_same_id_other_content_changes_nothing(store: Store):
    seed(store)
    before = records(store)
    other_account = lopez_account(email="someone.else@example.com")
    other_content = statement(NEWER, (9999,))

    outcome = store.import_statement(other_account, other_content, NOW + timedelta(days=1))

    assert outcome is ImportOutcome.CONFLICT
    assert records(store) == before
    assert store.get_statement(NEWER) == statement(NEWER, (4550, 2000))
    account = store.get_account(ACCOUNT)
    assert account is not None
    assert account.guarantor.email == "maria@example.com"


def test_import_adds_the_account_and_a_later_import_upserts_it_with_its_patients(
    store: Store,
):
    first = Account(
        account_number=ACCOUNT,
        guarantor=Guarantor("Maria", "Lopez", date(1984, 3, 12), email="old@example.com"),
        patients=(Patient("P1", "Ana", "Lopez", date(2015, 6, 2)),),
    )
    store.import_statement(first, older_statement(), NOW)
    assert store.get_account(ACCOUNT) == first

    updated = Account(
        account_number=ACCOUNT,
        guarantor=Guarantor(
            "Maria",
            "Lopez-Garcia",
            date(1984, 3, 12),
            email="maria@example.com",
            phone="+15555550123",
            preferred_language="es",
        ),
        patients=(
            Patient("P1", "Ana María", "Lopez", date(2015, 6, 2)),
            Patient("P2", "José", "Núñez-Lopez", date(2018, 1, 9)),
        ),
    )
    store.import_statement(updated, statement(NEWER, (4550,)), NOW)

    found = store.get_account(ACCOUNT)
    assert found is not None
    assert found.account_number == ACCOUNT
    assert found.guarantor == updated.guarantor
    assert sorted(found.patients, key=lambda p: p.patient_id) == list(updated.patients)


def test_unknown_ids_read_as_none(store: Store):
    seed(store)
    assert store.get_account("999999") is None
    assert store.account_records("999999") is None
    assert store.get_statement("S-0000-000000") is None
    assert store.get_payment("pay_missing") is None


def test_account_records_statements_oldest_first_with_lines_in_order(store: Store):
    account = lopez_account()
    lines = (
        line("3", owed=1000, code="99214", description="Office visit, moderate"),
        line("1", patient_id="P2", owed=2000, diagnosis_codes=("E11.65", "I10")),
        line("2", owed=0, code_system="HCPCS", code="J1100", description="Injection"),
    )
    newer = Statement(NEWER, ACCOUNT, date(2026, 11, 1), date(2026, 11, 30), lines)
    older = older_statement()
    # Imported newest first: the records still list the oldest first.
    store.import_statement(account, newer, NOW)
    store.import_statement(account, older, NOW + timedelta(minutes=1))

    found = records(store)

    assert found.account.account_number == ACCOUNT
    assert [s.statement_id for s in found.statements] == [OLDER, NEWER]
    assert found.statements[1] == newer
    assert [ln.line_id for ln in found.statements[1].lines] == ["3", "1", "2"]
    assert found.statements[0] == older


def test_account_records_hold_the_ledger_entries_of_each_statement(store: Store):
    seed(store)

    entries = records(store).entries

    by_statement = {
        (e.statement_id, e.kind): e.amount_cents for e in entries if e.payment_id is None
    }
    assert by_statement == {
        (OLDER, EntryKind.CHARGE): 12000 + 3500 + 3000,
        (OLDER, EntryKind.INSURANCE_PAYMENT): -12000,
        (OLDER, EntryKind.ADJUSTMENT): -3500,
        (NEWER, EntryKind.CHARGE): 2 * (12000 + 3500) + 4550 + 2000,
        (NEWER, EntryKind.INSURANCE_PAYMENT): -2 * 12000,
        (NEWER, EntryKind.ADJUSTMENT): -2 * 3500,
    }
    assert all(e.posted_at == NOW for e in entries)
    assert all(e.account_number == ACCOUNT for e in entries)
    assert totals(store).by_statement == {OLDER: 3000, NEWER: 6550}
    assert totals(store).due_cents == DUE


def test_account_records_list_the_accounts_payments(store: Store):
    seed(store)
    first = pending("pay_first", 1000, NOW)
    second = pending("pay_second", 2000, NOW + timedelta(minutes=5))
    store.create_payment(first)
    store.create_payment(second)
    # A payment on another account does not show up here.
    other = lopez_account()
    other = replace(other, account_number="200555")
    store.import_statement(other, statement("S-2026-000900", account_number="200555"), NOW)
    store.create_payment(pending("pay_other", 500, NOW, account_number="200555"))

    found = records(store)

    assert sorted(found.payments, key=lambda p: p.created_at) == [first, second]
    assert [p.payment_id for p in records(store, "200555").payments] == ["pay_other"]


def test_get_statement_round_trips_every_field(store: Store):
    lines = (
        line("1", owed=4550, diagnosis_codes=("J06.9", "S52.521A")),
        line(
            "2",
            patient_id="P2",
            owed=2000,
            code_system="HCPCS",
            code="J1100",
            description="Injection, dexamethasone, 1 mg",
            provider="Priya Natarajan, NP",
            service_date=date(2026, 10, 2),
        ),
    )
    stmt = Statement(NEWER, ACCOUNT, date(2026, 11, 1), date(2026, 11, 30), lines)
    store.import_statement(lopez_account(), stmt, NOW)

    assert store.get_statement(NEWER) == stmt


# -- payments --------------------------------------------------------------------------


def test_create_get_and_attach_checkout(store: Store):
    seed(store)
    payment = pending("pay_1", 2500)

    store.create_payment(payment)
    assert store.get_payment("pay_1") == payment

    store.attach_checkout("pay_1", "cs_test_1")
    assert store.get_payment("pay_1") == replace(payment, checkout_session_id="cs_test_1")


def test_post_payment_applies_to_the_oldest_statement_first(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 4000))
    at = NOW + timedelta(minutes=3)

    result = posting.post_payment(store, "pay_1", "ref-1", 4000, at)

    assert result.posted is True
    assert result.payment.payment_id == "pay_1"
    assert result.payment.status is PaymentStatus.SUCCEEDED
    assert result.payment.gateway_reference == "ref-1"
    assert result.payment.posted_at == at
    assert result.payment.amount_cents == 4000
    assert [(e.statement_id, e.amount_cents) for e in result.entries] == [
        (OLDER, -3000),
        (NEWER, -1000),
    ]
    assert all(e.kind is EntryKind.PATIENT_PAYMENT for e in result.entries)
    assert store.get_payment("pay_1") == result.payment
    assert payment_rows(store, "pay_1") == [(OLDER, -3000), (NEWER, -1000)]
    assert totals(store).by_statement == {OLDER: 0, NEWER: 5550}
    assert totals(store).due_cents == DUE - 4000


def test_second_posting_of_the_same_payment_changes_nothing(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 2500))
    first = posting.post_payment(store, "pay_1", "ref-1", 2500, NOW)
    before = records(store)

    again = posting.post_payment(store, "pay_1", "ref-1", 2500, NOW + timedelta(minutes=1))
    other_ref = posting.post_payment(store, "pay_1", "ref-2", 9000, NOW + timedelta(minutes=2))

    assert again.posted is False
    assert other_ref.posted is False
    assert again.payment == first.payment
    assert other_ref.payment == first.payment
    assert again.entries == ()
    assert records(store) == before
    assert store.get_payment("pay_1") == first.payment


def test_a_reference_already_used_by_another_payment_is_refused(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 2500))
    store.create_payment(pending("pay_2", 1000))
    posting.post_payment(store, "pay_1", "ref-shared", 2500, NOW)
    before = records(store)

    with pytest.raises(ValueError):
        posting.post_payment(store, "pay_2", "ref-shared", 1000, NOW + timedelta(minutes=1))

    assert records(store) == before
    assert store.get_payment("pay_2") == pending("pay_2", 1000)


def test_overpayment_becomes_credit_that_a_later_statement_consumes(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", DUE + 450))

    result = posting.post_payment(store, "pay_1", "ref-1", DUE + 450, NOW)

    assert result.posted is True
    assert payment_rows(store, "pay_1") == [(OLDER, -3000), (NEWER, -6550), (None, -450)]
    after_payment = totals(store)
    assert after_payment.due_cents == 0
    assert after_payment.credit_cents == 450
    assert after_payment.account_balance_cents == -450

    later = statement(
        "S-2026-000200", (3000,), date(2026, 12, 1), date(2026, 12, 31), account_number=ACCOUNT
    )
    assert store.import_statement(lopez_account(), later, NOW + timedelta(days=3)) is (
        ImportOutcome.IMPORTED
    )

    transfers = [
        (e.statement_id, e.amount_cents)
        for e in records(store).entries
        if e.kind is EntryKind.TRANSFER
    ]
    assert sorted(transfers, key=str) == sorted([(None, 450), ("S-2026-000200", -450)], key=str)
    now = totals(store)
    assert now.credit_cents == 0
    assert now.by_statement["S-2026-000200"] == 3000 - 450
    assert now.due_cents == 2550
    assert now.account_balance_cents == 2550


def test_credit_larger_than_a_new_statement_leaves_the_rest_as_credit(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", DUE + 5000))
    posting.post_payment(store, "pay_1", "ref-1", DUE + 5000, NOW)

    later = statement("S-2026-000200", (3000,), date(2026, 12, 1), date(2026, 12, 31))
    store.import_statement(lopez_account(), later, NOW + timedelta(days=3))

    now = totals(store)
    assert now.by_statement["S-2026-000200"] == 0
    assert now.credit_cents == 2000
    assert now.due_cents == 0
    assert now.account_balance_cents == -2000


@pytest.mark.parametrize("status", [PaymentStatus.FAILED, PaymentStatus.CANCELED])
def test_close_payment_moves_a_pending_payment(store: Store, status: PaymentStatus):
    seed(store)
    store.create_payment(pending("pay_1", 2500))
    before = ledger(store)

    closed = store.close_payment("pay_1", status, "Your card was declined.", NOW)

    assert closed.status is status
    assert closed.failure_message == "Your card was declined."
    assert closed.posted_at is None
    assert store.get_payment("pay_1") == closed
    assert ledger(store) == before


def test_close_payment_leaves_a_posted_payment_as_it_is(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 2500))
    posted = posting.post_payment(store, "pay_1", "ref-1", 2500, NOW).payment
    before = records(store)

    result = store.close_payment("pay_1", PaymentStatus.CANCELED, "left", NOW)

    assert result == posted
    assert result.status is PaymentStatus.SUCCEEDED
    assert store.get_payment("pay_1") == posted
    assert records(store) == before


# -- lookup throttling -----------------------------------------------------------------


def test_lookup_failures_are_counted_within_the_window(store: Store):
    key = "account:100234"
    window = timedelta(minutes=15)
    counts = [
        store.record_lookup_failure(
            key, NOW + timedelta(minutes=i), NOW + timedelta(minutes=i) - window
        )
        for i in range(3)
    ]
    assert counts == [1, 2, 3]
    # Another key has its own count.
    assert store.record_lookup_failure("address:10.0.0.1", NOW, NOW - window) == 1


def test_lookup_failures_older_than_the_window_are_not_counted(store: Store):
    key = "address:10.0.0.9"
    window = timedelta(minutes=15)
    for i in range(4):
        store.record_lookup_failure(
            key, NOW + timedelta(minutes=i), NOW + timedelta(minutes=i) - window
        )

    later = NOW + timedelta(minutes=20)
    # Failures at +0 .. +3 minutes are older than 15 minutes at +20 minutes.
    assert store.record_lookup_failure(key, later, later - window) == 1
    # The window slides: at +26 only the failure at +20 is in [+11, +26].
    last = NOW + timedelta(minutes=26)
    assert store.record_lookup_failure(key, last, last - window) == 2


def test_lock_lookups_until_a_time_then_the_lock_expires(store: Store):
    until = NOW + timedelta(minutes=15)

    assert store.lookup_locked_until("account:100234", NOW) is None
    store.lock_lookups("account:100234", until)

    assert store.lookup_locked_until("account:100234", NOW) == until
    assert store.lookup_locked_until("account:100234", NOW + timedelta(minutes=14)) == until
    assert store.lookup_locked_until("account:100234", NOW + timedelta(minutes=16)) is None
    assert store.lookup_locked_until("account:999999", NOW) is None


def test_clear_lookup_failures_resets_only_that_key(store: Store):
    window = timedelta(minutes=15)
    for _ in range(3):
        store.record_lookup_failure("account:100234", NOW, NOW - window)
        store.record_lookup_failure("address:10.0.0.1", NOW, NOW - window)

    store.clear_lookup_failures("account:100234")

    assert store.record_lookup_failure("account:100234", NOW, NOW - window) == 1
    assert store.record_lookup_failure("address:10.0.0.1", NOW, NOW - window) == 4


# -- messages --------------------------------------------------------------------------


def test_a_claim_is_taken_once_then_never_again(store: Store):
    assert store.claim("receipt", "pay_1", NOW) is True
    assert store.claim("receipt", "pay_1", NOW + timedelta(minutes=1)) is False
    # Another key or another kind is a different message.
    assert store.claim("receipt", "pay_2", NOW) is True
    assert store.claim("reminder", "pay_1", NOW) is True

    store.complete_claim("receipt", "pay_1", NOW + timedelta(minutes=2))

    assert store.claim("receipt", "pay_1", NOW + timedelta(minutes=3)) is False


def test_a_released_claim_can_be_claimed_again_but_a_sent_message_cannot(store: Store):
    assert store.claim("receipt", "pay_1", NOW) is True
    store.release_claim("receipt", "pay_1")
    assert store.claim("receipt", "pay_1", NOW) is True

    store.complete_claim("receipt", "pay_1", NOW)
    store.release_claim("receipt", "pay_1")
    assert store.claim("receipt", "pay_1", NOW) is False


# -- concurrency -----------------------------------------------------------------------

THREADS = 8


def test_concurrent_postings_of_the_same_payment_post_once(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 4000))

    results = run_together(
        [
            lambda: posting.post_payment(store, "pay_1", "ref-1", 4000, NOW + timedelta(minutes=1))
            for _ in range(THREADS)
        ]
    )

    assert sum(r.posted for r in results) == 1
    winner = next(r for r in results if r.posted)
    assert payment_rows(store, "pay_1") == [(OLDER, -3000), (NEWER, -1000)]
    assert [(e.statement_id, e.amount_cents) for e in winner.entries] == [
        (OLDER, -3000),
        (NEWER, -1000),
    ]
    assert totals(store).due_cents == DUE - 4000
    assert store.get_payment("pay_1").status is PaymentStatus.SUCCEEDED


def test_concurrent_postings_of_different_payments_lose_no_update(store: Store):
    seed(store)
    amount = 1500  # 8 x $15.00 = $120.00, more than the $95.50 due: the rest is credit
    for i in range(THREADS):
        store.create_payment(pending(f"pay_{i}", amount))

    results = run_together(
        [
            (lambda i=i: posting.post_payment(store, f"pay_{i}", f"ref-{i}", amount, NOW))
            for i in range(THREADS)
        ]
    )

    assert all(r.posted for r in results)
    paid = [e for e in records(store).entries if e.kind is EntryKind.PATIENT_PAYMENT]
    assert sum(e.amount_cents for e in paid) == -THREADS * amount
    now = totals(store)
    assert now.account_balance_cents == DUE - THREADS * amount
    assert now.by_statement == {OLDER: 0, NEWER: 0}
    assert now.due_cents == 0
    assert now.credit_cents == THREADS * amount - DUE


def test_concurrent_partial_payments_are_applied_exactly(store: Store):
    seed(store)
    amount = 1000  # 8 x $10.00 = $80.00 of the $95.50 due
    for i in range(THREADS):
        store.create_payment(pending(f"pay_{i}", amount))

    run_together(
        [
            (lambda i=i: posting.post_payment(store, f"pay_{i}", f"ref-{i}", amount, NOW))
            for i in range(THREADS)
        ]
    )

    now = totals(store)
    assert now.account_balance_cents == DUE - THREADS * amount
    assert now.by_statement == {OLDER: 0, NEWER: DUE - THREADS * amount}
    assert now.credit_cents == 0


def test_concurrent_imports_of_the_same_statement_import_once(store: Store):
    account = lopez_account()
    stmt = statement(NEWER, (4550, 2000))

    outcomes = run_together([lambda: store.import_statement(account, stmt, NOW)] * THREADS)

    assert sorted(outcomes) == sorted(
        [ImportOutcome.IMPORTED] + [ImportOutcome.UNCHANGED] * (THREADS - 1)
    )
    assert len([e for e in records(store).entries if e.kind is EntryKind.CHARGE]) == 1
    assert totals(store).due_cents == 6550


def test_concurrent_claims_of_one_message_succeed_once(store: Store):
    claims = run_together([lambda: store.claim("receipt", "pay_1", NOW)] * THREADS)

    assert claims.count(True) == 1
    assert claims.count(False) == THREADS - 1


def test_concurrent_lookup_failures_are_all_counted(store: Store):
    window = timedelta(minutes=15)
    counts = run_together(
        [lambda: store.record_lookup_failure("address:10.0.0.1", NOW, NOW - window)] * THREADS
    )

    # Each caller counts at least itself and those before it; the last counts all of them,
    # so no more than the limit get through unblocked however the calls interleave.
    assert all(count >= place for place, count in enumerate(sorted(counts), start=1))
    assert max(counts) == THREADS
    assert store.record_lookup_failure("address:10.0.0.1", NOW, NOW - window) == THREADS + 1


def test_forget_lookup_failure_takes_back_one_attempt(store: Store):
    since = NOW - timedelta(minutes=15)
    store.record_lookup_failure("address:10.0.0.7", NOW, since)
    store.record_lookup_failure("address:10.0.0.7", NOW, since)
    store.record_lookup_failure("address:10.0.0.8", NOW, since)

    store.forget_lookup_failure("address:10.0.0.7", NOW)
    store.forget_lookup_failure("address:10.0.0.7", NOW + timedelta(seconds=1))  # none then

    assert store.record_lookup_failure("address:10.0.0.7", NOW, since) == 2
    assert store.record_lookup_failure("address:10.0.0.8", NOW, since) == 2


def test_web_sessions_open_answer_and_end(store: Store):
    store.open_web_session("sid-1", "patient:100234", NOW)
    store.open_web_session("sid-2", "patient:100999", NOW)

    assert store.web_session_subject("sid-1", NOW) == "patient:100234"
    store.end_web_session("sid-1")
    assert store.web_session_subject("sid-1", NOW) is None
    assert store.web_session_subject("sid-2", NOW) == "patient:100999"
    assert store.web_session_subject("unknown", NOW) is None

    # A session opened more than a day before is over, whether or not it was ended.
    later = NOW + timedelta(days=1, seconds=1)
    store.open_web_session("sid-3", "patient:100234", later)
    assert store.web_session_subject("sid-2", later) is None
    assert store.web_session_subject("sid-3", later) == "patient:100234"


def test_attempts_and_locks_of_keys_nobody_retries_are_dropped_after_a_day(store: Store):
    window = timedelta(minutes=15)
    store.record_lookup_failure("account:sprayed-1", NOW, NOW - window)
    store.lock_lookups("account:sprayed-1", NOW + window)

    later = NOW + timedelta(days=1, minutes=30)
    store.record_lookup_failure("account:other", later, later - window)

    # The old attempt is gone: counting it again from the start of time finds only the new one.
    assert store.record_lookup_failure("account:sprayed-1", later, NOW - window) == 1
    assert store.lookup_locked_until("account:sprayed-1", NOW) is None


def test_an_account_larger_than_one_read_page_comes_back_whole(store: Store):
    """Over 1 MB in one account: DynamoDB answers a Query in pages of 1 MB at most."""
    account = lopez_account()
    # Few long lines rather than many short ones: moto's cost is per attribute, not per byte.
    wordy = "Office visit, established patient; " * 90  # about 3 KB a line
    count, per = 4, 100  # 4 statements x 100 lines x 3 KB > 1 MB (an item holds 400 KB at most)
    for n in range(count):
        lines = tuple(line(str(i + 1), owed=100, description=wordy) for i in range(per))
        big = Statement(
            f"S-BIG-{n:03d}",
            ACCOUNT,
            date(2026, 1, 1) + timedelta(days=n),
            date(2026, 12, 31),
            lines,
        )
        assert store.import_statement(account, big, NOW) is ImportOutcome.IMPORTED

    found = records(store)

    assert len(found.statements) == count
    assert all(len(s.lines) == per for s in found.statements)
    assert sum(len(s.lines[0].description) * len(s.lines) for s in found.statements) > 1_000_000
    assert totals(store).due_cents == count * per * 100
    assert store.get_statement(f"S-BIG-{count - 1:03d}").lines[-1].description == wordy


def test_accounts_due_come_from_the_index_of_what_is_owed(store: Store):
    seed(store)  # OLDER due 2026-09-30 ($30.00), NEWER due 2026-11-30 ($65.50)
    other = Account("100999", Guarantor("Paid", "Up", date(1970, 1, 1)))
    paid_up = statement("S-2026-000900", (1000,), account_number="100999")
    store.import_statement(other, paid_up, NOW)
    store.create_payment(pending("pay_other", 1000, account_number="100999"))
    posting.post_payment(store, "pay_other", "ref-other", 1000, NOW)

    due = store.accounts_due(date(2026, 10, 15))

    assert [(d.account_number, d.statement_id, d.due_date, d.due_cents) for d in due] == [
        (ACCOUNT, OLDER, date(2026, 9, 30), DUE)
    ]
    assert store.accounts_due(date(2026, 9, 29)) == []


def test_paying_the_oldest_statement_moves_the_account_to_the_next_due_date(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 3000))
    posting.post_payment(store, "pay_1", "ref-1", 3000, NOW)

    assert store.accounts_due(date(2026, 10, 15)) == []
    (due,) = store.accounts_due(date(2026, 12, 31))
    assert (due.statement_id, due.due_date, due.due_cents) == (
        NEWER,
        date(2026, 11, 30),
        DUE - 3000,
    )


def test_opting_out_of_reminders_once_and_it_survives_a_new_statement(store: Store):
    account = seed(store)

    assert store.opt_out_of_reminders(ACCOUNT, NOW)
    assert not store.opt_out_of_reminders(ACCOUNT, NOW + timedelta(days=1))
    store.import_statement(account, statement("S-2026-000777", (500,)), NOW)

    assert store.get_account(ACCOUNT).reminders_opted_out_at == NOW
    assert records(store).account.reminders_opted_out_at == NOW
    with pytest.raises(KeyError):
        store.opt_out_of_reminders("999999", NOW)


# -- unfinished claims: what the sweep finishes ---------------------------------------------


def test_unfinished_claims_are_listed_oldest_first_until_marked_sent(store: Store):
    store.claim("receipt", "pay_old", NOW - timedelta(minutes=30), payload='{"p":1}')
    store.claim("statement", "S-1", NOW - timedelta(minutes=20), payload='{"s":1}')
    store.claim("reminder", "fresh", NOW, payload="{}")
    store.claim("receipt", "pay_done", NOW - timedelta(minutes=40))
    store.complete_claim("receipt", "pay_done", NOW)

    found = store.unfinished_claims(NOW - timedelta(minutes=10))

    assert [(c.kind, c.key, c.claimed_at, c.payload) for c in found] == [
        ("receipt", "pay_old", NOW - timedelta(minutes=30), '{"p":1}'),
        ("statement", "S-1", NOW - timedelta(minutes=20), '{"s":1}'),
    ]
    assert [c.key for c in store.unfinished_claims(NOW, limit=1)] == ["pay_old"]
    store.complete_claim("receipt", "pay_old", NOW)
    assert [c.key for c in store.unfinished_claims(NOW + timedelta(seconds=1))] == ["S-1", "fresh"]


def test_a_released_claim_stays_unfinished_with_its_payload_and_is_taken_at_once(store: Store):
    assert store.claim("receipt", "pay_1", NOW, payload='{"payment_id":"pay_1"}')
    store.release_claim("receipt", "pay_1")

    [released] = store.unfinished_claims(NOW - timedelta(days=1))  # listed whatever its age
    assert (released.kind, released.key, released.claimed_at) == ("receipt", "pay_1", None)
    assert released.payload == '{"payment_id":"pay_1"}'
    assert not store.claim_completed("receipt", "pay_1")
    # Taken over at once, with or without a stale window; an empty payload keeps the old one.
    assert store.claim("receipt", "pay_1", NOW, stale_before=NOW - timedelta(hours=1))
    assert not store.claim("receipt", "pay_1", NOW)
    [taken] = store.unfinished_claims(NOW + timedelta(seconds=1))
    assert (taken.claimed_at, taken.payload) == (NOW, '{"payment_id":"pay_1"}')


def test_a_dropped_claim_is_gone_and_can_be_claimed_afresh(store: Store):
    store.claim("reminder", "100234:S-1:reminder-15", NOW, payload="{}")
    store.drop_claim("reminder", "100234:S-1:reminder-15")

    assert store.unfinished_claims(NOW + timedelta(days=1)) == []
    assert store.claim("reminder", "100234:S-1:reminder-15", NOW)
    store.complete_claim("reminder", "100234:S-1:reminder-15", NOW)
    store.drop_claim("reminder", "100234:S-1:reminder-15")  # a sent one is never dropped
    assert store.claim_completed("reminder", "100234:S-1:reminder-15")


def test_unfinished_claims_of_many_keys_are_all_listed(store: Store):
    keys = [f"pay_{n:03d}" for n in range(40)]  # spread over every shard of the listing
    for n, key in enumerate(keys):
        store.claim("receipt", key, NOW - timedelta(hours=1, seconds=n))
    store.release_claim("receipt", keys[5])

    found = [c.key for c in store.unfinished_claims(NOW)]

    assert found == [keys[5]] + [k for k in reversed(keys) if k != keys[5]]
    assert len(store.unfinished_claims(NOW, limit=7)) == 7
