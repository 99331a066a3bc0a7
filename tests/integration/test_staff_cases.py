"""Staff answer patients' questions (issue 17): cases in the queue with due date, owner and
reason; reply, ask for more, resolve with each outcome; the report by month with CSV; every
view and action audited; a form sent twice changes once."""

import csv
import io
import re

import pytest

from portal.domain.cases import Status
from portal.domain.ledger import EntryKind
from portal.domain.staff import AuditAction
from portal.domain.viewers import GUARANTOR
from portal.services.cases import ask_question, request_assistance, staff_reply
from tests.conftest import csrf_token
from tests.integration.conftest import eml_files, read_eml
from tests.integration.staff_helpers import DESK_ADDRESS, make_staff, staff_sign_in

QUESTION = "Was my knee MRI billed twice?"


@pytest.fixture
def alice(services):
    return make_staff(services, "alice", "associate")


@pytest.fixture
def sam(services):
    return make_staff(services, "sam", "supervisor")


def staff_client(app, services, username: str):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = DESK_ADDRESS
    staff_sign_in(client, services, username)
    return client


@pytest.fixture
def desk(app, services, lopez, alice):
    return staff_client(app, services, "alice")


@pytest.fixture
def boss(app, services, lopez, sam):
    return staff_client(app, services, "sam")


@pytest.fixture
def case(services, lopez):
    return ask_question(
        services, "100234", GUARANTOR, "S-2026-000123", "1", "charged_twice", QUESTION, "a" * 32
    )


def form_of(client, case_id: str, action: str) -> dict:
    """The CSRF token and the request key of one of the case page's forms."""
    html = client.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    form = re.search(rf'action="/staff/cases/{case_id}/{action}".*?</form>', html, re.S).group(0)
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', form)
    return {"csrf_token": csrf_token(html), **({"request_key": key.group(1)} if key else {})}


def audited(services, action: AuditAction) -> list:
    return [e for e in services.store.audit_entries(limit=500) if e.action is action]


def test_a_case_arrives_in_the_queue_with_due_date_owner_and_reason(desk, services, case):
    html = desk.get("/staff/escalations").get_data(as_text=True)
    assert f"/staff/cases/{case.case_id}" in html
    assert "I was charged twice" in html
    assert "Dec 4, 2026" in html  # 5 business days after Saturday Nov 28
    assert "nobody yet" in html
    assert QUESTION not in html  # the queue shows the reason, not what was asked
    listing = desk.get("/staff/cases").get_data(as_text=True)
    assert f"/staff/cases/{case.case_id}" in listing
    assert audited(services, AuditAction.VIEW_CASES)


def test_opening_a_case_is_audited_and_shows_the_question(desk, services, case):
    html = desk.get(f"/staff/cases/{case.case_id}").get_data(as_text=True)
    assert QUESTION in html
    [entry] = audited(services, AuditAction.VIEW_CASE)
    assert (entry.actor, entry.account_number, entry.subject) == ("alice", "100234", case.case_id)
    assert entry.address == DESK_ADDRESS
    assert desk.get("/staff/cases/Q-0000000000000000").status_code == 404


def test_assign_then_reply_e_mails_once_and_is_audited(desk, services, case, outbox):
    data = form_of(desk, case.case_id, "assign")
    assigned = desk.post(f"/staff/cases/{case.case_id}/assign", data={**data, "owner": "alice"})
    assert assigned.status_code == 303
    assert services.store.get_case(case.case_id).owner == "alice"
    nobody = desk.post(f"/staff/cases/{case.case_id}/assign", data={**data, "owner": "ghost"})
    assert nobody.status_code == 422
    assert "There is no staff user" in nobody.get_data(as_text=True)
    data = form_of(desk, case.case_id, "reply")
    reply = {**data, "kind": "reply", "text": "We found one MRI line; checking the other."}
    for _ in range(2):  # a double click
        sent = desk.post(f"/staff/cases/{case.case_id}/reply", data=reply)
        assert sent.status_code == 303
    saved = services.store.get_case(case.case_id)
    assert saved.status is Status.ANSWERED
    assert [m.text for m in saved.messages].count(reply["text"]) == 1
    [path] = eml_files(outbox)
    assert read_eml(path)["X-Portal-Message-Kind"] == "case-update"
    # The reply is audited with its message, once: the second request changed nothing.
    assert len(audited(services, AuditAction.REPLY_CASE)) == 1
    assert len(audited(services, AuditAction.ASSIGN_CASE)) == 1


def test_a_reply_too_long_is_refused_naming_the_field(desk, services, case, outbox):
    data = form_of(desk, case.case_id, "reply")
    refused = desk.post(
        f"/staff/cases/{case.case_id}/reply", data={**data, "kind": "reply", "text": "x" * 2001}
    )
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'href="#reply-text"' in html and "2,000 characters" in html
    assert len(services.store.get_case(case.case_id).messages) == 1
    assert eml_files(outbox) == []


def test_a_correction_posts_once_and_releases_the_hold(desk, services, case, outbox):
    data = form_of(desk, case.case_id, "resolve")
    form = {
        **data,
        "outcome": "correction",
        "explanation": "The second MRI line was a duplicate; we removed it.",
        "amount": "20.00",
        "ledger_reason": "duplicate line",
        "statement_id": "S-2026-000123",
    }
    for _ in range(2):
        done = desk.post(f"/staff/cases/{case.case_id}/resolve", data=form)
        assert done.status_code == 303
    resolved = services.store.get_case(case.case_id)
    assert resolved.status is Status.RESOLVED and resolved.outcome_cents == 2000
    entries = [
        e for e in services.store.load_book("100234").entries if case.case_id in (e.memo or "")
    ]
    assert [(e.kind, e.amount_cents) for e in entries] == [(EntryKind.ADJUSTMENT, -2000)]
    assert entries[0].memo.startswith("CQ ")
    assert len(eml_files(outbox)) == 1
    assert services.store.open_cases() == []


def test_an_associate_cannot_give_an_assistance_discount_a_supervisor_can(
    desk, boss, services, lopez, outbox
):
    request = request_assistance(services, "100234", GUARANTOR, "3", "under_25k", "", "b" * 32)
    html = desk.get(f"/staff/cases/{request.case_id}").get_data(as_text=True)
    assert 'value="assistance_discount"' not in html
    form = {
        "outcome": "assistance_discount",
        "explanation": "You qualify for a 100% discount.",
        "amount": "30.00",
        "ledger_reason": "charity care",
        "statement_id": "S-2026-000100",
    }
    refused = desk.post(
        f"/staff/cases/{request.case_id}/resolve",
        data={**form_of(desk, request.case_id, "resolve"), **form},
    )
    assert refused.status_code == 422
    assert "supervisor" in refused.get_data(as_text=True)
    assert services.store.get_case(request.case_id).is_open
    done = boss.post(
        f"/staff/cases/{request.case_id}/resolve",
        data={**form_of(boss, request.case_id, "resolve"), **form},
    )
    assert done.status_code == 303
    [entry] = [
        e for e in services.store.load_book("100234").entries if e.kind is EntryKind.WRITE_OFF
    ]
    assert entry.amount_cents == -3000 and entry.memo.startswith("FA ")


def test_no_change_needs_the_explanation_the_patient_sees(desk, services, case):
    data = form_of(desk, case.case_id, "resolve")
    missing = desk.post(
        f"/staff/cases/{case.case_id}/resolve", data={**data, "outcome": "no_change"}
    )
    assert missing.status_code == 422
    assert 'href="#resolve-explanation"' in missing.get_data(as_text=True)
    assert services.store.get_case(case.case_id).is_open
    done = desk.post(
        f"/staff/cases/{case.case_id}/resolve",
        data={**data, "outcome": "no_change", "explanation": "Both visits happened."},
    )
    assert done.status_code == 303
    assert services.store.get_case(case.case_id).messages[-1].text == "Both visits happened."
    assert audited(services, AuditAction.RESOLVE_CASE)[0].subject == f"{case.case_id} no_change"


def test_the_report_by_month_reason_and_outcome_with_csv(app, services, case, alice, clock):
    clock.advance(hours=5)
    staff_reply(services, "alice", case.case_id, "reply", "Looking.", "c" * 32, "")
    desk = staff_client(app, services, "alice")
    html = desk.get("/staff/reports/cases?month=2026-11").get_data(as_text=True)
    assert "2026-11" in html and "I was charged twice" in html and "Still open" in html
    assert "5.0" in html
    download = desk.get("/staff/reports/cases?month=2026-11&format=csv")
    assert download.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(download.get_data(as_text=True))))
    assert rows == [
        ["month", "reason", "outcome", "cases", "median_hours_to_first_answer"],
        ["2026-11", "charged_twice", "open", "1", "5.0"],
    ]
    assert QUESTION not in download.get_data(as_text=True)
    assert desk.get("/staff/reports/cases?month=2026-13").status_code == 400
    assert "cases to 2026-11" in [e.subject for e in audited(services, AuditAction.VIEW_REPORT)]
    december = desk.get("/staff/reports/cases?month=2026-12&format=csv").get_data(as_text=True)
    assert "2026-11,charged_twice" in december  # the 12 months up to December
    later = desk.get("/staff/reports/cases?month=2027-12&format=csv").get_data(as_text=True)
    assert later.strip().count("\n") == 0  # only the header: the case is older than 12 months


def test_the_staff_account_page_shows_what_is_on_hold(desk, case):
    html = desk.get("/staff/accounts/100234").get_data(as_text=True)
    assert f"/staff/cases/{case.case_id}" in html
    assert "statement S-2026-000123 held" in html
