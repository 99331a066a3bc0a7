"""Payment plan arithmetic: offers by policy, installments to the cent, dates in every month."""

import itertools
from calendar import monthrange
from datetime import date, timedelta

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from portal.domain.errors import InvalidInput
from portal.domain.plans import (
    TRY_DAYS,
    Attempt,
    ChargeDue,
    Outcome,
    PlanPolicy,
    PlanStatus,
    PlanTier,
    charges_due,
    first_due,
    is_missed,
    is_paid,
    plan_status,
    respread,
    schedule,
    split,
)

POLICY = PlanPolicy()
days = st.integers(min_value=1, max_value=31)
starts = st.dates(min_value=date(2024, 1, 1), max_value=date(2040, 12, 31))
balances = st.integers(min_value=POLICY.min_balance_cents, max_value=10_000_000)


def months_between(earlier: date, later: date) -> int:
    return (later.year - earlier.year) * 12 + later.month - earlier.month


@given(amount=st.integers(min_value=1, max_value=10**9), months=st.integers(1, 60))
def test_installments_add_up_to_the_cent_and_the_leftover_goes_last(amount, months):
    assume(amount >= months)
    parts = split(amount, months)
    assert len(parts) == months
    assert sum(parts) == amount
    assert len(set(parts[:-1])) <= 1  # all but the last alike
    assert 0 <= parts[-1] - parts[0] < months


def test_split_refuses_fewer_cents_than_installments():
    with pytest.raises(ValueError):
        split(2, 3)


@given(balance=balances, day=days, start=starts, data=st.data())
def test_every_offered_plan_is_exact_and_never_below_the_smallest_installment(
    balance, day, start, data
):
    longest = POLICY.longest(balance)
    assume(longest >= 2)
    months = data.draw(st.integers(2, longest))
    POLICY.check_months(balance, months)  # offered: no error
    plan = schedule(balance, months, day, start)
    assert [i.number for i in plan] == list(range(1, months + 1))
    assert sum(i.amount_cents for i in plan) == balance
    assert min(i.amount_cents for i in plan) >= POLICY.min_installment_cents


@given(amount=st.integers(200, 10**7), months=st.integers(2, 36), day=days, start=starts)
def test_dates_fall_on_the_day_or_the_months_last_day_once_a_month(amount, months, day, start):
    plan = schedule(amount, months, day, start)
    first = plan[0].due_on
    assert start <= first < start + timedelta(days=32)
    for n, installment in enumerate(plan):
        due = installment.due_on
        assert months_between(first, due) == n
        assert due.day == min(day, monthrange(due.year, due.month)[1])


def test_the_31st_pays_on_the_last_day_of_short_months():
    plan = schedule(60_000, 4, 31, date(2027, 1, 15))
    assert [i.due_on for i in plan] == [
        date(2027, 1, 31),
        date(2027, 2, 28),
        date(2027, 3, 31),
        date(2027, 4, 30),
    ]
    leap = schedule(20_000, 2, 30, date(2028, 1, 31))
    assert [i.due_on for i in leap] == [date(2028, 2, 29), date(2028, 3, 30)]


def test_the_first_installment_is_today_when_today_is_the_day():
    assert first_due(date(2026, 12, 5), 5) == date(2026, 12, 5)
    assert first_due(date(2026, 12, 6), 5) == date(2027, 1, 5)


def test_a_1400_dollar_balance_at_117_a_month_is_twelve_installments():
    months = POLICY.months_for_installment(140_000, 11_700)
    plan = schedule(140_000, months, 15, date(2026, 12, 5))
    assert months == 12
    assert [i.amount_cents for i in plan] == [11_666] * 11 + [11_674]


@given(balance=balances, installment=st.integers(2_500, 500_000))
def test_a_named_monthly_amount_takes_the_fewest_months_that_cover_the_balance(
    balance, installment
):
    try:
        months = POLICY.months_for_installment(balance, installment)
    except InvalidInput as refused:
        assert refused.field in ("installment", "months")
        assert installment >= balance or -(-balance // installment) > POLICY.longest(balance)
        return
    assert (months - 1) * installment < balance <= months * installment
    parts = split(balance, months)
    assert parts[0] <= installment and parts[-1] - installment < months


def test_tiers_decide_the_longest_plan():
    assert POLICY.longest(9_999) == 0  # below the smallest balance: no plan
    assert POLICY.longest(10_000) == 4  # $100 in $25 installments at most
    assert POLICY.longest(49_999) == 6
    assert POLICY.longest(50_000) == 12
    assert POLICY.longest(199_999) == 12
    assert POLICY.longest(200_000) == 24


def test_plans_not_offered_say_why():
    with pytest.raises(InvalidInput, match=r"\$100\.00 or more") as low:
        POLICY.check_months(9_000, 2)
    assert low.value.field == "balance"
    with pytest.raises(InvalidInput, match="from 2 to 6 months") as long:
        POLICY.check_months(40_000, 7)
    assert long.value.field == "months"
    with pytest.raises(InvalidInput, match=r"smallest monthly amount is \$25\.00"):
        POLICY.months_for_installment(40_000, 2_000)
    with pytest.raises(InvalidInput, match="pay it now"):
        POLICY.months_for_installment(40_000, 40_000)
    with pytest.raises(InvalidInput, match="day of the month"):
        schedule(40_000, 2, 32, date(2026, 12, 5))


def test_a_policy_that_makes_no_sense_is_refused():
    with pytest.raises(ValueError):
        PlanPolicy(tiers=(PlanTier(50_000, 6),))  # no tier for larger balances
    with pytest.raises(ValueError):
        PlanPolicy(tiers=(PlanTier(90_000, 6), PlanTier(50_000, 12), PlanTier(None, 24)))
    with pytest.raises(ValueError):
        PlanPolicy(min_installment_cents=50)
    with pytest.raises(ValueError):
        PlanPolicy(min_balance_cents=3_000, min_installment_cents=2_500)


@given(
    balance=balances,
    day=days,
    start=starts,
    paid=st.integers(0, 11),
    change=st.integers(-10_000_000, 10_000_000),
)
def test_respreading_keeps_the_dates_and_adds_up_to_the_new_balance(
    balance, day, start, paid, change
):
    months = max(2, POLICY.longest(balance))
    plan = schedule(balance, months, day, start)
    assume(paid < len(plan))
    remaining = plan[paid:]
    owed = sum(i.amount_cents for i in remaining)
    new_balance = owed + change
    again = respread(remaining, new_balance, day)
    if new_balance <= 0:
        assert again == ()
        return
    assert sum(i.amount_cents for i in again) == new_balance
    assert [i.number for i in again] == [remaining[0].number + n for n in range(len(again))]
    if new_balance <= owed:
        # Shorter (or as long), on the same dates, each no larger than before but for the
        # leftover cents on the last.
        assert [i.due_on for i in again] == [i.due_on for i in remaining[: len(again)]]
        assert all(i.amount_cents <= remaining[0].amount_cents for i in again[:-1])
        assert again[-1].amount_cents - remaining[0].amount_cents < len(again)
    else:
        assert [i.due_on for i in again] == [i.due_on for i in remaining]


def test_an_insurance_adjustment_shortens_the_plan():
    plan = schedule(120_000, 12, 1, date(2027, 1, 1))  # $100 a month
    after_two = plan[2:]  # $1,000 left over ten months
    again = respread(after_two, 70_000, 1)  # insurance paid $300 more
    assert [i.amount_cents for i in again] == [10_000] * 7
    assert [i.number for i in again] == list(range(3, 10))
    assert again[-1].due_on == date(2027, 9, 1)


# -- the charge run's decisions -----------------------------------------------------------

PLAN = schedule(60_000, 6, 15, date(2027, 1, 1))  # $100 on the 15th, January to June


def run_daily(outcome_of, days: int, skipped=frozenset()):
    """The charge run every day from the plan's start (but on `skipped` days), each try
    answered by outcome_of(installment number, try number); the tries made."""
    attempts: list[Attempt] = []
    today = date(2027, 1, 1)
    for _ in range(days):
        if today not in skipped:
            for due in charges_due(PLAN, attempts, today):
                number = due.installment.number
                attempts.append(
                    Attempt(number, due.attempt, today, outcome_of(number, due.attempt))
                )
        today += timedelta(days=1)
    return attempts


def test_a_plan_that_is_always_paid_is_charged_once_each_due_day_then_paid_off():
    attempts = run_daily(lambda n, t: Outcome.SUCCEEDED, 200)
    assert [(a.installment, a.number, a.on) for a in attempts] == [
        (i.number, 1, i.due_on) for i in PLAN
    ]
    assert plan_status(PLAN, attempts[:3], date(2027, 3, 20)) is PlanStatus.CURRENT
    assert plan_status(PLAN, attempts, date(2027, 7, 1)) is PlanStatus.PAID_OFF


def test_a_soft_decline_is_tried_again_3_and_7_days_later_then_missed():
    attempts = run_daily(lambda n, t: Outcome.SOFT_DECLINE if n == 1 else Outcome.SUCCEEDED, 40)
    first = [a for a in attempts if a.installment == 1]
    assert [a.on for a in first] == [date(2027, 1, 15), date(2027, 1, 18), date(2027, 1, 22)]
    assert plan_status(PLAN, attempts, date(2027, 1, 16)) is PlanStatus.PAST_DUE
    assert is_missed(PLAN[0], attempts, date(2027, 1, 23))
    assert plan_status(PLAN, attempts, date(2027, 2, 20)) is PlanStatus.PAST_DUE  # one missed


def test_two_missed_installments_default_the_plan():
    attempts = run_daily(lambda n, t: Outcome.SOFT_DECLINE if n <= 2 else Outcome.SUCCEEDED, 60)
    assert plan_status(PLAN, attempts, date(2027, 2, 23)) is PlanStatus.DEFAULTED


def test_a_hard_decline_is_not_tried_again():
    attempts = run_daily(lambda n, t: Outcome.HARD_DECLINE if n == 1 else Outcome.SUCCEEDED, 40)
    assert [(a.installment, a.number) for a in attempts if a.installment == 1] == [(1, 1)]
    assert is_missed(PLAN[0], attempts, date(2027, 1, 15))


def test_a_charge_needing_authentication_waits_for_the_patient_then_is_missed():
    attempts = run_daily(
        lambda n, t: Outcome.NEEDS_AUTHENTICATION if n == 1 else Outcome.SUCCEEDED, 40
    )
    assert [(a.installment, a.number) for a in attempts if a.installment == 1] == [(1, 1)]
    assert not is_missed(PLAN[0], attempts, date(2027, 1, 22))
    assert is_missed(PLAN[0], attempts, date(2027, 1, 23))
    paid = [*attempts, Attempt(1, 2, date(2027, 1, 20), Outcome.SUCCEEDED)]  # via the link
    assert not is_missed(PLAN[0], paid, date(2027, 2, 1)) and is_paid(PLAN[0], paid)


def test_a_day_the_run_did_not_run_is_made_up_once_late():
    skipped = {date(2027, 1, 15) + timedelta(days=d) for d in range(5)}
    attempts = run_daily(lambda n, t: Outcome.SUCCEEDED, 40, skipped)
    assert [(a.installment, a.number, a.on) for a in attempts if a.installment == 1] == [
        (1, 1, date(2027, 1, 20))
    ]


def test_a_second_run_the_same_day_makes_no_try():
    today = PLAN[0].due_on
    [due] = charges_due(PLAN, [], today)
    made = [Attempt(1, due.attempt, today, Outcome.SOFT_DECLINE)]
    assert charges_due(PLAN, made, today) == []
    assert due.idempotency_key("pl_1") == "plan-pl_1-1-1"


@given(
    outcomes=st.lists(st.sampled_from(list(Outcome)), min_size=1, max_size=40),
    skipped=st.sets(st.integers(0, 200), max_size=60),
)
def test_the_charge_run_never_tries_too_often(outcomes, skipped):
    """Over any outcomes and any days the run did not run: at most three tries an
    installment, numbered from 1, never two on one day, none after it was paid or while
    a try is processing, a distinct processor key each, and a default only after two
    installments were missed."""
    answers = itertools.cycle(outcomes)
    days = {date(2027, 1, 1) + timedelta(days=d) for d in skipped}
    attempts = run_daily(lambda n, t: next(answers), 220, days)
    keys = [ChargeDue(PLAN[a.installment - 1], a.number).idempotency_key("p") for a in attempts]
    assert len(keys) == len(set(keys))
    for installment in PLAN:
        tries = [a for a in attempts if a.installment == installment.number]
        assert [a.number for a in tries] == list(range(1, len(tries) + 1))
        assert len(tries) <= len(TRY_DAYS)
        assert len({a.on for a in tries}) == len(tries)
        assert all(a.on >= installment.due_on for a in tries)
        ended = [i for i, a in enumerate(tries) if a.outcome is not Outcome.SOFT_DECLINE]
        assert not ended or ended[0] == len(tries) - 1  # nothing after a non-decline
    end = date(2027, 8, 10)
    missed = sum(is_missed(i, attempts, end) for i in PLAN)
    assert (plan_status(PLAN, attempts, end) is PlanStatus.DEFAULTED) == (missed >= 2)
