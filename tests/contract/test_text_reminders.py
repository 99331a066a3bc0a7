"""The reminder run by text on every store: each stage by the channels the patient has
(e-mail, text, both), each channel exactly once per stage, within quiet hours; nothing lost
to a crash, an outage or two runs at once."""

import dataclasses
import threading
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from portal.adapters.outbox_sms import read_outbox
from portal.bootstrap import build_services
from portal.domain.texting import SmsConsent
from portal.ports.sms import TransientSmsError
from portal.services.reminders import run_reminders
from tests.conftest import NOW
from tests.contract.test_reminders_run import HEALTH_DETAILS, add_account, kinds

TODAY = date(2026, 11, 28)  # a Saturday; NOW is 10:00 in New York
PHONES = {"500015": "+15555550115", "500030": "+15555550130", "500060": "+15555550160"}


def agree(store, number: str, zone: str = "") -> None:
    store.save_sms_consent(
        SmsConsent(number, PHONES[number], NOW - timedelta(days=90), "intake form", None, zone)
    )


@pytest.fixture
def run(store, settings, clock):
    services = dataclasses.replace(build_services(settings, clock=clock), store=store)
    add_account(store, "500015", 15, 5000)  # e-mail and text
    add_account(store, "500030", 30, 5000, email="")  # text only
    add_account(store, "500060", 60, 5000)  # final notice: e-mail and text
    add_account(store, "500045", 45, 5000)  # e-mail only
    for number in ("500015", "500030", "500060"):
        agree(store, number)
    return services


def texts(services) -> Counter:
    return Counter((t["kind"], t["to"]) for t in read_outbox(services.settings.sms_outbox_dir))


ALL_TEXTS = Counter(
    {
        ("reminder", PHONES["500015"]): 1,
        ("reminder", PHONES["500030"]): 1,
        ("final-notice", PHONES["500060"]): 1,
    }
)


@pytest.fixture(autouse=True)
def texts_carry_nothing_private(settings):
    yield
    for text in read_outbox(settings.sms_outbox_dir):
        for detail in (*HEALTH_DETAILS, "$", "50.00", "Pat", "Due5000"):
            assert detail not in text["body"], (text, detail)


def test_each_stage_goes_by_every_channel_the_patient_has(run, outbox):
    summary = run_reminders(run, NOW)
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})  # no e-mail to 500030
    assert texts(run) == ALL_TEXTS
    assert (summary.sent, summary.failed) == (6, 0)
    [text] = [t for t in read_outbox(run.settings.sms_outbox_dir) if t["to"] == PHONES["500030"]]
    assert text["body"].startswith("Demo Family Practice:")
    assert "http://portal.test/pay/" in text["body"] and "STOP" in text["body"]
    logged = run.store.mail_log("500030")
    assert [(m.kind, m.to, m.outcome) for m in logged] == [
        ("text-reminder", PHONES["500030"], "sent")
    ]


def test_three_runs_the_same_day_send_each_channel_exactly_once(run, outbox, clock):
    run_reminders(run, clock.now())
    clock.advance(hours=2)
    second = run_reminders(run, clock.now())
    clock.advance(hours=3)
    run_reminders(run, clock.now())
    assert texts(run) == ALL_TEXTS
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})
    assert second.sent == 0


def test_two_runs_at_once_send_each_text_once(run, outbox, clock):
    start = threading.Barrier(2)
    errors = []

    def one_run():
        try:
            start.wait()
            run_reminders(run, clock.now())
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=one_run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert texts(run) == ALL_TEXTS
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})


def test_a_text_waits_for_8_am_where_the_patient_is(run, outbox, clock):
    agree(run.store, "500030", "America/Los_Angeles")
    first = run_reminders(run, NOW)  # 10:00 in New York, 7:00 in Los Angeles
    assert ("reminder", PHONES["500030"]) not in texts(run)
    assert first.skipped >= 1
    clock.set(datetime(2026, 11, 28, 16, 0, tzinfo=UTC))  # 8:00 in Los Angeles
    run_reminders(run, clock.now())
    assert texts(run) == ALL_TEXTS
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})


def test_no_text_after_9_pm_but_the_email_goes(run, outbox, clock):
    clock.set(datetime(2026, 11, 29, 2, 30, tzinfo=UTC))  # 21:30 in New York on the 28th
    run_reminders(run, clock.now())
    assert texts(run) == Counter()
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})


def test_no_text_on_a_day_the_practice_is_closed(store, settings, clock, outbox):
    closed = dataclasses.replace(settings, closed_weekdays=(5, 6))  # Saturday and Sunday
    services = dataclasses.replace(build_services(closed, clock=clock), store=store)
    add_account(store, "500030", 30, 5000, email="")
    agree(store, "500030")
    run_reminders(services, NOW)
    assert texts(services) == Counter()
    clock.set(NOW + timedelta(days=2))  # Monday
    run_reminders(services, clock.now())
    assert texts(services) == Counter({("reminder", PHONES["500030"]): 1})


def test_a_stopped_number_gets_no_text_and_no_email_is_made_up(run, outbox, clock):
    for number in PHONES:
        consent = run.store.sms_consent(number)
        run.store.save_sms_consent(consent.stopped(NOW - timedelta(days=1)))
    run_reminders(run, NOW)
    assert texts(run) == Counter()
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})


class FailingTexts:
    def __init__(self, inner):
        self.inner = inner

    def send(self, text):
        raise TransientSmsError("SNS is throttling")


def test_a_text_outage_leaves_the_texts_for_the_next_run(run, outbox, clock):
    failing = dataclasses.replace(run, texts=FailingTexts(run.texts))
    first = run_reminders(failing, NOW)
    assert texts(run) == Counter() and first.failed == 3
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})
    clock.advance(hours=1)
    run_reminders(run, clock.now())
    assert texts(run) == ALL_TEXTS
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})


def test_a_text_claim_left_by_a_run_that_died_is_sent_later_once(run, outbox, clock):
    run.store.claim("reminder-text", "500030:S-500030:reminder-30", NOW)
    clock.set(NOW + timedelta(minutes=1))
    run_reminders(run, clock.now())
    assert ("reminder", PHONES["500030"]) not in texts(run)  # the dead run's claim looks alive
    clock.set(NOW + timedelta(hours=1))
    run_reminders(run, clock.now())
    assert texts(run) == ALL_TEXTS


def test_the_sweep_finishes_a_dead_runs_text(run, outbox, clock):
    from portal.services.claims import claim_payload
    from portal.services.sweep import sweep_claims

    payload = claim_payload(account_number="500030", statement_id="S-500030", step="reminder-30")
    run.store.claim("reminder-text", "500030:S-500030:reminder-30", NOW, payload=payload)
    clock.set(NOW + timedelta(minutes=11))
    swept = sweep_claims(run, TODAY)
    assert swept.done == 1
    assert texts(run) == Counter({("reminder", PHONES["500030"]): 1})
    assert run.store.claim_completed("reminder-text", "500030:S-500030:reminder-30")


def test_a_dry_run_sends_no_text(run, outbox):
    summary = run_reminders(run, NOW, dry_run=True)
    assert texts(run) == Counter() and summary.sent == 4


def test_quiet_hours_are_told_by_the_runs_instant(run, outbox):
    """`portal reminders --as-of` runs at that day's send hour, whatever the clock says."""
    run_reminders(run, datetime(2026, 11, 29, 2, 30, tzinfo=UTC))  # 21:30 in New York
    assert texts(run) == Counter()
    assert kinds(outbox) == Counter({"reminder": 2, "final-notice": 1})
