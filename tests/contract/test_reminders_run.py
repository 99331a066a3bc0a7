"""The daily reminder run on every store: the right message on the right day, exactly once,
never to someone who paid, disputed, promised or opted out, and nothing lost to a crash."""

import dataclasses
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import Escalation, EscalationKind, Note
from portal.domain.statements import Statement
from portal.ports.mail import TransientMailError
from portal.ports.store import Store
from portal.services import ledger as posting
from portal.services.reminders import run_reminders
from tests.conftest import NOW, line

TODAY = date(2026, 11, 28)  # NOW is 10:00 in New York
MORNING = NOW
# Account number -> days past due of its one statement and what it owes.
PLAN = {
    "400010": (10, 5000),  # not due yet
    "400015": (15, 5000),  # first reminder
    "400030": (30, 5000),  # second reminder
    "400045": (45, 5000),  # second reminder, sent late (missed)
    "400060": (60, 5000),  # final notice
    "400090": (90, 5000),  # escalation
    "400100": (100, 400),  # under the $5.00 minimum
}


def add_account(store: Store, number: str, days: int, cents: int, email: str = "x@example.com"):
    due = TODAY - timedelta(days=days)
    account = Account(number, Guarantor("Pat", f"Due{number}", date(1975, 5, 5), email=email))
    statement = Statement(
        f"S-{number}", number, due - timedelta(days=30), due, (line("1", owed=cents),)
    )
    store.import_statement(account, statement, NOW - timedelta(days=days + 30))
    return account


# What the statements hold that no e-mail may carry (see tests.conftest.line).
HEALTH_DETAILS = ("99213", "J06.9", "Office visit", "Dr. Chen", "1975-05-05", "05/05/1975")


@pytest.fixture(autouse=True)
def no_health_details_in_any_message(outbox):
    yield
    for path in outbox.glob("*.eml"):
        raw = message_from_bytes(path.read_bytes(), policy=policy.default)
        text = " ".join(
            [str(raw["Subject"])]
            + [part.get_content() for part in raw.walk() if part.get_content_maintype() == "text"]
        )
        for detail in HEALTH_DETAILS:
            assert detail not in text, (path.name, detail)


@pytest.fixture
def run(store, settings, clock):
    services = dataclasses.replace(build_services(settings, clock=clock), store=store)
    for number, (days, cents) in PLAN.items():
        add_account(store, number, days, cents)
    return services


def sent(outbox: Path) -> Counter:
    """(kind, to) of every message in the outbox."""
    found = Counter()
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found[(message["X-Portal-Message-Kind"], message["To"])] += 1
    return found


def kinds(outbox: Path) -> Counter:
    return Counter(kind for (kind, _), n in sent(outbox).items() for _ in range(n))


def test_one_run_sends_each_due_message_and_escalates(run, outbox):
    summary = run_reminders(run, MORNING)

    assert (summary.sent, summary.escalated, summary.failed) == (4, 1, 0)
    assert kinds(outbox) == Counter({"reminder": 3, "final-notice": 1, "escalation": 1})
    billing = run.settings.billing_inbox
    assert sent(outbox)[("escalation", billing)] == 1
    queue = run.store.escalations(account_number="400090")
    assert [e.kind for e in queue] == [EscalationKind.REMINDER]


def test_three_runs_the_same_day_send_each_message_exactly_once(run, outbox, clock):
    first = run_reminders(run, clock.now())
    clock.advance(hours=2)
    second = run_reminders(run, clock.now())
    clock.advance(hours=3)
    third = run_reminders(run, clock.now())

    assert kinds(outbox) == Counter({"reminder": 3, "final-notice": 1, "escalation": 1})
    assert (second.sent, second.escalated) == (third.sent, third.escalated) == (0, 0)
    assert first.counts()["sent"] == 4
    assert len(run.store.escalations(account_number="400090")) == 1


def test_a_run_before_the_morning_send_hour_sends_nothing(run, outbox):
    early = datetime(2026, 11, 28, 12, 30, tzinfo=UTC)  # 07:30 in New York

    summary = run_reminders(run, early)

    assert summary.before_send_hour and summary.counts() == dict.fromkeys(summary.counts(), 0)
    assert kinds(outbox) == Counter()


def test_the_send_hour_follows_daylight_saving_time(store, settings, clock, outbox):
    services = dataclasses.replace(build_services(settings, clock=clock), store=store)
    add_account(store, "400200", 15, 5000)
    # 12:30 UTC is 07:30 in New York in winter but 08:30 in summer (after 2026-03-08).
    winter = datetime(2026, 3, 7, 12, 30, tzinfo=UTC)
    summer = datetime(2026, 3, 9, 12, 30, tzinfo=UTC)

    assert run_reminders(services, winter).before_send_hour
    assert not run_reminders(services, summer).before_send_hour


def test_paid_disputed_promised_and_opted_out_accounts_get_nothing(run, outbox):
    store = run.store
    payment = Payment("pay_paid", "400015", 5000, PaymentStatus.PENDING, "card", "sandbox", NOW)
    store.create_payment(payment)
    posting.post_payment(store, "pay_paid", "ref-paid", 5000, NOW)
    store.open_escalation(
        Escalation("dispute:x", "400030", EscalationKind.DISPUTE, "Disputed", NOW, "system")
    )
    store.add_note(
        Note("400045", "sam", "Will pay Friday", NOW, promise_to_pay_on=TODAY + timedelta(days=3))
    )
    store.opt_out_of_reminders("400060", NOW)

    summary = run_reminders(run, MORNING)

    assert kinds(outbox) == Counter({"escalation": 1})
    assert summary.sent == 0


def test_no_address_no_reminder_but_the_escalation_still_reaches_the_practice(
    store, settings, clock, outbox
):
    services = dataclasses.replace(build_services(settings, clock=clock), store=store)
    add_account(store, "400301", 20, 5000, email="")
    add_account(store, "400302", 95, 5000, email="")

    summary = run_reminders(services, MORNING)

    assert kinds(outbox) == Counter({"escalation": 1})
    assert (summary.sent, summary.escalated, summary.skipped) == (0, 1, 1)


class FailingAfter:
    """A mailer that sends `n` messages, then fails every one after (a mail outage)."""

    def __init__(self, inner, n: int):
        self.inner, self.left = inner, n

    def send(self, message):
        if self.left <= 0:
            raise TransientMailError("the relay is not answering")
        self.left -= 1
        return self.inner.send(message)


@pytest.mark.parametrize("n", [0, 1, 3])
def test_a_mail_outage_mid_run_leaves_the_rest_for_the_next_run(run, outbox, clock, n):
    failing = dataclasses.replace(run, mailer=FailingAfter(run.mailer, n))

    first = run_reminders(failing, MORNING)
    assert sum(kinds(outbox).values()) == n
    assert first.failed == 5 - n

    clock.advance(hours=1)
    run_reminders(run, clock.now())

    assert kinds(outbox) == Counter({"reminder": 3, "final-notice": 1, "escalation": 1})


def test_a_claim_left_by_a_run_that_died_is_sent_by_a_later_run_once(run, outbox, clock):
    run.store.claim("reminder", "400015:S-400015:reminder-15", MORNING)

    clock.set(MORNING + timedelta(minutes=1))
    same_hour = run_reminders(run, clock.now())
    assert kinds(outbox)["reminder"] == 2  # the dead run's claim still looks alive

    clock.set(MORNING + timedelta(hours=1))
    later = run_reminders(run, clock.now())
    assert kinds(outbox)["reminder"] == 3
    assert later.sent == 1 and same_hour.sent == 3


def test_a_dry_run_counts_but_claims_and_sends_nothing(run, outbox):
    dry = run_reminders(run, MORNING, dry_run=True)
    real = run_reminders(run, MORNING)

    assert (dry.sent, dry.escalated) == (real.sent, real.escalated) == (4, 1)
    assert kinds(outbox) == Counter({"reminder": 3, "final-notice": 1, "escalation": 1})
