"""The Cases port on both stores: a case comes back whole, is written only over the version
it was read at, and is found by account, in the open queue (by due date), among the cases
whose hold still matters to the reminder run, and by the month it was opened."""

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

from portal.domain.cases import (
    Assistance,
    Case,
    CaseMessage,
    MessageKind,
    Outcome,
    Reason,
    Status,
    add_message,
    resolve,
)
from portal.domain.staff import AuditAction, AuditEntry
from portal.ports.store import Store
from tests.conftest import NOW

ACCOUNT = "100234"


def question(case_id: str = "c-1", account: str = ACCOUNT, **fields) -> Case:
    values = dict(
        case_id=case_id,
        account_number=account,
        reason=Reason.INSURANCE_SHOULD_PAY,
        opened_at=NOW,
        due_on=date(2026, 12, 8),
        statement_id="S-1",
        line_id="2",
        messages=(CaseMessage(MessageKind.QUESTION, "patient", "Ünïcode ✓\nline two", NOW, "k1"),),
    )
    values.update(fields)
    return Case(**values)


def test_a_case_comes_back_whole(store: Store):
    answered = add_message(
        question(),
        CaseMessage(MessageKind.REPLY, "alice", "We asked the insurer.", NOW + timedelta(hours=3)),
    )
    done = resolve(
        answered,
        Outcome.CORRECTION,
        CaseMessage(MessageKind.RESOLUTION, "alice", "Corrected.", NOW + timedelta(days=1)),
        cents=1234,
    )
    assert store.add_case(done)
    assert store.get_case("c-1") == done
    assistance = question(
        "c-2",
        reason=Reason.FINANCIAL_ASSISTANCE,
        statement_id=None,
        line_id=None,
        assistance=Assistance(4, "25k_50k"),
        hold_until=NOW + timedelta(days=30),
        owner="bob",
        asked_by='["P2"]',
    )
    assert store.add_case(assistance)
    assert store.get_case("c-2") == assistance
    assert store.get_case("nope") is None


def test_an_id_is_added_once(store: Store):
    assert store.add_case(question())
    assert not store.add_case(question(reason=Reason.OTHER))
    assert store.get_case("c-1").reason is Reason.INSURANCE_SHOULD_PAY


def test_a_save_needs_the_version_read(store: Store):
    store.add_case(question())
    read = store.get_case("c-1")
    first = store.save_case(replace(read, owner="alice"))
    assert first is not None and first.version == 1
    assert store.save_case(replace(read, owner="bob")) is None  # a stale read
    assert store.get_case("c-1").owner == "alice"
    assert store.get_case("c-1").version == 1
    assert store.save_case(replace(question("ghost"), version=0)) is None


def test_an_account_sees_only_its_own_cases_newest_first(store: Store):
    store.add_case(question("c-1"))
    store.add_case(question("c-2", opened_at=NOW + timedelta(hours=1)))
    store.add_case(question("c-3", account="999999"))
    assert [c.case_id for c in store.account_cases(ACCOUNT)] == ["c-2", "c-1"]
    assert [c.case_id for c in store.account_cases("999999")] == ["c-3"]
    assert store.account_cases("000000") == []


def test_the_open_queue_is_by_due_date_and_leaves_out_resolved_cases(store: Store):
    store.add_case(question("c-1", due_on=date(2026, 12, 10)))
    store.add_case(question("c-2", due_on=date(2026, 12, 7)))
    store.add_case(question("c-3", due_on=date(2026, 12, 1)))
    read = store.get_case("c-3")
    store.save_case(
        resolve(
            read,
            Outcome.NO_CHANGE,
            CaseMessage(MessageKind.RESOLUTION, "alice", "Right as billed.", NOW),
        )
    )
    assert [c.case_id for c in store.open_cases()] == ["c-2", "c-1"]


def test_holding_cases_are_the_open_and_the_lately_resolved(store: Store):
    store.add_case(question("c-open"))
    for case_id, at in (("c-old", NOW - timedelta(days=200)), ("c-new", NOW - timedelta(days=2))):
        store.add_case(question(case_id, opened_at=at - timedelta(days=1)))
        store.save_case(
            resolve(
                store.get_case(case_id),
                Outcome.NO_CHANGE,
                CaseMessage(MessageKind.RESOLUTION, "alice", "As billed.", at),
            )
        )
    found = store.holding_cases(NOW - timedelta(days=120))
    assert [c.case_id for c in found] == ["c-new", "c-open"]
    assert {c.case_id: c.status for c in found}["c-new"] is Status.RESOLVED


def test_cases_opened_in_a_range_across_months(store: Store):
    times = {
        "c-oct": datetime(2026, 10, 31, 23, 59, tzinfo=UTC),
        "c-nov": datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
        "c-nov2": datetime(2026, 11, 30, 12, 0, tzinfo=UTC),
        "c-dec": datetime(2026, 12, 1, 0, 0, tzinfo=UTC),
    }
    for case_id, at in times.items():
        store.add_case(question(case_id, opened_at=at))
    found = store.cases_opened(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC))
    assert [c.case_id for c in found] == ["c-nov", "c-nov2"]
    wide = store.cases_opened(datetime(2026, 10, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert [c.case_id for c in wide] == ["c-oct", "c-nov", "c-nov2", "c-dec"]


def test_a_staff_change_is_audited_in_the_same_write_only_when_it_is_saved(store: Store):
    store.add_case(question())
    read = store.get_case("c-1")
    entry = AuditEntry(NOW, "alice", AuditAction.ASSIGN_CASE, ACCOUNT, "c-1 owner=alice", "::1")
    assert store.save_case(replace(read, owner="alice"), entry) is not None
    stale = AuditEntry(NOW, "bob", AuditAction.ASSIGN_CASE, ACCOUNT, "c-1 owner=bob", "::1")
    assert store.save_case(replace(read, owner="bob"), stale) is None
    found = store.audit_entries(account_number=ACCOUNT)
    assert [(e.actor, e.action, e.subject) for e in found] == [
        ("alice", AuditAction.ASSIGN_CASE, "c-1 owner=alice")
    ]
