"""Collection holds in the reminder run, on both stores (issue 17): a question holds its
statement and only it, an estimate dispute is never escalated while open, a financial-
assistance request holds the whole account for the practice's period, and a released
statement goes on from the stage it had reached; resolving posts once and e-mails once."""

import dataclasses
import uuid
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.cases import Status
from portal.domain.ledger import EntryKind
from portal.domain.staff import Role
from portal.domain.statements import Statement
from portal.domain.viewers import GUARANTOR
from portal.services.cases import (
    CASE_UPDATE_CLAIM,
    ask_question,
    request_assistance,
    resolve_case,
    staff_reply,
)
from portal.services.errors import InvalidInput
from portal.services.reminders import run_reminders
from portal.services.sweep import sweep_claims
from tests.conftest import NOW, line

NUMBER = "500001"
TODAY = NOW.date()


def key() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def services(store, settings, clock):
    return dataclasses.replace(build_services(settings, clock=clock), store=store)


def add_statement(services, statement_id: str, days_past_due: int, cents: int = 5000):
    account = Account(NUMBER, Guarantor("Pat", "Held", date(1975, 5, 5), email="pat@example.com"))
    due = TODAY - timedelta(days=days_past_due)
    statement = Statement(
        statement_id, NUMBER, due - timedelta(days=30), due, (line("1", owed=cents),)
    )
    services.store.import_statement(account, statement, NOW - timedelta(days=days_past_due + 30))


def mails(outbox: Path) -> list[tuple[str, str]]:
    """(kind, subject) of every message, oldest first."""
    found = []
    for path in sorted(outbox.glob("*.eml"), key=lambda p: p.stat().st_mtime_ns):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        found.append((message["X-Portal-Message-Kind"], str(message["Subject"])))
    return found


def run_days(services, clock, outbox, days: range) -> dict[int, list[str]]:
    """Run the reminders on each day (days past due of a statement 15 days past due at
    NOW); the kinds sent each day, beside those sent before."""
    seen = len(mails(outbox))
    by_day: dict[int, list[str]] = {}
    for day in days:
        clock.set(NOW + timedelta(days=day - 15))
        run_reminders(services, clock.now())
        now_sent = mails(outbox)
        if len(now_sent) > seen:
            by_day[day] = [kind for kind, _ in now_sent[seen:]]
        seen = len(now_sent)
    return by_day


def test_a_question_holds_its_statement_and_released_it_goes_on_from_its_stage(
    services, clock, outbox
):
    add_statement(services, "S-H1", 15)
    first = run_days(services, clock, outbox, range(15, 16))
    assert first == {15: ["reminder"]}
    clock.set(NOW + timedelta(days=5))  # day 20
    case = ask_question(services, NUMBER, GUARANTOR, "S-H1", "1", "insurance_should_pay", "", key())
    held = run_days(services, clock, outbox, range(20, 71, 5))
    assert held == {}  # no reminder, final notice or escalation while it is open
    resolve_case(
        services,
        "alice",
        Role.ASSOCIATE,
        case.case_id,
        "no_change",
        "The charge is right: your plan's deductible applies.",
        "",
        "",
        None,
        key(),
        "",
    )
    outbox_before = len(mails(outbox))
    after = run_days(services, clock, outbox, range(75, 180, 5))
    assert len(mails(outbox)) > outbox_before
    sent = [kind for day in sorted(after) for kind in after[day] if kind != "case-update"]
    # Held 51 days (20..70): reminder-30 comes next, then the final notice, then the
    # escalation; a run on day 75 without the held days would have jumped to the final
    # notice.
    assert sent == ["reminder", "final-notice", "escalation"]
    assert after.get(75, []) in ([], ["case-update"])
    assert min(d for d, kinds in after.items() if "reminder" in kinds) == 85


def test_other_statements_stay_in_the_schedule(services, clock, outbox):
    add_statement(services, "S-OLD", 40)
    add_statement(services, "S-NEW", 15)
    ask_question(services, NUMBER, GUARANTOR, "S-OLD", None, "charged_twice", "", key())
    run_reminders(services, clock.now())
    assert [k for k, _ in mails(outbox)] == ["reminder"]  # S-NEW's reminder-15
    claims = services.store.unfinished_claims(clock.now() + timedelta(days=1), 50)
    assert claims == []
    # The reminder was about the statement not held: its claim names S-NEW.
    assert services.store.claim("reminder", f"{NUMBER}:S-NEW:reminder-15", clock.now()) is False
    assert services.store.claim("reminder", f"{NUMBER}:S-OLD:reminder-30", clock.now()) is True


def test_an_open_estimate_dispute_is_never_escalated(services, clock, outbox):
    add_statement(services, "S-GFE", 15)
    ask_question(services, NUMBER, GUARANTOR, "S-GFE", None, "estimate_dispute", "", key())
    by_day = run_days(services, clock, outbox, range(15, 400, 15))
    assert by_day == {}
    assert services.store.escalations(account_number=NUMBER) == []


def test_an_assistance_request_holds_the_account_for_the_practices_period(services, clock, outbox):
    services = dataclasses.replace(
        services, settings=dataclasses.replace(services.settings, assistance_hold_days=20)
    )
    add_statement(services, "S-A1", 15)
    add_statement(services, "S-A2", 15)
    request_assistance(services, NUMBER, GUARANTOR, "3", "under_25k", "", key())
    by_day = run_days(services, clock, outbox, range(15, 60))
    # Held from day 15 for 20 days: days 15..35 do not count (the hold ends on day 35), so
    # reminder-15 comes on day 36 and reminder-30 on day 51, for both statements at once.
    assert by_day == {36: ["reminder"], 51: ["reminder"]}


def test_resolving_twice_posts_once_and_tells_the_patient_once(services, clock, outbox):
    add_statement(services, "S-R1", 20)
    case = ask_question(services, NUMBER, GUARANTOR, "S-R1", None, "charged_twice", "", key())
    form = key()
    args = ("correction", "We removed the duplicate.", "12.50", "duplicate line", None, form, "")
    for _ in range(2):
        done = resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *args)
    assert done.status is Status.RESOLVED
    entries = [
        e
        for e in services.store.load_book(NUMBER).entries
        if e.kind is EntryKind.ADJUSTMENT and case.case_id in e.memo
    ]
    assert [e.amount_cents for e in entries] == [-1250]
    assert [k for k, _ in mails(outbox)] == ["case-update"]
    # A second resolution from another form is refused, and nothing more is posted.
    with pytest.raises(InvalidInput):
        resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *args[:5], key(), "")


def test_a_crash_between_the_posting_and_the_resolution_posts_once_when_sent_again(
    services, clock, outbox, monkeypatch
):
    add_statement(services, "S-R2", 20)
    case = ask_question(services, NUMBER, GUARANTOR, "S-R2", None, "other", "", key())
    form = key()
    args = ("correction", "Fixed.", "10.00", "billing error", None, form, "")
    real_save = services.store.save_case

    def dies(case, audit=None):
        raise RuntimeError("killed after the posting")

    monkeypatch.setattr(services.store, "save_case", dies)
    with pytest.raises(RuntimeError):
        resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *args)
    monkeypatch.setattr(services.store, "save_case", real_save)
    resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *args)
    memos = [e for e in services.store.load_book(NUMBER).entries if case.case_id in e.memo]
    assert len(memos) == 1
    assert services.store.get_case(case.case_id).status is Status.RESOLVED
    # The e-mail's claim is the dead request's: once stale, the sweep sends it, once.
    assert mails(outbox) == []
    clock.advance(minutes=11)
    sweep_claims(services, clock.now().date())
    sweep_claims(services, clock.now().date())
    assert [k for k, _ in mails(outbox)] == ["case-update"]


def test_an_assistance_discount_is_a_supervisors_write_off_with_its_own_code(services):
    add_statement(services, "S-F1", 20)
    case = request_assistance(services, NUMBER, GUARANTOR, "4", "25k_50k", "", key())
    args = ("assistance_discount", "Approved.", "50.00", "sliding scale", "S-F1")
    with pytest.raises(InvalidInput) as refused:
        resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *args, key(), "")
    assert refused.value.field == "outcome"
    resolve_case(services, "sue", Role.SUPERVISOR, case.case_id, *args, key(), "")
    [entry] = [e for e in services.store.load_book(NUMBER).entries if e.kind is EntryKind.WRITE_OFF]
    assert entry.amount_cents == -5000 and entry.memo.startswith("FA ")


def test_a_reply_sent_twice_is_one_message_and_one_email(services, outbox):
    add_statement(services, "S-M1", 20)
    case = ask_question(services, NUMBER, GUARANTOR, "S-M1", None, "other", "", key())
    form = key()
    for _ in range(3):
        staff_reply(services, "alice", case.case_id, "reply", "We are checking.", form, "")
    saved = services.store.get_case(case.case_id)
    assert [m.text for m in saved.messages] == ["We are checking."]
    assert saved.status is Status.ANSWERED
    assert [k for k, _ in mails(outbox)] == ["case-update"]


def test_the_sweep_sends_an_update_whose_sender_died_and_drops_one_never_saved(
    services, clock, outbox
):
    add_statement(services, "S-W1", 20)
    case = ask_question(services, NUMBER, GUARANTOR, "S-W1", None, "other", "", key())
    saved_key, lost_key = key(), key()
    staff_reply(services, "alice", case.case_id, "reply", "Saved reply.", saved_key, "")
    # A reply whose sender died after the claim and before the save: the claim is left.
    services.store.claim(CASE_UPDATE_CLAIM, f"{case.case_id}:{lost_key}", clock.now())
    # A reply saved whose sender died before sending: the claim is left, the message kept.
    died = key()
    services.store.claim(
        CASE_UPDATE_CLAIM,
        f"{case.case_id}:{died}",
        clock.now(),
        payload=f'{{"case_id":"{case.case_id}","request_key":"{died}"}}',
    )
    from portal.domain.cases import CaseMessage, MessageKind, add_message

    current = services.store.get_case(case.case_id)
    services.store.save_case(
        add_message(current, CaseMessage(MessageKind.REPLY, "alice", "More.", clock.now(), died))
    )
    clock.advance(hours=1)
    summary = sweep_claims(services, clock.now().date())
    assert (summary.done, summary.dropped) == (1, 1)
    assert [k for k, _ in mails(outbox)] == ["case-update", "case-update"]


def test_a_refused_resolution_posts_nothing_and_the_corrected_form_tells_the_patient_at_once(
    services, outbox
):
    add_statement(services, "S-R3", 20)
    case = ask_question(services, NUMBER, GUARANTOR, "S-R3", None, "other", "", key())
    form = key()
    too_much = ("correction", "Fixed.", "999.00", "billing error", None, form, "")
    with pytest.raises(InvalidInput) as refused:
        resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *too_much)
    assert refused.value.field == "amount"
    assert services.store.get_case(case.case_id).is_open
    assert not [e for e in services.store.load_book(NUMBER).entries if case.case_id in e.memo]
    fixed = ("correction", "Fixed.", "9.00", "billing error", None, form, "")
    resolve_case(services, "alice", Role.ASSOCIATE, case.case_id, *fixed)
    assert [k for k, _ in mails(outbox)] == ["case-update"]
