"""The daily reminder run: statement reminders, final notices and escalations, each once.

Only accounts in the store's index of accounts that owe are read. Every message is claimed
in the store first (account, statement, step), then sent, then marked sent. Runs on the
same day, or overlapping runs, send each message once; a run that dies between claim and
send leaves a claim the next run takes over once it is stale (portal/services/claims.py),
or that the run's sweep of unfinished claims sends (or drops, when no longer due), so
nothing is lost. The sweep (portal/services/sweep.py) runs after the reminders. (A run
that dies in the instant after the mail server took the message and before the mark would
send that one again: e-mail offers no way to make a send and a store write one step.)
"""

import logging
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta

from portal.domain.accounts import Account
from portal.domain.aging import practice_date
from portal.domain.dunning import AccountFacts, Schedule, Skip, Stage, Step, decide
from portal.domain.staff import EscalationKind
from portal.ports.mail import OutgoingMessage
from portal.ports.store import Claim, DueAccount
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.notices import (
    Delivery,
    escalation_message,
    reminder_message,
    send_claimed,
    send_once,
)
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
    swept: int = 0  # unfinished claims the sweep closed (a dry run: would try)
    unfinished: int = 0  # unfinished claims it left for the next run
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
    # Then whatever was claimed and never finished (an event, a receipt, a notice, a
    # reminder whose sender died): imported here, as the sweep finishes reminders with this
    # module.
    from portal.services.sweep import sweep_claims

    swept = sweep_claims(services, today, dry_run=dry_run)
    summary.swept, summary.unfinished = swept.closed, swept.left
    log.info(
        "reminders for %s: %s swept=%d unfinished=%d",
        today,
        summary.line,
        summary.swept,
        summary.unfinished,
    )
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
    message = _step_message(services, account, item, step, today)
    outcome = send_once(
        services,
        step.stage.value,
        reminder_key(item.account_number, item.statement_id, step),
        message,
        item.account_number,
        payload=claim_payload(
            account_number=item.account_number, statement_id=item.statement_id, step=step.name
        ),
    )
    _count(summary, outcome, "escalated" if step.stage is Stage.ESCALATION else "sent")


def reminder_key(account_number: str, statement_id: str, step: Step) -> str:
    return f"{account_number}:{statement_id}:{step.name}"


def _step_message(
    services: Services, account: Account, item: DueAccount, step: Step, today: date
) -> OutgoingMessage:
    """The step's message; for the escalation stage, the item in the staff queue first."""
    days = (today - item.due_date).days
    if step.stage is not Stage.ESCALATION:
        return reminder_message(
            services,
            account,
            step.stage.value,
            item.statement_id,
            item.due_cents,
            item.due_date,
            days,
        )
    open_escalation(
        services,
        SYSTEM,
        item.account_number,
        EscalationKind.REMINDER,
        f"{days} days past due after the final notice: statement {item.statement_id}.",
        key=f"reminder:{item.account_number}:{item.statement_id}",
    )
    return escalation_message(services, account, item.statement_id, item.due_cents, days)


def finish_reminder_claim(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's way to finish a reminder, final notice or escalation whose sender died:
    decided again for its account today. Sent when the same step is still the one due for
    the same statement; otherwise the claim is dropped (with the reason in the log), and
    the daily run decides afresh."""
    store, now = services.store, services.clock.now()
    if not store.claim(claim.kind, claim.key, now, stale_before=stale_before(now)):
        return Finish.LEFT  # another run holds it (or sent it) since it was listed
    fields = payload_fields(claim.payload)
    number = str(fields.get("account_number", ""))
    schedule = schedule_of(services)
    first = today - timedelta(days=schedule.first_day)
    item = next((d for d in store.accounts_due(first) if d.account_number == number), None)
    account = store.get_account(number) if item else None
    if item is None or account is None:
        return _drop(services, claim, "the account is no longer overdue")
    step = decide(schedule, _facts(services, account, item, today), today)
    if isinstance(step, Skip):
        return _drop(services, claim, str(step))
    now_due = (step.stage.value, step.name, item.statement_id)
    if now_due != (claim.kind, fields.get("step"), fields.get("statement_id")):
        return _drop(services, claim, f"{step.name} on {item.statement_id} is due instead")
    message = _step_message(services, account, item, step, today)
    outcome = send_claimed(services, claim.kind, claim.key, message, number)
    return Finish.LEFT if outcome is Delivery.FAILED else Finish.DONE


def _drop(services: Services, claim: Claim, reason: str) -> Finish:
    services.store.drop_claim(claim.kind, claim.key)
    log.info("reminders: %s %s dropped: %s", claim.kind, claim.key, reason)
    return Finish.DROPPED


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
        next_on=oldest.due_date + timedelta(days=later[0].day) if oldest and later else None,
        opted_out=view.account.reminders_opted_out_at is not None,
    )
