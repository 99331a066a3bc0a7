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
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime, timedelta
from functools import cached_property
from types import EllipsisType

from portal.domain.accounts import Account
from portal.domain.aging import practice_date
from portal.domain.cases import Case, estimate_disputed, held, held_days
from portal.domain.dunning import AccountFacts, Schedule, Skip, Stage, Step, decide
from portal.domain.ledger import balances
from portal.domain.plans import Plan
from portal.domain.staff import EscalationKind, MailRecord
from portal.domain.texting import SmsConsent
from portal.ports.claims import Claim
from portal.ports.mail import OutgoingMessage
from portal.ports.reminders import DueAccount, ReminderBatch
from portal.ports.sms import OutgoingText
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.mail_feedback import is_listed, undeliverable_for, undeliverable_set
from portal.services.notices import (
    Delivery,
    _log_attempt,
    attempt,
    escalation_message,
    new_opt_out_token,
    reminder_message,
    send_claimed,
)
from portal.services.pay_links import pay_link
from portal.services.plans import is_running
from portal.services.staff_actions import new_escalation, open_escalation
from portal.services.texting import (
    active_consent,
    attempt_text,
    may_text_now,
    reminder_text,
    texting_days,
)

log = logging.getLogger(__name__)
SYSTEM = "system"
# Messages claimed together, and marked together once sent: two writes for the batch. Its
# claims are held while the batch is sent (each send gives up after 15 s; claims go stale
# after 10 minutes, portal/services/claims.py).
BATCH = 25


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
    plans = running_plans(services) or {} if due else {}
    # Addresses SES reported as taking no mail, and the cases that hold statements
    # (questions, assistance requests): each read once.
    undeliverable = undeliverable_set(services) if due else frozenset()
    holds = holding_cases(services, schedule) if due else {}
    remind_accounts(
        services,
        progress(due) if progress else due,
        today,
        summary,
        plans,
        undeliverable,
        holds,
        at=as_of,
    )
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


def remind_accounts(
    services: Services,
    items: Iterable[DueAccount],
    today: date,
    summary: ReminderSummary,
    plans: "RunningPlans | None",
    undeliverable: Collection[str] | None = None,
    holds: "HoldingCases | None" = None,
    at: datetime | None = None,
) -> None:
    """Each due account's step today, claimed, sent and marked BATCH at a time.
    `plans`, `holds`: the run's running plans and holding cases, read once; None reads
    each account's own. `undeliverable`: the addresses that take no mail, read here when
    not given. `at`: the run's instant, which quiet hours are told by (the clock's when not
    given)."""
    schedule = schedule_of(services)
    if undeliverable is None:
        undeliverable = undeliverable_set(services)
    batch: list[Planned] = []
    sent = Sent()
    try:
        for item, consents in _with_consents(services, items):
            try:
                planned = _plan(
                    services,
                    schedule,
                    item,
                    today,
                    summary,
                    plans,
                    undeliverable,
                    holds,
                    at,
                    consents,
                )
            except Exception:
                # One account's trouble must not stop everyone else's reminders.
                log.exception("reminders: account %s failed", item.account_number)
                summary.failed += 1
                continue
            if planned is not None:
                batch.append(planned)
            if len(batch) >= BATCH:
                _send_batch(services, batch, today, summary, undeliverable, sent)
                batch = []
        _send_batch(services, batch, today, summary, undeliverable, sent)
    finally:
        # What went out is marked, even when something later raised.
        sent.mark(services)


@dataclass
class Sent:
    """Messages sent and not yet marked, with their mail-log lines: marked in the write
    that claims the next batch, or on their own (`mark`)."""

    done: list[tuple[str, str]] = field(default_factory=list)
    records: list[MailRecord] = field(default_factory=list)

    def mark(self, services: Services) -> None:
        if self.done or self.records:
            services.store.complete_claims(self.done, services.clock.now(), self.records)
            self.done, self.records = [], []


@dataclass(frozen=True)
class Planned:
    """A due account's step, decided, to be claimed, sent and marked with its batch: by
    e-mail (`email`), by text (`text`: the consent, when a text may go now), or both."""

    item: DueAccount
    account: Account
    step: Step
    email: bool = True
    text: SmsConsent | None = None

    @cached_property
    def claim(self) -> Claim:
        key = reminder_key(self.item.account_number, self.item.statement_id, self.step)
        return Claim(self.step.stage.value, key, None, self._payload)

    @cached_property
    def text_claim(self) -> Claim:
        """The step's text: a claim of its own, so each channel goes exactly once."""
        key = reminder_key(self.item.account_number, self.item.statement_id, self.step)
        return Claim(text_kind(self.step.stage), key, None, self._payload)

    @property
    def claims(self) -> list[Claim]:
        return [self.claim] * self.email + [self.text_claim] * (self.text is not None)

    @cached_property
    def _payload(self) -> str:
        return claim_payload(
            account_number=self.item.account_number,
            statement_id=self.item.statement_id,
            step=self.step.name,
        )


TEXT_STAGES = (Stage.REMINDER, Stage.FINAL_NOTICE)  # escalations go to the practice


def text_kind(stage: Stage) -> str:
    """The claim kind of a stage's text: "reminder-text", "final-notice-text"."""
    return f"{stage.value}-text"


def _with_consents(
    services: Services, items: Iterable[DueAccount]
) -> Iterator[tuple[DueAccount, dict[str, SmsConsent]]]:
    """Each due account with the consents to texts of its BATCH, read in one call a batch."""
    chunk: list[DueAccount] = []

    def read() -> dict[str, SmsConsent]:
        try:
            return services.store.sms_consents([i.account_number for i in chunk])
        except Exception:
            log.exception("reminders: the batch's consents to texts were not read")
            return {}

    for item in items:
        chunk.append(item)
        if len(chunk) == BATCH:
            consents = read()
            yield from ((i, consents) for i in chunk)
            chunk = []
    if chunk:
        consents = read()
        yield from ((i, consents) for i in chunk)


def _plan(
    services: Services,
    schedule: Schedule,
    item: DueAccount,
    today: date,
    summary: ReminderSummary,
    plans: "RunningPlans | None",
    undeliverable: Collection[str],
    holds: "HoldingCases | None",
    at: datetime | None = None,
    consents: "dict[str, SmsConsent] | None" = None,
) -> Planned | None:
    """The account's step today; None when it is skipped (or only counted: a dry run).
    `consents`: the consents to texts read for its batch (None: the account's own is read)."""
    account = item.account or services.store.get_account(item.account_number)
    if account is None:
        summary.skipped += 1
        return None
    if consents is None:
        consent = active_consent(services, account.account_number)
    else:
        found = consents.get(account.account_number)
        consent = found if found is not None and found.active else None
    item, step = decide_item(
        services, schedule, account, item, today, plans, holds, undeliverable, consent
    )
    if isinstance(step, Skip):
        summary.skipped += 1
        return None
    planned = _channels(services, Planned(item, account, step), consent, undeliverable, at)
    if not planned.claims:
        summary.skipped += 1  # only a text, outside the hours texts may go: a later run
        return None
    if summary.dry_run:
        summary.escalated += step.stage is Stage.ESCALATION
        summary.sent += step.stage is not Stage.ESCALATION
        return None
    return planned


def _channels(
    services: Services,
    planned: Planned,
    consent: SmsConsent | None,
    undeliverable: Collection[str],
    at: datetime | None = None,
) -> Planned:
    """The ways the step goes: the escalation by e-mail to the practice; a reminder or
    final notice by e-mail to an address that takes mail, and by text to a number agreed
    to, within the hours texts may go."""
    if planned.step.stage not in TEXT_STAGES:
        return planned
    address = planned.account.guarantor.email
    email = bool(address) and not is_listed(address, undeliverable)
    when = at or services.clock.now()
    allowed = consent is not None and texting_days(services).may_text(when, consent.time_zone)
    text = consent if allowed else None
    return replace(planned, email=email, text=text)


def _send_batch(
    services: Services,
    batch: list[Planned],
    today: date,
    summary: ReminderSummary,
    undeliverable: Collection[str],
    sent: Sent,
) -> None:
    """Claim the batch's messages in one write (with the opt-out tokens of its reminders,
    the queue items of its escalations, and the marks of what the batch before it sent),
    send each claimed one, and leave those sent (or refused for good) in `sent` for the
    next write; a failed send releases its claim for the next run or the sweep. Claimed
    before (an earlier run): skipped."""
    if not batch:
        return
    now = services.clock.now()
    email = [p for p in batch if p.email]
    claims = ReminderBatch(
        claims=[c for p in batch for c in p.claims],
        tokens={
            (p.claim.kind, p.claim.key): (p.item.account_number, new_opt_out_token())
            for p in email
            if p.step.stage is not Stage.ESCALATION
        },
        escalations={
            (p.claim.kind, p.claim.key): new_escalation(
                services, SYSTEM, *escalation_of(p.item, today)
            )
            for p in email
            if p.step.stage is Stage.ESCALATION
        },
        finished=sent.done,
        mail=sent.records,
    )
    try:
        taken, tokens = services.store.claim_reminders(claims, now, stale_before(now))
    except Exception:
        # The batch's trouble must not stop the other batches (nothing was sent; what the
        # batch before sent is marked with the next write).
        log.exception("reminders: a batch of %d could not be claimed", len(batch))
        summary.failed += len(batch)
        return
    sent.done, sent.records = [], []
    for planned in batch:
        if planned.email:
            token = tokens.get(planned.item.account_number)
            _send_email(services, planned, today, token, undeliverable, taken, summary, sent)
        if planned.text is not None:
            # A text is marked on its own, with what went before it: a process killed
            # once a message is sent leaves only that one unmarked (to go again).
            sent.mark(services)
            _send_text(services, planned, taken, summary, sent)
            sent.mark(services)


def escalation_of(item: DueAccount, today: date) -> tuple[str, EscalationKind, str, str, str]:
    """A due account's escalation in the staff queue: (account, kind, reason, address,
    key), one item per statement."""
    days = (today - item.due_date).days
    return (
        item.account_number,
        EscalationKind.REMINDER,
        f"{days} days past due after the final notice: statement {item.statement_id}.",
        "",
        f"reminder:{item.account_number}:{item.statement_id}",
    )


def _send_email(
    services: Services,
    planned: Planned,
    today: date,
    token: str | None,
    undeliverable: Collection[str],
    taken: set[tuple[str, str]],
    summary: ReminderSummary,
    sent: Sent,
) -> None:
    claim = planned.claim
    if (claim.kind, claim.key) not in taken:
        summary.skipped += 1  # claimed before: sent by an earlier run
        return
    outcome = _send_planned(services, planned, today, token, undeliverable)
    if outcome is None:
        summary.failed += 1
        return
    delivery, record = outcome
    if delivery is Delivery.FAILED:
        _log_attempt(services, record)
        services.store.release_claim(claim.kind, claim.key)
    else:
        sent.done.append((claim.kind, claim.key))
        sent.records.append(record)
    stage = "escalated" if planned.step.stage is Stage.ESCALATION else "sent"
    _count(summary, delivery, stage)


def _send_text(
    services: Services,
    planned: Planned,
    taken: set[tuple[str, str]],
    summary: ReminderSummary,
    sent: Sent,
) -> None:
    """The step's text, when its claim was taken now (a text claimed before went then)."""
    claim = planned.text_claim
    if (claim.kind, claim.key) not in taken or planned.text is None:
        summary.skipped += not planned.email  # counted once for an account
        return
    delivery, record = attempt_text(
        services, step_text(services, planned), planned.item.account_number
    )
    if delivery is Delivery.FAILED:
        _log_attempt(services, record)
        services.store.release_claim(claim.kind, claim.key)
    else:
        sent.done.append((claim.kind, claim.key))
        sent.records.append(record)
    _count(summary, delivery, "sent")


def step_text(services: Services, planned: Planned) -> OutgoingText:
    """A reminder's or final notice's text: the practice's name and a pay link, nothing
    else about the account."""
    assert planned.text is not None
    link = pay_link(services, planned.item.account_number)
    body = reminder_text(services, planned.account, link)
    return OutgoingText(
        kind=planned.step.stage.value,
        to=planned.text.phone,
        body=body,
        tags={"account": planned.item.account_number},
    )


def _send_planned(
    services: Services,
    planned: Planned,
    today: date,
    opt_out_token: str | None,
    undeliverable: Collection[str] = (),
) -> tuple[Delivery, MailRecord] | None:
    """Build and send one claimed message; None (its claim released) when it could not be
    built."""
    item, claim = planned.item, planned.claim
    try:
        message = _step_message(
            services, planned.account, item, planned.step, today, opt_out_token, opened=True
        )
    except Exception:
        log.exception("reminders: account %s failed", item.account_number)
        services.store.release_claim(claim.kind, claim.key)
        return None
    return attempt(services, message, item.account_number, undeliverable)


def reminder_key(account_number: str, statement_id: str, step: Step) -> str:
    return f"{account_number}:{statement_id}:{step.name}"


def _step_message(
    services: Services,
    account: Account,
    item: DueAccount,
    step: Step,
    today: date,
    opt_out_token: str | None = None,
    opened: bool = False,
) -> OutgoingMessage:
    """The step's message; for the escalation stage, the item in the staff queue first
    (unless `opened`: the batch opened it)."""
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
            opt_out_token,
        )
    if not opened:
        open_escalation(services, SYSTEM, *escalation_of(item, today))
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
    item, step = decide_item(services, schedule, account, item, today)
    if isinstance(step, Skip):
        return _drop(services, claim, str(step))
    now_due = (step.stage.value, step.name, item.statement_id)
    if now_due != (claim.kind, fields.get("step"), fields.get("statement_id")):
        return _drop(services, claim, f"{step.name} on {item.statement_id} is due instead")
    message = _step_message(services, account, item, step, today)
    outcome = send_claimed(services, claim.kind, claim.key, message, number)
    return Finish.LEFT if outcome is Delivery.FAILED else Finish.DONE


def finish_text_reminder_claim(services: Services, claim: Claim, today: date) -> Finish:
    """The sweep's way to finish a reminder's or final notice's text whose sender died:
    sent when the same step is still due, the number still agreed to and texts may go now
    (else left for a later run); dropped when the step is no longer due or the consent
    ended."""
    store, now = services.store, services.clock.now()
    if not store.claim(claim.kind, claim.key, now, stale_before=stale_before(now)):
        return Finish.LEFT
    fields = payload_fields(claim.payload)
    number = str(fields.get("account_number", ""))
    schedule = schedule_of(services)
    first = today - timedelta(days=schedule.first_day)
    item = next((d for d in store.accounts_due(first) if d.account_number == number), None)
    account = store.get_account(number) if item else None
    consent = active_consent(services, number) if account else None
    if item is None or account is None or consent is None:
        return _drop(services, claim, "no longer overdue, or texts were stopped")
    item, step = decide_item(services, schedule, account, item, today, consent=consent)
    if isinstance(step, Skip):
        return _drop(services, claim, str(step))
    if (text_kind(step.stage), step.name, item.statement_id) != (
        claim.kind,
        fields.get("step"),
        fields.get("statement_id"),
    ):
        return _drop(services, claim, f"{step.name} on {item.statement_id} is due instead")
    if not may_text_now(services, consent):
        store.release_claim(claim.kind, claim.key)
        return Finish.LEFT  # outside the hours texts may go: a later run sends it
    planned = Planned(item, account, step, email=False, text=consent)
    delivery, record = attempt_text(services, step_text(services, planned), number)
    if delivery is Delivery.FAILED:
        _log_attempt(services, record)
        store.release_claim(claim.kind, claim.key)
        return Finish.LEFT
    store.complete_claim(claim.kind, claim.key, services.clock.now(), mail=record)
    return Finish.DONE


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


RunningPlans = dict[str, list[Plan]]  # by account


def running_plans(services: Services, at_most: int = 0) -> RunningPlans | None:
    """Every running plan (a method saved, not canceled, not defaulted, not paid off), read
    once per run from the charge run's index of plans it still looks at. With `at_most`:
    None when the index holds more plans than that (read each account's own instead)."""
    limit = at_most + 1 if at_most else RUNNING_PLANS_READ
    listed = services.store.plans_due(EVERY_DAY, limit=limit)
    if at_most and len(listed) > at_most:
        return None
    found: RunningPlans = {}
    for plan in listed:
        if is_running(plan):
            found.setdefault(plan.account_number, []).append(plan)
    return found


RUNNING_PLANS_READ = 1_000_000
EVERY_DAY = date(9999, 12, 30)  # plans_due on this day: every plan still looked at


HoldingCases = dict[str, list[Case]]  # by account


def holding_cases(services: Services, schedule: Schedule) -> HoldingCases:
    """The cases whose hold matters to the run, read once per run: the open ones, and those
    resolved lately enough that their held days still delay a stage (a released statement
    reaches its escalation at most `escalation_day` days after the release)."""
    since = services.clock.now() - timedelta(days=schedule.escalation_day + 1)
    found: HoldingCases = {}
    for case in services.store.holding_cases(since):
        found.setdefault(case.account_number, []).append(case)
    return found


def decide_step(
    services: Services,
    schedule: Schedule,
    account: Account,
    item: DueAccount,
    today: date,
    plans: RunningPlans | None = None,
    holds: HoldingCases | None = None,
    undeliverable: Collection[str] | None = None,
) -> Step | Skip:
    return decide_item(services, schedule, account, item, today, plans, holds, undeliverable)[1]


def decide_item(
    services: Services,
    schedule: Schedule,
    account: Account,
    item: DueAccount,
    today: date,
    plans: RunningPlans | None = None,
    holds: HoldingCases | None = None,
    undeliverable: Collection[str] | None = None,
    consent: SmsConsent | EllipsisType | None = ...,
) -> tuple[DueAccount, Step | Skip]:
    """The account's statement and step today. A statement on hold (an open question, an
    assistance request) is skipped for the oldest one not held, if any; held days do not
    count; a running plan that pays the statement skips it, and so does an address SES
    reported as undeliverable. `plans`, `holds`, `undeliverable`: the run's (read here, for
    the account, when not given)."""
    if holds is None:
        cases = services.store.account_cases(item.account_number)
    else:
        cases = holds.get(item.account_number, [])
    if consent is ...:
        consent = active_consent(services, account.account_number)
    facts = replace(
        _facts(services, account, item, today, undeliverable), has_text=consent is not None
    )
    if cases:
        item, facts = _with_holds(services, item, facts, cases, today)
    return item, _decide_with_plans(services, schedule, facts, item, today, plans)


def _with_holds(
    services: Services, item: DueAccount, facts: AccountFacts, cases: list[Case], today: date
) -> tuple[DueAccount, AccountFacts]:
    now, tz = services.clock.now(), services.settings.tz
    if held(cases, item.statement_id, now):
        other = _oldest_not_held(services, item, cases, now)
        if other is None:
            on_hold = replace(
                facts,
                on_hold=True,
                estimate_dispute=estimate_disputed(cases, item.statement_id, now),
            )
            return item, on_hold
        item = other
        facts = replace(facts, due_date=other.due_date, due_cents=other.due_cents)
    days = held_days(cases, item.statement_id, item.due_date, today, tz)
    return item, replace(facts, held_days=days)


def _oldest_not_held(
    services: Services, item: DueAccount, cases: list[Case], now: datetime
) -> DueAccount | None:
    """The account's oldest open statement that no case holds, with what is owed on the
    statements not held; None when every open statement is held."""
    book = services.store.load_book(item.account_number)
    owed = balances(book.entries).by_statement
    free = sorted(
        (
            s
            for s in book.statements
            if owed.get(s.statement_id, 0) > 0 and not held(cases, s.statement_id, now)
        ),
        key=lambda s: (s.due_date, s.statement_id),
    )
    if not free:
        return None
    due_cents = sum(owed[s.statement_id] for s in free)
    return replace(
        item, statement_id=free[0].statement_id, due_date=free[0].due_date, due_cents=due_cents
    )


def _decide_with_plans(
    services: Services,
    schedule: Schedule,
    facts: AccountFacts,
    item: DueAccount,
    today: date,
    plans: RunningPlans | None,
) -> Step | Skip:
    step = decide(schedule, facts, today)
    if isinstance(step, Skip):
        return step
    if plans is None:
        mine = [p for p in services.store.account_plans(item.account_number) if is_running(p)]
    else:
        mine = plans.get(item.account_number, [])
    if not any(item.statement_id in plan.statement_ids for plan in mine):
        return step
    return decide(schedule, replace(facts, on_plan=True), today)


def _facts(
    services: Services,
    account,
    item: DueAccount,
    today: date,
    undeliverable: Collection[str] | None = None,
) -> AccountFacts:
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
        undeliverable=bool(account.guarantor.email)
        and (
            is_listed(account.guarantor.email, undeliverable)
            if undeliverable is not None
            else undeliverable_for(services, account.guarantor.email) is not None
        ),
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
