"""Issue 18: no patient-facing word outside the catalog.

A pseudo-language is built from translations/messages.pot at test time: every message is
its English words accented and wrapped in markers ("Pay" -> "⟦Ṕáý⟧"). Every patient page is
rendered in it (Quick Pay and its errors, the account, a statement, receipts and payment
outcomes, the opt-out pages, the payment plan pages, the questions and requests for help,
the error pages); the test strips tags,
scripts and attributes, the words inside markers, the values that come from data (amounts,
dates and times are marked by their filters; names, numbers, ids and the practice's details
are the known records) and fails on any word left: English a translator never saw.
"""

import re
from dataclasses import replace
from datetime import date
from html import unescape
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import portal.app
from portal.adapters.email_templates import EmailRenderer
from portal.config import Settings
from portal.domain.payments import PaymentStatus
from portal.domain.staff import Role
from portal.domain.viewers import Viewer
from portal.ports.payments import SetupRequest
from portal.resources import template_dir
from portal.services.accounts import account_view
from portal.services.cases import resolve_case, staff_reply
from portal.services.mail_feedback import apply_ses_event
from portal.services.notices import opt_out_url
from portal.services.statements import import_statement
from tests.conftest import csrf_token, lopez_account, statement
from tests.integration.conftest import checkout_form, open_checkout, path_of, pay, sign_in
from tests.integration.test_corrected_statement_pages import corrected
from tests.plan_helpers import run_on, set_up_plan
from tests.ses_events import complaint

ROOT = Path(__file__).resolve().parents[2]
PSEUDO = "eo"  # a language Babel knows and the portal does not offer: stands for any
OPEN, CLOSE = "⟦", "⟧"
DATA_OPEN, DATA_CLOSE = "⟪", "⟫"
NEEDS_YOU_CARD = "4000002500003155"  # saved; every charge of it needs the patient
ACCENTED = str.maketrans(
    "aceinouyACEINOUY",
    "áçéíñóúýÁÇÉÍÑÓÚÝ",
)
# Inside a message: placeholders, markup and entities stay as they are.
_KEPT = re.compile(r"(%\(\w+\)[sd]|<[^>]+>|&\w+;)")
# Written the same in every language: an abbreviation the page also spells out (<abbr>).
EVERY_LANGUAGE = {"ICD-10"}


def pseudo(message: str) -> str:
    parts = _KEPT.split(message)
    return (
        OPEN + "".join(p if i % 2 else p.translate(ACCENTED) for i, p in enumerate(parts)) + CLOSE
    )


def pseudo_catalog(folder: Path, domain: str = "messages") -> Path:
    """translations/<PSEUDO>/LC_MESSAGES/<domain>.mo from <domain>.pot, in `folder`."""
    with open(ROOT / "translations" / f"{domain}.pot", "rb") as handle:
        template = read_po(handle)
    catalog = Catalog(locale=PSEUDO, domain=domain)
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, tuple | list):
            forms = tuple(pseudo(form) for form in message.id)
            catalog.add(message.id, forms + (forms[-1],) * (catalog.num_plurals - len(forms)))
        else:
            catalog.add(message.id, pseudo(message.id))
    target = folder / PSEUDO / "LC_MESSAGES"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / f"{domain}.mo", "wb") as handle:
        write_mo(handle, catalog)
    return folder


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return replace(settings, languages=("en", PSEUDO))


@pytest.fixture
def app(services, tmp_path, monkeypatch):
    monkeypatch.setattr(portal.app, "translations_dir", lambda: pseudo_catalog(tmp_path / "i18n"))
    # What the services write for the processor (the checkout's line) is the email domain's.
    services.emails = EmailRenderer(template_dir(), pseudo_catalog(tmp_path / "i18n", "email"))
    app = portal.app.create_app(services=services)
    app.config["TESTING"] = True
    for name in ("money", "date", "local_time"):  # amounts, dates, times: data, marked
        shown = app.jinja_env.filters[name]
        app.jinja_env.filters[name] = lambda value, shown=shown: (
            f"{DATA_OPEN}{shown(value)}{DATA_CLOSE}"
        )
    return app


@pytest.fixture
def pseudo_client(client):
    assert client.get(f"/language/{PSEUDO}?next=/pay").status_code == 303
    return client


def visible_text(html: str) -> str:
    """What a reader sees: no scripts, no tags (so no attributes), entities decoded, and no
    element marked as written in another language (the language switch's links)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    html = re.sub(r'<(\w+)[^>]*\slang="(?!eo")[^"]*"[^>]*>.*?</\1>', " ", html, flags=re.S)
    return unescape(re.sub(r"<[^>]+>", " ", html))


def untranslated(html: str, data: list[str]) -> list[str]:
    text = visible_text(html)
    text = re.sub(f"{DATA_OPEN}[^{DATA_CLOSE}]*{DATA_CLOSE}", " ", text)
    while True:  # a message may hold another (a service's sentence in a page's)
        inner = re.sub(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}", " ", text)
        if inner == text:
            break
        text = inner
    for value in sorted(data, key=len, reverse=True):
        text = text.replace(value, " ")
    words = re.findall(r"[^\W\d_][\w'.-]*", text)
    return [w for w in words if w not in EVERY_LANGUAGE]


def known_data(services, *accounts) -> list[str]:
    """The words the pages show from records: names, numbers, ids, descriptions."""
    values = [services.settings.practice_name, "Visa", "4242", "3155"]
    for account in accounts:
        values += [account.account_number, account.guarantor.display_name]
        values += [p.display_name for p in account.patients]
        view = account_view(services, account.account_number, Viewer.guarantor())
        for item in view.statements:
            values.append(item.statement.statement_id)
            for line in item.statement.lines:
                values += [line.description, line.provider, line.code_system, line.code]
                values += list(line.diagnosis_codes)
        values += [p.payment_id for p in view.payments]
        values += [p.plan_id for p in services.store.account_plans(account.account_number)]
    return [v for v in values if v]


def check(response, data: list[str], status: int = 200) -> None:
    html = response.get_data(as_text=True)
    # The plan's authorization is the e-mail domain's text (portal/domain/plan_terms.py,
    # with the plan e-mails), agreed by its digest: not the pages' catalog.
    html = re.sub(r'<div class="terms"[^>]*data-testid="authorization">.*?</div>', "", html)
    data = [*data, "Demo Family Practice"]
    assert response.status_code == status, (response.status_code, html[:300])
    assert f'<html lang="{PSEUDO}">' in html
    left = untranslated(html, data)
    assert not left, f"{response.request.path}: not in the catalog: {left}"


def test_quick_pay_and_its_errors(pseudo_client, services, lopez):
    data = known_data(services, lopez)
    check(pseudo_client.get("/pay"), data)
    token = csrf_token(pseudo_client.get("/pay").get_data(as_text=True))
    check(pseudo_client.post("/pay", data={"csrf_token": token}), data, 422)
    wrong_date = {"account_number": "100234", "last_name": "Lopez", "date_of_birth": "3/12/84"}
    check(pseudo_client.post("/pay", data={**wrong_date, "csrf_token": token}), data, 422)
    wrong = {"account_number": "100234", "last_name": "Smith", "date_of_birth": "1984-03-12"}
    check(pseudo_client.post("/pay", data={**wrong, "csrf_token": token}), data, 401)
    for _ in range(4):
        pseudo_client.post("/pay", data={**wrong, "csrf_token": token})
    check(pseudo_client.post("/pay", data={**wrong, "csrf_token": token}), data, 429)


def test_the_session_ended_for_idleness(pseudo_client, services, lopez, clock):
    sign_in(pseudo_client)
    clock.advance(minutes=16)

    check(pseudo_client.get("/account", follow_redirects=True), known_data(services, lopez))


def test_the_account_statement_and_payment_pages(pseudo_client, services, lopez):
    sign_in(pseudo_client)
    paid = pay(pseudo_client, open_checkout(pseudo_client, "30.00"))
    receipt = path_of(paid.headers["Location"])
    now = services.clock.now()
    outcomes = {  # a payment left in each state the page tells, with the processor's words
        PaymentStatus.PENDING: "",
        PaymentStatus.FAILED: "Your card was declined.",
        PaymentStatus.PROCESSING: "Your card was charged in another currency (EUR), not US "
        "dollars, so nothing is posted to your account yet. Our billing office has been "
        "told and will contact you.",
    }
    pages = []
    for status, message in outcomes.items():
        checkout = open_checkout(pseudo_client, "10.00")
        payment_id = services.payments.open_session(checkout.rsplit("/", 1)[1]).payment_id
        if status is not PaymentStatus.PENDING:
            services.store.close_payment(payment_id, status, message, now)
        pages.append(f"/payments/{payment_id}")
    token = csrf_token(pseudo_client.get("/account").get_data(as_text=True))
    data = known_data(services, lopez)

    check(pseudo_client.get("/account"), data)
    check(pseudo_client.get("/statements/S-2026-000123"), data)
    check(pseudo_client.get(receipt), data)
    for page in pages:
        check(pseudo_client.get(page), data)
    check(pseudo_client.get(f"{pages[0]}?canceled=1"), data)
    too_much = {"amount": "5000.00", "csrf_token": token}
    check(pseudo_client.post("/payments", data=too_much), data, 422)
    check(pseudo_client.post("/payments", data={"amount": "", "csrf_token": token}), data, 422)
    signed_out = pseudo_client.post("/signout", data={"csrf_token": token}, follow_redirects=True)
    check(signed_out, data)
    check(pseudo_client.get(receipt), data)  # the receipt without a session


def test_a_patients_statement_hides_the_other_patients_visits(pseudo_client, services, lopez):
    sign_in(pseudo_client, last_name="Núñez-Lopez", date_of_birth="2018-01-09")
    check(pseudo_client.get("/statements/S-2026-000123"), known_data(services, lopez))
    check(pseudo_client.get("/account/help"), known_data(services, lopez))  # the guarantor's


def test_a_corrected_statement(pseudo_client, services, lopez):
    """What changed on a corrected statement (a line changed, one removed, one added)."""
    import_statement(services, lopez_account(), corrected(), notify=False)
    data = known_data(services, lopez)

    for last_name, born in (("Lopez", "1984-03-12"), ("Lopez", "2015-06-02")):  # a patient's
        sign_in(pseudo_client, last_name=last_name, date_of_birth=born)
        page = pseudo_client.get("/statements/S-2026-000123")
        assert 'data-testid="corrected"' in page.get_data(as_text=True)
        check(page, data)


def test_the_billing_texts_page(pseudo_client, services, lopez):
    """Turning billing texts on (with its refusals), on, and off; a patient who is not the
    guarantor is told who can."""
    sign_in(pseudo_client)
    data = [*known_data(services, lopez), "555-555-0123", "+15555550123", "(555) 555-0123"]
    page = "/account/texts"
    check(pseudo_client.get(page), data)
    token = csrf_token(pseudo_client.get(page).get_data(as_text=True))
    check(pseudo_client.post(page, data={"csrf_token": token, "phone": ""}), data, 422)
    check(
        pseudo_client.post(page, data={"csrf_token": token, "phone": "12", "agree": "y"}), data, 422
    )
    turned_on = pseudo_client.post(
        page, data={"csrf_token": token, "phone": "555-555-0123", "agree": "y"}
    )
    assert turned_on.status_code == 303, turned_on.get_data(as_text=True)[:300]
    check(pseudo_client.get(page), data)  # on, with the flash
    stopped = pseudo_client.post(f"{page}/stop", data={"csrf_token": token})
    assert stopped.status_code == 303
    check(pseudo_client.get(page), data)
    sign_in(pseudo_client, last_name="Lopez", date_of_birth="2015-06-02")
    check(pseudo_client.get(page), data)


def test_the_opt_out_pages(pseudo_client, services, lopez):
    path = path_of(opt_out_url(services, "100234"))
    data = known_data(services, lopez)

    check(pseudo_client.get(path), data)
    check(pseudo_client.post(path), data)
    check(pseudo_client.get("/reminders/stop/not-a-token"), data, 404)


def test_the_payment_plan_pages(pseudo_client, services, lopez):
    big = statement("S-2026-000300", (60_000,), date(2026, 11, 20), date(2026, 12, 20))
    import_statement(services, lopez_account(), big, notify=False)
    sign_in(pseudo_client)
    data = known_data(services, lopez)
    check(pseudo_client.get("/plans/new"), data)
    token = csrf_token(pseudo_client.get("/plans/new").get_data(as_text=True))
    choice = {"months": "3", "installment": "", "day": "1", "csrf_token": token}
    check(pseudo_client.post("/plans/new", data={**choice, "step": "review"}), data)
    check(
        pseudo_client.post("/plans/new", data={**choice, "months": "99", "step": "review"}),
        data,
        422,
    )
    check(pseudo_client.post("/plans/new", data={**choice, "step": "agree"}), data, 422)
    check(
        pseudo_client.post(
            "/plans/new", data={"kind": "autopay", "step": "review", "csrf_token": token}
        ),
        data,
    )

    plan = set_up_plan(services, "100234", card=NEEDS_YOU_CARD)
    import_statement(
        services,
        lopez_account(),
        statement("S-2026-000302", (3_000,), date(2026, 11, 25), date(2026, 12, 25)),
        notify=False,
    )
    run_on(services, plan.installments[0].due_on)
    sign_in(pseudo_client)  # the charge run moved the clock past the session
    data = known_data(services, lopez)
    page = f"/plans/{plan.plan_id}"
    check(pseudo_client.get(page), data)
    check(pseudo_client.get(f"{page}/add"), data)
    token = csrf_token(pseudo_client.get(f"{page}/add").get_data(as_text=True))
    check(pseudo_client.post(f"{page}/add", data={"csrf_token": token}), data, 422)
    check(pseudo_client.get(f"{page}/installments/1/pay"), data)
    check(pseudo_client.get("/plans/new"), data)  # a plan runs already: not offered
    cancel = pseudo_client.post(f"{page}/cancel", data={"csrf_token": token}, follow_redirects=True)
    check(cancel, data)


def test_the_sandbox_checkout_and_setup_pages(pseudo_client, services, lopez):
    """The test gateway's checkout page (its line from the services, its refusals) and its
    page that saves a payment method, each with its refusals."""
    sign_in(pseudo_client)
    data = known_data(services, lopez)
    page = open_checkout(pseudo_client, "30.00")
    check(pseudo_client.get(page), data)
    refused = (
        ({"card_number": "", "expiry": "", "cvc": ""}, 422),
        ({"card_number": "12ab", "expiry": "13/30", "cvc": "1"}, 422),
        ({"expiry": "01/20"}, 422),  # expired
        ({"card_number": "4000000000000002"}, 402),  # declined
        ({"card_number": "4111111111111111"}, 402),  # not a test card
    )
    for fields, status in refused:
        form = {**checkout_form(pseudo_client, page), **fields}
        check(pseudo_client.post(page, data=form), data, status)

    setup = path_of(services.payments.create_setup(SetupRequest("plan_1", page, page)).url)
    check(pseudo_client.get(setup), data)
    token = csrf_token(pseudo_client.get(setup).get_data(as_text=True))
    card = {"method": "card", "card_number": "4242424242424242", "expiry": "12/30", "cvc": "1"}
    bank = {"method": "bank_account", "routing_number": "1", "account_number": "000123456789"}
    for form, status in (
        ({}, 422),
        (card, 422),
        ({**card, "cvc": "123", "expiry": "01/20"}, 422),
        ({**card, "cvc": "123", "card_number": "4000000000000002"}, 402),
        ({**bank, "routing_number": "999999999"}, 402),
        (bank, 422),
    ):
        check(pseudo_client.post(setup, data={**form, "csrf_token": token}), data, status)


def form_of(client, path: str) -> dict:
    """The hidden fields of the form on the page at `path` (its CSRF token and request key)."""
    html = client.get(path).get_data(as_text=True)
    key = re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', html)
    return {"csrf_token": csrf_token(html), "request_key": key.group(1) if key else ""}


def case_page(response) -> str:
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    return path_of(response.headers["Location"])


def test_the_questions_and_requests_for_help(pseudo_client, services, lopez):
    """Asking about a line and about a whole statement, asking for help, each with its
    refusals (the form's and the services'), the case pages with the office's messages, a
    resolved case and the account page listing them. What patients and staff wrote is
    shown as written: data."""
    sign_in(pseudo_client)
    written = [
        "Why twice?",
        "Send us the EOB.",
        "Fixed: billed once.",
        "I lost my job.",
        "Attached.",
    ]
    data = [*known_data(services, lopez), *written]
    line = "/statements/S-2026-000123/question?line=1"
    whole = "/statements/S-2026-000123/question"
    check(pseudo_client.get(line), data)
    check(pseudo_client.get(whole), data)
    refusals = (
        {"line_id": "1", "message": "9" * 2001},  # no reason; too long (the form's)
        {"line_id": "nope", "reason": "charged_twice"},  # the service's
        {"line_id": "", "reason": "other", "message": "1\x072"},  # the domain's
    )
    for refused in refusals:
        check(
            pseudo_client.post(whole, data={**form_of(pseudo_client, whole), **refused}), data, 422
        )
    asked = {"line_id": "1", "reason": "charged_twice", "message": "Why twice?"}
    question = case_page(pseudo_client.post(whole, data={**form_of(pseudo_client, line), **asked}))
    check(pseudo_client.get(question), data)  # with the flash
    check(pseudo_client.get(question), data)
    case_id = question.rsplit("/", 1)[1]
    staff_reply(services, "alice", case_id, "more_info", "Send us the EOB.", "f" * 32, "")
    check(pseudo_client.get(question), data)
    reply = f"{question}/reply"
    check(pseudo_client.post(reply, data={**form_of(pseudo_client, question)}), data, 422)
    sent = pseudo_client.post(
        reply, data={**form_of(pseudo_client, question), "message": "Attached."}
    )
    check(pseudo_client.get(case_page(sent)), data)

    help_page = "/account/help"
    check(pseudo_client.get(help_page), data)
    check(
        pseudo_client.post(
            help_page, data={**form_of(pseudo_client, help_page), "household_size": "0"}
        ),
        data,
        422,
    )
    wanted = {"household_size": "4", "income_band": "under_25k", "what_happened": "I lost my job."}
    helped = case_page(
        pseudo_client.post(help_page, data={**form_of(pseudo_client, help_page), **wanted})
    )
    check(pseudo_client.get(helped), data)
    check(pseudo_client.get("/account"), data)

    resolve_case(
        services,
        "alice",
        Role.ASSOCIATE,
        case_id,
        "correction",
        "Fixed: billed once.",
        "10.00",
        "Charged twice",
        "S-2026-000123",
        "e" * 32,
        "",
    )
    check(pseudo_client.get(question), data)
    too_late = {**form_of(pseudo_client, question), "request_key": "d" * 32, "message": "More."}
    check(pseudo_client.post(reply, data=too_late), data, 422)
    apply_ses_event(services, complaint("maria@example.com", "100234"), "sns-1")
    check(pseudo_client.get("/account"), data)  # with the e-mail that is not delivered
    check(pseudo_client.get("/account/cases/Q-NOT-A-CASE"), data, 404)


def test_the_error_pages(pseudo_client, services):
    check(pseudo_client.get("/no-such-page"), [], 404)
    check(pseudo_client.post("/pay", data={"csrf_token": "stale"}), [], 400)
    check(
        pseudo_client.post(
            "/pay", data=b"account_number=%FF", content_type="application/x-www-form-urlencoded"
        ),
        [],
        400,
    )
    check(
        pseudo_client.post(
            "/pay", data=b"x" * (6 * 1024 * 1024), content_type="application/x-www-form-urlencoded"
        ),
        [],
        413,
    )


def test_the_check_finds_a_word_outside_the_catalog():
    html = f'<p>{pseudo("Pay your bill")} today</p><p lang="en">English</p>'

    assert untranslated(html, []) == ["today"]
    assert untranslated(f"<p>{pseudo('Pay')} {DATA_OPEN}Nov 30, 2026{DATA_CLOSE}</p>", []) == []
    assert untranslated("<p>Account 100234 Maria Lopez</p>", ["100234", "Maria Lopez"]) == [
        "Account"
    ]
