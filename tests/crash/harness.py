"""Run one scenario step in a child process, kill it at a write step, restart, redeliver,
finish, and check the outcome against the scenario's own numbers.

The child is `os.fork()`ed after every import, and builds its own services (its own SQLite
connection, its own boto3 client to moto's server, its own HTTP client to the Stripe stub):
nothing but the files, the DynamoDB table and the stub's memory (in the parent) is shared,
exactly what survives a real crash. The restart is the parent building fresh services on
the same SQLite file / the same table.
"""

import functools
import json
import os
import signal
import sqlite3
import tempfile
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path
from typing import Protocol

from portal.adapters.email_templates import EmailRenderer
from portal.adapters.outbox_sms import read_outbox
from portal.adapters.sqlite.store import SqliteStore
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.ledger import EntryKind
from portal.resources import template_dir
from portal.services.context import Services
from portal.services.reminders import run_reminders
from tests.conftest import NOW, copy_of_migrated
from tests.crash.faults import KILLED, KillPoint, Recorder, with_faults
from tests.stripe_fixtures import stripe_settings
from tests.stripe_stub import StripeStub, stripe_stub

# After the crash: the input comes again at once (the sender never got an answer), again
# an hour later if that answer asked for another try (as Stripe retries), and the daily run
# comes a day later, past every claim's expiry.
REDELIVER_AT = (timedelta(minutes=1), timedelta(hours=1))
FINISH_AT = timedelta(days=1)
CHILD_TIMEOUT_SECONDS = 30
WEBHOOK_SECRET = "whsec_test_crash"
SEND = "mailer.send"
TEXT_SEND = "texts.send"  # a text: like an e-mail, no send and store write are one step
EMAILS = EmailRenderer(template_dir())
HEADERS = BytesHeaderParser(policy=policy.default)  # the outbox check reads no body


# -- where the records live ------------------------------------------------------------------


@dataclass
class Backend:
    """One store's records (a SQLite file or a DynamoDB table), outbox and settings."""

    kind: str  # sqlite | dynamodb
    settings: Settings

    def services(self, at: datetime) -> Services:
        # A fresh store, mailer and gateway, as a restarted process has; the templates are
        # compiled once (they hold nothing a crash could leave behind).
        return replace(build_services(self.settings, clock=FixedClock(at)), emails=EMAILS)

    def unfinished_claims(self) -> list[tuple[str, str]]:
        """Claims never marked sent, read from the records themselves (not the store)."""
        if self.kind == "sqlite":
            with sqlite3.connect(self.settings.sqlite_path) as conn:
                rows = conn.execute("SELECT kind, key FROM messages WHERE sent_at IS NULL")
                return sorted(rows.fetchall())
        import boto3

        client = boto3.client("dynamodb")
        found = []
        for page in client.get_paginator("scan").paginate(
            TableName=self.settings.dynamodb_table,
            FilterExpression="begins_with(PK, :m) AND attribute_not_exists(sent_at)",
            ExpressionAttributeValues={":m": {"S": "MESSAGE#"}},
        ):
            for item in page["Items"]:
                _, kind, key = item["PK"]["S"].split("#", 2)
                found.append((kind, key))
        return sorted(found)

    def outbox(self) -> Counter:
        """(kind, to) of every message the mailer took."""
        found: Counter = Counter()
        for path in Path(self.settings.outbox_dir).glob("*.eml"):
            message = HEADERS.parsebytes(path.read_bytes())
            found[(message["X-Portal-Message-Kind"], message["To"])] += 1
        # Texts as the message log names them ("text-reminder" to the number).
        for text in read_outbox(self.settings.sms_outbox_dir):
            found[(f"text-{text['kind']}", text["to"])] += 1
        return found

    def drop(self) -> None:
        if self.kind == "dynamodb":
            import boto3

            boto3.client("dynamodb").delete_table(TableName=self.settings.dynamodb_table)


@functools.cache
def _migrated_sqlite() -> Path:
    """An SQLite file every migration has run on, made once per process (each test's file
    starts as a copy of it, as in tests/conftest.py)."""
    folder = tempfile.TemporaryDirectory(prefix="crash-migrated-")
    _kept.append(folder)
    path = Path(folder.name) / "portal.sqlite3"
    store = SqliteStore(path)
    store.migrate()
    store.close()
    return path


_kept: list[tempfile.TemporaryDirectory] = []


@contextmanager
def backend(kind: str, folder: Path, stub: StripeStub) -> Iterator[Backend]:
    table = f"crash-{uuid.uuid4().hex[:12]}"
    settings = Settings.from_env(
        {
            "PORTAL_STORE": kind,
            "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
            "PORTAL_DYNAMODB_TABLE": table,
            "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
            "PORTAL_SMS_OUTBOX_DIR": str(folder / "sms"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
        }
    )
    settings = replace(stripe_settings(settings, stub), stripe_webhook_secret=WEBHOOK_SECRET)
    made = Backend(kind, settings)
    if kind == "sqlite":
        copy_of_migrated(_migrated_sqlite(), Path(settings.sqlite_path))
    made.services(NOW).store.migrate()  # nothing left to do on a copy
    try:
        yield made
    finally:
        made.drop()


@contextmanager
def processor() -> Iterator[StripeStub]:
    """The card processor's side: the Stripe stand-in, in the parent process."""
    with stripe_stub(webhook_secret=WEBHOOK_SECRET) as running:
        yield running


# -- scenarios -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """What must be true in the end, from the scenario's own numbers."""

    account_number: str
    balance_cents: int  # the sum of every ledger entry on the account
    paid: dict[str, int] = field(default_factory=dict)  # payment id -> cents taken, posted once
    refunded: dict[str, int] = field(default_factory=dict)  # payment id -> cents given back
    # payment id -> cents of the one off-session charge the processor made for it; when set,
    # the processor's succeeded off-session charges must be exactly these (one each)
    charged: dict[str, int] = field(default_factory=dict)
    messages: Counter = field(default_factory=Counter)  # (kind, to) -> times, each once
    audited: Counter = field(default_factory=Counter)  # (actor, action) -> times, each once
    # payout id -> (reconciled, fees in cents, {payment id: fee}): kept once, whole
    payouts: dict[str, tuple[bool, int, dict[str, int]]] = field(default_factory=dict)


class Scenario(Protocol):
    name: str

    def prepare(self, services: Services, stub: StripeStub) -> None:
        """Records (and the processor's side) as they are before the input comes."""

    def deliver(self, services: Services) -> bool:
        """Deliver the input once; True when its sender would try again later."""

    def expected(self) -> Expected: ...


# -- processes -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildResult:
    status: int  # the exit status: KILLED, 0 (finished) or 1 (raised)
    steps: list[str]
    retry: bool
    error: str = ""


def start_child(work: Callable[[Recorder], bool], recorder: Recorder) -> int:
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        code = 0
        try:
            retry = work(recorder)
            recorder.save(retry=retry)
        except BaseException:
            recorder.save(error=traceback.format_exc())
            code = 1
        finally:
            os._exit(code)
    return pid


def wait_child(pid: int, recorder: Recorder) -> ChildResult:
    deadline = time.monotonic() + CHILD_TIMEOUT_SECONDS
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise AssertionError(f"the child {pid} did not finish in {CHILD_TIMEOUT_SECONDS} s")
        time.sleep(0.005)
    report = json.loads(recorder.report.read_text()) if recorder.report.exists() else {}
    return ChildResult(
        os.waitstatus_to_exitcode(status),
        report.get("steps", []),
        bool(report.get("retry")),
        report.get("error", ""),
    )


def delivery(
    scenario: Scenario, where: Backend, at: datetime, gate: int | None = None
) -> Callable[[Recorder], bool]:
    """One delivery of the input in a fresh process, every write step counted; with a
    `gate` (a pipe's read end), the delivery starts when a byte comes through it."""

    def work(recorder: Recorder) -> bool:
        services = with_faults(where.services(at), recorder)
        if gate is not None:
            os.read(gate, 1)
        return scenario.deliver(services)

    return work


def redeliver_and_finish(scenario: Scenario, where: Backend, retry: bool) -> None:
    """The restart: the input again (and again later while its sender is told to retry),
    then the daily run a day later."""
    for delay in REDELIVER_AT:
        if not retry:
            break
        retry = scenario.deliver(where.services(NOW + delay))
    later = NOW + FINISH_AT
    run_reminders(where.services(later), as_of=later)


def run_killed(scenario: Scenario, where: Backend, kill: KillPoint, folder: Path) -> ChildResult:
    """Deliver the input in a child killed at `kill`; restart, redeliver, finish."""
    recorder = Recorder(kill, folder / "child.json")
    child = wait_child(start_child(delivery(scenario, where, NOW), recorder), recorder)
    assert child.status == KILLED and len(child.steps) == kill.step, (
        f"the child did not die at write step {kill.step} ({kill.when}): exit status "
        f"{child.status}, steps {child.steps}\n{child.error}"
    )
    # The sender never heard back from a killed process: it delivers again.
    redeliver_and_finish(scenario, where, retry=True)
    return child


def run_together(scenario: Scenario, where: Backend, folder: Path) -> list[ChildResult]:
    """Deliver the input in two processes at the same moment; then as after a crash."""
    recorders = [Recorder(None, folder / f"child-{n}.json") for n in range(2)]
    gate, go = os.pipe()
    try:
        pids = [start_child(delivery(scenario, where, NOW, gate), r) for r in recorders]
        os.write(go, b"go")  # one byte each: both start together, services built
        children = [wait_child(pid, r) for pid, r in zip(pids, recorders, strict=True)]
    finally:
        os.close(gate)
        os.close(go)
    for child in children:
        assert child.status == 0, child.error
    redeliver_and_finish(scenario, where, retry=any(c.retry for c in children))
    return children


def trace(scenario: Scenario, folder: Path) -> list[str]:
    """The write steps of one clean delivery on SQLite, in this process."""
    with processor() as stub, backend("sqlite", folder, stub) as where:
        scenario.prepare(where.services(NOW), stub)
        recorder = Recorder()
        delivery(scenario, where, NOW)(recorder)
        return recorder.steps


# -- the independent check -------------------------------------------------------------------


def check_outcome(
    scenario: Scenario, where: Backend, stub: StripeStub, last_done: str = ""
) -> None:
    """Money, the processor, mail, the audit log and claims agree with the scenario's own
    numbers.

    The one allowance: when the process died right after the mailer took a message (its last
    write step, `last_done`, was that send; no store write could say so yet), that message
    may go once more, and only the second send may be in the mail log (with several
    messages of one kind to one address, one of them may go once more). E-mail offers no way
    to make a send and a store write one step (see portal/services/reminders.py).
    """
    expected = scenario.expected()
    store = where.services(NOW + FINISH_AT).store
    records = store.account_records(expected.account_number)
    assert records is not None, f"account {expected.account_number} is missing"
    entries = records.entries
    problems = []

    total = sum(e.amount_cents for e in entries)
    if total != expected.balance_cents:
        problems.append(f"ledger sums to {total} cents, expected {expected.balance_cents}")
    for payment_id, cents in expected.paid.items():
        paid = [e for e in entries if e.payment_id == payment_id]
        taken = -sum(e.amount_cents for e in paid if e.kind is EntryKind.PATIENT_PAYMENT)
        if taken != cents or any(e.kind is EntryKind.REVERSAL for e in paid):
            problems.append(
                f"payment {payment_id}: {taken} cents posted, the processor took {cents}"
            )
        payment = store.get_payment(payment_id)
        if payment is None or payment.posted_at is None:
            problems.append(f"payment {payment_id} is not posted: {payment}")
    for payment_id, cents in expected.refunded.items():
        at_processor = sum(
            r["amount"]
            for r in stub.refunds.values()
            if r["metadata"].get("payment_id") == payment_id and r["status"] == "succeeded"
        )
        in_ledger = sum(
            e.amount_cents
            for e in entries
            if e.payment_id == payment_id and e.kind is EntryKind.REFUND
        )
        payment = store.get_payment(payment_id)
        on_payment = payment.refunded_cents if payment else None
        if not (at_processor == in_ledger == on_payment == cents):
            problems.append(
                f"refund of {payment_id}: {at_processor} cents at the processor, {in_ledger} in "
                f"the ledger, {on_payment} on the payment; expected {cents}"
            )

    if expected.charged:
        made: dict[str, list[int]] = {}
        for intent in stub.payment_intents.values():
            if intent.get("customer") and intent["status"] == "succeeded":
                payment_id = intent["metadata"].get("payment_id", intent["id"])
                made.setdefault(payment_id, []).append(intent["amount"])
        wanted = {payment_id: [cents] for payment_id, cents in expected.charged.items()}
        if made != wanted:
            problems.append(f"the processor charged {made}, expected {wanted}")

    outbox = where.outbox()
    logged = Counter(
        (r.kind, r.to) for r in store.mail_log(expected.account_number) if r.outcome == "sent"
    )
    for message in set(outbox) | set(expected.messages) | set(logged):
        want, sent, log_lines = expected.messages[message], outbox[message], logged[message]
        sends = (
            f"{SEND}({message[0]} to {message[1]})",
            f"{TEXT_SEND}({message[0].removeprefix('text-')} to {message[1]})",
        )
        window = last_done in sends and want >= 1
        if window and want <= sent <= want + 1 and want <= log_lines <= sent:
            continue
        if sent != want or log_lines != want:
            problems.append(
                f"{message}: sent {sent} times, {log_lines} in the mail log; expected {want}"
            )

    trail = Counter((e.actor, e.action) for e in store.audit_entries(expected.account_number))
    for (actor, action), times in expected.audited.items():
        if trail[(actor, action)] != times:
            found = trail[(actor, action)]
            problems.append(f"audit log: {action} by {actor} {found} times, expected {times}")

    for payout_id, (reconciled, fees, by_payment) in expected.payouts.items():
        kept = store.get_payout(payout_id)
        found = kept and (kept.reconciled, kept.report.fees_cents, kept.report.fees_by_payment)
        if found != (reconciled, fees, by_payment) or (kept and kept.version != 0):
            problems.append(f"payout {payout_id}: kept {kept}, expected {reconciled, fees}")

    unfinished = where.unfinished_claims()
    if unfinished:
        problems.append(f"claims left unfinished after the daily run: {unfinished}")
    assert not problems, "\n".join(problems)
