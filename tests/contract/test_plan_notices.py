"""Payment plan e-mails on every store, sent by the daily charge run: the upcoming charge
3 days before it (10 for a bank debit whose amount changed), a failed try (tried again on a
day, the last try, or a link to pay it on the hosted page), the plan's default; each once
under reruns, none from a dry run, a failed send finished by the sweep. Reminders skip the
statements a running plan pays and take them up again, at their stage, when it ends."""

import dataclasses
import re
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.ledger import EntryKind
from portal.domain.payments import PaymentStatus, installment_of
from portal.domain.plans import Outcome, Plan, PlanStatus
from portal.domain.statements import Statement
from portal.ports.mail import TransientMailError
from portal.services import ledger as posting
from portal.services.accounts import account_view
from portal.services.plan_notices import UPCOMING_CLAIM
from portal.services.plans import (
    cancel_plan,
    plan_view,
    status_of,
)
from portal.services.reminders import run_reminders
from portal.services.sweep import sweep_claims
from tests.conftest import NOW, line
from tests.integration.conftest import checkout_form, path_of, sign_in, token_from
from tests.plan_helpers import GOOD_CARD, counts, noon, run_on, set_up_plan

NUMBER = "610001"
OWED = 30_000  # $300.00: three installments of $100.00
STATEMENT_DUE = date(2026, 12, 20)
GOOD, ALWAYS_DECLINED, NEEDS_YOU = "4242424242424242", "4000000000000341", "4000002500003155"
BANK_SETTLES = "000123456789"
GUARANTOR = {"account_number": NUMBER, "last_name": "Planner", "date_of_birth": "1980-02-02"}
PLAN_KINDS = ("plan-upcoming", "plan-failed", "plan-defaulted")
PHI = {
    "procedure code": re.compile(r"(?<![0-9A-Za-z])99213(?![0-9])"),
    "diagnosis code": re.compile(r"J06\.?9", re.IGNORECASE),
    "description": re.compile(r"office\s+visit", re.IGNORECASE),
    "date of birth": re.compile(r"1980-02-02|02/02/1980|February 2, 1980"),
}


@pytest.fixture
def services(store, settings, clock):
    built = dataclasses.replace(build_services(settings, clock=clock), store=store)
    account = Account(
        NUMBER, Guarantor("Pat", "Planner", date(1980, 2, 2), email="pat@example.com")
    )
    statement = Statement(
        f"S-{NUMBER}", NUMBER, date(2026, 11, 20), STATEMENT_DUE, (line("1", owed=OWED),)
    )
    store.import_statement(account, statement, NOW - timedelta(days=1))
    return built


class Mail:
    """The outbox, read as it grows: each call gives the messages sent since the last."""

    def __init__(self, outbox):
        self.outbox, self.seen = outbox, set()

    def new(self, *kinds: str) -> list[EmailMessage]:
        """The messages sent since the last call (of `kinds`, when named: the others are
        passed over for good)."""
        found = []
        for path in sorted(self.outbox.glob("*.eml")) if self.outbox.exists() else []:
            if path.name in self.seen:
                continue
            self.seen.add(path.name)
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if not kinds or message["X-Portal-Message-Kind"] in kinds:
                found.append(message)
        return found


def text_of(message: EmailMessage) -> str:
    return message.get_body(("plain",)).get_content()


def html_of(message: EmailMessage) -> str:
    return message.get_body(("html",)).get_content()


def assert_fit_to_send(message: EmailMessage) -> None:
    """Multipart with its kind, nothing about health or birth dates, links to the portal."""
    assert message["X-Portal-Message-Kind"] in PLAN_KINDS
    assert message.get_body(("plain",)) is not None and message.get_body(("html",)) is not None
    for where, text in (
        ("subject", str(message["Subject"])),
        ("text", text_of(message)),
        ("html", html_of(message)),
    ):
        for what, pattern in PHI.items():
            assert not pattern.search(text), f"{what} in the {where}"
        for link in re.findall(r"https?://[^\s\"'<>]+", text):
            assert link.startswith("http://portal.test/"), link


# -- the upcoming charge -------------------------------------------------------------------------


def set_up(services, card: str = GOOD_CARD, **kwargs) -> Plan:
    return set_up_plan(services, NUMBER, card=card, **kwargs)


def test_each_charge_is_announced_3_days_before_once_and_a_dry_run_sends_nothing(services, outbox):
    plan = set_up(services)
    mail = Mail(outbox)
    assert [m["X-Portal-Message-Kind"] for m in mail.new()] == ["plan-agreement"]
    assert plan.next_on == date(2026, 11, 28)  # Dec 1's notice day: today

    assert counts(run_on(services, date(2026, 11, 28), dry_run=True)) == (0, 0, 0, 0)
    assert mail.new() == []

    sent_on = {}
    day = date(2026, 11, 28)
    while day <= date(2027, 2, 1):
        summary = run_on(services, day)
        assert summary.line == f"charged={int(day.day == 1)} failed=0 skipped=0 defaulted=0"
        for message in mail.new("plan-upcoming"):
            sent_on.setdefault(day, []).append(message)
        if day in sent_on or day.day == 1:  # a rerun of the day sends nothing more
            run_on(services, day)
            assert mail.new() == []
        day += timedelta(days=1)

    assert sorted(sent_on) == [date(2026, 11, 28), date(2026, 12, 29), date(2027, 1, 29)]
    assert all(len(messages) == 1 for messages in sent_on.values())
    for (_day, (message,)), charge_on, position in zip(
        sorted(sent_on.items()),
        ("December 1, 2026", "January 1, 2027", "February 1, 2027"),
        (1, 2, 3),
        strict=True,
    ):
        assert_fit_to_send(message)
        text = text_of(message)
        assert f"We will charge $100.00 to Visa ending in 4242 on {charge_on}." in text
        assert f"payment {position} of 3" in text
        assert f"http://portal.test/plans/{plan.plan_id}" in text
        assert "Visa ending in 4242" in html_of(message) and charge_on in html_of(message)
        assert message["To"] == "pat@example.com"
    assert status_of(services, services.store.get_plan(plan.plan_id)) is PlanStatus.PAID_OFF


def test_a_bank_debit_whose_amount_changed_is_announced_10_days_before(services, outbox):
    plan = set_up(services, bank_account=BANK_SETTLES)
    mail = Mail(outbox)
    mail.new()
    run_on(services, date(2026, 11, 28))
    (first,) = mail.new("plan-upcoming")
    assert "We will charge $100.00 to Bank account ending in 6789 on December 1, 2026." in (
        text_of(first)
    )
    assert "different" not in text_of(first)
    assert counts(run_on(services, date(2026, 12, 1))) == (1, 0, 0, 0)  # processing
    # Insurance paid more before the debit settled: $150.00 comes off, $50.00 is left.
    posting.post_adjustment(
        services.store, NUMBER, f"S-{NUMBER}", EntryKind.ADJUSTMENT, 15_000, "insurance", NOW
    )
    sent_on = {}
    day = date(2026, 12, 2)
    while day <= date(2027, 1, 1):
        run_on(services, day)
        for message in mail.new("plan-upcoming"):
            sent_on.setdefault(day, []).append(message)
        day += timedelta(days=1)
    stored = services.store.get_plan(plan.plan_id)
    rest = [i for i in stored.installments if i.due_on > date(2026, 12, 1)]
    assert [(i.due_on, i.amount_cents) for i in rest] == [(date(2027, 1, 1), 5_000)]
    # January's debit is $50.00, not the $100.00 before it: told on December 22.
    assert list(sent_on) == [date(2026, 12, 22)]
    (changed,) = sent_on[date(2026, 12, 22)]
    assert_fit_to_send(changed)
    text = text_of(changed)
    assert "We will charge $50.00 to Bank account ending in 6789 on January 1, 2027." in text
    assert "different from your last payment" in text


# -- failed tries and the default ----------------------------------------------------------------


def test_declines_say_when_they_are_tried_again_and_the_default_says_the_plan_ended(
    services, outbox
):
    plan = set_up(services, ALWAYS_DECLINED)
    mail = Mail(outbox)
    mail.new()
    failed, defaulted, reminders = {}, [], {}
    day = date(2026, 12, 1)
    while day <= date(2027, 1, 9):
        if run_on(services, day).failed:
            run_on(services, day)  # a rerun sends nothing twice
        for message in mail.new():
            if message["X-Portal-Message-Kind"] == "plan-failed":
                failed.setdefault(day, []).append(message)
            elif message["X-Portal-Message-Kind"] == "plan-defaulted":
                defaulted.append((day, message))
        if day in (date(2027, 1, 4), date(2027, 1, 8)):  # 15 and 19 days past due
            run_reminders(services, noon(services, day))
            reminders[day] = mail.new("reminder", "final-notice", "escalation")
        mail.new()
        day += timedelta(days=1)

    expected = {
        date(2026, 12, 1): "We will try again on December 4, 2026.",
        date(2026, 12, 4): "We will try again on December 8, 2026.",
        date(2026, 12, 8): "That was the last try for this payment",
        date(2027, 1, 1): "We will try again on January 4, 2027.",
        date(2027, 1, 4): "We will try again on January 8, 2027.",
    }
    assert sorted(failed) == sorted(expected)
    for day, words in expected.items():
        (message,) = failed[day]
        assert_fit_to_send(message)
        text = text_of(message)
        assert words in text
        assert "We could not charge $100.00 to Visa ending in 0341" in text
        assert "Your card was declined." in text
    # The sixth decline is the second missed installment: the default's notice only.
    assert [day for day, _ in defaulted] == [date(2027, 1, 8)]
    message = defaulted[0][1]
    assert_fit_to_send(message)
    text = text_of(message)
    assert "Your payment plan has ended" in text
    assert "You still owe $300.00 on account 610001" in text
    assert "we will send payment reminders again" in text
    assert services.store.get_plan(plan.plan_id).defaulted_at is not None
    # While the plan ran (past due, not defaulted) the statement got no reminder; once it
    # defaulted, the reminder its 19 days past due reach.
    assert reminders[date(2027, 1, 4)] == []
    assert [m["X-Portal-Message-Kind"] for m in reminders[date(2027, 1, 8)]] == ["reminder"]


def test_a_card_that_needs_the_patient_gets_a_link_to_pay_that_installment(services, outbox):
    plan = set_up(services, NEEDS_YOU)
    mail = Mail(outbox)
    mail.new()
    assert counts(run_on(services, date(2026, 12, 1))) == (0, 1, 0, 0)
    run_on(services, date(2026, 12, 1))
    (message,) = mail.new("plan-failed")
    assert_fit_to_send(message)
    text = text_of(message)
    link = f"http://portal.test/plans/{plan.plan_id}/installments/1/pay"
    assert f"Pay it now: {link}" in text and link in html_of(message)
    assert "Your bank asks you to confirm this payment yourself" in text
    assert "$100.00" in text and "Please pay it by December 8, 2026." in text

    # The patient signs in, opens the link and pays on the sandbox's card page.
    app = create_app(services=services)
    app.config["TESTING"] = True
    patient = app.test_client()
    noon(services, date(2026, 12, 2))
    sign_in(patient, **GUARANTOR)
    shown = patient.get(f"/plans/{plan.plan_id}").get_data(as_text=True)
    assert f'href="{path_of(link)}">Pay it now</a>' in shown
    page = patient.get(path_of(link))
    assert page.status_code == 200
    assert 'data-testid="installment-amount">$100.00' in page.get_data(as_text=True)
    started = patient.post(path_of(link), data={"csrf_token": token_from(patient, path_of(link))})
    assert started.status_code == 303
    checkout = path_of(started.headers["Location"])
    assert checkout.startswith("/sandbox/checkout/")
    paid = patient.post(checkout, data=checkout_form(patient, checkout))
    assert paid.status_code == 303
    payment_id = path_of(paid.headers["Location"]).rsplit("/", 1)[1]
    assert installment_of(payment_id) == (plan.plan_id, 1)
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED
    assert patient.get(path_of(paid.headers["Location"])).status_code == 200

    stored = services.store.get_plan(plan.plan_id)
    assert plan_view(services, stored).installments[0].state == "paid"
    assert [a.outcome for a in stored.attempts] == [
        Outcome.NEEDS_AUTHENTICATION,
        Outcome.SUCCEEDED,
    ]
    assert stored.attempts[-1].payment_id == payment_id
    shown = patient.get(f"/plans/{plan.plan_id}").get_data(as_text=True)
    assert "Pay it now" not in shown
    # The link now says there is nothing to pay, and no second checkout opens.
    again = patient.post(path_of(link), data={"csrf_token": token_from(patient, "/account")})
    assert again.status_code == 303 and path_of(again.headers["Location"]).startswith("/plans/")
    assert account_view(services, NUMBER).due_cents == OWED - 10_000

    # The charge run does not charge it again; the plan goes on with January's.
    for day in (date(2026, 12, 4), date(2026, 12, 8), date(2026, 12, 9)):
        assert counts(run_on(services, day)) == (0, 0, 0, 0)
    assert account_view(services, NUMBER).due_cents == OWED - 10_000
    stored = services.store.get_plan(plan.plan_id)
    assert status_of(services, stored) is PlanStatus.CURRENT
    assert stored.next_on == date(2026, 12, 29)  # January's notice day
    assert mail.new("plan-failed", "plan-defaulted") == []


def test_a_posting_the_plan_missed_is_kept_by_the_next_charge_run(services, monkeypatch):
    """The process died after the checkout posted and before the plan kept it: the charge
    run keeps it on the plan before it decides, and charges nothing again."""
    plan = set_up(services, NEEDS_YOU)
    run_on(services, date(2026, 12, 1))
    from portal.services import payments

    monkeypatch.setattr(payments, "record_installment_payment", lambda *a: 1 / 0)
    app = create_app(services=services)
    app.config["TESTING"] = True
    patient = app.test_client()
    sign_in(patient, **GUARANTOR)
    link = f"/plans/{plan.plan_id}/installments/1/pay"
    started = patient.post(link, data={"csrf_token": token_from(patient, link)})
    checkout = path_of(started.headers["Location"])
    assert patient.post(checkout, data=checkout_form(patient, checkout)).status_code == 303
    monkeypatch.undo()
    assert account_view(services, NUMBER).due_cents == OWED - 10_000
    assert len(services.store.get_plan(plan.plan_id).attempts) == 1  # not kept yet

    assert counts(run_on(services, date(2026, 12, 9))) == (0, 0, 0, 0)
    stored = services.store.get_plan(plan.plan_id)
    assert [a.outcome for a in stored.attempts] == [
        Outcome.NEEDS_AUTHENTICATION,
        Outcome.SUCCEEDED,
    ]
    assert status_of(services, stored) is PlanStatus.CURRENT


# -- the sweep -----------------------------------------------------------------------------------


def test_a_failed_send_is_finished_by_the_sweep_once(services, outbox, monkeypatch):
    plan = set_up(services)
    mail = Mail(outbox)
    mail.new()
    real = services.mailer.send

    def relay_down(message):
        raise TransientMailError("relay busy")

    monkeypatch.setattr(services.mailer, "send", relay_down)
    run_on(services, date(2026, 11, 28))
    monkeypatch.setattr(services.mailer, "send", real)
    assert mail.new() == []
    key = f"{plan.plan_id}:1:1"
    assert not services.store.claim_completed(UPCOMING_CLAIM, key)
    run_on(services, date(2026, 11, 28))  # the plan's next look is December 1
    assert mail.new() == []

    swept = sweep_claims(services, date(2026, 11, 28))
    assert swept.done == 1
    (message,) = mail.new("plan-upcoming")
    assert "on December 1, 2026" in text_of(message)
    assert services.store.claim_completed(UPCOMING_CLAIM, key)
    assert sweep_claims(services, date(2026, 11, 28)).found == 0
    run_on(services, date(2026, 11, 28))
    assert mail.new() == []


def test_the_sweep_drops_a_notice_no_longer_true(services, outbox, monkeypatch):
    set_up(services)
    mail = Mail(outbox)
    mail.new()
    monkeypatch.setattr(
        services.mailer, "send", lambda m: (_ for _ in ()).throw(TransientMailError("down"))
    )
    run_on(services, date(2026, 11, 28))
    monkeypatch.undo()
    run_on(services, date(2026, 12, 1))  # charged: the notice of it is too late now
    mail.new()
    swept = sweep_claims(services, date(2026, 12, 1))
    assert (swept.found, swept.dropped) == (1, 1)
    assert mail.new("plan-upcoming") == []


# -- reminders -----------------------------------------------------------------------------------


def test_reminders_skip_a_running_plans_statement_and_resume_at_its_stage_when_canceled(
    services, outbox
):
    plan = set_up(services)
    mail = Mail(outbox)
    mail.new()
    notices = ("reminder", "final-notice", "escalation")
    run_on(services, date(2026, 12, 1))  # paid: $200.00 left
    mail.new()
    for days in (15, 30, 59):
        run_reminders(services, noon(services, STATEMENT_DUE + timedelta(days=days)))
        assert mail.new(*notices) == [], days
    canceled_on = STATEMENT_DUE + timedelta(days=61)
    noon(services, canceled_on)
    cancel_plan(services, plan.plan_id, None, "Canceled by the patient.")
    summary = run_reminders(services, noon(services, canceled_on))
    # Back at the stage 61 days past due reach: the final notice, not the first reminder.
    (message,) = mail.new(*notices)
    assert message["X-Portal-Message-Kind"] == "final-notice"
    assert "$200.00" in text_of(message)
    assert summary.sent == 1
    run_reminders(services, noon(services, canceled_on))
    assert mail.new(*notices) == []


def test_a_run_that_died_before_telling_of_a_failed_try_leaves_it_to_the_sweep(
    services, outbox, monkeypatch
):
    """The card needed the patient; the run died after keeping the try and before its
    notices: the notice's claim was left released with the try, so the sweep that day sends
    the link to pay, once."""
    from portal.services import plan_charges

    class Killed(BaseException):
        pass

    def die(*args, **kwargs):
        raise Killed

    plan = set_up(services, NEEDS_YOU)
    mail = Mail(outbox)
    mail.new()
    monkeypatch.setattr(plan_charges, "send_plan_notices", die)
    with pytest.raises(Killed):
        run_on(services, date(2026, 12, 1))
    monkeypatch.undo()
    assert mail.new("plan-failed") == []

    sweep_claims(services, date(2026, 12, 1))
    [told] = mail.new("plan-failed")
    assert f"/plans/{plan.plan_id}/installments/1/pay" in text_of(told)
    sweep_claims(services, date(2026, 12, 1))
    run_on(services, date(2026, 12, 2))
    assert mail.new("plan-failed") == []
