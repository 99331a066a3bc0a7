"""The billing associates' console: dashboard, search, the account page, posting and
reversing manual payments, notes, the payments list, and the audit trail they leave."""

import re
from datetime import UTC, date, datetime

import pytest

from portal.domain.payments import Payment, PaymentStatus, new_payment_id
from portal.domain.staff import AuditAction
from portal.services import ledger as posting
from tests.conftest import csrf_token
from tests.integration.conftest import (
    eml_files,
    open_checkout,
    path_of,
    pay,
    read_eml,
    sign_in,
)
from tests.integration.staff_helpers import (
    DESK_ADDRESS,
    PASSWORD,
    audit_since,
    by_testid,
    code_for,
    field_error,
    flashes,
    last_audit_id,
    ledger_amounts,
    make_staff,
    password_step,
    post_form,
    postings,
    records,
    redirects_to,
    request_key_of,
    sign_out,
    staff_sign_in,
    statement_balances,
    submit_code,
    submit_password,
    wrong_code,
)

ACCOUNT = "/staff/accounts/100234"


@pytest.fixture
def alice(services):
    return make_staff(services, "alice", "associate")


@pytest.fixture
def desk(app, services, lopez, alice):
    """An associate signed in from the billing office's desk (10.1.2.3)."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = DESK_ADDRESS
    staff_sign_in(client, services)
    return client


# -- helpers ---------------------------------------------------------------------------


def account_page(client, number: str = "100234") -> str:
    response = client.get(f"/staff/accounts/{number}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def payment_form(client, **fields: str) -> dict:
    """The account page's payment form as a browser would submit it."""
    html = account_page(client)
    data = {
        "method": "check",
        "amount": "40.00",
        "check_number": "1001",
        "request_key": request_key_of(html),
        "csrf_token": csrf_token(html),
    }
    data.update(fields)
    return data


def post_payment(client, **fields: str):
    return client.post(f"{ACCOUNT}/payments", data=payment_form(client, **fields))


def posted(client, services, **fields: str) -> str:
    """Post a payment that must go through; return its id."""
    response = post_payment(client, **fields)
    assert redirects_to(response, ACCOUNT), response.get_data(as_text=True)
    return records(services).payments[0].payment_id


def reverse(client, payment_id: str, reason: str = "Posted to the wrong account"):
    return post_form(client, f"/staff/payments/{payment_id}/reverse", {"reason": reason})


def add_note(client, text: str, promise: str = ""):
    data = {"text": text, "promise_to_pay_on": promise}
    return post_form(client, f"{ACCOUNT}/notes", data)


def nothing_posted(services) -> bool:
    return records(services).payments == () and statement_balances(services) == {
        "S-2026-000100": 3000,
        "S-2026-000123": 6550,
    }


def seed_payment(
    services,
    cents: int,
    method: str,
    at: datetime,
    status: PaymentStatus = PaymentStatus.SUCCEEDED,
) -> str:
    """A payment on account 100234 at a given instant, straight into the store."""
    manual = method != "card"
    payment = Payment(
        payment_id=new_payment_id(),
        account_number="100234",
        amount_cents=cents,
        status=PaymentStatus.PENDING,
        method=method,
        gateway="manual" if manual else "sandbox",
        created_at=at,
        method_detail="2002" if method == "check" else "",
    )
    assert services.store.create_payment(payment)
    if status is PaymentStatus.SUCCEEDED:
        posting.post_payment(
            services.store, payment.payment_id, f"ref:{payment.payment_id}", cents, at
        )
    else:
        services.store.close_payment(payment.payment_id, status, "Card declined", at)
    return payment.payment_id


# -- dashboard -------------------------------------------------------------------------------


def test_the_dashboard_shows_todays_total(desk, services):
    page = desk.get("/staff/").get_data(as_text=True)
    assert by_testid(page, "today-total") == "$0.00"

    # 23:00 in New York yesterday is 04:00 UTC today: not today's money.
    seed_payment(services, 700, "cash", datetime(2026, 11, 28, 4, 0, tzinfo=UTC))
    posted(desk, services, amount="40.00")
    posted(desk, services, method="cash", amount="15.00", check_number="")

    html = desk.get("/staff/").get_data(as_text=True)
    assert by_testid(html, "today-total") == "$55.00"
    assert "2 payments" in html
    assert "$7.00" not in html


# -- search ------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["Lopez", "maria lopez", "Núñez", "ana", "S-2026-000123"])
def test_search_finds_the_account(desk, smith, query):
    response = desk.get("/staff/search", query_string={"q": query})

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "1 result for" in html
    assert 'href="/staff/accounts/100234"' in html
    assert "Maria Lopez" in html
    assert "100777" not in html


def test_search_by_payment_id(desk, services, smith):
    payment_id = posted(desk, services)
    html = desk.get("/staff/search", query_string={"q": payment_id}).get_data(as_text=True)
    assert "1 result for" in html
    assert 'href="/staff/accounts/100234"' in html
    assert "100777" not in html


def test_search_by_an_exact_account_number_opens_the_account(desk, smith):
    response = desk.get("/staff/search", query_string={"q": "100777"})
    assert redirects_to(response, "/staff/accounts/100777")
    assert "John Smith" in desk.get(path_of(response.headers["Location"])).get_data(as_text=True)


def test_search_with_no_match(desk, smith):
    html = desk.get("/staff/search", query_string={"q": "Zyzzyva"}).get_data(as_text=True)
    assert "0 results for" in html
    assert "100234" not in html.split("results for", 1)[1]


# -- the account page ------------------------------------------------------------------------


def test_the_account_page_shows_people_balance_statements_and_ledger(desk):
    html = account_page(desk)

    assert "Maria Lopez, born Mar 12, 1984" in html
    assert "Ana Lopez, born Jun 2, 2015" in html
    assert "José Núñez-Lopez, born Jan 9, 2018" in html
    assert "maria@example.com" in html
    assert by_testid(html, "balance-due") == "$95.50"
    assert by_testid(html, "credit") is None
    for statement_id in ("S-2026-000100", "S-2026-000123"):
        assert statement_id in html
    assert "CPT 99213" in html
    assert "Office visit, established patient" in html
    assert "J06.9" in html
    for amount in ("$30.00", "$45.50", "$20.00"):
        assert amount in html

    amounts = ledger_amounts(html)
    assert len(amounts) >= 3
    assert sum(amounts) == 9550
    assert by_testid(html, "ledger-total") == "$95.50"


def test_an_unknown_account_is_404(desk, services):
    assert desk.get("/staff/accounts/999999").status_code == 404
    html = account_page(desk)
    token = csrf_token(html)
    for path, data in (
        ("/staff/accounts/999999/payments", payment_form(desk)),
        ("/staff/accounts/999999/notes", {"text": "Hello"}),
        ("/staff/payments/pay_000000000000000000000000/reverse", {"reason": "No such payment"}),
    ):
        response = desk.post(path, data={**data, "csrf_token": token})
        assert response.status_code == 404, path
    assert nothing_posted(services)
    assert services.store.notes("999999") == []
    assert not [e for e in services.store.audit_entries() if e.account_number == "999999"]


# -- posting payments ------------------------------------------------------------------------


def test_posting_a_check_applies_it_oldest_statement_first(desk, services, outbox):
    response = post_payment(desk, method="check", amount="40.00", check_number="1001")

    assert redirects_to(response, ACCOUNT)
    html = account_page(desk)
    assert "Posted $40.00 (check)." in flashes(html)
    assert by_testid(html, "balance-due") == "$55.50"
    assert by_testid(html, "ledger-total") == "$55.50"
    assert sum(ledger_amounts(html)) == 5550
    assert "#1001" in html

    (payment,) = records(services).payments
    assert payment.status is PaymentStatus.SUCCEEDED
    assert payment.method == "check"
    assert payment.method_detail == "1001"
    assert payment.amount_cents == 4000
    assert postings(services, payment.payment_id) == [
        ("S-2026-000100", 3000),
        ("S-2026-000123", 1000),
    ]
    assert statement_balances(services) == {"S-2026-000100": 0, "S-2026-000123": 5550}

    (receipt,) = eml_files(outbox)
    message = read_eml(receipt)
    assert message["X-Portal-Message-Kind"] == "receipt"
    assert message["To"] == "maria@example.com"
    assert "$40.00" in message.get_body(("plain",)).get_content()


def test_the_same_form_submitted_twice_posts_once(desk, services, outbox):
    form = payment_form(desk, amount="40.00")

    first = desk.post(f"{ACCOUNT}/payments", data=form)
    again = desk.post(f"{ACCOUNT}/payments", data=form)

    assert redirects_to(first, ACCOUNT)
    assert redirects_to(again, ACCOUNT)
    html = account_page(desk)
    assert "That payment was already posted; nothing changed." in flashes(html)
    assert len(records(services).payments) == 1
    assert by_testid(html, "balance-due") == "$55.50"
    assert len(eml_files(outbox)) == 1
    posts = [e for e in services.store.audit_entries() if e.action is AuditAction.POST_PAYMENT]
    assert len(posts) == 1


@pytest.mark.parametrize("check_number", ["", "   ", "10/01"])
def test_a_check_needs_a_check_number(desk, services, outbox, check_number):
    response = post_payment(desk, method="check", check_number=check_number)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Enter the check number" in field_error(html, "check_number")
    assert by_testid(html, "balance-due") == "$95.50"
    assert nothing_posted(services)
    assert eml_files(outbox) == []


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0", "The amount must be more than $0.00."),
        ("-1", "The amount cannot be negative."),
        ("12.345", "Use at most two digits after the decimal point."),
        ("abc", "Enter the amount in dollars and cents, for example 25.00."),
        ("100000.01", "The amount is over $100,000.00; check it."),
        ("", "Enter the amount, for example 25.00."),
    ],
)
def test_bad_amounts_are_refused(desk, services, outbox, amount, message):
    response = post_payment(desk, method="cash", amount=amount, check_number="")

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert field_error(html, "amount") == message
    assert nothing_posted(services)
    assert eml_files(outbox) == []
    assert not [e for e in services.store.audit_entries() if e.action is AuditAction.POST_PAYMENT]


@pytest.mark.parametrize(("method", "label"), [("cash", "cash"), ("card_desk", "card at the desk")])
def test_cash_and_desk_card_need_no_number(desk, services, method, label):
    response = post_payment(desk, method=method, amount="20.00", check_number="")

    assert redirects_to(response, ACCOUNT)
    html = account_page(desk)
    assert f"Posted $20.00 ({label})." in flashes(html)
    assert by_testid(html, "balance-due") == "$75.50"
    (payment,) = records(services).payments
    assert payment.method == method
    assert payment.method_detail == ""


def test_paying_more_than_the_balance_leaves_a_credit(desk, services):
    payment_id = posted(desk, services, method="cash", amount="100.00", check_number="")

    html = account_page(desk)
    assert by_testid(html, "balance-due") == "$0.00"
    assert by_testid(html, "credit") == "$4.50"
    assert by_testid(html, "ledger-total") == "-$4.50"
    assert sum(ledger_amounts(html)) == -450
    assert postings(services, payment_id) == [
        ("S-2026-000100", 3000),
        ("S-2026-000123", 6550),
        (None, 450),
    ]


# -- reversing payments ----------------------------------------------------------------------


def test_reversing_a_manual_payment_restores_the_balance_once(desk, services):
    payment_id = posted(desk, services, amount="40.00")
    assert f"/staff/payments/{payment_id}/reverse" in account_page(desk)

    response = reverse(desk, payment_id, "Posted to the wrong account")

    assert redirects_to(response, ACCOUNT)
    html = account_page(desk)
    assert "Reversed $40.00." in flashes(html)
    assert by_testid(html, "balance-due") == "$95.50"
    assert by_testid(html, "ledger-total") == "$95.50"
    assert sum(ledger_amounts(html)) == 9550
    assert statement_balances(services) == {"S-2026-000100": 3000, "S-2026-000123": 6550}
    assert services.store.get_payment(payment_id).status is PaymentStatus.REVERSED
    assert f"/staff/payments/{payment_id}/reverse" not in html
    assert by_testid(desk.get("/staff/").get_data(as_text=True), "today-total") == "$0.00"
    entries = records(services).entries

    again = reverse(desk, payment_id, "Posted to the wrong account")

    assert redirects_to(again, ACCOUNT)
    html = account_page(desk)
    assert "That payment was already reversed; nothing changed." in flashes(html)
    assert records(services).entries == entries
    assert by_testid(html, "balance-due") == "$95.50"
    reversals = [
        e for e in services.store.audit_entries() if e.action is AuditAction.REVERSE_PAYMENT
    ]
    assert len(reversals) == 1


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_reversal_needs_a_reason(desk, services, reason):
    payment_id = posted(desk, services, amount="40.00")
    entries = records(services).entries

    response = reverse(desk, payment_id, reason)

    assert redirects_to(response, ACCOUNT)
    html = account_page(desk)
    assert "Say why the payment is reversed." in flashes(html)
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED
    assert records(services).entries == entries
    assert by_testid(html, "balance-due") == "$55.50"


def test_a_card_payment_cannot_be_reversed(app, desk, services):
    patient = app.test_client()
    sign_in(patient)
    paid = pay(patient, open_checkout(patient, "20.00"))
    assert paid.status_code == 303
    payment_id = path_of(paid.headers["Location"]).rsplit("/", 1)[1]
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED
    html = account_page(desk)
    assert f"/staff/payments/{payment_id}/reverse" not in html
    entries = records(services).entries

    response = reverse(desk, payment_id, "Patient asked")

    assert redirects_to(response, ACCOUNT)
    html = account_page(desk)
    assert "Card payments are given back with a refund, not reversed." in flashes(html)
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED
    assert records(services).entries == entries
    assert by_testid(html, "balance-due") == "$75.50"


# -- notes -------------------------------------------------------------------------------------


def test_a_note_with_and_without_a_promise_to_pay(desk, services):
    assert redirects_to(add_note(desk, "Called, left a voicemail."), ACCOUNT)
    assert redirects_to(add_note(desk, "Will pay on Friday.", "2026-12-04"), ACCOUNT)
    assert redirects_to(add_note(desk, "Will pay today.", "2026-11-28"), ACCOUNT)  # today is fine

    html = account_page(desk)
    assert "Note saved." in flashes(html)
    assert "Called, left a voicemail." in html
    assert "Will pay on Friday." in html
    assert "promise to pay by <strong>Dec 4, 2026</strong>" in html
    notes = services.store.notes("100234")
    assert [(n.author, n.text, n.promise_to_pay_on) for n in notes] == [
        ("alice", "Will pay today.", date(2026, 11, 28)),
        ("alice", "Will pay on Friday.", date(2026, 12, 4)),
        ("alice", "Called, left a voicemail.", None),
    ]


@pytest.mark.parametrize(
    ("text", "promise", "field", "message"),
    [
        ("Will pay.", "2026-11-27", "promise_to_pay_on", "cannot be in the past"),
        ("", "", "text", "Write the note."),
        ("Will pay.", "next friday", "promise_to_pay_on", ""),
    ],
    ids=["past promise", "no text", "not a date"],
)
def test_a_bad_note_is_refused(desk, services, text, promise, field, message):
    response = add_note(desk, text, promise)

    assert response.status_code == 422
    assert message in field_error(response.get_data(as_text=True), field)
    assert services.store.notes("100234") == []
    assert not [e for e in services.store.audit_entries() if e.action is AuditAction.ADD_NOTE]


# -- the payments list -----------------------------------------------------------------------


@pytest.fixture
def week_of_payments(services, lopez) -> dict[str, str]:
    """Payments around "today" (Saturday 2026-11-28 in New York)."""
    return {
        "old check": seed_payment(services, 4000, "check", datetime(2026, 11, 20, 15, tzinfo=UTC)),
        "cash": seed_payment(services, 1000, "cash", datetime(2026, 11, 25, 15, tzinfo=UTC)),
        "failed card": seed_payment(
            services,
            2000,
            "card",
            datetime(2026, 11, 26, 15, tzinfo=UTC),
            PaymentStatus.FAILED,
        ),
        # 23:30 on Nov 27 in New York, although already Nov 28 in UTC.
        "late desk card": seed_payment(
            services, 500, "card_desk", datetime(2026, 11, 28, 4, 30, tzinfo=UTC)
        ),
        "today's check": seed_payment(
            services, 1234, "check", datetime(2026, 11, 28, 14, tzinfo=UTC)
        ),
    }


@pytest.mark.parametrize(
    ("query", "shown", "total"),
    [
        ({}, {"cash", "failed card", "late desk card", "today's check"}, "$27.34"),
        ({"from": "2026-11-28", "to": "2026-11-28"}, {"today's check"}, "$12.34"),
        ({"from": "2026-11-27", "to": "2026-11-27"}, {"late desk card"}, "$5.00"),
        (
            {"from": "2026-11-01", "to": "2026-11-30"},
            {"old check", "cash", "failed card", "late desk card", "today's check"},
            "$67.34",
        ),
        ({"status": "failed"}, {"failed card"}, "$0.00"),
        ({"method": "cash"}, {"cash"}, "$10.00"),
        ({"method": "check", "from": "2026-11-01"}, {"old check", "today's check"}, "$52.34"),
        ({"method": "card", "status": "succeeded"}, set(), "$0.00"),
    ],
    ids=["last 7 days", "today", "yesterday", "month", "failed", "cash", "checks", "none"],
)
def test_the_payments_list_filters_and_totals(desk, week_of_payments, query, shown, total):
    response = desk.get("/staff/payments", query_string=query)

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert by_testid(html, "payments-total") == total
    listed = {name for name, pid in week_of_payments.items() if pid in html}
    assert listed == shown


def test_the_payments_list_shows_totals_by_method(desk, week_of_payments):
    html = desk.get("/staff/payments", query_string={"from": "2026-11-01"}).get_data(as_text=True)
    summary = re.search(r"<p>Received .*?</p>", html, re.DOTALL)
    assert summary
    text = summary.group(0)
    assert "4 payments" in text
    assert "$52.34" in text  # checks
    assert "$10.00" in text  # cash
    assert "$5.00" in text  # card at the desk


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-13-01"}, "from: use a date like 2026-11-28."),
        ({"to": "yesterday"}, "to: use a date like 2026-11-28."),
        ({"from": "2026-11-28", "to": "2026-11-01"}, "The start date is after the end date."),
        ({"status": "lost"}, "status: 'lost' is not one of"),
        ({"method": "wire"}, "method: 'wire' is not one of"),
    ],
)
def test_bad_payment_list_filters_are_400_with_a_message(desk, week_of_payments, query, message):
    response = desk.get("/staff/payments", query_string=query)

    assert response.status_code == 400
    summary = re.search(
        r'<div class="error-summary" role="alert" id="error-summary">(.*?)</div>',
        response.get_data(as_text=True),
        re.DOTALL,
    )
    assert summary, "no error summary"
    assert message in summary.group(1).replace("&#39;", "'")


# -- the audit trail -----------------------------------------------------------------------


def test_every_view_and_change_is_audited_with_who_what_and_where(app, services, lopez, alice):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = DESK_ADDRESS
    start = last_audit_id(services)

    def newest() -> list[tuple]:
        nonlocal start
        found = audit_since(services, start)
        if found:
            start = found[-1].entry_id
        return [(e.actor, e.action, e.account_number, e.subject, e.address) for e in found]

    submit_password(client, "alice", "not the password at all")
    assert newest() == [
        ("alice", AuditAction.SIGN_IN_FAILED, None, "password", DESK_ADDRESS),
    ]
    password_step(client, "alice", PASSWORD)
    submit_code(client, wrong_code(services))
    assert newest() == [("alice", AuditAction.SIGN_IN_FAILED, None, "code", DESK_ADDRESS)]
    submit_code(client, code_for(services))
    assert newest() == [("alice", AuditAction.SIGN_IN, None, "", DESK_ADDRESS)]

    client.get(ACCOUNT)
    assert newest() == [("alice", AuditAction.VIEW_ACCOUNT, "100234", "", DESK_ADDRESS)]

    client.get("/staff/search", query_string={"q": "Lopez"})
    assert newest() == [("alice", AuditAction.SEARCH, None, "Lopez", DESK_ADDRESS)]

    client.get("/staff/search", query_string={"q": "100234"}, follow_redirects=True)
    assert newest() == [
        ("alice", AuditAction.SEARCH, None, "100234", DESK_ADDRESS),
        ("alice", AuditAction.VIEW_ACCOUNT, "100234", "", DESK_ADDRESS),
    ]

    client.get("/staff/payments", query_string={"from": "2026-11-01", "to": "2026-11-28"})
    (listing,) = newest()
    assert listing[:3] == ("alice", AuditAction.VIEW_PAYMENTS, None)
    assert "2026-11-01..2026-11-28" in listing[3]
    assert listing[4] == DESK_ADDRESS

    form = payment_form(client, amount="40.00")
    newest()  # the account page the form came from
    client.post(f"{ACCOUNT}/payments", data=form)
    payment_id = records(services).payments[0].payment_id
    assert newest() == [
        ("alice", AuditAction.POST_PAYMENT, "100234", payment_id, DESK_ADDRESS),
    ]

    reverse(client, payment_id, "Typed the wrong amount")
    assert newest() == [
        ("alice", AuditAction.VIEW_PAYMENTS, None, "dashboard", DESK_ADDRESS),  # token page
        ("alice", AuditAction.REVERSE_PAYMENT, "100234", payment_id, DESK_ADDRESS),
    ]

    add_note(client, "Called back.")
    assert newest() == [
        ("alice", AuditAction.VIEW_PAYMENTS, None, "dashboard", DESK_ADDRESS),  # token page
        ("alice", AuditAction.ADD_NOTE, "100234", "", DESK_ADDRESS),
    ]

    sign_out(client)
    assert newest() == [
        ("alice", AuditAction.VIEW_PAYMENTS, None, "dashboard", DESK_ADDRESS),  # token page
        ("alice", AuditAction.SIGN_OUT, None, "", DESK_ADDRESS),
    ]

    html = account_page_after_sign_in(client, services)
    assert f"from {DESK_ADDRESS}" in html


def account_page_after_sign_in(client, services) -> str:
    services.clock.advance(seconds=30)
    staff_sign_in(client, services)
    return account_page(client)


def test_the_patient_never_sees_staff_notes(app, desk, services):
    assert redirects_to(add_note(desk, "Difficult caller."), ACCOUNT)
    patient = app.test_client()
    sign_in(patient)
    for path in ("/account", "/statements/S-2026-000123"):
        assert "Difficult caller." not in patient.get(path).get_data(as_text=True)
