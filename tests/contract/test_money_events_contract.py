"""The practice system's money events on every store: one per ledger entry a money change
posts, in commit order, read page by page after a cursor; paging while others write never
misses an event nor gives one twice."""

import dataclasses
import threading
import time
from datetime import date, timedelta

from portal.domain.accounts import Account
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.money_events import MoneyEvent
from portal.ports.ledger import ImportOutcome
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW, lopez_account, statement
from tests.contract.test_refund_races import another_handle
from tests.contract.test_store_contract import ACCOUNT, NEWER, OLDER, pending, records, seed


def read_all(store: Store, after: int = 0, limit: int = 3) -> tuple[list[MoneyEvent], int]:
    found: list[MoneyEvent] = []
    while True:
        page = store.money_events(after, limit)
        assert len(page.events) <= max(limit, 1) or page.position == after + 1
        if not page.events:
            assert page.position == after
            return found, after
        assert page.position > after
        found += page.events
        after = page.position


def shape(events: list[MoneyEvent]) -> list[tuple]:
    return [(e.kind, e.statement_id, e.amount_cents, e.method, e.reference) for e in events]


def money_entries(entries: tuple[LedgerEntry, ...]) -> int:
    """What the ledger's entries other than the statements' own lines add up to."""
    own = (EntryKind.CHARGE, EntryKind.INSURANCE_PAYMENT, EntryKind.ADJUSTMENT)
    return sum(
        e.amount_cents
        for e in entries
        if not (e.kind in own and e.memo == f"Statement {e.statement_id}")
    )


def test_statement_imports_are_not_events_and_an_empty_page_keeps_the_position(store: Store):
    seed(store)
    page = store.money_events(0, 10)
    assert page.events == () and page.position == 0


def test_each_money_change_posts_its_events_in_order(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 10_000))
    posting.post_payment(store, "pay_1", "ch_1", 10_000, NOW)  # 95.50 owed: 4.50 credit
    posting.post_refund(store, "pay_1", "re_1", 200, NOW + timedelta(minutes=1))
    later = statement("S-2026-000200", (1000,), date(2026, 12, 1), date(2026, 12, 31))
    assert store.import_statement(lopez_account(), later, NOW + timedelta(minutes=2)) is (
        ImportOutcome.IMPORTED
    )
    posting.post_adjustment(
        store, ACCOUNT, "S-2026-000200", EntryKind.WRITE_OFF, 500, "Small balance", NOW
    )
    posting.reverse_payment(store, "pay_1", "dispute lost", NOW + timedelta(minutes=3))

    events, position = read_all(store)

    assert shape(events[:4]) == [
        ("payment", OLDER, -3000, "card", "ch_1"),
        ("payment", NEWER, -6550, "card", "ch_1"),
        ("payment", None, -450, "card", "ch_1"),
        ("refund", None, 200, "card", "re_1"),
    ]
    assert shape(events[4:6]) == [
        ("transfer", None, 250, None, None),
        ("transfer", "S-2026-000200", -250, None, None),
    ]
    assert shape(events[6:7]) == [("write_off", "S-2026-000200", -500, None, None)]
    assert {e.kind for e in events[7:]} <= {"reversal", "transfer"}
    assert all(e.account_number == ACCOUNT for e in events)
    assert len({e.event_id for e in events}) == len(events)
    ledger = records(store).entries
    assert sum(e.amount_cents for e in events) == money_entries(ledger)
    assert events[0].occurred_at == NOW
    assert store.money_events(position, 10).events == ()
    assert store.money_events(position, 10).position == position


def test_a_later_read_starts_where_the_last_stopped(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 1000))
    posting.post_payment(store, "pay_1", "ch_1", 1000, NOW)
    first, position = read_all(store)
    store.create_payment(pending("pay_2", 500))
    posting.post_payment(store, "pay_2", "ch_2", 500, NOW)

    second, _ = read_all(store, position)

    assert shape(first) == [("payment", OLDER, -1000, "card", "ch_1")]
    assert shape(second) == [("payment", OLDER, -500, "card", "ch_2")]


def _account(number: str) -> Account:
    return dataclasses.replace(lopez_account(), account_number=number)


def test_paging_while_others_write_misses_nothing_and_repeats_nothing(store: Store):
    writers, payments_each = 3, 8
    for w in range(writers):
        number = f"70000{w}"
        owed = statement(f"S-W{w}", (100_000,), account_number=number)
        assert store.import_statement(_account(number), owed, NOW) is ImportOutcome.IMPORTED
    done = threading.Event()
    errors: list[BaseException] = []
    seen: list[list[MoneyEvent]] = [[], []]

    def write(w: int) -> None:
        handle = another_handle(store)
        try:
            for n in range(payments_each):
                payment_id = f"pay_{w}_{n}"
                handle.create_payment(pending(payment_id, 100 + n, account_number=f"70000{w}"))
                posting.post_payment(handle, payment_id, f"ch_{w}_{n}", 100 + n, NOW)
        except BaseException as exc:
            errors.append(exc)

    def read(r: int) -> None:
        handle = another_handle(store)
        position = 0
        try:
            while True:
                finished = done.is_set()
                page = handle.money_events(position, 2)
                assert page.position >= position
                seen[r] += page.events
                position = page.position
                if finished and not page.events:
                    return
                if not page.events:
                    time.sleep(0.005)
        except BaseException as exc:
            errors.append(exc)

    readers = [threading.Thread(target=read, args=(r,)) for r in range(2)]
    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for thread in readers + threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    done.set()
    for thread in readers:
        thread.join(timeout=120)
    assert not errors, errors

    expected = {
        (f"70000{w}", f"ch_{w}_{n}", -(100 + n))
        for w in range(writers)
        for n in range(payments_each)
    }
    for events in seen:
        ids = [e.event_id for e in events]
        assert len(ids) == len(set(ids)), "an event was read twice"
        assert {(e.account_number, e.reference, e.amount_cents) for e in events} == expected
    everything, _ = read_all(store, limit=500)
    assert [e.event_id for e in everything] == [e.event_id for e in seen[0]]
    assert [e.event_id for e in everything] == [e.event_id for e in seen[1]]
