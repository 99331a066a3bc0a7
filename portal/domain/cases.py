"""Patients ask, staff answer: a question about a charge, an estimate dispute, or a request
for financial assistance, and the collection hold it puts on the bill while it is open.

A question holds its statement (no reminder, final notice or escalation for it) until the
case is resolved; a financial-assistance request holds the whole account for the practice's
number of days, or until it is resolved if that comes first. The days a statement was held
do not count toward its reminder schedule: once released it goes on from the stage it had
reached, never skipping one.

The text of questions and replies may hold health information: it is shown on the
patient's and the staff's pages only, never put in an e-mail, a log line or a URL.
"""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.text import has_hidden_characters

MAX_MESSAGE_LENGTH = 2000
MAX_EXPLANATION_LENGTH = 2000


class Reason(StrEnum):
    INSURANCE_SHOULD_PAY = "insurance_should_pay"
    SERVICE_NOT_RECEIVED = "service_not_received"
    CHARGED_TWICE = "charged_twice"
    ESTIMATE_DISPUTE = "estimate_dispute"
    ITEMIZED_BILL = "itemized_bill"
    OTHER = "other"
    FINANCIAL_ASSISTANCE = "financial_assistance"


# What a patient may choose when questioning a charge (financial help has its own form).
QUESTION_REASONS = (
    Reason.INSURANCE_SHOULD_PAY,
    Reason.SERVICE_NOT_RECEIVED,
    Reason.CHARGED_TWICE,
    Reason.ESTIMATE_DISPUTE,
    Reason.ITEMIZED_BILL,
    Reason.OTHER,
)

REASON_LABELS = {
    Reason.INSURANCE_SHOULD_PAY: "Insurance should have paid",
    Reason.SERVICE_NOT_RECEIVED: "I did not receive this service",
    Reason.CHARGED_TWICE: "I was charged twice",
    Reason.ESTIMATE_DISPUTE: "My bill is $400 or more above my good-faith estimate",
    Reason.ITEMIZED_BILL: "I need an itemized bill",
    Reason.OTHER: "Other",
    Reason.FINANCIAL_ASSISTANCE: "Help paying (financial assistance)",
}


class Status(StrEnum):
    OPEN = "open"  # the practice is to answer
    ANSWERED = "answered"  # the practice replied; the case stays open until resolved
    NEEDS_INFO = "needs_info"  # the practice asked the patient for more
    RESOLVED = "resolved"


STATUS_LABELS = {
    Status.OPEN: "Waiting for the billing office",
    Status.ANSWERED: "Answered",
    Status.NEEDS_INFO: "The billing office needs more from you",
    Status.RESOLVED: "Resolved",
}


class Outcome(StrEnum):
    CORRECTION = "correction"  # an adjustment of the statement, with a reason
    ASSISTANCE_DISCOUNT = "assistance_discount"  # a write-off (supervisor only)
    NO_CHANGE = "no_change"  # with the explanation the patient sees
    REFERRED_TO_INSURER = "referred_to_insurer"


OUTCOME_LABELS = {
    Outcome.CORRECTION: "Corrected",
    Outcome.ASSISTANCE_DISCOUNT: "Financial-assistance discount",
    Outcome.NO_CHANGE: "No change",
    Outcome.REFERRED_TO_INSURER: "Referred to the insurer",
}

# Outcomes that post money to the ledger, and the memo code each entry carries.
POSTING_OUTCOMES = (Outcome.CORRECTION, Outcome.ASSISTANCE_DISCOUNT)
# The write-off reason code of a financial-assistance discount (charity care), kept at the
# start of the ledger memo so reports can tell it from bad debt and small balances.
ASSISTANCE_WRITE_OFF_CODE = "FA"
CORRECTION_CODE = "CQ"


class MessageKind(StrEnum):
    QUESTION = "question"  # the patient's opening message
    PATIENT_REPLY = "patient_reply"
    REPLY = "reply"  # the practice's answer
    MORE_INFO = "more_info"  # the practice asks the patient for more
    RESOLUTION = "resolution"  # the practice's explanation of the outcome


STAFF_KINDS = (MessageKind.REPLY, MessageKind.MORE_INFO, MessageKind.RESOLUTION)

# Household income bands of the assistance form: a fixed list, nothing more precise.
INCOME_BANDS = {
    "under_25k": "Under $25,000 a year",
    "25k_50k": "$25,000 to $49,999",
    "50k_75k": "$50,000 to $74,999",
    "75k_100k": "$75,000 to $99,999",
    "100k_plus": "$100,000 or more",
}
MAX_HOUSEHOLD = 20


@dataclass(frozen=True)
class CaseMessage:
    kind: MessageKind
    author: str  # "patient", or the staff user's name
    text: str
    at: datetime
    request_key: str = ""  # the form's key: the same form sent twice adds one message

    @property
    def from_staff(self) -> bool:
        return self.kind in STAFF_KINDS


@dataclass(frozen=True)
class Assistance:
    household_size: int
    income_band: str


@dataclass(frozen=True)
class Case:
    case_id: str
    account_number: str
    reason: Reason
    opened_at: datetime
    due_on: date  # when the practice is to have answered (business days)
    statement_id: str | None = None  # None: the whole account (financial assistance)
    line_id: str | None = None  # None: the whole statement
    status: Status = Status.OPEN
    owner: str = ""
    messages: tuple[CaseMessage, ...] = ()
    assistance: Assistance | None = None
    hold_until: datetime | None = None  # an assistance request's hold ends then at the latest
    first_answer_at: datetime | None = None
    resolved_at: datetime | None = None
    resolved_by: str = ""
    outcome: Outcome | None = None
    outcome_cents: int = 0
    # Who asked, as the patient session names them ("guarantor", or the patient ids signed
    # in): only they see the case (a patient's question may be about their own health).
    asked_by: str = "guarantor"
    version: int = 0

    @property
    def is_open(self) -> bool:
        return self.status is not Status.RESOLVED

    @property
    def account_wide(self) -> bool:
        return self.statement_id is None

    def message_with_key(self, request_key: str) -> CaseMessage | None:
        if not request_key:
            return None
        return next((m for m in self.messages if m.request_key == request_key), None)

    def staff_message_count(self) -> int:
        return sum(m.from_staff for m in self.messages)


# -- input -------------------------------------------------------------------------------


def clean_message(text: str | None, field_name: str = "message", required: bool = False) -> str:
    """The message as kept: trimmed, line breaks as \\n; InvalidInput naming the field when
    it is too long, empty when needed, or carries a hidden character."""
    text = (text or "").replace("\r\n", "\n").replace("\r", "\n").strip()
    if required and not text:
        raise InvalidInput(field_name, "Write a message.")
    if len(text) > MAX_MESSAGE_LENGTH:
        raise InvalidInput(
            field_name,
            f"Keep the message to {MAX_MESSAGE_LENGTH:,} characters (it has {len(text):,}).",
        )
    if has_hidden_characters(text, line_breaks=True):
        raise InvalidInput(
            field_name, "The message contains a control character; type it as plain text."
        )
    return text


def check_question_reason(value: str | None) -> Reason:
    try:
        reason = Reason(value or "")
    except ValueError:
        raise InvalidInput("reason", "Choose the reason for your question.") from None
    if reason not in QUESTION_REASONS:
        raise InvalidInput("reason", "Choose the reason for your question.")
    return reason


def check_assistance(household_size: int | str | None, income_band: str | None) -> Assistance:
    try:
        size = int(str(household_size).strip())
    except (TypeError, ValueError):
        raise InvalidInput(
            "household_size", "Enter the number of people in your household."
        ) from None
    if not 1 <= size <= MAX_HOUSEHOLD:
        raise InvalidInput("household_size", f"Enter a household size from 1 to {MAX_HOUSEHOLD}.")
    if income_band not in INCOME_BANDS:
        raise InvalidInput("income_band", "Choose your household's yearly income.")
    return Assistance(size, income_band)


def check_outcome(value: str | None) -> Outcome:
    try:
        return Outcome(value or "")
    except ValueError:
        raise InvalidInput("outcome", "Choose the outcome.") from None


# -- dates -------------------------------------------------------------------------------


def add_business_days(day: date, days: int) -> date:
    """The day `days` working days (Monday to Friday) after `day`."""
    while days > 0:
        day += timedelta(days=1)
        if day.weekday() < 5:
            days -= 1
    return day


# -- changes (each returns the case as it is to be saved) ---------------------------------


def add_message(case: Case, message: CaseMessage) -> Case:
    """The case with the message, its status following who wrote it; a resolved case takes
    no more messages (ValueError)."""
    if not case.is_open:
        raise ValueError("the case is resolved")
    status = {
        MessageKind.REPLY: Status.ANSWERED,
        MessageKind.MORE_INFO: Status.NEEDS_INFO,
        MessageKind.PATIENT_REPLY: Status.OPEN,
        MessageKind.QUESTION: Status.OPEN,
    }[message.kind]
    first = case.first_answer_at
    if first is None and message.from_staff:
        first = message.at
    return replace(case, messages=(*case.messages, message), status=status, first_answer_at=first)


def resolve(
    case: Case,
    outcome: Outcome,
    explanation: CaseMessage,
    cents: int = 0,
) -> Case:
    """The case resolved with the outcome and the explanation the patient sees."""
    if not case.is_open:
        raise ValueError("the case is resolved")
    first = case.first_answer_at or explanation.at
    return replace(
        case,
        messages=(*case.messages, explanation),
        status=Status.RESOLVED,
        outcome=outcome,
        outcome_cents=cents,
        resolved_at=explanation.at,
        resolved_by=explanation.author,
        first_answer_at=first,
    )


def ledger_memo(case: Case, outcome: Outcome, reason: str) -> str:
    """The memo of a resolution's ledger entry: its code, the case it closes (what makes
    the posting once per case) and the staff's reason."""
    code = ASSISTANCE_WRITE_OFF_CODE if outcome is Outcome.ASSISTANCE_DISCOUNT else CORRECTION_CODE
    return f"{code} {case_marker(case.case_id)} {reason}"[:200]


def case_marker(case_id: str) -> str:
    return f"[case {case_id}]"


# -- holds -------------------------------------------------------------------------------


def hold_end(case: Case) -> datetime | None:
    """When the case's hold ended (or ends: an assistance request's limit); None while a
    question's hold lasts."""
    ends = [t for t in (case.resolved_at, case.hold_until) if t is not None]
    return min(ends) if ends else None


def holds(case: Case, statement_id: str, at: datetime) -> bool:
    """True when the case keeps `statement_id` out of collection at the instant."""
    if case.statement_id is not None and case.statement_id != statement_id:
        return False
    if at < case.opened_at:
        return False
    end = hold_end(case)
    return end is None or at < end


def held(cases: Iterable[Case], statement_id: str, at: datetime) -> bool:
    return any(holds(c, statement_id, at) for c in cases)


def estimate_disputed(cases: Iterable[Case], statement_id: str, at: datetime) -> bool:
    """An open good-faith-estimate dispute on the statement (No Surprises Act: no
    collection, above all no escalation, while it is open)."""
    return any(
        c.reason is Reason.ESTIMATE_DISPUTE and c.is_open and holds(c, statement_id, at)
        for c in cases
    )


def held_days(
    cases: Iterable[Case], statement_id: str, due_date: date, today: date, tz: tzinfo
) -> int:
    """How many practice days after `due_date`, up to and including `today`, the statement
    was on hold: days that do not count toward its reminder schedule. A day counts when a
    hold covered any part of it."""
    days: set[date] = set()
    for case in cases:
        if case.statement_id is not None and case.statement_id != statement_id:
            continue
        start = practice_date(case.opened_at, tz)
        end_at = hold_end(case)
        # A hold ending on a day covers that day too (the stage due that day waits a day).
        last = today if end_at is None else min(today, practice_date(end_at, tz))
        day = max(start, due_date + timedelta(days=1))
        while day <= last:
            days.add(day)
            day += timedelta(days=1)
    return len(days)


# -- the report ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ReportRow:
    month: str  # YYYY-MM of opening (practice calendar)
    reason: Reason
    outcome: str  # an Outcome's value, or "open"
    cases: int
    median_hours_to_first_answer: float | None  # of those answered


def case_report(cases: Sequence[Case], tz: tzinfo) -> list[ReportRow]:
    """Cases by the month they were opened, reason and outcome, with the median time to
    the practice's first answer."""
    groups: dict[tuple[str, Reason, str], list[Case]] = {}
    for case in cases:
        month = practice_date(case.opened_at, tz).strftime("%Y-%m")
        outcome = case.outcome.value if case.outcome else "open"
        groups.setdefault((month, case.reason, outcome), []).append(case)
    rows = []
    for (month, reason, outcome), found in sorted(groups.items()):
        hours = [
            (c.first_answer_at - c.opened_at).total_seconds() / 3600
            for c in found
            if c.first_answer_at is not None
        ]
        rows.append(
            ReportRow(
                month,
                reason,
                outcome,
                len(found),
                round(statistics.median(hours), 1) if hours else None,
            )
        )
    return rows
