"""The reminder schedule: which message an overdue account is due, if any, on a given day.

Days count on the practice's calendar from the due date of the account's oldest open
statement. On any day only the latest stage that has come due is sent: a stage missed
while the job did not run goes out late, once, and an earlier stage never follows a later
one.
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum


class Stage(StrEnum):
    REMINDER = "reminder"
    FINAL_NOTICE = "final-notice"
    ESCALATION = "escalation"


@dataclass(frozen=True)
class Step:
    stage: Stage
    day: int  # days past due at which it comes due

    @property
    def name(self) -> str:
        return f"{self.stage}-{self.day}"


class Skip(StrEnum):
    NOT_DUE = "not due yet"
    PAID = "paid"
    UNDER_MINIMUM = "under the minimum"
    DISPUTE = "open dispute"
    PAYMENT_PLAN = "payment plan"
    OPTED_OUT = "opted out"
    NO_ADDRESS = "no e-mail address"
    UNDELIVERABLE = "e-mail address undeliverable"
    ON_HOLD = "on hold (a question or a request for help is open)"
    ESTIMATE_DISPUTE = "good-faith estimate dispute open"


@dataclass(frozen=True)
class Schedule:
    reminder_days: tuple[int, ...] = (15, 30)
    final_notice_day: int = 60
    escalation_day: int = 90
    minimum_cents: int = 500
    send_hour: int = 8  # practice time; a run before it sends nothing

    def steps(self) -> list[Step]:
        return sorted(
            [Step(Stage.REMINDER, d) for d in self.reminder_days]
            + [Step(Stage.FINAL_NOTICE, self.final_notice_day)]
            + [Step(Stage.ESCALATION, self.escalation_day)],
            key=lambda step: step.day,
        )

    @property
    def first_day(self) -> int:
        return self.steps()[0].day

    def step_for(self, days_past_due: int) -> Step | None:
        """The latest step that has come due, or None before the first."""
        due = [step for step in self.steps() if step.day <= days_past_due]
        return due[-1] if due else None


@dataclass(frozen=True)
class AccountFacts:
    due_cents: int
    due_date: date  # of the oldest open statement
    has_email: bool
    opted_out: bool
    open_dispute: bool
    promised_until: date | None  # a payment plan or promise to pay, kept until this day
    # A running payment plan (not defaulted, not canceled) pays the statement: its own
    # notices go instead. When it ends, the statement is back at the stage its days past
    # due reach.
    on_plan: bool = False
    # SES reported the address as one that takes no mail (a permanent bounce, a complaint).
    undeliverable: bool = False
    # A collection hold (portal/domain/cases.py): an open question on the statement, or a
    # financial-assistance request on the account. The days it was held do not count:
    # released, the statement goes on from the stage it had reached.
    on_hold: bool = False
    estimate_dispute: bool = False  # open: never a notice, never an escalation
    held_days: int = 0
    # The account agreed to billing texts (issue 22): reminders and final notices go by
    # text too, and by text alone when there is no e-mail address that takes mail.
    has_text: bool = False


def decide(schedule: Schedule, facts: AccountFacts, today: date) -> Step | Skip:
    """The step to take for the account today, or why none is taken."""
    step = schedule.step_for((today - facts.due_date).days - facts.held_days)
    if facts.estimate_dispute:
        return Skip.ESTIMATE_DISPUTE
    if facts.on_hold:
        return Skip.ON_HOLD
    if step is None:
        return Skip.NOT_DUE
    if facts.due_cents <= 0:
        return Skip.PAID
    if facts.due_cents < schedule.minimum_cents:
        return Skip.UNDER_MINIMUM
    if facts.open_dispute:
        return Skip.DISPUTE
    if facts.on_plan or (facts.promised_until is not None and facts.promised_until >= today):
        return Skip.PAYMENT_PLAN
    if step.stage is not Stage.ESCALATION:  # escalations go to the practice, not the patient
        if facts.opted_out:
            return Skip.OPTED_OUT
        if not facts.has_email and not facts.has_text:
            return Skip.NO_ADDRESS
        if facts.undeliverable and not facts.has_text:
            return Skip.UNDELIVERABLE
    return step
