"""Cases as pure rules: what a question holds and for how long, the held days that do not
count toward reminders, business-day due dates, the patient's input, the monthly report."""

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from portal.domain.cases import (
    MAX_MESSAGE_LENGTH,
    Case,
    CaseMessage,
    MessageKind,
    Outcome,
    Reason,
    Status,
    add_business_days,
    add_message,
    case_report,
    check_assistance,
    check_question_reason,
    clean_message,
    estimate_disputed,
    held,
    held_days,
    resolve,
)
from portal.domain.errors import InvalidInput

TZ = ZoneInfo("America/New_York")
OPENED = datetime(2026, 11, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in New York


def case(**fields) -> Case:
    values = dict(
        case_id="c-1",
        account_number="100234",
        reason=Reason.INSURANCE_SHOULD_PAY,
        opened_at=OPENED,
        due_on=date(2026, 11, 9),
        statement_id="S-1",
    )
    values.update(fields)
    return Case(**values)


def answer(c: Case, at: datetime, kind=MessageKind.REPLY) -> Case:
    return add_message(c, CaseMessage(kind, "alice", "text", at))


def closed(c: Case, at: datetime, outcome=Outcome.NO_CHANGE) -> Case:
    return resolve(c, outcome, CaseMessage(MessageKind.RESOLUTION, "alice", "why", at))


def test_a_question_holds_its_statement_only_until_resolved():
    open_case = case()
    assert held([open_case], "S-1", OPENED + timedelta(days=400))
    assert not held([open_case], "S-2", OPENED)  # other statements stay in the schedule
    assert not held([open_case], "S-1", OPENED - timedelta(seconds=1))
    done = closed(open_case, OPENED + timedelta(days=3))
    assert held([done], "S-1", OPENED + timedelta(days=2))
    assert not held([done], "S-1", OPENED + timedelta(days=3))


def test_an_assistance_request_holds_every_statement_for_its_period():
    request = case(
        reason=Reason.FINANCIAL_ASSISTANCE,
        statement_id=None,
        hold_until=OPENED + timedelta(days=30),
    )
    assert held([request], "S-1", OPENED + timedelta(days=29))
    assert held([request], "S-9", OPENED + timedelta(days=29))
    assert not held([request], "S-1", OPENED + timedelta(days=30))  # the period ended
    early = closed(request, OPENED + timedelta(days=5))
    assert not held([early], "S-1", OPENED + timedelta(days=6))  # resolved: released early


def test_only_an_open_estimate_dispute_counts_as_one():
    dispute = case(reason=Reason.ESTIMATE_DISPUTE)
    assert estimate_disputed([dispute], "S-1", OPENED + timedelta(days=200))
    assert not estimate_disputed([case()], "S-1", OPENED)
    assert not estimate_disputed(
        [closed(dispute, OPENED + timedelta(days=1))], "S-1", OPENED + timedelta(days=2)
    )


def test_held_days_count_each_practice_day_a_hold_covered_after_the_due_date():
    due = date(2026, 10, 20)
    today = date(2026, 11, 20)
    open_case = case()  # opened Nov 2
    assert held_days([open_case], "S-1", due, today, TZ) == 19  # Nov 2 .. Nov 20
    done = closed(open_case, datetime(2026, 11, 5, 15, 0, tzinfo=UTC))
    assert held_days([done], "S-1", due, today, TZ) == 4  # Nov 2 .. Nov 5
    assert held_days([done], "S-2", due, today, TZ) == 0
    # Two holds over the same days count them once.
    assert held_days([done, open_case], "S-1", due, today, TZ) == 19
    # Days before the due date never counted toward the schedule anyway.
    assert held_days([done], "S-1", date(2026, 11, 4), today, TZ) == 1


def test_due_dates_count_business_days():
    assert add_business_days(date(2026, 11, 2), 5) == date(2026, 11, 9)  # Mon -> Mon
    assert add_business_days(date(2026, 11, 6), 1) == date(2026, 11, 9)  # Fri -> Mon
    assert add_business_days(date(2026, 11, 7), 5) == date(2026, 11, 13)  # Sat -> Fri


def test_a_staff_message_answers_and_a_patient_message_reopens():
    asked = answer(case(), OPENED + timedelta(hours=2), MessageKind.MORE_INFO)
    assert asked.status is Status.NEEDS_INFO
    assert asked.first_answer_at == OPENED + timedelta(hours=2)
    back = add_message(
        asked, CaseMessage(MessageKind.PATIENT_REPLY, "patient", "here", OPENED + timedelta(days=1))
    )
    assert back.status is Status.OPEN
    assert back.first_answer_at == OPENED + timedelta(hours=2)
    done = closed(back, OPENED + timedelta(days=2))
    assert done.status is Status.RESOLVED and not done.is_open
    with pytest.raises(ValueError):
        answer(done, OPENED + timedelta(days=3))


def test_the_message_is_plain_text_of_limited_length_and_the_error_names_the_field():
    assert clean_message("  two\r\nlines ") == "two\nlines"
    with pytest.raises(InvalidInput) as long:
        clean_message("x" * (MAX_MESSAGE_LENGTH + 1))
    assert long.value.field == "message" and "2,000" in long.value.message
    with pytest.raises(InvalidInput) as hidden:
        clean_message("evil\u202etxt")
    assert hidden.value.field == "message"
    with pytest.raises(InvalidInput):
        clean_message("", required=True)
    with pytest.raises(InvalidInput) as reason:
        check_question_reason("financial_assistance")
    assert reason.value.field == "reason"
    with pytest.raises(InvalidInput) as size:
        check_assistance("0", "under_25k")
    assert size.value.field == "household_size"
    with pytest.raises(InvalidInput) as band:
        check_assistance("3", "$41,250")
    assert band.value.field == "income_band"


def test_the_report_groups_by_month_reason_and_outcome_with_the_median_first_answer():
    a = closed(answer(case(case_id="a"), OPENED + timedelta(hours=2)), OPENED + timedelta(days=1))
    b = closed(answer(case(case_id="b"), OPENED + timedelta(hours=10)), OPENED + timedelta(days=1))
    c = closed(case(case_id="c"), OPENED + timedelta(hours=4))  # resolved without a reply
    d = case(case_id="d", reason=Reason.ESTIMATE_DISPUTE)
    e = case(case_id="e", opened_at=datetime(2026, 12, 1, 4, 0, tzinfo=UTC))  # Nov 30 local
    rows = case_report([a, b, c, d, e], TZ)
    assert [
        (r.month, r.reason, r.outcome, r.cases, r.median_hours_to_first_answer) for r in rows
    ] == [
        ("2026-11", Reason.ESTIMATE_DISPUTE, "open", 1, None),
        ("2026-11", Reason.INSURANCE_SHOULD_PAY, "no_change", 3, 4.0),
        ("2026-11", Reason.INSURANCE_SHOULD_PAY, "open", 1, None),
    ]
