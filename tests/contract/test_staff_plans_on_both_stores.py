"""The staff side of payment plans on every store: a supervisor's skip saved over the plan's
version and left alone by the charge run, the list of plans read through list_plans' cursor
in batches and paged by status, and the plans of a month."""

import dataclasses
from datetime import date, timedelta

import pytest

import portal.services.staff_plans as staff_plans
from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.errors import InvalidInput
from portal.domain.plans import Installment, Plan, PlanKind, PlanStatus
from portal.domain.staff import AuditAction
from portal.domain.statements import Statement
from portal.services.staff_plans import plan_list, plans_in_month, skip_installment
from tests.conftest import NOW, line
from tests.plan_helpers import GOOD_CARD, run_on, set_up_plan

NUMBER = "620001"


@pytest.fixture
def services(store, settings, clock):
    built = dataclasses.replace(build_services(settings, clock=clock), store=store)
    account = Account(NUMBER, Guarantor("Sam", "Staffer", date(1980, 2, 2), email="s@example.com"))
    due = date(2026, 12, 20)
    statement = Statement(f"S-{NUMBER}", NUMBER, date(2026, 11, 20), due, (line("1", owed=30_000),))
    store.import_statement(account, statement, NOW - timedelta(days=1))
    return built


def set_up(services, card: str = GOOD_CARD, **kwargs) -> Plan:
    return set_up_plan(services, NUMBER, card=card, **kwargs)


def test_a_skip_is_saved_audited_and_not_charged(services):
    plan = set_up(services)
    saved = skip_installment(services, "sue", NUMBER, plan.plan_id, "2", "Hardship", "10.1.2.3")
    assert saved.skipped == (2,) and services.store.get_plan(plan.plan_id) == saved
    [entry] = services.store.audit_entries(account_number=NUMBER, limit=5)
    assert entry.action is AuditAction.SKIP_INSTALLMENT and "Hardship" in entry.subject
    with pytest.raises(InvalidInput, match="already skipped"):
        skip_installment(services, "sue", NUMBER, plan.plan_id, "2", "Again", "10.1.2.3")
    assert services.store.get_plan(plan.plan_id) == saved

    for day in (date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)):
        run_on(services, day)
    stored = services.store.get_plan(plan.plan_id)
    assert [a.installment for a in stored.attempts] == [1, 3] and stored.next_on is None

    # The month's plan installments: the payments its tries were made as.
    january, february = (
        plans_in_month(services, date(2027, 1, 1)),
        plans_in_month(services, date(2027, 2, 1)),
    )
    assert (january.installments_count, january.installments_cents) == (0, 0)
    assert february.installments_count == 1
    assert february.installments_cents == plan.installments[2].amount_cents
    assert february.by_status[PlanStatus.PAID_OFF] == 1


def test_the_plan_list_reads_every_plan_in_batches_and_pages_by_status(services, monkeypatch):
    monkeypatch.setattr(staff_plans, "LIST_BATCH", 2)
    plans = []
    for n in range(7):
        plan = Plan(
            f"plan_both_{n}",
            NUMBER,
            PlanKind.INSTALLMENTS,
            1,
            NOW - timedelta(hours=n),  # plan 0 is the newest
            (Installment(1, date(2027, 1, 1), 5_000), Installment(2, date(2027, 2, 1), 5_001)),
            canceled_at=NOW if n % 3 == 0 else None,
        )
        assert services.store.add_plan(plan)
        plans.append(plan)

    everything = plan_list(services, page_size=3)
    assert [v.plan.plan_id for v in everything.rows] == [
        "plan_both_0",
        "plan_both_1",
        "plan_both_2",
    ]
    assert everything.totals[PlanStatus.CANCELED].count == 3
    assert everything.totals[PlanStatus.CURRENT].count == 4
    assert everything.total.scheduled_cents == 7 * 10_001

    pages, before = [], None
    while True:
        page = plan_list(services, PlanStatus.CURRENT, before, page_size=2)
        pages.append([v.plan.plan_id for v in page.rows])
        if page.next_before is None:
            break
        before = page.next_before
    assert pages == [["plan_both_1", "plan_both_2"], ["plan_both_4", "plan_both_5"]]
