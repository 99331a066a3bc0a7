"""Refunds of card payments: the service staff use, through the gateway, once per request."""

import dataclasses

import pytest

from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import AuditAction
from portal.ports.payments import EventKind, GatewayError, GatewayEvent
from portal.services.errors import InvalidInput
from portal.services.payments import apply_gateway_event
from portal.services.refunds import refund_payment
from portal.services.staff_actions import post_manual_payment
from tests.conftest import NOW
from tests.integration.staff_helpers import flashes, make_staff, post_form, staff_sign_in

DUE = 3000 + 4550 + 2000


@pytest.fixture
def card_payment(services, lopez) -> str:
    """A $40.00 card payment, posted: $30.00 on the older statement, $10.00 on the newer."""
    services.store.create_payment(
        Payment("pay_card", "100234", 4000, PaymentStatus.PENDING, "card", "sandbox", NOW)
    )
    apply_gateway_event(
        services, GatewayEvent(EventKind.PAYMENT_SUCCEEDED, "pay_card", "sbx_pi_1", 4000)
    )
    return "pay_card"


def refunded_entries(services) -> list[tuple]:
    found = services.store.account_records("100234")
    return [(e.statement_id, e.amount_cents) for e in found.entries if e.kind is EntryKind.REFUND]


def due(services) -> int:
    return balances(services.store.account_records("100234").entries).due_cents


def test_a_partial_refund_posts_once_and_is_audited(services, card_payment):
    result = refund_payment(services, "sam", card_payment, "15.00", "req-1", "10.0.0.9")

    assert result.posted
    assert result.payment.refunded_cents == 1500
    assert refunded_entries(services) == [("S-2026-000123", 1000), ("S-2026-000100", 500)]
    assert due(services) == DUE - 4000 + 1500
    entry = services.store.audit_entries(account_number="100234", limit=1)[0]
    assert (entry.actor, entry.action, entry.address) == (
        "sam",
        AuditAction.REFUND_PAYMENT,
        "10.0.0.9",
    )


def test_the_same_request_again_refunds_nothing_more(services, card_payment):
    refund_payment(services, "sam", card_payment, "15.00", "req-1")

    again = refund_payment(services, "sam", card_payment, "15.00", "req-1")

    assert not again.posted
    assert sum(c for _, c in refunded_entries(services)) == 1500


def test_two_requests_refund_up_to_the_payment_and_mark_it_refunded(services, card_payment):
    refund_payment(services, "sam", card_payment, "15.00", "req-1")
    result = refund_payment(services, "sam", card_payment, "25.00", "req-2")

    assert result.payment.status is PaymentStatus.REFUNDED
    assert due(services) == DUE
    with pytest.raises(InvalidInput, match="Nothing is left to refund"):
        refund_payment(services, "sam", card_payment, "0.01", "req-3")


@pytest.mark.parametrize(
    ("amount", "message"),
    [("40.01", "At most $40.00"), ("0", "more than $0.00"), ("-5", "amount"), ("abc", "amount")],
)
def test_bad_amounts_are_refused_and_change_nothing(services, card_payment, amount, message):
    with pytest.raises(InvalidInput) as caught:
        refund_payment(services, "sam", card_payment, amount, "req-1")

    assert message.lower() in caught.value.message.lower()
    assert refunded_entries(services) == []


def test_a_manual_payment_is_reversed_not_refunded(services, lopez):
    manual = post_manual_payment(services, "sam", "100234", "cash", "5.00", "", "a" * 32, "")

    with pytest.raises(InvalidInput, match="reversing"):
        refund_payment(services, "sam", manual.payment.payment_id, "5.00", "req-1")


class RefusingGateway:
    """The sandbox gateway, except that its next refund is refused."""

    def __init__(self, inner):
        self.inner, self.refuse = inner, True
        self.name = inner.name

    def refund(self, *args):
        if self.refuse:
            self.refuse = False
            raise GatewayError("Stripe refused the refund: the charge is too old.")
        return self.inner.refund(*args)


def test_a_refused_refund_says_why_posts_nothing_and_can_be_tried_again(services, card_payment):
    refusing = dataclasses.replace(services, payments=RefusingGateway(services.payments))

    with pytest.raises(InvalidInput, match="too old"):
        refund_payment(refusing, "sam", card_payment, "10.00", "req-1")
    assert refunded_entries(services) == []

    assert refund_payment(refusing, "sam", card_payment, "10.00", "req-1").posted
    assert sum(c for _, c in refunded_entries(services)) == 1000


def test_a_supervisor_refunds_from_the_account_page(client, services, card_payment):
    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")
    page = client.get("/staff/accounts/100234").get_data(as_text=True)
    assert "Refund a card payment" in page

    response = post_form(
        client,
        f"/staff/payments/{card_payment}/refund",
        {"amount": "12.50", "request_key": "form-1"},
        token_page="/staff/accounts/100234",
    )

    assert response.status_code == 303
    shown = flashes(client.get("/staff/accounts/100234").get_data(as_text=True))
    assert any("$12.50 of this payment is now refunded" in f for f in shown), shown
    assert services.store.get_payment(card_payment).refunded_cents == 1250


def test_an_associate_is_not_offered_refunds(client, services, card_payment):
    make_staff(services, "alice", "associate")
    staff_sign_in(client, services, "alice")

    assert "Refund a card payment" not in client.get("/staff/accounts/100234").get_data(
        as_text=True
    )


def refund_mails(outbox) -> list:
    from tests.integration.conftest import eml_files, read_eml

    found = [read_eml(p) for p in eml_files(outbox)]
    return [m for m in found if m["X-Portal-Message-Kind"] == "refund"]


def test_a_refund_tells_the_patient_once_in_plain_words(services, card_payment, outbox):
    refund_payment(services, "sam", card_payment, "15.00", "req-1")
    refund_payment(services, "sam", card_payment, "15.00", "req-1")  # the same request again
    # The processor's notice of the same refund (its refunds listed) tells nobody again.
    apply_gateway_event(services, GatewayEvent(EventKind.REFUNDED, "pay_card", "sbx_pi_1", 1500))

    [mail] = refund_mails(outbox)
    assert mail["To"] == "maria@example.com"
    text = mail.get_body(("plain",)).get_content()
    assert "We gave back $15.00 of your payment of $40.00 (receipt number pay_card)" in text
    assert "$25.00 stays on your account" in text
    assert f"Balance due now: ${(DUE - 4000 + 1500) / 100:,.2f}" in text
    assert "Recent activity on your account:" in text and "refund" in text.lower()
    for detail in ("99213", "J06.9", "Office visit", "1984-03-12"):
        assert detail not in mail.as_string()


def test_a_refund_reported_first_by_the_processor_tells_the_patient_once(
    services, card_payment, outbox, monkeypatch
):
    from portal.ports.payments import RefundOutcome

    monkeypatch.setattr(
        services.payments, "list_refunds", lambda ref: [RefundOutcome("re_elsewhere", 700)]
    )
    event = GatewayEvent(EventKind.REFUNDED, "pay_card", "sbx_pi_1", 700)
    apply_gateway_event(services, event)
    apply_gateway_event(services, event)

    [mail] = refund_mails(outbox)
    assert "We gave back $7.00" in mail.get_body(("plain",)).get_content()


# -- a credit given back by check -----------------------------------------------------------


@pytest.fixture
def credit(services, lopez) -> str:
    """A $120.00 check that overpays the $95.50 due: a $24.50 credit."""
    posted = post_manual_payment(services, "sam", "100234", "check", "120.00", "1001", "c" * 32, "")
    assert balances(services.store.account_records("100234").entries).credit_cents == 2450
    return posted.payment.payment_id


def credit_cents(services) -> int:
    return balances(services.store.account_records("100234").entries).credit_cents


def test_a_supervisor_records_a_check_refund_of_the_credit_once(services, credit, outbox):
    from portal.services.refunds import refund_credit_by_check

    result = refund_credit_by_check(services, "sue", "100234", "24.50", "5501", "10.0.0.7")
    again = refund_credit_by_check(services, "sue", "100234", "24.50", "5501", "10.0.0.7")

    assert result.posted and not again.posted
    assert credit_cents(services) == 0 and due(services) == 0
    assert services.store.get_payment(credit).refunded_cents == 2450
    audited = [
        e
        for e in services.store.audit_entries(account_number="100234")
        if e.action is AuditAction.REFUND_PAYMENT
    ]
    assert len(audited) == 1 and "check 5501" in audited[0].subject
    [mail] = refund_mails(outbox)
    assert "by check number 5501" in mail.get_body(("plain",)).get_content()


@pytest.mark.parametrize(
    ("amount", "check", "field", "message"),
    [
        ("30.00", "5502", "amount", "The account's credit is $24.50"),
        ("0.00", "5502", "amount", "more than $0.00"),
        ("ten", "5502", "amount", "dollars and cents"),
        ("10.00", "", "check_number", "Enter the check's number"),
        ("10.00", "55 02", "check_number", "Enter the check's number"),
        ("10.00", "5" * 21, "check_number", "Enter the check's number"),
    ],
)
def test_a_bad_check_refund_is_named_and_changes_nothing(
    services, credit, amount, check, field, message
):
    from portal.services.refunds import refund_credit_by_check

    before = services.store.account_records("100234")
    with pytest.raises(InvalidInput) as raised:
        refund_credit_by_check(services, "sue", "100234", amount, check)
    assert raised.value.field == field and message in raised.value.message
    assert services.store.account_records("100234") == before


def test_the_check_refund_form_is_for_supervisors_only(client, services, credit):
    make_staff(services, "alice", "associate")
    staff_sign_in(client, services, "alice")
    assert "Refund the credit by check" not in client.get("/staff/accounts/100234").get_data(
        as_text=True
    )
    denied = post_form(
        client,
        "/staff/accounts/100234/credit-refund",
        {"amount": "10.00", "check_number": "77"},
        token_page="/staff/accounts/100234",
    )
    assert denied.status_code == 403 and credit_cents(services) == 2450

    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")
    assert "Refund the credit by check" in client.get("/staff/accounts/100234").get_data(
        as_text=True
    )
    done = post_form(
        client,
        "/staff/accounts/100234/credit-refund",
        {"amount": "10.00", "check_number": "77"},
        token_page="/staff/accounts/100234",
    )
    assert done.status_code == 303 and credit_cents(services) == 1450
