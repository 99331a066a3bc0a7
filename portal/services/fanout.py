"""The daily jobs fanned out (issue 19): the scheduled function plans, workers send.

`plan_reminders` reads the accounts that owe (the same index `portal reminders` reads) and
puts them on the work queue in batches of `PORTAL_WORK_BATCH_SIZE`; the worker function
runs each batch with `run_batch`, through the same claims as the one-process run, so a
batch delivered twice, or taken again after a worker died half way, sends each reminder
once. A batch for another day than the practice's today is dropped: the planner of that day
queued its own. A body that cannot be read is refused with BadBatch (the queue's
dead-letter queue keeps it after a few tries).
"""

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from portal.domain.aging import practice_date
from portal.ports.reminders import DueAccount
from portal.services.context import Services
from portal.services.reminders import ReminderSummary, remind_accounts, schedule_of

log = logging.getLogger(__name__)

REMINDERS = "reminders"
JOBS = (REMINDERS,)
MAX_BATCH = 1000


class BadBatch(Exception):
    """A queue message that is not a batch this portal reads: never worth another try."""


@dataclass(frozen=True)
class Batch:
    job: str
    day: date
    accounts: tuple[DueAccount, ...]

    @property
    def size(self) -> int:
        return len(self.accounts)

    def body(self) -> str:
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


def run_batch(services: Services, batch: Batch, as_of: datetime) -> ReminderSummary:
    """Run one batch: each account's reminder of today claimed, sent and marked; a batch of
    another day is skipped whole."""
    summary = ReminderSummary(due_accounts=len(batch.accounts))
    today = practice_date(as_of, services.settings.tz)
    if batch.day != today:
        summary.skipped = len(batch.accounts)
        log.info("reminders batch of %s dropped on %s", batch.day, today)
        return summary
    remind_accounts(services, batch.accounts, today, summary, plans=None)
    log.info("reminders batch for %s: %s", today, summary.line)
    return summary


def _chunks(items: Sequence[DueAccount], size: int) -> Iterator[tuple[DueAccount, ...]]:
    for start in range(0, len(items), size):
        yield tuple(items[start : start + size])
