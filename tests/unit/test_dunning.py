"""The reminder schedule's policy, over many days, balances and histories."""

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.dunning import AccountFacts, Schedule, Skip, Stage, Step, decide

SCHEDULE = Schedule()
DUE = date(2026, 6, 30)


def facts(**changes) -> AccountFacts:
    values = dict(
        due_cents=12000,
        due_date=DUE,
        has_email=True,
        opted_out=False,
        open_dispute=False,
        promised_until=None,
    )
    values.update(changes)
    return AccountFacts(**values)


def run_days(days: list[int], account: AccountFacts) -> list[Step]:
    """What a daily job sending each step once (claims) sends on these days past due."""
    sent: list[Step] = []
    for day in days:
        step = decide(SCHEDULE, account, DUE + timedelta(days=day))
        if isinstance(step, Step) and step not in sent:
            sent.append(step)
    return sent


def test_the_default_steps_are_15_30_60_90():
    assert [(s.stage, s.day) for s in SCHEDULE.steps()] == [
        (Stage.REMINDER, 15),
        (Stage.REMINDER, 30),
        (Stage.FINAL_NOTICE, 60),
        (Stage.ESCALATION, 90),
    ]


def test_each_step_comes_due_on_its_day_and_not_the_day_before():
    for step in SCHEDULE.steps():
        assert decide(SCHEDULE, facts(), DUE + timedelta(days=step.day)) == step
        before = decide(SCHEDULE, facts(), DUE + timedelta(days=step.day - 1))
        assert before != step


@given(st.sets(st.integers(min_value=-10, max_value=200), max_size=60))
def test_whatever_days_the_job_runs_no_step_twice_and_never_an_older_after_a_newer(days):
    sent = run_days(sorted(days), facts())

    assert len(sent) == len(set(sent))
    assert [s.day for s in sent] == sorted(s.day for s in sent)


@given(st.sets(st.integers(min_value=0, max_value=200), min_size=1, max_size=60))
def test_the_latest_step_due_on_a_run_day_is_sent_even_when_days_were_missed(days):
    sent = run_days(sorted(days), facts())

    last = SCHEDULE.step_for(max(days))
    assert (last is None and sent == []) or sent[-1] == last


@given(
    due_cents=st.integers(min_value=-(10**6), max_value=10**7),
    day=st.integers(min_value=0, max_value=400),
    opted_out=st.booleans(),
    open_dispute=st.booleans(),
    has_email=st.booleans(),
    promise_in=st.one_of(st.none(), st.integers(min_value=-30, max_value=30)),
)
def test_never_a_message_after_payment_dispute_opt_out_or_while_a_promise_holds(
    due_cents, day, opted_out, open_dispute, has_email, promise_in
):
    today = DUE + timedelta(days=day)
    promised = None if promise_in is None else today + timedelta(days=promise_in)
    account = facts(
        due_cents=due_cents,
        opted_out=opted_out,
        open_dispute=open_dispute,
        has_email=has_email,
        promised_until=promised,
    )

    outcome = decide(SCHEDULE, account, today)

    if isinstance(outcome, Step):
        assert due_cents >= SCHEDULE.minimum_cents
        assert not open_dispute
        assert promised is None or promised < today
        if outcome.stage is not Stage.ESCALATION:
            assert has_email and not opted_out
    if due_cents <= 0 and day >= SCHEDULE.first_day:
        assert outcome is Skip.PAID


def test_an_escalation_reaches_the_practice_even_without_the_patients_address():
    outcome = decide(SCHEDULE, facts(has_email=False, opted_out=True), DUE + timedelta(days=95))

    assert isinstance(outcome, Step) and outcome.stage is Stage.ESCALATION


def test_a_balance_under_the_minimum_gets_no_reminder():
    assert decide(SCHEDULE, facts(due_cents=499), DUE + timedelta(days=20)) is Skip.UNDER_MINIMUM
    assert isinstance(decide(SCHEDULE, facts(due_cents=500), DUE + timedelta(days=20)), Step)


# -- collection holds (issue 17) ------------------------------------------------------


def test_a_held_statement_gets_no_reminder_final_notice_or_escalation():
    for day in (15, 30, 60, 90, 400):
        assert decide(SCHEDULE, facts(on_hold=True), DUE + timedelta(days=day)) is Skip.ON_HOLD


def test_an_open_estimate_dispute_is_never_escalated_whatever_the_days():
    for day in range(0, 800, 7):
        step = decide(SCHEDULE, facts(estimate_dispute=True), DUE + timedelta(days=day))
        assert step is Skip.ESTIMATE_DISPUTE


@given(
    st.integers(min_value=0, max_value=120),  # the day the hold starts
    st.integers(min_value=1, max_value=200),  # how long it lasts
)
def test_released_the_statement_goes_on_from_its_stage_never_skipping_one(start, length):
    """Held days do not count: after the release each step still comes once, in order,
    and the whole schedule is sent (no stage is jumped, however long the hold)."""
    sent: list[Step] = []
    for day in range(0, 400):
        held_now = start <= day < start + length
        held_so_far = max(0, min(day, start + length - 1) - start + 1) if day >= start else 0
        account = facts(on_hold=held_now, held_days=held_so_far)
        step = decide(SCHEDULE, account, DUE + timedelta(days=day))
        if isinstance(step, Step) and step not in sent:
            sent.append(step)
    assert sent == SCHEDULE.steps()


def test_without_the_held_days_a_long_hold_would_jump_to_the_final_notice():
    """The case the held days are for: reminder-15 sent, held from day 20 to day 70."""
    today = DUE + timedelta(days=71)
    jumped = decide(SCHEDULE, facts(), today)
    assert isinstance(jumped, Step) and jumped.stage is Stage.FINAL_NOTICE
    resumed = decide(SCHEDULE, facts(held_days=51), today)
    assert resumed == Step(Stage.REMINDER, 15)  # still at its stage: reminder-30 comes next
    assert decide(SCHEDULE, facts(held_days=51), today + timedelta(days=10)) == Step(
        Stage.REMINDER, 30
    )
