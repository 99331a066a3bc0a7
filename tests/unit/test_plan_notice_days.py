"""When the charge run looks at a plan for its notices: 3 days before each charge (10 before
a bank debit whose amount changed), the retry's day after a decline, and no look skipped."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.payments import PLAN_CHARGE_PREFIX, installment_of, installment_payment_id
from portal.domain.plans import (
    CHANGED_DEBIT_NOTICE_DAYS,
    UPCOMING_NOTICE_DAYS,
    Attempt,
    Installment,
    Outcome,
    charges_due,
    next_look,
    notice_day,
    notice_leads,
    notices_due,
    respread,
    retry_on,
    schedule,
)

days = st.integers(min_value=1, max_value=31)
starts = st.dates(min_value=date(2024, 1, 1), max_value=date(2040, 12, 31))
amounts = st.integers(min_value=10_000, max_value=5_000_000)
months = st.integers(min_value=2, max_value=24)


def walk(installments, leads, start: date) -> list[date]:
    """The days the run looks at the plan, from the day before `start` on: every try it
    makes succeeds."""
    attempts: list[Attempt] = []
    today, seen = start - timedelta(days=1), []
    while (look := next_look(installments, attempts, today, leads)) is not None:
        assert look > today
        seen.append(look)
        for due in charges_due(installments, attempts, look):
            attempts.append(Attempt(due.installment.number, due.attempt, look, Outcome.SUCCEEDED))
        today = look
    return seen


@given(amount=amounts, count=months, day=days, start=starts, bank=st.booleans())
def test_the_run_looks_on_every_notice_day_and_every_charge_day(amount, count, day, start, bank):
    plan = schedule(amount, count, day, start)
    leads = notice_leads(plan, plan, bank)
    seen = walk(plan, leads, start)
    for installment in plan:
        assert installment.due_on in seen
        if notice_day(installment, leads) >= start:
            assert notice_day(installment, leads) in seen
    # Nothing else: each look is a notice day or a charge day.
    wanted = {i.due_on for i in plan} | {notice_day(i, leads) for i in plan}
    assert set(seen) <= wanted


@given(amount=amounts, count=months, day=days, start=starts)
def test_without_leads_the_run_looks_only_on_charge_days(amount, count, day, start):
    plan = schedule(amount, count, day, start)
    assert walk(plan, None, start) == [i.due_on for i in plan]


@given(amount=amounts, count=months, day=days, start=starts)
def test_cards_are_told_3_days_before_and_equal_bank_debits_too(amount, count, day, start):
    plan = schedule(amount, count, day, start)
    assert set(notice_leads(plan, plan, bank_debit=False).values()) == {UPCOMING_NOTICE_DAYS}
    bank = notice_leads(plan, plan, bank_debit=True)
    # All alike but the last, which carries the leftover cents: told 10 days before when
    # its amount differs from the one before it.
    assert all(bank[i.number] == UPCOMING_NOTICE_DAYS for i in plan[:-1])
    last_differs = plan[-1].amount_cents != plan[-2].amount_cents
    assert bank[plan[-1].number] == (
        CHANGED_DEBIT_NOTICE_DAYS if last_differs else UPCOMING_NOTICE_DAYS
    )


def test_a_re_spread_bank_debit_is_told_10_days_before():
    agreed = schedule(30_000, 3, 1, date(2026, 11, 28))  # $100.00 on Dec 1, Jan 1, Feb 1
    rest = respread(agreed[1:], 15_000, 1)  # $150.00 left
    renumbered = (
        agreed[0],
        *(Installment(4 + n, i.due_on, i.amount_cents) for n, i in enumerate(rest)),
    )
    leads = notice_leads(renumbered, agreed, bank_debit=True)
    # $150.00 left over the same two dates: $75.00 each, each unlike what was agreed.
    assert [i.amount_cents for i in renumbered] == [10_000, 7_500, 7_500]
    assert leads == {1: 3, 4: 10, 5: 10}
    assert notice_leads(renumbered, agreed, bank_debit=False) == {1: 3, 4: 3, 5: 3}
    assert notice_day(renumbered[1], leads) == date(2026, 12, 22)
    paid = [Attempt(1, 1, date(2026, 12, 1), Outcome.SUCCEEDED)]
    assert next_look(renumbered, paid, date(2026, 12, 1), leads) == date(2026, 12, 22)
    # Agreed again at the new amounts: alike from one to the next, 3 days.
    assert notice_leads(renumbered[1:], renumbered[1:], bank_debit=True) == {4: 3, 5: 3}


def test_a_notice_is_due_from_its_day_until_the_charge_and_not_once_tried():
    plan = schedule(30_000, 3, 10, date(2026, 12, 1))  # Dec 10, Jan 10, Feb 10
    leads = notice_leads(plan, plan, bank_debit=False)
    first = plan[0]
    assert notices_due(plan, [], leads, date(2026, 12, 6)) == []
    assert notices_due(plan, [], leads, date(2026, 12, 7)) == [first]
    assert notices_due(plan, [], leads, date(2026, 12, 9)) == [first]  # a missed day, late
    assert notices_due(plan, [], leads, date(2026, 12, 10)) == []  # the charge's own day
    tried = [Attempt(1, 1, date(2026, 12, 9), Outcome.SOFT_DECLINE)]
    assert notices_due(plan, tried, leads, date(2026, 12, 9)) == []


def test_the_next_look_after_a_charge_is_the_next_notice_day():
    plan = schedule(30_000, 3, 1, date(2026, 11, 28))
    leads = notice_leads(plan, plan, bank_debit=False)
    paid = [Attempt(1, 1, date(2026, 12, 1), Outcome.SUCCEEDED)]
    assert next_look(plan, paid, date(2026, 12, 1), leads) == date(2026, 12, 29)
    assert next_look(plan, paid, date(2026, 12, 29), leads) == date(2027, 1, 1)
    # A retry comes before the next notice.
    declined = [Attempt(1, 1, date(2026, 12, 1), Outcome.SOFT_DECLINE)]
    assert next_look(plan, declined, date(2026, 12, 1), leads) == date(2026, 12, 4)


def test_the_retry_day_after_a_soft_decline_and_none_after_the_last():
    installment = schedule(30_000, 3, 1, date(2026, 11, 28))[0]
    tries = [Attempt(1, 1, date(2026, 12, 1), Outcome.SOFT_DECLINE)]
    assert retry_on(installment, tries, date(2026, 12, 1)) == date(2026, 12, 4)
    tries.append(Attempt(1, 2, date(2026, 12, 4), Outcome.SOFT_DECLINE))
    assert retry_on(installment, tries, date(2026, 12, 4)) == date(2026, 12, 8)
    # Known late (a bank debit returned days after): tried again the next day.
    assert retry_on(installment, tries, date(2026, 12, 10)) == date(2026, 12, 11)
    tries.append(Attempt(1, 3, date(2026, 12, 8), Outcome.SOFT_DECLINE))
    assert retry_on(installment, tries, date(2026, 12, 8)) is None
    hard = [Attempt(1, 1, date(2026, 12, 1), Outcome.HARD_DECLINE)]
    assert retry_on(installment, hard, date(2026, 12, 1)) is None
    confirm = [Attempt(1, 1, date(2026, 12, 1), Outcome.NEEDS_AUTHENTICATION)]
    assert retry_on(installment, confirm, date(2026, 12, 1)) is None


@given(
    number=st.integers(min_value=1, max_value=500), plan=st.sampled_from(["plan_0a1b", "plan_x_y"])
)
def test_an_installment_payment_names_its_plan_and_installment(number, plan):
    first, second = installment_payment_id(plan, number), installment_payment_id(plan, number)
    assert first != second  # each checkout its own payment
    assert installment_of(first) == installment_of(second) == (plan, number)
    assert not first.startswith(PLAN_CHARGE_PREFIX)


def test_other_payments_name_no_installment():
    for payment_id in ("pay_0123abcd", "pay_plan_0123", "pay_inst_", "pay_inst_plan_a_x_1"):
        assert installment_of(payment_id) is None
