"""The scheduled jobs fanned out (issue 19): the scheduled functions plan, workers send,
charge and POST.

`plan_reminders` reads the accounts that owe (the same index `portal reminders` reads) and
puts them on the work queue in batches of `PORTAL_WORK_BATCH_SIZE`; `plan_plan_charges`
does the same with the ids of the payment plans due (the index `portal plans charge`
reads), and `plan_webhooks` with the outbound webhook deliveries due (after making those of
new money events, as `portal webhooks deliver` does). The worker function runs each batch
with `take_batch`, through the same claims as the one-process runs, so a batch delivered
twice, or taken again after a worker died half way, sends each reminder, charges each
installment's try and POSTs each delivery once (a delivery is taken by a lease before its
POST). A reminder or plan batch for another day than the practice's today is dropped: the
planner of that day queued its own; a webhooks batch is not (each delivery is read again
and POSTed only if still due). A body that cannot be read is refused with BadBatch (the
queue's dead-letter queue keeps it after a few tries).
"""

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from portal.domain.aging import practice_date
from portal.ports.reminders import DueAccount
from portal.services.context import Services
from portal.services.mail_feedback import undeliverable_set
from portal.services.outbound_webhooks import deliver_listed, queue_deliveries
from portal.services.plan_charges import ChargeSummary, charge_plans
from portal.services.reminders import (
    ReminderSummary,
    holding_cases,
    remind_accounts,
    running_plans,
    schedule_of,
)

log = logging.getLogger(__name__)

REMINDERS = "reminders"
PLAN_CHARGES = "plans"
WEBHOOKS = "webhooks"
JOBS = (REMINDERS, PLAN_CHARGES, WEBHOOKS)
MAX_BATCH = 1000
PLANS_AT_MOST = 10_000_000  # every plan due today: the planner reads them in one pass
# Deliveries due queued by one webhooks plan (every 5 minutes): more wait for the next.
WEBHOOKS_AT_MOST = 20_000
# A batch reads every plan still looked at up to this many (some 25 pages of 1 MB, a
# quarter of a call per account of a batch of 100); past it, each account's own (1 call).
BATCH_PLANS_READ = 5_000


IDS = {PLAN_CHARGES: "plans", WEBHOOKS: "events"}  # the jobs whose batches list ids: where


class BadBatch(Exception):
    """A queue message that is not a batch this portal reads: never worth another try."""


@dataclass(frozen=True)
class Batch:
    job: str
    day: date
    accounts: tuple[DueAccount, ...] = ()
    plan_ids: tuple[str, ...] = ()
    event_ids: tuple[str, ...] = ()  # of the webhook deliveries

    @property
    def size(self) -> int:
        return len(self.accounts) + len(self.plan_ids) + len(self.event_ids)

    def body(self) -> str:
        if self.job in IDS:
            field, ids = IDS[self.job], self.plan_ids or self.event_ids
            return json.dumps(
                {"job": self.job, "day": self.day.isoformat(), field: list(ids)},
                separators=(",", ":"),
            )
        return json.dumps(
            {
                "job": self.job,
                "day": self.day.isoformat(),
                "accounts": [
                    [a.account_number, a.statement_id, a.due_date.isoformat(), a.due_cents]
                    for a in self.accounts
                ],
            },
            separators=(",", ":"),
        )


def read_batch(body: str) -> Batch:
    """The batch a queue message carries; BadBatch naming what is wrong."""
    try:
        data = json.loads(body)
    except ValueError:
        raise BadBatch("The message is not JSON.") from None
    if not isinstance(data, dict) or data.get("job") not in JOBS:
        raise BadBatch(f"The message names no known job (one of {', '.join(JOBS)}).")
    try:
        day = date.fromisoformat(data["day"])
    except (KeyError, TypeError, ValueError):
        raise BadBatch("The message's day is not a date (YYYY-MM-DD).") from None
    if data["job"] in IDS:
        field = IDS[data["job"]]
        ids = data.get(field)
        if not isinstance(ids, list) or not 0 < len(ids) <= MAX_BATCH:
            raise BadBatch(f"The message's {field} must be a list of 1 to {MAX_BATCH}.")
        if not all(isinstance(one, str) and one for one in ids):
            raise BadBatch(f"The message's {field} must be {field[:-1]} ids (text).")
        if data["job"] == PLAN_CHARGES:
            return Batch(PLAN_CHARGES, day, plan_ids=tuple(ids))
        return Batch(WEBHOOKS, day, event_ids=tuple(ids))
    rows = data.get("accounts")
    if not isinstance(rows, list) or not 0 < len(rows) <= MAX_BATCH:
        raise BadBatch(f"The message's accounts must be a list of 1 to {MAX_BATCH}.")
    accounts = []
    for n, row in enumerate(rows):
        try:
            number, statement_id, due, cents = row
            if not (isinstance(number, str) and isinstance(statement_id, str)):
                raise TypeError
            if type(cents) is not int or cents < 0:
                raise TypeError
            accounts.append(DueAccount(number, statement_id, date.fromisoformat(due), cents))
        except (TypeError, ValueError):
            raise BadBatch(
                f"accounts[{n}] is not [account number, statement id, due date, cents]."
            ) from None
    return Batch(data["job"], day, tuple(accounts))


@dataclass
class QueuedSummary:
    batches: int = 0
    accounts: int = 0
    swept: int = 0
    unfinished: int = 0
    before_send_hour: bool = False
    made: int = 0  # webhook deliveries made for new money events

    @property
    def line(self) -> str:
        return (
            f"queued batches={self.batches} accounts={self.accounts}"
            f" swept={self.swept} unfinished={self.unfinished}"
        )


def plan_reminders(services: Services, as_of: datetime) -> QueuedSummary:
    """Queue today's due accounts in batches for the workers (nothing before the send hour)."""
    queue = services.work_queue
    if queue is None:
        raise RuntimeError("plan_reminders needs a work queue (PORTAL_WORK_QUEUE_URL).")
    schedule = schedule_of(services)
    summary = QueuedSummary()
    if as_of.astimezone(services.settings.tz).hour < schedule.send_hour:
        summary.before_send_hour = True
        return summary
    today = practice_date(as_of, services.settings.tz)
    due = services.store.accounts_due(today - timedelta(days=schedule.first_day))
    size = services.settings.work_batch_size
    bodies = [Batch(REMINDERS, today, chunk).body() for chunk in _chunks(due, size)]
    queue.send(bodies)
    summary.batches, summary.accounts = len(bodies), len(due)
    # Claims whose sender died (a worker killed, a receipt never marked): only stale ones
    # are touched, so the batches just queued are not raced.
    from portal.services.sweep import sweep_claims

    swept = sweep_claims(services, today)
    summary.swept, summary.unfinished = swept.closed, swept.left
    log.info("reminders for %s: %s", today, summary.line)
    return summary


def plan_plan_charges(services: Services, as_of: datetime) -> QueuedSummary:
    """Queue the ids of the plans due today in batches for the workers."""
    queue = services.work_queue
    if queue is None:
        raise RuntimeError("plan_plan_charges needs a work queue (PORTAL_WORK_QUEUE_URL).")
    today = practice_date(as_of, services.settings.tz)
    due = [plan.plan_id for plan in services.store.plans_due(today, PLANS_AT_MOST)]
    size = services.settings.work_batch_size
    bodies = [
        Batch(PLAN_CHARGES, today, plan_ids=tuple(due[start : start + size])).body()
        for start in range(0, len(due), size)
    ]
    queue.send(bodies)
    summary = QueuedSummary(batches=len(bodies), accounts=len(due))
    log.info("plan charges for %s: %s", today, summary.line)
    return summary


def plan_webhooks(services: Services, as_of: datetime) -> QueuedSummary:
    """Make the deliveries of new money events, then queue those due in batches for the
    workers (nothing without a receiver)."""
    queue = services.work_queue
    if queue is None:
        raise RuntimeError("plan_webhooks needs a work queue (PORTAL_WORK_QUEUE_URL).")
    if services.webhooks is None:
        return QueuedSummary()
    made = queue_deliveries(services, as_of)
    due = [d.event_id for d in services.store.due_deliveries(as_of, WEBHOOKS_AT_MOST)]
    today = practice_date(as_of, services.settings.tz)
    size = services.settings.work_batch_size
    bodies = [
        Batch(WEBHOOKS, today, event_ids=tuple(due[start : start + size])).body()
        for start in range(0, len(due), size)
    ]
    queue.send(bodies)
    summary = QueuedSummary(batches=len(bodies), accounts=len(due), made=made)
    log.info("webhooks at %s: made=%s %s", as_of, made, summary.line)
    return summary


@dataclass(frozen=True)
class Taken:
    """What a worker did with one batch: the job's counts, and whether the batch is worth
    another delivery (a send that may go through next time, a plan whose run raised)."""

    counts: dict[str, int]
    again: bool


def take_batch(services: Services, batch: Batch, as_of: datetime) -> Taken:
    if batch.job == PLAN_CHARGES:
        charges = charge_batch(services, batch, as_of)
        return Taken(charges.counts(), charges.raised > 0)
    if batch.job == WEBHOOKS:
        # A failed POST is the delivery's own retry (kept on it); only a raise retries this.
        return Taken(deliver_listed(services, batch.event_ids), False)
    reminders = run_batch(services, batch, as_of)
    return Taken(reminders.counts(), reminders.failed > 0)


@dataclass
class BatchCharges(ChargeSummary):
    raised: int = 0

    def counts(self) -> dict[str, int]:
        return {k: v for k, v in super().counts().items() if k != "raised"}


def charge_batch(services: Services, batch: Batch, as_of: datetime) -> BatchCharges:
    """Run one batch of plans due today; a batch of another day is skipped whole."""
    summary = BatchCharges()
    today = practice_date(as_of, services.settings.tz)
    if batch.day != today:
        summary.skipped = batch.size
        log.info("plans batch of %s dropped on %s", batch.day, today)
        return summary
    summary.raised = charge_plans(services, batch.plan_ids, today, summary)
    log.info("plans batch for %s: %s", today, summary.line)
    return summary


def run_batch(services: Services, batch: Batch, as_of: datetime) -> ReminderSummary:
    """Run one batch: each account's reminder of today claimed, sent and marked; a batch of
    another day is skipped whole."""
    summary = ReminderSummary(due_accounts=len(batch.accounts))
    today = practice_date(as_of, services.settings.tz)
    if batch.day != today:
        summary.skipped = len(batch.accounts)
        log.info("reminders batch of %s dropped on %s", batch.day, today)
        return summary
    # What the one-process run reads once, read once per batch instead of per account:
    # the running plans (unless there are so many that each account's own cost less), the
    # holding cases and the undeliverable addresses.
    remind_accounts(
        services,
        batch.accounts,
        today,
        summary,
        plans=running_plans(services, at_most=BATCH_PLANS_READ),
        undeliverable=undeliverable_set(services),
        holds=holding_cases(services, schedule_of(services)),
        at=as_of,
    )
    log.info("reminders batch for %s: %s", today, summary.line)
    return summary


def _chunks(items: Sequence[DueAccount], size: int) -> Iterator[tuple[DueAccount, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])
