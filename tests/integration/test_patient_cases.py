"""Patients ask from the bill itself (issue 17): question a charge or a statement, ask for
financial help, read the practice's replies on the portal (the e-mail says only that there
is one), answer them; a form sent twice opens one case; bad input names its field and
keeps nothing; patient B never sees or answers A's case."""

import re
from datetime import timedelta

from portal.domain.cases import Status
from portal.domain.staff import Role
from portal.services.cases import resolve_case, staff_reply
from tests.conftest import csrf_token
from tests.integration.conftest import eml_files, path_of, read_eml, sign_in

SECRET = "my asthma inhaler visit was covered"


def question_form(client, statement_id="S-2026-000123", line="1") -> dict:
    page = client.get(f"/statements/{statement_id}/question?line={line}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html)
    line_id = re.search(r'name="line_id"[^>]*value="([^"]*)"', html)
    return {
        "csrf_token": csrf_token(html),
        "request_key": key.group(1),
        "line_id": line_id.group(1) if line_id else "",
    }


def ask(client, reason="insurance_should_pay", message=SECRET, **form):
    data = {**question_form(client), "reason": reason, "message": message, **form}
    return client.post("/statements/S-2026-000123/question", data=data), data


def case_id_of(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)
    return path_of(response.headers["Location"]).rsplit("/", 1)[1]


def test_the_statement_page_offers_a_question_per_line_and_for_the_statement(patient):
    html = patient.get("/statements/S-2026-000123").get_data(as_text=True)
    assert "/statements/S-2026-000123/question?line=1" in html
    assert "/statements/S-2026-000123/question?line=2" in html
    assert 'href="/statements/S-2026-000123/question"' in html


def test_a_patient_asks_about_a_line_and_sees_the_case_on_the_account_page(patient, services):
    response, _ = ask(patient)
    case_id = case_id_of(response)
    case = services.store.get_case(case_id)
    assert (case.statement_id, case.line_id, case.status) == ("S-2026-000123", "1", Status.OPEN)
    assert case.messages[0].text == SECRET
    page = patient.get(f"/account/cases/{case_id}").get_data(as_text=True)
    assert SECRET in page
    assert "We will not send reminders about this statement" in page
    account = patient.get("/account").get_data(as_text=True)
    assert f"/account/cases/{case_id}" in account
    assert "Insurance should have paid" in account
    assert "Waiting for the billing office" in account
    assert SECRET not in account  # the list shows the reason and status, not the text


def test_the_same_form_sent_twice_opens_one_case(patient, services):
    first, data = ask(patient)
    again = patient.post("/statements/S-2026-000123/question", data=data)
    assert case_id_of(first) == case_id_of(again)
    assert len(services.store.account_cases("100234")) == 1


def test_a_message_too_long_is_refused_naming_the_field_and_nothing_is_kept(patient, services):
    response, _ = ask(patient, message="x" * 2001)
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'class="error-summary"' in html
    assert 'href="#message"' in html
    assert "2,000 characters" in html
    assert services.store.account_cases("100234") == []


def test_a_reason_not_offered_is_refused(patient, services):
    response, _ = ask(patient, reason="financial_assistance")
    assert response.status_code == 422
    assert 'href="#reason"' in response.get_data(as_text=True)
    missing, _ = ask(patient, reason="")
    assert missing.status_code == 422
    assert services.store.account_cases("100234") == []


def test_a_line_of_another_statement_is_refused(patient, services):
    response, _ = ask(patient, line_id="99")
    assert response.status_code == 422
    assert "Choose a line of this statement." in response.get_data(as_text=True)
    assert services.store.account_cases("100234") == []


def test_a_reply_is_read_on_the_portal_and_the_email_only_says_there_is_one(
    patient, services, outbox
):
    case_id = case_id_of(ask(patient)[0])
    staff_reply(
        services, "alice", case_id, "more_info", "Send us the EOB for the inhaler.", "f" * 32, ""
    )
    [path] = eml_files(outbox)
    message = read_eml(path)
    assert message["X-Portal-Message-Kind"] == "case-update"
    assert message.is_multipart()
    bodies = [p.get_content() for p in message.walk() if p.get_content_maintype() == "text"]
    assert len(bodies) == 2
    everything = str(message["Subject"]) + " ".join(bodies)
    for secret in (SECRET, "EOB", "inhaler", case_id):
        assert secret not in everything
    assert "http://portal.test/account#cases" in everything or "/account#cases" in everything
    page = patient.get(f"/account/cases/{case_id}").get_data(as_text=True)
    assert "Send us the EOB for the inhaler." in page
    assert "The billing office needs more from you" in page
    # The patient answers; the case is the practice's to answer again.
    html = patient.get(f"/account/cases/{case_id}").get_data(as_text=True)
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html).group(1)
    sent = patient.post(
        f"/account/cases/{case_id}/reply",
        data={"csrf_token": csrf_token(html), "request_key": key, "message": "Attached."},
    )
    assert sent.status_code == 303
    case = services.store.get_case(case_id)
    assert case.status is Status.OPEN and case.messages[-1].text == "Attached."


def test_a_resolved_case_shows_its_outcome_and_takes_no_more_replies(patient, services):
    case_id = case_id_of(ask(patient)[0])
    resolve_case(
        services,
        "alice",
        Role.ASSOCIATE,
        case_id,
        "referred_to_insurer",
        "We sent the claim back to your insurer.",
        "",
        "",
        None,
        "e" * 32,
        "",
    )
    page = patient.get(f"/account/cases/{case_id}").get_data(as_text=True)
    assert "Referred to the insurer" in page
    assert "We sent the claim back to your insurer." in page
    assert f"/account/cases/{case_id}/reply" not in page


def test_help_paying_holds_the_account_and_says_what_happens_next(patient, services, clock):
    page = patient.get("/account/help")
    html = page.get_data(as_text=True)
    assert "What happens next" in html and "30 days" in html
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html).group(1)
    bad = patient.post(
        "/account/help",
        data={"csrf_token": csrf_token(html), "request_key": key, "household_size": "0"},
    )
    assert bad.status_code == 422
    bad_html = bad.get_data(as_text=True)
    assert 'href="#household_size"' in bad_html and 'href="#income_band"' in bad_html
    assert services.store.account_cases("100234") == []
    done = patient.post(
        "/account/help",
        data={
            "csrf_token": csrf_token(html),
            "request_key": key,
            "household_size": "4",
            "income_band": "25k_50k",
            "what_happened": "I lost my job.",
        },
    )
    case = services.store.get_case(case_id_of(done))
    assert case.statement_id is None
    assert case.hold_until == clock.now() + timedelta(days=30)
    shown = patient.get(f"/account/cases/{case.case_id}").get_data(as_text=True)
    assert "We will not send payment reminders on your account until" in shown


def test_patient_b_never_sees_or_answers_as_case(app, patient, smith, services):
    case_id = case_id_of(ask(patient)[0])
    other = app.test_client()
    sign_in(other, account_number="100777", last_name="Smith", date_of_birth="1970-05-05")
    page = other.get(f"/account/cases/{case_id}")
    assert page.status_code == 404
    assert SECRET not in page.get_data(as_text=True)
    assert f"/account/cases/{case_id}" not in other.get("/account").get_data(as_text=True)
    html = other.get("/account").get_data(as_text=True)
    answer = other.post(
        f"/account/cases/{case_id}/reply",
        data={"csrf_token": csrf_token(html), "request_key": "b" * 32, "message": "mine now"},
    )
    assert answer.status_code == 404
    assert [m.text for m in services.store.get_case(case_id).messages] == [SECRET]
    # Nor can B open a question on A's statement.
    refused = other.post(
        "/statements/S-2026-000123/question",
        data={"csrf_token": csrf_token(html), "request_key": "c" * 32, "reason": "other"},
    )
    assert refused.status_code == 404
    assert len(services.store.account_cases("100234")) == 1
    assert services.store.account_cases("100777") == []


def test_on_a_family_account_only_whoever_asked_sees_the_case(app, patient, services):
    guarantors = case_id_of(ask(patient)[0])
    child = app.test_client()
    sign_in(child, account_number="100234", last_name="Lopez", date_of_birth="2015-06-02")
    assert child.get(f"/account/cases/{guarantors}").status_code == 404
    assert f"/account/cases/{guarantors}" not in child.get("/account").get_data(as_text=True)
    # The child's own question, about their own line: theirs only.
    asked, _ = ask(child, message="Anas own question", line_id="1")
    childs = case_id_of(asked)
    assert "Anas own question" in child.get(f"/account/cases/{childs}").get_data(as_text=True)
    assert patient.get(f"/account/cases/{childs}").status_code == 404
    # Asking for financial help is the guarantor's.
    assert "Only the person responsible" in child.get("/account/help").get_data(as_text=True)
