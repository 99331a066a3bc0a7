"""What SES reports back, on every store: a permanent bounce or a complaint stops every
e-mail to the address (statement notices, receipts, reminders) until staff mark it
corrected; a transient bounce does not; deliveries and bounces reach the account's mail
log; the same notification delivered twice changes nothing the second time."""

import dataclasses
from collections import Counter
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from portal.bootstrap import build_services
from portal.domain.dunning import Skip
from portal.services.mail_feedback import apply_ses_event, mark_corrected
from portal.services.notices import Delivery, reminder_message, send_once
from portal.services.reminders import decide_step, run_reminders, schedule_of
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account, statement
from tests.ses_events import bounce, complaint, delivery

MARIA = "maria@example.com"


@pytest.fixture
def services(store, settings, clock):
    built = dataclasses.replace(build_services(settings, clock=clock), store=store)
    import_statement(built, lopez_account(), statement("S-2026-000100", (3000,)), notify=False)
    return built


def sent_to(outbox: Path) -> Counter:
    found: Counter = Counter()
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found[str(message["To"])] += 1
    return found


def send_reminder(services, key: str) -> Delivery | None:
    account = services.store.get_account("100234")
    message = reminder_message(
        services, account, "reminder", "S-2026-000100", 3000, date(2026, 10, 30), 29
    )
    return send_once(services, "reminder", key, message, "100234")


def test_a_permanent_bounce_stops_every_email_to_the_address(services, outbox, clock):
    assert send_reminder(services, "before") is Delivery.SENT

    result = apply_ses_event(services, bounce(MARIA, "100234"), "sns-1")
    clock.advance(minutes=1)  # after the bounce SES reported (15:00:02)

    assert (result.applied, result.undeliverable, result.logged) == (True, 1, 1)
    report = services.store.undeliverable(MARIA)
    assert report is not None and report.reason == "bounce"
    assert report.detail == "Permanent/General" and report.accounts == ("100234",)
    assert send_reminder(services, "after") is Delivery.REFUSED
    new = statement("S-2026-000200", (2500,), date(2026, 11, 20), date(2026, 12, 20))
    import_statement(services, lopez_account(), new)  # its notice is refused too
    assert sent_to(outbox) == Counter({MARIA: 1})
    log = services.store.mail_log("100234")
    assert [m.outcome for m in log[:3]] == ["refused", "refused", "bounced"]
    assert "undeliverable" in log[0].detail


def test_a_complaint_stops_mail_and_an_address_in_another_case_matches(services, outbox):
    apply_ses_event(services, complaint("Maria@Example.com", "100234"), "sns-2")

    assert services.store.undeliverable(MARIA).reason == "complaint"
    assert send_reminder(services, "after") is Delivery.REFUSED
    assert sent_to(outbox) == Counter()


def test_a_transient_bounce_does_not_stop_mail(services, outbox, clock):
    result = apply_ses_event(services, bounce(MARIA, "100234", permanent=False), "sns-3")
    clock.advance(minutes=1)

    assert (result.applied, result.undeliverable, result.logged) == (True, 0, 1)
    assert services.store.undeliverable(MARIA) is None
    assert send_reminder(services, "after") is Delivery.SENT
    bounced = services.store.mail_log("100234")[1]
    assert (bounced.outcome, bounced.to) == ("bounced", MARIA)
    assert bounced.detail.startswith("Transient/MailboxFull")


def test_a_delivery_is_recorded_in_the_mail_log(services):
    result = apply_ses_event(services, delivery(MARIA, "100234"), "sns-4")

    assert (result.applied, result.undeliverable, result.logged) == (True, 0, 1)
    [line] = services.store.mail_log("100234")
    assert (line.outcome, line.to, line.kind) == ("delivered", MARIA, "statement")
    assert line.at == NOW.replace(hour=15, minute=0, second=2)
    assert services.store.undeliverable(MARIA) is None


def test_the_same_notification_twice_changes_nothing_the_second_time(services, clock):
    event = bounce(MARIA, "100234")
    apply_ses_event(services, event, "sns-5")
    apply_ses_event(services, delivery(MARIA, "100234"), "sns-6")
    log_before = services.store.mail_log("100234")

    again = apply_ses_event(services, event, "sns-5")

    assert not again.applied
    assert services.store.mail_log("100234") == log_before
    # Replayed after staff corrected the address, it does not stop the mail again.
    assert mark_corrected(services, "sam", MARIA)
    clock.advance(hours=1)
    assert not apply_ses_event(services, event, "sns-5").applied
    assert services.store.undeliverable(MARIA) is None
    assert len(services.store.mail_log("100234")) == 2


def test_a_second_report_keeps_the_first_and_adds_the_account(services):
    apply_ses_event(services, bounce(MARIA, "100234"), "sns-7")
    apply_ses_event(services, complaint(MARIA, "100777"), "sns-8")

    report = services.store.undeliverable(MARIA)
    assert (report.reason, report.accounts) == ("bounce", ("100234", "100777"))
    assert [r.address for r in services.store.undeliverable_addresses()] == [MARIA]


def test_marking_the_address_corrected_resumes_mail_and_is_audited(services, outbox):
    apply_ses_event(services, bounce(MARIA, "100234"), "sns-9")
    assert send_reminder(services, "stopped") is Delivery.REFUSED

    assert mark_corrected(services, "sam", MARIA, "192.0.2.7")

    assert services.store.undeliverable(MARIA) is None
    assert services.store.undeliverable_addresses() == []
    assert send_reminder(services, "resumed") is Delivery.SENT
    assert sent_to(outbox) == Counter({MARIA: 1})
    [entry] = services.store.audit_entries(account_number="100234")
    assert (entry.actor, entry.action.value, entry.address) == (
        "sam",
        "mark_address_corrected",
        "192.0.2.7",
    )
    assert not mark_corrected(services, "sam", MARIA)  # not listed any more: nothing audited
    assert len(services.store.audit_entries()) == 1


def test_the_reminder_policy_skips_an_undeliverable_address(services, outbox, clock):
    clock.set(NOW + timedelta(days=20))  # S-2026-000100 falls due 11-30: 20 days past due
    schedule = schedule_of(services)
    item = services.store.accounts_due(date(2026, 12, 31))[0]
    account = services.store.get_account("100234")
    apply_ses_event(services, bounce(MARIA, "100234"), "sns-10")
    today = date(2026, 12, 18)

    assert decide_step(services, schedule, account, item, today) is Skip.UNDELIVERABLE
    summary = run_reminders(services, clock.now())

    assert (summary.sent, summary.skipped, summary.failed) == (0, 1, 0)
    assert sent_to(outbox) == Counter()
    mark_corrected(services, "sam", MARIA)
    assert run_reminders(services, clock.now()).sent == 1
    assert sent_to(outbox) == Counter({MARIA: 1})


def test_the_patient_page_read_says_when_the_guarantor_address_is_undeliverable(services):
    store = services.store
    store.open_web_session("sid-1", "100234", NOW)

    def flagged() -> bool:
        return store.patient_page("sid-1", NOW, "100234").email_undeliverable

    assert not flagged()
    apply_ses_event(services, bounce(MARIA, "100234"), "sns-11")
    assert flagged()
    assert store.patient_page("sid-1", NOW, "100234", "S-2026-000100").email_undeliverable
    # The guarantor's new address (a later import) is not the one that bounced.
    import_statement(
        services,
        lopez_account("maria.lopez@example.org"),
        statement("S-2026-000300", (1000,)),
        notify=False,
    )
    assert not flagged()
    import_statement(services, lopez_account(), statement("S-2026-000301", (1000,)), notify=False)
    assert flagged()
    mark_corrected(services, "sam", MARIA)
    assert not flagged()


def test_an_address_named_twice_in_one_event_is_one_report(services):
    event = bounce(MARIA, "100234")
    twice = dict(event["bounce"]["bouncedRecipients"][0], emailAddress="MARIA@example.com")
    event["bounce"]["bouncedRecipients"].append(twice)

    result = apply_ses_event(services, event, "sns-12")

    assert (result.applied, result.undeliverable, result.logged) == (True, 1, 1)
    assert [r.address for r in services.store.undeliverable_addresses()] == [MARIA]
