"""The Plans port on both stores: a plan comes back whole, is written only over the version
it was read at, and is found by account, by its next day (the charge run) and in the staff
list, each from an index rather than every plan."""

import re
import threading
import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite.store import SqliteStore
from portal.domain.plans import (
    Agreement,
    Attempt,
    Installment,
    Outcome,
    Plan,
    PlanKind,
    SavedMethod,
    schedule,
)
from portal.ports.plans import plan_cursor
from portal.ports.store import Store
from tests.conftest import NOW

ACCOUNT = "100234"
NEW_YORK = timezone(timedelta(hours=-5))
DOC = Path(__file__).resolve().parents[2] / "docs" / "dynamodb.md"


def full_plan(plan_id: str = "plan-1", account: str = ACCOUNT, **fields) -> Plan:
    """A plan with every field set: a saved method, two agreements, tries of each outcome."""
    installments = schedule(60_001, 6, 31, date(2026, 12, 1))
    first = Agreement(
        version="plan-terms-3",
        accepted_at=datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=NEW_YORK),
        address="203.0.113.7",
        digest="ab" * 32,
        installments=installments,
    )
    again = Agreement(
        version="plan-terms-4",
        accepted_at=NOW + timedelta(days=40),
        address="2001:db8::1",
        digest="cd" * 32,
        installments=installments[2:],
    )
    attempts = (
        Attempt(1, 1, date(2026, 12, 31), Outcome.SUCCEEDED, "pay_1", "pi_1", ""),
        Attempt(2, 1, date(2027, 1, 31), Outcome.SOFT_DECLINE, "pay_2", "pi_2", "Card declined."),
        Attempt(2, 2, date(2027, 2, 3), Outcome.NEEDS_AUTHENTICATION, "pay_3", "pi_3", "Ünïcode ✓"),
        Attempt(3, 1, date(2027, 2, 28), Outcome.PROCESSING, "pay_4", "", ""),
        Attempt(4, 1, date(2027, 3, 31), Outcome.HARD_DECLINE, "pay_5", "pi_5", "Stolen card."),
    )
    values = dict(
        plan_id=plan_id,
        account_number=account,
        kind=PlanKind.INSTALLMENTS,
        day=31,
        created_at=datetime(2026, 11, 28, 10, 0, 0, 654321, tzinfo=NEW_YORK),
        installments=installments,
        agreements=(first, again),
        method=SavedMethod("pm_1", "cus_1", "card", "visa", "4242"),
        attempts=attempts,
        skipped=(5,),
        statement_ids=("S-2026-000123", "S-2026-000124"),
        canceled_at=NOW + timedelta(days=90, microseconds=1),
        cancel_reason="Paid at the front desk.",
        defaulted_at=NOW + timedelta(days=100),
        next_on=date(2027, 4, 3),
        version=0,
    )
    values.update(fields)
    return Plan(**values)  # type: ignore[arg-type]


def bare_plan(plan_id: str, created_at: datetime = NOW, **fields) -> Plan:
    """A plan with every optional field at its default (None, empty)."""
    values = dict(
        plan_id=plan_id,
        account_number=ACCOUNT,
        kind=PlanKind.AUTOPAY,
        day=0,
        created_at=created_at,
    )
    values.update(fields)
    return Plan(**values)  # type: ignore[arg-type]


def another_handle(store: Store) -> Store:
    """The same store as a second server opens it (its own connections)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, DynamoDbStore)
    return DynamoDbStore(store.db.name, shards=store.shards)


def assert_utc(plan: Plan) -> None:
    moments = [plan.created_at, plan.canceled_at, plan.defaulted_at]
    moments += [a.accepted_at for a in plan.agreements]
    for moment in moments:
        assert moment is None or moment.utcoffset() == timedelta(0), moment


# -- a plan comes back whole ------------------------------------------------------------


def test_a_full_plan_reads_back_whole_from_every_read(store: Store):
    plan = full_plan()
    assert store.add_plan(plan) is True

    got = store.get_plan("plan-1")
    assert got == plan
    assert got is not None
    assert_utc(got)
    assert got.created_at == datetime(2026, 11, 28, 15, 0, 0, 654321, tzinfo=UTC)
    assert isinstance(got.installments, tuple) and isinstance(got.attempts, tuple)
    assert isinstance(got.agreements[1].installments, tuple)
    assert got.method is not None and got.method.label == "Visa ending in 4242"
    assert got.amount_cents == 60_001
    assert store.account_plans(ACCOUNT) == [plan]
    assert store.list_plans() == [plan]
    assert store.plans_due(date(2027, 4, 3)) == [plan]


def test_a_plan_with_nothing_optional_reads_back_with_none_and_empty(store: Store):
    plan = bare_plan("plan-bare")
    store.add_plan(plan)

    got = store.get_plan("plan-bare")
    assert got == plan
    assert got is not None
    assert (got.method, got.canceled_at, got.defaulted_at, got.next_on) == (None,) * 4
    assert got.installments == got.agreements == got.attempts == got.skipped == ()
    assert got.cancel_reason == ""


def test_an_unknown_plan_is_none_and_an_account_without_plans_has_none(store: Store):
    assert store.get_plan("nope") is None
    assert store.account_plans(ACCOUNT) == []
    assert store.list_plans() == []
    assert store.plans_due(date(2099, 1, 1)) == []


texts = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
moments = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.sampled_from([UTC, NEW_YORK, timezone(timedelta(hours=5, minutes=30))]),
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))
installment_lists = st.lists(
    st.builds(Installment, st.integers(1, 24), days, st.integers(1, 10**9)), max_size=24
).map(tuple)
plans = st.builds(
    Plan,
    plan_id=st.just("generated"),  # the test gives each its own: the store outlives examples
    account_number=st.sampled_from([ACCOUNT, "100235"]),
    kind=st.sampled_from(PlanKind),
    day=st.integers(0, 31),
    created_at=moments,
    installments=installment_lists,
    agreements=st.lists(
        st.builds(Agreement, texts, moments, texts, texts, installment_lists), max_size=3
    ).map(tuple),
    method=st.none() | st.builds(SavedMethod, texts, texts, texts, texts, texts),
    attempts=st.lists(
        st.builds(
            Attempt,
            st.integers(1, 24),
            st.integers(1, 3),
            days,
            st.sampled_from(Outcome),
            texts,
            texts,
            texts,
        ),
        max_size=72,
    ).map(tuple),
    skipped=st.lists(st.integers(1, 24), max_size=3).map(tuple),
    statement_ids=st.lists(texts, max_size=4).map(tuple),
    canceled_at=st.none() | moments,
    cancel_reason=texts,
    defaulted_at=st.none() | moments,
    next_on=st.none() | days,
    version=st.integers(0, 10**6),
)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans)
def test_any_plan_reads_back_as_it_was_written(store: Store, plan: Plan):
    plan = replace(plan, plan_id=uuid.uuid4().hex)
    assert store.add_plan(plan) is True
    got = store.get_plan(plan.plan_id)
    assert got == plan
    assert got is not None
    assert_utc(got)
    assert plan in store.account_plans(plan.account_number)

    saved = store.save_plan(replace(plan, cancel_reason=plan.cancel_reason + "!"))
    assert saved is not None
    assert store.get_plan(plan.plan_id) == saved


# -- written once, and only over the version read ----------------------------------------


def test_adding_a_plan_id_again_is_refused_and_writes_nothing(store: Store):
    first = full_plan()
    assert store.add_plan(first) is True

    assert store.add_plan(bare_plan("plan-1")) is False
    assert store.add_plan(full_plan(account="100999", cancel_reason="other")) is False

    assert store.get_plan("plan-1") == first
    assert store.account_plans("100999") == []
    assert store.list_plans() == [first]


def test_saving_bumps_the_version_and_writes_every_change(store: Store):
    plan = bare_plan("plan-1", next_on=date(2026, 12, 1))
    store.add_plan(plan)
    changed = replace(
        plan,
        method=SavedMethod("pm_9", "cus_9", "us_bank_account", "Chase", "6789"),
        attempts=(Attempt(1, 1, date(2026, 12, 1), Outcome.PROCESSING, "pay_9"),),
        next_on=date(2026, 12, 4),
    )

    saved = store.save_plan(changed)

    assert saved == replace(changed, version=1)
    assert store.get_plan("plan-1") == saved
    assert saved is not None
    again = store.save_plan(replace(saved, next_on=None, cancel_reason="done"))
    assert again is not None and again.version == 2
    assert store.get_plan("plan-1") == again
    assert store.account_plans(ACCOUNT) == [again]


def test_a_save_over_a_stale_version_is_refused_and_writes_nothing(store: Store):
    plan = bare_plan("plan-1", next_on=date(2026, 12, 1))
    store.add_plan(plan)
    first = store.save_plan(replace(plan, cancel_reason="first"))
    assert first is not None

    assert store.save_plan(replace(plan, cancel_reason="stale", next_on=None)) is None
    assert store.save_plan(replace(first, version=5, cancel_reason="ahead")) is None

    assert store.get_plan("plan-1") == first
    assert store.plans_due(date(2026, 12, 1)) == [first]


def test_saving_a_plan_never_added_writes_nothing(store: Store):
    assert store.save_plan(bare_plan("ghost")) is None
    assert store.get_plan("ghost") is None
    assert store.list_plans() == []


def test_a_save_that_moves_the_plan_to_another_account_is_refused(store: Store):
    plan = bare_plan("plan-1")
    store.add_plan(plan)

    assert store.save_plan(replace(plan, account_number="100999")) is None

    assert store.get_plan("plan-1") == plan
    assert store.account_plans("100999") == []
    assert store.list_plans() == [plan]


def test_two_servers_saving_the_same_version_at_once_one_wins(store: Store):
    other = another_handle(store)
    plan = bare_plan("plan-1", next_on=date(2026, 12, 1))
    store.add_plan(plan)
    assert other.get_plan("plan-1") == plan  # each handle has its connection or client

    for round_ in range(5):
        read = store.get_plan("plan-1")
        assert read is not None
        together = threading.Barrier(2)
        results: dict[str, Plan | None] = {}

        def save(
            handle: Store,
            name: str,
            read: Plan = read,
            together: threading.Barrier = together,
            results: dict[str, Plan | None] = results,
            round_: int = round_,
        ) -> None:
            together.wait()
            results[name] = handle.save_plan(replace(read, cancel_reason=f"{name} {round_}"))

        threads = [
            threading.Thread(target=save, args=(handle, name))
            for handle, name in ((store, "one"), (other, "two"))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        winners = [r for r in results.values() if r is not None]
        assert len(results) == 2 and len(winners) == 1, results
        assert winners[0].version == read.version + 1
        assert store.get_plan("plan-1") == winners[0]


# -- found by account, by next day, and in the staff list --------------------------------


def test_an_accounts_plans_are_its_own_newest_first(store: Store):
    older = bare_plan("plan-b", NOW - timedelta(days=30))
    same_time_low, same_time_high = bare_plan("plan-a", NOW), bare_plan("plan-c", NOW)
    # Later in New York's clock text, earlier as an instant: the order is by instant.
    newest = bare_plan("plan-0", (NOW + timedelta(hours=1)).astimezone(NEW_YORK))
    elsewhere = bare_plan("plan-z", NOW + timedelta(days=1), account_number="100235")
    for plan in (same_time_low, elsewhere, older, newest, same_time_high):
        store.add_plan(plan)

    assert [p.plan_id for p in store.account_plans(ACCOUNT)] == [
        "plan-0",
        "plan-c",
        "plan-a",
        "plan-b",
    ]
    assert store.account_plans("100235") == [elsewhere]


def test_plans_due_are_those_with_a_next_day_by_then_by_day_then_id(store: Store):
    on = date(2026, 12, 10)
    due = {
        "p-3": on,
        "p-1": on,
        "p-2": date(2026, 12, 1),
        "p-9": date(2026, 1, 1),
    }
    later = {"p-0": on + timedelta(days=1), "p-5": date(2027, 6, 1)}
    for plan_id, next_on in {**due, **later}.items():
        store.add_plan(bare_plan(plan_id, next_on=next_on))
    store.add_plan(bare_plan("p-none", next_on=None))

    assert [p.plan_id for p in store.plans_due(on)] == ["p-9", "p-2", "p-1", "p-3"]
    assert [p.plan_id for p in store.plans_due(on, limit=3)] == ["p-9", "p-2", "p-1"]
    assert [p.plan_id for p in store.plans_due(on, limit=1)] == ["p-9"]
    assert store.plans_due(on, limit=0) == []
    assert store.plans_due(date(2025, 12, 31)) == []
    assert len(store.plans_due(date(2099, 1, 1))) == 6


def test_a_plan_leaves_the_due_list_when_its_next_day_is_cleared_or_moved(store: Store):
    on = date(2026, 12, 10)
    for plan_id in ("p-1", "p-2", "p-3"):
        store.add_plan(bare_plan(plan_id, next_on=on))
    one, two, three = store.plans_due(on)

    store.save_plan(replace(one, next_on=None))
    store.save_plan(replace(two, next_on=on + timedelta(days=3)))
    moved_back = store.save_plan(replace(three, next_on=on - timedelta(days=9)))

    assert store.plans_due(on) == [moved_back]
    assert [p.plan_id for p in store.plans_due(on + timedelta(days=3))] == ["p-3", "p-2"]
    assert [p.plan_id for p in store.list_plans()] == ["p-3", "p-2", "p-1"]


def test_the_staff_list_pages_through_every_plan_once_newest_first(store: Store):
    plans = []
    for n in range(13):
        # Pairs share an instant (the id orders them); one is given in New York's time.
        created = NOW - timedelta(hours=n // 2)
        if n == 7:
            created = created.astimezone(NEW_YORK)
        account = ACCOUNT if n % 3 else "100235"
        plans.append(bare_plan(f"plan-{n:02d}", created, account_number=account))
    for plan in reversed(plans):
        assert store.add_plan(plan)
    newest_first = sorted(plans, key=lambda p: (p.created_at, p.plan_id), reverse=True)

    pages, before = [], None
    for _ in range(len(plans) + 1):  # a cursor that does not move on fails, not loops
        page = store.list_plans(limit=5, before=before)
        if not page:
            break
        assert len(page) <= 5
        pages.append(page)
        before = plan_cursor(page[-1])

    assert [len(p) for p in pages] == [5, 5, 3]
    assert [p for page in pages for p in page] == newest_first
    assert store.list_plans(limit=100) == newest_first
    assert store.list_plans(limit=0) == []
    assert store.list_plans(before=plan_cursor(newest_first[-1])) == []


def test_the_cursor_is_the_creation_instant_in_utc_then_the_id():
    plan = bare_plan("plan-7", datetime(2026, 11, 28, 10, 0, tzinfo=NEW_YORK))
    assert plan_cursor(plan) == "2026-11-28T15:00:00.000000+00:00#plan-7"


# -- from an index, never every plan -----------------------------------------------------


def test_sqlite_reads_plans_by_index(tmp_path: Path):
    store = SqliteStore(tmp_path / "plans.sqlite3")
    store.migrate()
    with store._read() as conn:
        plans = {
            "due": conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM plans WHERE next_on IS NOT NULL"
                " AND next_on <= ? ORDER BY next_on, plan_id LIMIT ?",
                ("2026-12-01", 500),
            ).fetchall(),
            "staff": conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM plans WHERE (created_at, plan_id) < (?, ?)"
                " ORDER BY created_at DESC, plan_id DESC LIMIT ?",
                ("2026-12-01", "p", 100),
            ).fetchall(),
            "account": conn.execute(
                "EXPLAIN QUERY PLAN SELECT * FROM plans WHERE account_number = ?"
                " ORDER BY created_at DESC, plan_id DESC",
                (ACCOUNT,),
            ).fetchall(),
        }
    details = {name: " / ".join(row["detail"] for row in rows) for name, rows in plans.items()}
    assert "USING INDEX plans_due" in details["due"], details
    assert "USING INDEX plans_by_age" in details["staff"], details
    assert "USING INDEX plans_by_account" in details["account"], details
    for detail in details.values():
        assert "TEMP B-TREE" not in detail and not re.search(r"SCAN plans\b(?! USING)", detail)


def test_the_sqlite_reads_are_the_queries_the_store_makes():
    """The queries checked above, as the store module writes them."""
    source = (Path(__file__).resolve().parents[2] / "portal/adapters/sqlite/plans.py").read_text()
    for query in (
        "WHERE next_on IS NOT NULL AND next_on <= ?",
        '" ORDER BY next_on, plan_id LIMIT ?"',
        "WHERE (created_at, plan_id) < (?, ?)",
        '"SELECT * FROM plans WHERE account_number = ?"',
    ):
        assert query in source


class CallLog:
    def __init__(self, client):
        self.calls: list[tuple[str, str]] = []
        client.meta.events.register("before-parameter-build.dynamodb", self.record)

    def record(self, model, params, **kwargs):
        self.calls.append((model.name, params.get("IndexName", "")))

    def during(self, action) -> list[tuple[str, str]]:
        self.calls.clear()
        action()
        return list(self.calls)


def documented_plan_calls() -> str:
    match = re.search(r"^\| payment plans \|.*\| ([^|]+) \|$", DOC.read_text(), re.MULTILINE)
    assert match, "docs/dynamodb.md states no calls for payment plans"
    return match.group(1).strip()


def test_dynamodb_plans_cost_what_the_design_states_and_never_scan(moto_endpoint, request):
    store = DynamoDbStore(f"plans-{uuid.uuid4().hex[:12]}")
    store.migrate()
    request.addfinalizer(lambda: store.db.client.delete_table(TableName=store.db.name))
    for n in range(30):
        store.add_plan(
            bare_plan(f"p-{n:02d}", NOW + timedelta(minutes=n), next_on=date(2026, 12, 1))
        )
    log = CallLog(store.db.client)
    plan = full_plan()

    costs = [
        log.during(lambda: store.add_plan(plan)),
        log.during(lambda: store.get_plan("plan-1")),
        log.during(lambda: store.account_plans(ACCOUNT)),
        log.during(lambda: store.save_plan(plan)),
        log.during(lambda: store.plans_due(date(2026, 12, 1), limit=10)),
        log.during(lambda: store.list_plans(limit=10, before=plan_cursor(plan))),
    ]

    assert costs == [
        [("TransactWriteItems", "")],
        [("GetItem", ""), ("GetItem", "")],
        [("Query", "")],
        [("PutItem", "")],
        [("Query", "GSI2")],
        [("Query", "GSI3")],
    ]
    assert documented_plan_calls() == "; ".join(str(len(c)) for c in costs)
