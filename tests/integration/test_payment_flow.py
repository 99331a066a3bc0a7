"""Paying end to end through the sandbox gateway: checkout, posting, receipt, e-mail."""

import re
import threading
from dataclasses import replace

import pytest
from itsdangerous import URLSafeSerializer

from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import PaymentStatus
from portal.services.payments import apply_gateway_event
from portal.services.receipts import send_receipt
from portal.services.statements import import_statement
from tests.conftest import lopez_account
from tests.integration.conftest import (
    GOOD_CARD,
    balance_due,
    checkout_form,
    eml_files,
    newer_statement,
    older_statement,
    open_checkout,
    path_of,
    pay,
    read_eml,
    session_id_of,
    sign_in,
    start_payment,
    token_from,
)

DECLINED = "4000000000000002"
NO_FUNDS = "4000000000009995"


# -- helpers ---------------------------------------------------------------------------


def payment_id_of(services, checkout_path: str) -> str:
    return services.payments.open_session(session_id_of(checkout_path)).payment_id


def records(services, account_number: str = "100234"):
    found = services.store.account_records(account_number)
    assert found is not None
    return found


def postings(services, payment_id: str) -> list[tuple[str | None, int]]:
    return [
        (e.statement_id, -e.amount_cents)
        for e in records(services).entries
        if e.payment_id == payment_id and e.kind is EntryKind.PATIENT_PAYMENT
    ]


def statement_balance(services, statement_id: str, account_number: str = "100234") -> int:
    return balances(records(services, account_number).entries).by_statement[statement_id]


def account_balance(client) -> str:
    page = client.get("/account")
    assert page.status_code == 200
    return balance_due(page.get_data(as_text=True))


def pay_and_follow(client, amount: str) -> tuple[str, str]:
    """Pay `amount` with the good card; return (checkout path, receipt path)."""
    checkout = open_checkout(client, amount)
    paid = pay(client, checkout)
    assert paid.status_code == 303, paid.get_data(as_text=True)
    receipt = path_of(paid.headers["Location"])
    assert re.fullmatch(r"/payments/pay_[0-9a-f]+", receipt), receipt
    return checkout, receipt


PHI = {
    "procedure code": re.compile(r"(?<![0-9A-Za-z])99213(?![0-9])"),
    "diagnosis code": re.compile(r"J06\.?9", re.IGNORECASE),
    "description": re.compile(r"office\s+visit", re.IGNORECASE),
    "guarantor date of birth": re.compile(r"1984-03-12|03/12/1984|March 12, 1984"),
    "patient date of birth": re.compile(r"2015-06-02|06/02/2015|June 2, 2015"),
    "other patient date of birth": re.compile(r"2018-01-09|01/09/2018|January 9, 2018"),
}


def assert_no_phi(raw: bytes, message) -> None:
    """Nothing about health or birth dates, in the raw bytes nor in the decoded parts."""
    texts = {"raw message": raw.decode("utf-8", "replace")}
    for part in message.walk():
        if not part.is_multipart():
            texts[part.get_content_type()] = part.get_content()
    texts["subject"] = str(message["Subject"])
    for where, text in texts.items():
        for what, pattern in PHI.items():
            assert not pattern.search(text), f"{what} in the {where}"


# -- the happy path --------------------------------------------------------------------


def test_pay_part_of_the_balance_end_to_end(patient, services, outbox):
    response = start_payment(patient, "25.00")
    assert response.status_code == 303
    checkout = path_of(response.headers["Location"])
    assert checkout.startswith("/sandbox/checkout/")

    page = patient.get(checkout)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert re.search(r"test payments", html, re.IGNORECASE)
    assert "$25.00" in html
    payment_id = payment_id_of(services, checkout)
    assert services.store.get_payment(payment_id).status is PaymentStatus.PENDING

    paid = patient.post(checkout, data=checkout_form(patient, checkout, GOOD_CARD))

    assert paid.status_code == 303
    receipt = path_of(paid.headers["Location"])
    assert receipt == f"/payments/{payment_id}"
    receipt_html = patient.get(receipt).get_data(as_text=True)
    assert "$25.00" in receipt_html
    assert "Balance due now: <strong>$70.50</strong>" in receipt_html
    assert account_balance(patient) == "$70.50"

    stored = services.store.get_payment(payment_id)
    assert stored.status is PaymentStatus.SUCCEEDED
    assert stored.amount_cents == 2500
    assert stored.posted_at is not None

    # Oldest statement first: S-2026-000100 goes from $30.00 to $5.00.
    assert postings(services, payment_id) == [("S-2026-000100", 2500)]
    assert statement_balance(services, "S-2026-000100") == 500
    assert statement_balance(services, "S-2026-000123") == 6550
    statement_page = patient.get("/statements/S-2026-000100").get_data(as_text=True)
    assert re.search(r'data-testid="statement-balance">\$5\.00', statement_page)

    files = eml_files(outbox)
    assert len(files) == 1


def test_the_receipt_email(patient, services, outbox):
    _, receipt = pay_and_follow(patient, "25.00")
    payment_id = receipt.rsplit("/", 1)[1]

    files = eml_files(outbox)
    assert len(files) == 1
    raw = files[0].read_bytes()
    message = read_eml(files[0])

    assert message.get_content_type() == "multipart/alternative"
    assert message["X-Portal-Message-Kind"] == "receipt"
    assert message["To"] == "maria@example.com"
    parts = {p.get_content_type(): p.get_content() for p in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    for body in parts.values():
        assert "$25.00" in body
        assert payment_id in body
        # The account's recent money events, in the same plain words as its page.
        assert "Recent activity on your account:" in body
    events = parts["text/plain"].split("Recent activity on your account:")[1]
    assert events.strip().splitlines()[0].strip().startswith("Payment of $25.00")
    assert_no_phi(raw, message)


def test_double_submit_of_the_checkout_posts_once(patient, services, outbox):
    checkout = open_checkout(patient, "25.00")
    form = checkout_form(patient, checkout)
    first = patient.post(checkout, data=form)
    assert first.status_code == 303
    payment_id = payment_id_of(services, checkout)
    before = records(services)

    again = patient.post(checkout, data=form)

    assert again.status_code == 303
    assert path_of(again.headers["Location"]) == f"/payments/{payment_id}"
    assert records(services) == before
    assert postings(services, payment_id) == [("S-2026-000100", 2500)]
    assert len(eml_files(outbox)) == 1
    assert account_balance(patient) == "$70.50"


def test_concurrent_submits_of_the_checkout_post_once(app, patient, services, outbox):
    checkout = open_checkout(patient, "25.00")
    form = checkout_form(patient, checkout)
    cookie = patient.get_cookie("portal_session")
    assert cookie is not None
    clients = []
    for _ in range(4):
        other = app.test_client()
        other.set_cookie("portal_session", cookie.value)
        clients.append(other)
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []
    errors: list[BaseException] = []

    def submit(client) -> None:
        try:
            barrier.wait(timeout=30)
            statuses.append(client.post(checkout, data=form).status_code)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert not errors, errors
    assert statuses == [303] * len(clients)
    payment_id = payment_id_of(services, checkout)
    assert postings(services, payment_id) == [("S-2026-000100", 2500)]
    assert len(eml_files(outbox)) == 1
    assert account_balance(patient) == "$70.50"


def test_the_same_gateway_event_applied_twice_posts_once(patient, services, outbox):
    checkout = open_checkout(patient, "40.00")
    session = services.payments.open_session(session_id_of(checkout))
    event = services.payments.charge(session, GOOD_CARD)

    first = apply_gateway_event(services, event)
    second = apply_gateway_event(services, event)

    assert first.posted is True
    assert second.posted is False
    assert postings(services, session.payment_id) == [
        ("S-2026-000100", 3000),
        ("S-2026-000123", 1000),
    ]
    assert len(eml_files(outbox)) == 1
    assert account_balance(patient) == "$55.50"


def test_full_balance_payment_leaves_nothing_due(patient, services, outbox):
    _, receipt = pay_and_follow(patient, "95.50")

    assert "$95.50" in patient.get(receipt).get_data(as_text=True)
    html = patient.get("/account").get_data(as_text=True)
    assert balance_due(html) == "$0.00"
    assert "Nothing is due on this account." in html
    assert "You have a credit" not in html
    payment_id = receipt.rsplit("/", 1)[1]
    assert postings(services, payment_id) == [("S-2026-000100", 3000), ("S-2026-000123", 6550)]
    assert len(eml_files(outbox)) == 1


def test_overpayment_through_two_tabs_becomes_a_credit(patient, services, outbox):
    first_tab = open_checkout(patient, "95.50")
    second_tab = open_checkout(patient, "95.50")
    assert first_tab != second_tab

    assert pay(patient, first_tab).status_code == 303
    assert pay(patient, second_tab).status_code == 303

    first_id = payment_id_of(services, first_tab)
    second_id = payment_id_of(services, second_tab)
    assert services.store.get_payment(first_id).status is PaymentStatus.SUCCEEDED
    assert services.store.get_payment(second_id).status is PaymentStatus.SUCCEEDED
    assert postings(services, second_id) == [(None, 9550)]
    html = patient.get("/account").get_data(as_text=True)
    assert balance_due(html) == "$0.00"
    assert re.search(r"credit of <strong>\$95\.50</strong>", html)
    assert len(eml_files(outbox)) == 2
    second_receipt = patient.get(f"/payments/{second_id}").get_data(as_text=True)
    assert "Credit on your account: $95.50" in second_receipt


def test_a_later_statement_uses_the_credit(patient, services):
    first_tab = open_checkout(patient, "95.50")
    second_tab = open_checkout(patient, "50.00")
    pay(patient, first_tab)
    pay(patient, second_tab)
    later = replace(newer_statement(), statement_id="S-2026-000200")
    later = replace(later, statement_date=later.statement_date.replace(day=20))

    import_statement(services, lopez_account(), later)

    html = patient.get("/account").get_data(as_text=True)
    assert balance_due(html) == "$15.50"  # $65.50 new, less the $50.00 credit
    assert "You have a credit" not in html


# -- declines and cancels --------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "reason"),
    [(DECLINED, "Your card was declined."), (NO_FUNDS, "Your card has insufficient funds.")],
)
def test_a_declined_card_posts_nothing(patient, services, outbox, card, reason):
    checkout = open_checkout(patient, "25.00")
    payment_id = payment_id_of(services, checkout)
    before = records(services).entries

    response = pay(patient, checkout, card)

    assert response.status_code == 402
    assert reason in response.get_data(as_text=True)
    assert records(services).entries == before
    payment = services.store.get_payment(payment_id)
    assert payment.status is PaymentStatus.PENDING
    assert payment.posted_at is None
    assert eml_files(outbox) == []
    assert account_balance(patient) == "$95.50"


def test_after_a_decline_another_card_can_pay(patient, services, outbox):
    checkout = open_checkout(patient, "25.00")
    assert pay(patient, checkout, DECLINED).status_code == 402

    assert pay(patient, checkout, GOOD_CARD).status_code == 303

    payment_id = payment_id_of(services, checkout)
    assert postings(services, payment_id) == [("S-2026-000100", 2500)]
    assert len(eml_files(outbox)) == 1


def test_an_expired_card_is_refused(patient, services, outbox):
    checkout = open_checkout(patient, "25.00")
    form = {**checkout_form(patient, checkout), "expiry": "10/26"}  # before November 2026

    response = patient.post(checkout, data=form)

    assert response.status_code == 422
    assert "This card has expired." in response.get_data(as_text=True)
    assert services.store.get_payment(payment_id_of(services, checkout)).posted_at is None
    assert eml_files(outbox) == []


def test_cancel_on_the_checkout_page(patient, services, outbox):
    checkout = open_checkout(patient, "25.00")
    payment_id = payment_id_of(services, checkout)
    token = token_from(patient, checkout)

    response = patient.post(f"{checkout}/cancel", data={"csrf_token": token})

    assert response.status_code == 303
    status_path = path_of(response.headers["Location"])
    assert status_path.startswith(f"/payments/{payment_id}")
    page = patient.get(status_path).get_data(as_text=True)
    assert "nothing was charged" in page
    assert services.store.get_payment(payment_id).status is PaymentStatus.CANCELED
    assert postings(services, payment_id) == []
    assert eml_files(outbox) == []
    assert account_balance(patient) == "$95.50"
    # A fresh look at the status page (no ?canceled=1) says the same.
    assert "nothing was charged" in patient.get(f"/payments/{payment_id}").get_data(as_text=True)


# -- amounts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        ("0.99", "The smallest payment is $1.00."),
        ("0", "The smallest payment is $1.00."),
        ("-5", "The amount cannot be negative."),
        ("12.345", "Use at most two digits after the decimal point."),
        ("abc", "Enter the amount in dollars and cents, for example 25.00."),
        ("", "Enter an amount, for example 25.00."),
        ("95.51", "The amount is more than your balance of $95.50."),
    ],
)
def test_refused_amounts(patient, services, outbox, amount, message):
    response = start_payment(patient, amount)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<p class="field-error" id="amount-error">{message}</p>' in html
    assert records(services).payments == ()
    assert eml_files(outbox) == []
    assert balance_due(html) == "$95.50"


@pytest.mark.parametrize(("amount", "cents"), [("1.00", 100), ("95.50", 9550)])
def test_accepted_amounts_at_the_limits(patient, services, amount, cents):
    checkout = open_checkout(patient, amount)

    payments = records(services).payments
    assert len(payments) == 1
    assert payments[0].amount_cents == cents
    assert payments[0].status is PaymentStatus.PENDING
    assert payments[0].payment_id == payment_id_of(services, checkout)
    assert payments[0].checkout_session_id == session_id_of(checkout)


# -- who sees what ---------------------------------------------------------------------


def test_receipt_without_a_session_shows_only_amount_and_status(app, patient, services):
    _, receipt = pay_and_follow(patient, "25.00")

    stranger = app.test_client()
    response = stranger.get(receipt)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "$25.00" in html
    assert "Succeeded" in html
    for private in (
        "100234",
        "Maria",
        "Lopez",
        "S-2026-000100",
        "S-2026-000123",
        "Balance due",
        "$70.50",
        "Applied to",
    ):
        assert private not in html, private


def test_a_tampered_sandbox_session_is_not_found(patient, services, settings, outbox):
    checkout = open_checkout(patient, "25.00")
    session_id = session_id_of(checkout)
    payment_id = payment_id_of(services, checkout)
    payload, signature = session_id.rsplit(".", 1)
    middle = len(signature) // 2
    flipped = "A" if signature[middle] != "A" else "B"
    bad_signature = f"{payload}.{signature[:middle]}{flipped}{signature[middle + 1 :]}"
    forged = "cs_sbx_" + URLSafeSerializer("not-the-secret-key", salt="sandbox-checkout").dumps(
        [
            payment_id,
            1,  # one cent instead of $25.00
            "Payment",
            f"{settings.base_url}/payments/{payment_id}",
            f"{settings.base_url}/payments/{payment_id}?canceled=1",
        ]
    )
    form = checkout_form(patient, checkout)

    for bad in (bad_signature, forged, "cs_sbx_garbage", "nothing-like-a-session"):
        assert patient.get(f"/sandbox/checkout/{bad}").status_code == 404, bad
        assert patient.post(f"/sandbox/checkout/{bad}", data=form).status_code == 404, bad
        cancel = patient.post(
            f"/sandbox/checkout/{bad}/cancel", data={"csrf_token": form["csrf_token"]}
        )
        assert cancel.status_code == 404, bad

    payment = services.store.get_payment(payment_id)
    assert payment.status is PaymentStatus.PENDING
    assert postings(services, payment_id) == []
    assert eml_files(outbox) == []


def test_a_signed_session_for_an_unknown_payment_is_not_found(patient, services):
    from portal.ports.payments import CheckoutRequest

    checkout = services.payments.create_checkout(
        CheckoutRequest("pay_unknown", 2500, "Payment", "http://x/ok", "http://x/cancel")
    )

    assert patient.get(path_of(checkout.url)).status_code == 404


def test_an_account_without_email_pays_without_a_receipt_email(client, services, outbox):
    account = replace(lopez_account(email=""), account_number="100777")
    import_statement(services, account, older_statement("100777"))
    import_statement(services, account, newer_statement("100777"))
    sign_in(client, account_number="100777")

    _, receipt = pay_and_follow(client, "25.00")

    response = client.get(receipt)
    assert response.status_code == 200
    assert "$25.00" in response.get_data(as_text=True)
    payment_id = receipt.rsplit("/", 1)[1]
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED
    assert statement_balance(services, "S-2026-000100", "100777") == 500
    assert eml_files(outbox) == []
    assert account_balance(client) == "$70.50"


class BrokenMailer:
    """A mail relay that is down."""

    def send(self, message) -> str:
        raise OSError("mail relay unreachable")


def test_a_mail_outage_does_not_turn_a_posted_payment_into_an_error(patient, services, outbox):
    working_mailer, services.mailer = services.mailer, BrokenMailer()
    checkout = open_checkout(patient, "25.00")
    payment_id = payment_id_of(services, checkout)

    response = pay(patient, checkout)

    # The card was charged and the payment posted: the patient gets the receipt page.
    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == f"/payments/{payment_id}"
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED
    assert account_balance(patient) == "$70.50"
    assert eml_files(outbox) == []

    # The receipt's claim was given back, so once mail works again it goes out, once.
    services.mailer = working_mailer
    assert send_receipt(services, payment_id) is True
    assert send_receipt(services, payment_id) is False
    assert len(eml_files(outbox)) == 1


def test_an_expiry_in_the_current_month_is_accepted(patient, services):
    checkout = open_checkout(patient, "25.00")
    form = {**checkout_form(patient, checkout), "expiry": "11/26"}  # November 2026 is today

    assert patient.post(checkout, data=form).status_code == 303
    assert services.store.get_payment(payment_id_of(services, checkout)).posted_at is not None


def test_receipt_seen_from_another_account_shows_only_amount_and_status(app, patient, services):
    _, receipt = pay_and_follow(patient, "25.00")
    neighbour = replace(lopez_account(), account_number="200555")
    import_statement(services, neighbour, replace(newer_statement("200555"), statement_id="S-9"))
    other = app.test_client()
    sign_in(other, account_number="200555")

    html = other.get(receipt).get_data(as_text=True)

    assert "$25.00" in html
    for private in ("100234", "S-2026-000100", "$70.50", "Applied to"):
        assert private not in html, private


def test_the_checkout_page_of_a_paid_payment_goes_to_the_receipt(patient, services, outbox):
    checkout = open_checkout(patient, "25.00")
    form = checkout_form(patient, checkout)
    assert patient.post(checkout, data=form).status_code == 303
    payment_id = payment_id_of(services, checkout)

    revisit = patient.get(checkout)
    declined_after = patient.post(checkout, data={**form, "card_number": DECLINED})

    for response in (revisit, declined_after):
        assert response.status_code == 303
        assert path_of(response.headers["Location"]) == f"/payments/{payment_id}"
    assert postings(services, payment_id) == [("S-2026-000100", 2500)]
    assert len(eml_files(outbox)) == 1


def test_a_receipt_is_sent_once_even_when_asked_again(patient, services, outbox):
    _, receipt = pay_and_follow(patient, "25.00")
    payment_id = receipt.rsplit("/", 1)[1]

    assert send_receipt(services, payment_id) is False
    assert len(eml_files(outbox)) == 1
