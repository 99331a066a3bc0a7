"""The daily reminder run: statement reminders, final notices and escalations, each once.

Only accounts in the store's index of accounts that owe are read. Every message is claimed
in the store first (account, statement, step), then sent, then marked sent. Runs on the
same day, or overlapping runs, send each message once; a run that dies between claim and
send leaves a claim the next run takes over after 10 minutes, so nothing is lost. (A run
that dies in the instant after the mail server took the message and before the mark would
send that one again: e-mail offers no way to make a send and a store write one step.)
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from portal.adapters.store import DueAccount
from portal.bootstrap import Services
from portal.domain.aging import practice_date
from portal.domain.dunning import AccountFacts, Schedule, Skip, Stage, Step, decide
from portal.domain.staff import EscalationKind
from portal.services.notices import Delivery, escalation_message, reminder_message, send_once
from portal.services.staff_actions import open_escalation

log = logging.getLogger(__name__)
SYSTEM = "system"


@dataclass
class ReminderSummary:
    sent: int = 0
    skipped: int = 0
    failed: int = 0
    escalated: int = 0
    due_accounts: int = 0
    before_send_hour: bool = False
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in asdict(self).items() if k in COUNTS}

    @property
    def line(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.counts().items())


COUNTS = ("sent", "skipped", "failed", "escalated")
Progress = Callable[[list[DueAccount]], Iterable[DueAccount]]


def schedule_of(services: Services) -> Schedule:
    s = services.settings
    return Schedule(
        reminder_days=s.reminder_days,
        final_notice_day=s.final_notice_day,
        escalation_day=s.escalation_day,
        minimum_cents=s.reminder_minimum_cents,
        send_hour=s.reminder_send_hour,
    )


def run_reminders(
    services: Services,
    as_of: datetime,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ReminderSummary:
    """Send what is due on the practice's calendar day of `as_of`."""
    schedule = schedule_of(services)
    summary = ReminderSummary(dry_run=dry_run)
    if as_of.astimezone(services.settings.tz).hour < schedule.send_hour:
        summary.before_send_hour = True
        return summary
    today = practice_date(as_of, services.settings.tz)
    due = services.store.accounts_due(today - timedelta(days=schedule.first_day))
    summary.due_accounts = len(due)
    for item in progress(due) if progress else due:
        try:
            _remind(services, schedule, item, today, summary)
        except Exception:
            # One account's trouble must not stop everyone else's reminders.
            log.exception("reminders: account %s failed", item.account_number)
            summary.failed += 1
    log.info("reminders for %s: %s", today, summary.line)
    return summary


def _remind(
    services: Services, schedule: Schedule, item: DueAccount, today: date, summary: ReminderSummary
) -> None:
    account = services.store.get_account(item.account_number)
    if account is None:
        summary.skipped += 1
        return
    step = decide(schedule, _facts(services, account, item, today), today)
    if isinstance(step, Skip):
        summary.skipped += 1
        return
    if summary.dry_run:
        summary.escalated += step.stage is Stage.ESCALATION
        summary.sent += step.stage is not Stage.ESCALATION
        return
    days = (today - item.due_date).days
    key = f"{item.account_number}:{item.statement_id}:{step.name}"
    if step.stage is Stage.ESCALATION:
        _escalate(services, account, item, step, days, key, summary)
        return
    message = reminder_message(
        services, account, step.stage.value, item.statement_id, item.due_cents, item.due_date, days
    )
    outcome = send_once(services, step.stage.value, key, message, item.account_number)
    _count(summary, outcome, "sent")


def _escalate(services, account, item: DueAccount, step: Step, days: int, key: str, summary):
    open_escalation(
        services,
        SYSTEM,
        item.account_number,
        EscalationKind.REMINDER,
        f"{days} days past due after the final notice: statement {item.statement_id}.",
        key=f"reminder:{item.account_number}:{item.statement_id}",
    )
    message = escalation_message(services, account, item.statement_id, item.due_cents, days)
    outcome = send_once(services, step.stage.value, key, message, item.account_number)
    _count(summary, outcome, "escalated")


def _count(summary: ReminderSummary, outcome: Delivery | None, done: str) -> None:
    if outcome is None:
        summary.skipped += 1  # claimed before: sent by an earlier run
    elif outcome is Delivery.SENT:
        setattr(summary, done, getattr(summary, done) + 1)
    else:
        summary.failed += 1


def _facts(services: Services, account, item: DueAccount, today: date) -> AccountFacts:
    open_items = services.store.escalations(account_number=account.account_number)
    promises = [e.promise_to_pay_on for e in open_items if e.promise_to_pay_on]
    promises += [
        n.promise_to_pay_on
        for n in services.store.notes(account.account_number)
        if n.promise_to_pay_on and n.promise_to_pay_on >= today
    ]
    return AccountFacts(
        due_cents=item.due_cents,
        due_date=item.due_date,
        has_email=bool(account.guarantor.email),
        opted_out=account.reminders_opted_out_at is not None,
        open_dispute=any(e.kind is EscalationKind.DISPUTE for e in open_items),
        promised_until=max(promises, default=None),
    )


@dataclass(frozen=True)
class ReminderStatus:
    """Where an account stands in the reminder schedule, for the staff account page."""

    days_past_due: int  # of the oldest open statement; 0 when nothing is past due
    current: Step | None  # the latest step that has come due
    next_step: Step | None
    next_on: date | None
    opted_out: bool


def reminder_status(services: Services, view) -> ReminderStatus:
    schedule = schedule_of(services)
    oldest = view.open_statements[0].statement if view.open_statements else None
    days = max(0, (view.today - oldest.due_date).days) if oldest else 0
    current = schedule.step_for(days) if oldest else None
    later = [s for s in schedule.steps() if s.day > days] if oldest else []
    return ReminderStatus(
        days_past_due=days,
        current=current,
        next_step=later[0] if later else None,
        next_on=oldest.due_date + timedelta(days=later[0].day) if later else None,
        opted_out=view.account.reminders_opted_out_at is not None,
    )
