"""event_from: Stripe events (as their webhook bodies parse) to the portal's GatewayEvents."""

from datetime import date

import pytest

from portal.adapters.stripe_gateway import (
    AUTHENTICATION_MESSAGE,
    HARD_DECLINED_MESSAGE,
    checkout_idempotency_key,
    checkout_params,
    decline_of,
    event_from,
    outcome_from_session,
)
from portal.domain.payouts import Payout
from portal.domain.plans import Outcome
from portal.ports.payments import CheckoutRequest, EventKind, GatewayEvent
from tests.stripe_stub import event

PID = "pay_0123456789abcdef01234567"


def session(**overrides) -> dict:
    """A completed, paid Checkout Session as Stripe sends it (the fields read, and some)."""
    values = {
        "id": "cs_test_a1",
        "object": "checkout.session",
        "amount_subtotal": 4550,
        "amount_total": 4550,
        "client_reference_id": PID,
        "currency": "usd",
        "customer": None,
        "livemode": False,
        "metadata": {"payment_id": PID},
        "mode": "payment",
        "payment_intent": "pi_test_1",
        "payment_status": "paid",
        "status": "complete",
        "url": None,
    }
    values.update(overrides)
    return values


def charge(**overrides) -> dict:
    values = {
        "id": "ch_test_1",
        "object": "charge",
        "amount": 4550,
        "amount_captured": 4550,
        "amount_refunded": 1500,
        "currency": "usd",
        "metadata": {"payment_id": PID},
        "paid": True,
        "payment_intent": "pi_test_1",
        "refunded": False,
        "status": "succeeded",
    }
    values.update(overrides)
    return values


def dispute(**overrides) -> dict:
    values = {
        "id": "dp_test_1",
        "object": "dispute",
        "amount": 4550,
        "charge": "ch_test_1",
        "currency": "usd",
        "metadata": {},
        "payment_intent": "pi_test_1",
        "reason": "fraudulent",
        "status": "needs_response",
    }
    values.update(overrides)
    return values


def test_a_paid_checkout_is_a_payment_that_succeeded():
    assert event_from(event("checkout.session.completed", session(), "evt_1")) == GatewayEvent(
        kind=EventKind.PAYMENT_SUCCEEDED,
        payment_id=PID,
        reference="pi_test_1",
        amount_cents=4550,
        event_id="evt_1",
    )


def test_a_completed_checkout_still_unpaid_is_processing():
    found = event_from(event("checkout.session.completed", session(payment_status="unpaid")))

    assert found.kind is EventKind.PAYMENT_PROCESSING
    assert (found.payment_id, found.reference, found.amount_cents) == (PID, "pi_test_1", 4550)


def test_a_completed_checkout_that_needed_no_payment_is_not_acted_on():
    completed = session(payment_status="no_payment_required", payment_intent=None)

    assert event_from(event("checkout.session.completed", completed)) is None


def test_a_delayed_payment_that_arrives_succeeds():
    found = event_from(
        event("checkout.session.async_payment_succeeded", session(), event_id="evt_2")
    )

    assert (found.kind, found.payment_id, found.reference) == (
        EventKind.PAYMENT_SUCCEEDED,
        PID,
        "pi_test_1",
    )
    assert found.event_id == "evt_2"


def test_a_delayed_payment_that_fails_says_why():
    found = event_from(
        event("checkout.session.async_payment_failed", session(payment_status="unpaid"))
    )

    assert (found.kind, found.reference) == (EventKind.PAYMENT_FAILED, "pi_test_1")
    assert "nothing was taken" in found.message


def test_an_expired_checkout_is_canceled_with_the_session_as_reference():
    expired = session(status="expired", payment_status="unpaid", payment_intent=None)

    found = event_from(event("checkout.session.expired", expired))

    assert (found.kind, found.payment_id, found.reference) == (
        EventKind.CHECKOUT_CANCELED,
        PID,
        "cs_test_a1",
    )
    assert "nothing was charged" in found.message


def test_the_payment_id_may_come_from_the_metadata_alone():
    only_metadata = session(client_reference_id=None)
    only_reference = session(metadata={})

    assert event_from(event("checkout.session.completed", only_metadata)).payment_id == PID
    assert event_from(event("checkout.session.completed", only_reference)).payment_id == PID


def test_an_expanded_payment_intent_gives_its_id():
    expanded = session(payment_intent={"id": "pi_test_9", "object": "payment_intent"})

    assert event_from(event("checkout.session.completed", expanded)).reference == "pi_test_9"


def test_a_refund_reports_everything_refunded_on_the_charge():
    found = event_from(event("charge.refunded", charge(amount_refunded=3000), "evt_3"))

    assert found == GatewayEvent(
        kind=EventKind.REFUNDED,
        payment_id=PID,
        reference="pi_test_1",
        amount_cents=3000,
        event_id="evt_3",
    )


def test_a_refunded_charge_without_the_payment_id_keeps_its_payment_intent():
    found = event_from(event("charge.refunded", charge(metadata={})))

    assert (found.kind, found.payment_id, found.reference, found.amount_cents) == (
        EventKind.REFUNDED,
        "",
        "pi_test_1",
        1500,
    )


def test_a_dispute_opened():
    found = event_from(event("charge.dispute.created", dispute(), "evt_4"))

    assert found == GatewayEvent(
        kind=EventKind.DISPUTE_OPENED,
        payment_id="",
        reference="pi_test_1",
        amount_cents=4550,
        event_id="evt_4",
        dispute_id="dp_test_1",
    )


@pytest.mark.parametrize(
    ("status", "kind"), [("won", EventKind.DISPUTE_WON), ("lost", EventKind.DISPUTE_LOST)]
)
def test_a_dispute_closed_won_or_lost(status, kind):
    found = event_from(event("charge.dispute.closed", dispute(status=status)))

    assert (found.kind, found.reference, found.dispute_id) == (kind, "pi_test_1", "dp_test_1")


def test_a_dispute_carrying_the_payment_id_passes_it_on():
    tagged = dispute(metadata={"payment_id": PID})

    assert event_from(event("charge.dispute.created", tagged)).payment_id == PID


@pytest.mark.parametrize("status", ["warning_closed", "under_review", "needs_response"])
def test_a_dispute_closed_otherwise_is_not_acted_on(status):
    assert event_from(event("charge.dispute.closed", dispute(status=status))) is None


@pytest.mark.parametrize(
    ("type", "obj"),
    [
        # Not the portal's: no payment id on the session, no payment intent on the charge.
        ("checkout.session.completed", session(client_reference_id=None, metadata={})),
        ("checkout.session.expired", session(client_reference_id="", metadata={"other": "x"})),
        ("charge.refunded", charge(payment_intent=None, metadata={})),
        ("charge.dispute.created", dispute(payment_intent=None)),
        ("charge.dispute.closed", dispute(payment_intent=None, status="lost")),
        # Types the portal does not handle.
        ("checkout.session.created", session(status="open", payment_status="unpaid")),
        ("payment_intent.succeeded", {"id": "pi_test_1", "object": "payment_intent"}),
        ("charge.succeeded", charge(amount_refunded=0)),
        ("charge.dispute.updated", dispute()),
        ("customer.created", {"id": "cus_1", "object": "customer"}),
    ],
)
def test_foreign_and_unknown_events_are_none(type, obj):
    assert event_from(event(type, obj)) is None


@pytest.mark.parametrize(
    "envelope",
    [
        {},
        {"type": "checkout.session.completed"},
        {"type": "checkout.session.completed", "data": None},
        {"type": "checkout.session.completed", "data": {"object": "cs_test_1"}},
        {"type": None, "data": {"object": session()}},
    ],
)
def test_malformed_events_are_none(envelope):
    assert event_from(envelope) is None


def test_an_amount_that_is_not_a_whole_number_of_cents_is_not_trusted():
    odd = session(amount_total="4550")

    assert event_from(event("checkout.session.completed", odd)).amount_cents is None


def test_a_checkout_without_an_amount_is_told_apart_from_one_of_zero():
    missing = session()
    del missing["amount_total"]

    assert event_from(event("checkout.session.completed", missing)).amount_cents is None
    assert (
        event_from(event("checkout.session.completed", session(amount_total=0))).amount_cents == 0
    )


@pytest.mark.parametrize(("sent", "read"), [("usd", "usd"), ("JPY", "jpy"), (None, "")])
def test_the_currency_of_a_checkout_is_carried_lower_case(sent, read):
    found = event_from(event("checkout.session.completed", session(currency=sent)))

    assert (found.currency, found.amount_cents) == (read, 4550)


def test_the_outcome_of_a_retrieved_session():
    assert outcome_from_session(session(status="open", payment_status="unpaid")) is None
    assert outcome_from_session(session()).kind is EventKind.PAYMENT_SUCCEEDED
    assert outcome_from_session(session()).event_id == ""
    assert outcome_from_session(session(payment_status="unpaid")).kind is (
        EventKind.PAYMENT_PROCESSING
    )
    expired = outcome_from_session(session(status="expired", payment_intent=None))
    assert (expired.kind, expired.reference) == (EventKind.CHECKOUT_CANCELED, "cs_test_a1")


def test_checkout_parameters_carry_only_the_amount_line_and_payment_id():
    request = CheckoutRequest(
        PID,
        1234,
        "Payment toward statement S-2026-000123",
        "https://billing.example.org/payments/x",
        "https://billing.example.org/payments/x?canceled=1",
    )

    params = checkout_params(request)

    assert set(params) == {
        "mode",
        "line_items",
        "client_reference_id",
        "metadata",
        "payment_intent_data",
        "success_url",
        "cancel_url",
        "locale",  # the patient's language: no more about them
    }
    assert params["locale"] == "en"
    assert params["line_items"] == [
        {
            "price_data": {
                "currency": "usd",
                "unit_amount": 1234,
                "product_data": {"name": "Payment toward statement S-2026-000123"},
            },
            "quantity": 1,
        }
    ]
    assert params["success_url"].endswith("/payments/x?session_id={CHECKOUT_SESSION_ID}")
    assert checkout_idempotency_key(PID) == checkout_idempotency_key(PID) == f"checkout-{PID}"


# -- off-session PaymentIntents (a saved method charged with the patient away) -------------

OFF_SESSION = {"payment_id": PID, "portal_off_session": "true"}


def intent(**overrides) -> dict:
    """An off-session PaymentIntent as Stripe sends it in payment_intent.* events."""
    values = {
        "id": "pi_test_off",
        "object": "payment_intent",
        "amount": 2500,
        "amount_received": 0,
        "currency": "usd",
        "customer": "cus_test_1",
        "last_payment_error": None,
        "metadata": dict(OFF_SESSION),
        "payment_method": "pm_test_1",
        "payment_method_types": ["card"],
        "status": "processing",
    }
    values.update(overrides)
    return values


@pytest.mark.parametrize(
    ("type", "obj", "kind", "amount", "message"),
    [
        (
            "payment_intent.succeeded",
            intent(status="succeeded", amount_received=2500),
            EventKind.PAYMENT_SUCCEEDED,
            2500,
            "",
        ),
        ("payment_intent.processing", intent(), EventKind.PAYMENT_PROCESSING, 2500, ""),
        (
            "payment_intent.payment_failed",
            intent(
                status="requires_payment_method",
                last_payment_error={
                    "type": "card_error",
                    "code": "card_declined",
                    "decline_code": "insufficient_funds",
                    "message": "Your card has insufficient funds.",
                },
            ),
            EventKind.PAYMENT_FAILED,
            2500,
            "Your card has insufficient funds.",
        ),
        (
            "charge.failed",
            charge(
                amount=2500,
                status="failed",
                paid=False,
                metadata=dict(OFF_SESSION),
                payment_intent="pi_test_off",
                failure_code="account_closed",
                failure_message="The customer's bank account has been closed.",
                payment_method_details={"type": "us_bank_account"},
            ),
            EventKind.PAYMENT_FAILED,
            2500,
            "Your bank returned the payment: the account is closed.",
        ),
    ],
)
def test_an_off_session_intents_events_are_its_payments(type, obj, kind, amount, message):
    assert event_from(event(type, obj, "evt_off")) == GatewayEvent(
        kind=kind,
        payment_id=PID,
        reference="pi_test_off",
        amount_cents=amount,
        message=message,
        event_id="evt_off",
    )


@pytest.mark.parametrize(
    "metadata",
    [
        {"payment_id": PID},  # a Checkout payment's own PaymentIntent
        {"portal_off_session": "true"},  # no payment id
        {"payment_id": PID, "portal_off_session": "false"},
        {},
    ],
)
@pytest.mark.parametrize(
    "type",
    ["payment_intent.succeeded", "payment_intent.processing", "payment_intent.payment_failed"],
)
def test_other_intents_events_are_not_acted_on(type, metadata):
    assert event_from(event(type, intent(metadata=metadata))) is None


def test_a_checkout_payments_failed_charge_is_not_acted_on():
    """A declined attempt on the Checkout page: the patient may try another card there."""
    failed = charge(status="failed", failure_code="card_declined", amount_refunded=0)

    assert event_from(event("charge.failed", failed)) is None


@pytest.mark.parametrize(
    ("codes", "bank", "expected"),
    [
        (
            ("card_declined", "generic_decline", "Your card was declined."),
            False,
            (Outcome.SOFT_DECLINE, "Your card was declined."),
        ),
        (
            ("card_declined", "insufficient_funds", "Your card has insufficient funds."),
            False,
            (Outcome.SOFT_DECLINE, "Your card has insufficient funds."),
        ),
        (
            ("card_declined", "pickup_card", "Your card was declined."),
            False,
            (
                Outcome.HARD_DECLINE,
                HARD_DECLINED_MESSAGE,
            ),
        ),
        (
            ("expired_card", None, "Your card has expired."),
            False,
            (Outcome.HARD_DECLINE, "Your card has expired."),
        ),
        (
            ("card_declined", "authentication_required", "Your card was declined."),
            False,
            (
                Outcome.NEEDS_AUTHENTICATION,
                AUTHENTICATION_MESSAGE,
            ),
        ),
        (("card_declined", None, None), False, (Outcome.SOFT_DECLINE, "Your card was declined.")),
        # Stripe's words for a returned debit speak of "the customer": the patient gets theirs.
        (
            ("bank_account_restricted", None, "The customer's bank account is restricted."),
            True,
            (Outcome.HARD_DECLINE, "Your bank returned the payment."),
        ),
        (
            ("insufficient_funds", None, "The customer's account has insufficient funds."),
            True,
            (
                Outcome.SOFT_DECLINE,
                "Your bank returned the payment: the account did not have enough money.",
            ),
        ),
    ],
)
def test_a_decline_is_soft_hard_or_the_patients_to_confirm(codes, bank, expected):
    assert decline_of(*codes, bank=bank) == expected


@pytest.mark.parametrize(
    ("kind", "expected"),
    [
        ("payout.paid", EventKind.PAYOUT_PAID),
        ("payout.reconciliation_completed", EventKind.PAYOUT_RECONCILED),
    ],
)
def test_a_payout_event_names_the_payout_and_no_payment(kind, expected):
    payout = {
        "id": "po_1",
        "object": "payout",
        "amount": 9_410,
        "arrival_date": 1_764_288_000,  # 2025-11-28 00:00 UTC
        "currency": "usd",
        "status": "paid",
    }

    found = event_from(event(kind, payout, event_id="evt_po"))

    assert found is not None and found.kind is expected
    assert (found.payment_id, found.reference, found.event_id) == ("", "po_1", "evt_po")
    assert found.payout == Payout("po_1", 9_410, date(2025, 11, 28), "paid")


def test_other_payout_events_and_payouts_without_a_day_are_not_acted_on():
    payout = {"id": "po_1", "object": "payout", "amount": 9_410, "arrival_date": None}
    assert event_from(event("payout.paid", payout)) is None
    assert event_from(event("payout.failed", {**payout, "arrival_date": 1_764_288_000})) is None
