"""The daily charge run of payment plans on every store, with the sandbox's saved methods:
each installment charged once on its day, retried after a soft decline, left to the patient
when the card needs them, defaulted after two missed; reruns, overlapping runs and a run
that died half way charge nothing twice."""

import dataclasses
import threading
from collections import Counter
from datetime import date, timedelta
from email import message_from_bytes, policy

import pytest

from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.aging import practice_midnight
from portal.domain.payments import PaymentStatus
from portal.domain.plan_terms import text_digest
from portal.domain.plans import Outcome, Plan, PlanStatus
from portal.domain.statements import Statement
from portal.domain.viewers import Viewer
from portal.services.accounts import account_view
from portal.services.plan_charges import PLAN_CHARGE_CLAIM, run_plan_charges
from portal.services.plans import (
    agree,
    finish_method_setup,
    plan_view,
    start_method_setup,
    status_of,
)
from portal.services.sweep import sweep_claims
from tests.conftest import NOW, line
from tests.plan_helpers import GOOD_CARD, counts, run_on, set_up_plan

NUMBER = "610001"
OWED = 30_000  # $300.00: three installments of $100.00
GOOD, ALWAYS_DECLINED, NEEDS_YOU = "4242424242424242", "4000000000000341", "4000002500003155"


@pytest.fixture
def services(store, settings, clock):
    built = dataclasses.replace(build_services(settings, clock=clock), store=store)
    account = Account(
        NUMBER, Guarantor("Pat", "Planner", date(1980, 2, 2), email="pat@example.com")
    )
    due = date(2026, 12, 20)
    statement = Statement(f"S-{NUMBER}", NUMBER, date(2026, 11, 20), due, (line("1", owed=OWED),))
    store.import_statement(account, statement, NOW - timedelta(days=1))
    return built


def plan_payments(services, plan_id: str) -> list:
    plan = services.store.get_plan(plan_id)
    found = [services.store.get_payment(a.payment_id) for a in plan.attempts]
    return [p for p in found if p is not None]


def kinds(outbox) -> Counter:
    return Counter(
        message_from_bytes(p.read_bytes(), policy=policy.default)["X-Portal-Message-Kind"]
        for p in outbox.glob("*.eml")
    )


def set_up(services, card: str = GOOD_CARD, **kwargs) -> Plan:
    return set_up_plan(services, NUMBER, card=card, **kwargs)


def test_the_schedule_is_charged_once_each_month_and_reruns_charge_nothing(services, outbox):
    plan = set_up(services)
    assert [i.amount_cents for i in plan.installments] == [10_000] * 3
    assert [i.due_on for i in plan.installments] == [
        date(2026, 12, 1),
        date(2027, 1, 1),
        date(2027, 2, 1),
    ]
    assert kinds(outbox)["plan-agreement"] == 1
    assert counts(run_on(services, date(2026, 11, 30))) == (0, 0, 0, 0)  # nothing due yet

    for month, day in enumerate((date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)), 1):
        assert counts(run_on(services, day)) == (1, 0, 0, 0)
        for _ in range(3):
            assert counts(run_on(services, day)) == (0, 0, 0, 0)
        assert account_view(services, NUMBER).due_cents == OWED - 10_000 * month

    stored = services.store.get_plan(plan.plan_id)
    assert status_of(services, stored) is PlanStatus.PAID_OFF and stored.next_on is None
    paid = plan_payments(services, plan.plan_id)
    assert [(p.status, p.amount_cents) for p in paid] == [(PaymentStatus.SUCCEEDED, 10_000)] * 3
    assert len({p.gateway_reference for p in paid}) == 3
    assert kinds(outbox)["receipt"] == 3


def test_a_dry_run_counts_and_charges_nothing(services):
    plan = set_up(services)
    assert counts(run_on(services, date(2026, 12, 1), dry_run=True)) == (1, 0, 0, 0)
    assert services.store.get_plan(plan.plan_id).attempts == ()
    assert account_view(services, NUMBER).due_cents == OWED


def test_a_soft_decline_is_tried_on_days_3_and_7_and_two_missed_default_the_plan(services, outbox):
    plan = set_up(services, ALWAYS_DECLINED)
    tried = []
    for day in range(0, 45):
        summary = run_on(services, date(2026, 12, 1) + timedelta(days=day))
        if summary.failed or summary.defaulted:
            tried.append((day, summary.failed, summary.defaulted))
    # December 1, 4 and 8; January 1, 4 and 8: the sixth failure is the second miss.
    assert tried == [(0, 1, 0), (3, 1, 0), (7, 1, 0), (31, 1, 0), (34, 1, 0), (38, 1, 1)]
    stored = services.store.get_plan(plan.plan_id)
    assert stored.defaulted_at is not None and stored.next_on is None
    assert status_of(services, stored) is PlanStatus.DEFAULTED
    assert [a.outcome for a in stored.attempts] == [Outcome.SOFT_DECLINE] * 6
    assert account_view(services, NUMBER).due_cents == OWED
    items = services.store.escalations(account_number=NUMBER)
    assert [i.key for i in items] == [f"plan-defaulted:{plan.plan_id}"]
    assert all(p.status is PaymentStatus.FAILED for p in plan_payments(services, plan.plan_id))


def test_a_card_that_needs_the_patient_is_not_tried_again(services):
    plan = set_up(services, NEEDS_YOU)
    assert counts(run_on(services, date(2026, 12, 1))) == (0, 1, 0, 0)
    for day in (4, 8):
        assert counts(run_on(services, date(2026, 12, day))) == (0, 0, 0, 0)
    stored = services.store.get_plan(plan.plan_id)
    assert [a.outcome for a in stored.attempts] == [Outcome.NEEDS_AUTHENTICATION]
    assert plan_view(services, stored).installments[0].state == "needs-you"
    run_on(services, date(2026, 12, 9))  # past the last try's day: missed
    assert plan_view(services, stored).installments[0].state == "missed"


def test_a_lower_balance_shortens_the_plan_and_a_paid_balance_ends_it(services):
    plan = set_up(services)
    assert counts(run_on(services, date(2026, 12, 1))) == (1, 0, 0, 0)
    from portal.domain.ledger import EntryKind
    from portal.services import ledger as posting

    # Insurance paid more: $150.00 of the $200.00 left comes off.
    posting.post_adjustment(
        services.store, NUMBER, f"S-{NUMBER}", EntryKind.ADJUSTMENT, 15_000, "insurance", NOW
    )
    assert counts(run_on(services, date(2027, 1, 1))) == (1, 0, 0, 0)
    stored = services.store.get_plan(plan.plan_id)
    assert sum(i.amount_cents for i in stored.installments) == 15_000
    assert account_view(services, NUMBER).due_cents == 0
    assert status_of(services, stored) is PlanStatus.PAID_OFF
    assert counts(run_on(services, date(2027, 2, 1))) == (0, 0, 0, 0)


def test_two_runs_at_once_charge_each_installment_once(services):
    plan = set_up(services)
    day = date(2026, 12, 1)
    at = practice_midnight(day, services.settings.tz) + timedelta(hours=12)
    services.clock._at = at
    results = []
    start = threading.Barrier(2)

    def run():
        start.wait()
        results.append(run_plan_charges(services, at))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.charged for r in results) == 1
    assert account_view(services, NUMBER).due_cents == OWED - 10_000
    assert len(plan_payments(services, plan.plan_id)) == 1


def test_a_run_that_died_after_the_charge_is_finished_by_the_sweep_once(services, monkeypatch):
    """Killed right after the processor charged the card (before anything was posted or
    kept): the try's claim stays held; the sweep, once it is stale, makes the same try with
    the same key, and the processor answers with the charge it made."""
    plan = set_up(services)
    from portal.services import plan_charges

    class Killed(BaseException):
        pass

    real = plan_charges.apply_event_once

    def die(*args, **kwargs):
        raise Killed

    monkeypatch.setattr(plan_charges, "apply_event_once", die)
    monkeypatch.setattr(services.store, "release_claim", lambda *a: None)  # a kill releases nothing
    with pytest.raises(Killed):
        plan_charges.charge_once(
            services,
            plan.plan_id,
            plan_charges.charges_due(plan.installments, (), date(2026, 12, 1))[0],
            date(2026, 12, 1),
        )
    monkeypatch.setattr(plan_charges, "apply_event_once", real)
    monkeypatch.undo()
    assert account_view(services, NUMBER).due_cents == OWED

    services.clock.advance(minutes=11)  # the claim is stale
    swept = sweep_claims(services, date(2026, 12, 1))
    assert swept.done >= 1
    assert account_view(services, NUMBER).due_cents == OWED - 10_000
    assert services.store.claim_completed(PLAN_CHARGE_CLAIM, f"plan-{plan.plan_id}-1-1")
    assert counts(run_on(services, date(2026, 12, 1))) == (0, 0, 0, 0)
    assert len(plan_payments(services, plan.plan_id)) == 1


def test_autopay_pays_each_new_statement_in_full_on_its_due_date_once(services, outbox):
    """The statement open when the patient agreed is not taken; one imported after is
    announced 3 days before its due date and paid in full on it, once, and autopay goes on
    for the next one."""
    from portal.domain.plans import PlanKind
    from portal.services.plans import propose_autopay

    viewer = Viewer.guarantor()
    proposal = propose_autopay(services, NUMBER, viewer)
    assert proposal.kind is PlanKind.AUTOPAY and "in full" in proposal.text
    plan = agree(services, NUMBER, viewer, proposal, text_digest(proposal.text), "10.0.0.9")
    session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
    gateway = services.payments
    plan = finish_method_setup(
        services, plan.plan_id, gateway.save_card(gateway.open_setup(session_id), GOOD)
    )
    later = Statement(
        f"S-{NUMBER}-2", NUMBER, date(2026, 12, 1), date(2026, 12, 28), (line("1", owed=4_550),)
    )
    # Imported an hour after the patient agreed: a new statement, autopay's to pay.
    services.store.import_statement(
        services.store.get_account(NUMBER), later, NOW + timedelta(hours=1)
    )

    assert counts(run_on(services, date(2026, 12, 20))) == (0, 0, 0, 0)  # the old one: not ours
    assert counts(run_on(services, date(2026, 12, 24))) == (0, 0, 0, 0)
    assert kinds(outbox)["plan-upcoming"] == 0
    assert counts(run_on(services, date(2026, 12, 25))) == (0, 0, 0, 0)
    assert kinds(outbox)["plan-upcoming"] == 1  # told 3 days before the charge
    assert counts(run_on(services, date(2026, 12, 27))) == (0, 0, 0, 0)
    assert counts(run_on(services, date(2026, 12, 28))) == (1, 0, 0, 0)
    assert counts(run_on(services, date(2026, 12, 28))) == (0, 0, 0, 0)
    assert counts(run_on(services, date(2026, 12, 29))) == (0, 0, 0, 0)
    assert account_view(services, NUMBER).due_cents == OWED  # only the new one was paid
    stored = services.store.get_plan(plan.plan_id)
    assert [i.amount_cents for i in stored.installments] == [4_550]
    assert status_of(services, stored) is PlanStatus.CURRENT
    assert stored.next_on == date(2026, 12, 30)
    assert kinds(outbox)["receipt"] == 1 and kinds(outbox)["plan-upcoming"] == 1


def test_the_practice_day_decides_across_a_daylight_saving_change(services):
    """March 14, 2027 starts daylight saving time in New York: a run just after midnight
    and one just before the next midnight (UTC instants 22 hours apart, on different UTC
    days) are the same practice day: the installment due that day is charged once."""
    from datetime import UTC, datetime

    plan = set_up(services, months="4", day=14)
    assert [i.due_on for i in plan.installments][-1] == date(2027, 3, 14)
    for day in (date(2026, 12, 14), date(2027, 1, 14), date(2027, 2, 14)):
        assert run_on(services, day).charged == 1
    early = datetime(2027, 3, 14, 5, 30, tzinfo=UTC)  # 00:30 EST
    late = datetime(2027, 3, 15, 3, 30, tzinfo=UTC)  # 23:30 EDT, still March 14
    services.clock._at = early
    assert run_plan_charges(services, early).charged == 1
    services.clock._at = late
    assert run_plan_charges(services, late).charged == 0
    assert account_view(services, NUMBER).due_cents == 0
