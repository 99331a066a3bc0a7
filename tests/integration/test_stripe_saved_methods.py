"""Saved payment methods on StripeGateway, through the real `stripe` library against the
local Stripe stand-in: the setup page (a Customer that carries nothing about the patient),
the method it saved, off-session charges with the caller's idempotency key and what each
of Stripe's test cards and bank accounts comes to, and the off-session PaymentIntent's
notifications, signed as Stripe signs them."""

import json
import time
import urllib.error
import urllib.request

import pytest

from portal.adapters.stripe_gateway import (
    API_VERSION,
    AUTHENTICATION_MESSAGE,
    CHARGE_UNAVAILABLE,
    HARD_DECLINED_MESSAGE,
    PROCESSING_MESSAGE,
    SETUP_EXPIRED,
    SETUP_NOT_FOUND,
    SETUP_OTHER_PURPOSE,
    SETUP_UNAVAILABLE,
    StripeGateway,
)
from portal.domain.plans import Outcome, SavedMethod
from portal.ports.payments import (
    ChargeResult,
    CheckoutRequest,
    EventKind,
    GatewayError,
    GatewayEvent,
    OffSessionCharge,
    SetupRequest,
)
from tests.integration.test_stripe_gateway import (
    BASE,
    SECRET_KEY,
    WEBHOOK_SECRET,
    _NoRedirect,
    assert_no_phi,
)
from tests.stripe_stub import event, sign, stripe_stub

PLAN = "plan_5c1e9a"
BACK = f"{BASE}/plans/{PLAN}/method"
SUCCESS = BACK + "?session_id={CHECKOUT_SESSION_ID}"
DESCRIPTION = "Payment plan installment 2 of 6"


@pytest.fixture
def stub():
    with stripe_stub(webhook_secret=WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def gateway(stub) -> StripeGateway:
    return StripeGateway(SECRET_KEY, WEBHOOK_SECRET, stub.base)


# -- helpers ---------------------------------------------------------------------------


def posted(stub, path: str) -> list:
    return [r for r in stub.requests if (r.method, r.path) == ("POST", path)]


def saved(gateway, stub, card: str | None = None, bank_account: str | None = None) -> SavedMethod:
    """A method saved on Stripe's setup page for PLAN."""
    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))
    stub.complete_setup(session.session_id, card=card, bank_account=bank_account)
    method = gateway.setup_outcome(session.session_id, PLAN)
    assert method is not None
    return method


def off_session(method: SavedMethod, key: str = f"plan-{PLAN}-2-1", cents: int = 2500):
    return OffSessionCharge("pay_7d2e", method, cents, DESCRIPTION, key)


def signed_body(type: str, obj: dict) -> tuple[bytes, str]:
    payload = json.dumps(event(type, obj, "evt_test_saved")).encode()
    return payload, sign(payload, WEBHOOK_SECRET)


# -- the setup page --------------------------------------------------------------------


def test_setup_makes_a_customer_that_carries_only_the_plan_id(gateway, stub):
    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))

    [made] = posted(stub, "/v1/customers")
    assert made.params == {"metadata[portal_plan]": PLAN}
    assert made.headers["Idempotency-Key"] == f"customer-{PLAN}"
    [customer] = stub.customers.values()
    assert (customer["name"], customer["email"], customer["phone"]) == (None, None, None)
    assert customer["metadata"] == {"portal_plan": PLAN}

    [opened] = posted(stub, "/v1/checkout/sessions")
    assert opened.params == {
        "mode": "setup",
        "customer": customer["id"],
        "currency": "usd",
        "allowed_payment_method_types[0]": "card",
        "allowed_payment_method_types[1]": "us_bank_account",
        "payment_method_options[us_bank_account][verification_method]": "instant",
        "metadata[plan_id]": PLAN,
        "setup_intent_data[metadata][plan_id]": PLAN,
        "success_url": SUCCESS,
        "cancel_url": BACK,
        "locale": "en",
    }
    assert opened.headers["Idempotency-Key"].startswith(f"setup-{PLAN}-")
    assert session.session_id in stub.sessions
    assert session.url == f"{stub.base}/setup/{session.session_id}"
    assert stub.sessions[session.session_id]["customer"] == customer["id"]


def test_a_success_url_without_the_placeholder_gets_the_session_id(gateway, stub):
    gateway.create_setup(SetupRequest(PLAN, f"{BACK}?step=2", BACK))

    [opened] = posted(stub, "/v1/checkout/sessions")
    assert opened.params["success_url"] == f"{BACK}?step=2&session_id={{CHECKOUT_SESSION_ID}}"


def test_changing_the_method_reuses_the_customer_given(gateway, stub):
    first = saved(gateway, stub, card="4242424242424242")

    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK, first.customer_id))
    stub.complete_setup(session.session_id, card="4000000000000341")
    changed = gateway.setup_outcome(session.session_id, PLAN)

    assert len(posted(stub, "/v1/customers")) == 1
    assert posted(stub, "/v1/checkout/sessions")[1].params["customer"] == first.customer_id
    assert changed.customer_id == first.customer_id
    assert (changed.last4, changed.method_id != first.method_id) == ("0341", True)


def test_asking_twice_for_a_plan_makes_one_customer_and_two_pages(gateway, stub):
    first = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))
    again = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))

    assert len(stub.customers) == 1
    assert first.session_id != again.session_id
    keys = [r.headers["Idempotency-Key"] for r in posted(stub, "/v1/checkout/sessions")]
    assert keys[0] != keys[1]


def test_stripe_not_answering_the_setup_is_a_clear_message(gateway, stub):
    stub.fail_next(500, "api_error", None, "An unknown error occurred", times=3)

    with pytest.raises(GatewayError) as failed:
        gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))

    assert failed.value.message == SETUP_UNAVAILABLE
    assert stub.sessions == {}


# -- the setup's outcome -----------------------------------------------------------------


def test_an_open_setup_has_no_outcome_and_asks_for_the_method_expanded(gateway, stub):
    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))

    assert gateway.setup_outcome(session.session_id) is None

    asked = stub.requests[-1]
    assert (asked.method, asked.path) == ("GET", f"/v1/checkout/sessions/{session.session_id}")
    assert asked.params == {"expand[0]": "setup_intent.payment_method"}


def test_a_saved_card_is_its_brand_and_last_four(gateway, stub):
    method = saved(gateway, stub, card="4242424242424242")

    [pm] = stub.payment_methods.values()
    [customer] = stub.customers
    assert method == SavedMethod(pm["id"], customer, "card", "visa", "4242")
    assert method.label == "Visa ending in 4242"


def test_a_saved_bank_account_is_its_bank_and_last_four(gateway, stub):
    method = saved(gateway, stub, bank_account="000123456789")

    [pm] = stub.payment_methods.values()
    assert method == SavedMethod(
        pm["id"], pm["customer"], "us_bank_account", "STRIPE TEST BANK", "6789"
    )
    assert method.label == "Bank account ending in 6789"


def test_the_fake_setup_page_saves_a_card_and_returns_to_the_portal(gateway, stub):
    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))
    with urllib.request.urlopen(session.url) as page:
        assert b"Save card" in page.read()
    opener = urllib.request.build_opener(_NoRedirect)

    with pytest.raises(urllib.error.HTTPError) as declined:
        opener.open(urllib.request.Request(session.url, data=b"card=4000000000000002"))
    with pytest.raises(urllib.error.HTTPError) as redirect:
        opener.open(urllib.request.Request(session.url, data=b"card=4242424242424242"))

    assert declined.value.code == 402
    assert redirect.value.code == 303
    assert redirect.value.headers["Location"] == f"{BACK}?session_id={session.session_id}"
    assert gateway.setup_outcome(session.session_id, PLAN).last4 == "4242"


def test_an_expired_setup_is_a_clear_error(gateway, stub):
    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))
    stub.expire(session.session_id)

    with pytest.raises(GatewayError) as closed:
        gateway.setup_outcome(session.session_id)

    assert closed.value.message == SETUP_EXPIRED


def test_a_setup_for_another_plan_is_refused(gateway, stub):
    session = gateway.create_setup(SetupRequest(PLAN, SUCCESS, BACK))

    with pytest.raises(GatewayError) as refused:
        gateway.setup_outcome(session.session_id, "plan_other")

    assert refused.value.message == SETUP_OTHER_PURPOSE


def test_a_session_that_is_not_a_setup_of_ours_is_refused(gateway, stub):
    payment = gateway.create_checkout(
        CheckoutRequest("pay_1", 4550, "Payment toward statement S-1", BASE, BASE)
    )

    for session_id in (payment.session_id, "cs_test_no_such_session"):
        with pytest.raises(GatewayError) as refused:
            gateway.setup_outcome(session_id)
        assert refused.value.message == SETUP_NOT_FOUND


# -- charging a saved method ---------------------------------------------------------------


def test_a_charge_sends_exactly_what_stripe_needs_with_the_callers_key(gateway, stub):
    method = saved(gateway, stub, card="4242424242424242")

    result = gateway.charge_saved(off_session(method))

    [sent] = posted(stub, "/v1/payment_intents")
    assert sent.headers["Idempotency-Key"] == f"plan-{PLAN}-2-1"
    assert sent.headers["Stripe-Version"] == API_VERSION
    assert sent.params == {
        "amount": "2500",
        "currency": "usd",
        "customer": method.customer_id,
        "payment_method": method.method_id,
        "allowed_payment_method_types[0]": "card",
        "off_session": "true",
        "confirm": "true",
        "description": DESCRIPTION,
        "metadata[payment_id]": "pay_7d2e",
        "metadata[portal_off_session]": "true",
    }
    [intent] = stub.payment_intents.values()
    assert result == ChargeResult(Outcome.SUCCEEDED, intent["id"], 2500, "")


@pytest.mark.parametrize(
    ("card", "outcome", "message"),
    [
        ("4000002500003155", Outcome.NEEDS_AUTHENTICATION, AUTHENTICATION_MESSAGE),
        ("4000000000000341", Outcome.SOFT_DECLINE, "Your card was declined."),
    ],
)
def test_a_declined_card_is_an_outcome_with_the_intents_id(gateway, stub, card, outcome, message):
    method = saved(gateway, stub, card=card)

    result = gateway.charge_saved(off_session(method))

    [intent] = stub.payment_intents.values()
    assert intent["status"] == "requires_payment_method"
    assert result == ChargeResult(outcome, intent["id"], 2500, message)
    assert gateway.charge_status(intent["id"]) == result


@pytest.mark.parametrize(
    ("decline_code", "code"),
    [
        ("stolen_card", "card_declined"),
        ("lost_card", "card_declined"),
        ("fraudulent", "card_declined"),
        (None, "expired_card"),
        (None, "incorrect_number"),
    ],
)
def test_a_card_that_will_never_work_is_a_hard_decline(gateway, stub, decline_code, code):
    method = saved(gateway, stub, card="4242424242424242")
    stub.decline_charges(method.method_id, decline_code, code)

    result = gateway.charge_saved(off_session(method))

    assert (result.outcome, result.message) == (Outcome.HARD_DECLINE, HARD_DECLINED_MESSAGE)
    assert result.reference in stub.payment_intents


@pytest.mark.parametrize("decline_code", ["insufficient_funds", "do_not_honor", "try_again_later"])
def test_a_card_that_may_work_later_is_a_soft_decline(gateway, stub, decline_code):
    method = saved(gateway, stub, card="4242424242424242")
    stub.decline_charges(method.method_id, decline_code)

    assert gateway.charge_saved(off_session(method)).outcome is Outcome.SOFT_DECLINE


def test_the_same_key_is_one_charge_and_a_retry_answers_the_same(gateway, stub):
    paying = saved(gateway, stub, card="4242424242424242")
    declining = saved(gateway, stub, card="4000000000000341")

    first = gateway.charge_saved(off_session(paying, key="k-paid"))
    again = gateway.charge_saved(off_session(paying, key="k-paid"))
    declined = gateway.charge_saved(off_session(declining, key="k-declined"))
    declined_again = gateway.charge_saved(off_session(declining, key="k-declined"))

    assert again == first
    assert declined_again == declined
    assert len(stub.payment_intents) == 2


def test_the_same_key_with_other_details_is_refused_and_charges_nothing(gateway, stub):
    method = saved(gateway, stub, card="4242424242424242")
    gateway.charge_saved(off_session(method, key="k-1", cents=2500))

    with pytest.raises(GatewayError) as refused:
        gateway.charge_saved(off_session(method, key="k-1", cents=9900))

    assert "refused" in refused.value.message
    assert len(stub.payment_intents) == 1


def test_the_library_retries_a_500_with_the_same_key_and_one_charge_results(gateway, stub):
    method = saved(gateway, stub, card="4242424242424242")
    stub.fail_next(500, "api_error", None, "An unknown error occurred")

    result = gateway.charge_saved(off_session(method))

    sent = posted(stub, "/v1/payment_intents")
    assert len(sent) == 2
    assert {r.headers["Idempotency-Key"] for r in sent} == {f"plan-{PLAN}-2-1"}
    assert list(stub.payment_intents) == [result.reference]
    assert result.outcome is Outcome.SUCCEEDED


def test_stripe_down_is_an_error_to_retry_with_the_same_key(gateway, stub):
    method = saved(gateway, stub, card="4242424242424242")
    stub.fail_next(503, "api_error", None, "Service unavailable", times=3)

    with pytest.raises(GatewayError) as down:
        gateway.charge_saved(off_session(method))

    assert down.value.message == CHARGE_UNAVAILABLE
    assert stub.payment_intents == {}
    assert gateway.charge_saved(off_session(method)).outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("account", "settled", "message"),
    [
        ("000123456789", Outcome.SUCCEEDED, ""),
        (
            "000222222227",
            Outcome.SOFT_DECLINE,
            "Your bank returned the payment: the account did not have enough money.",
        ),
        (
            "000111111113",
            Outcome.HARD_DECLINE,
            "Your bank returned the payment: the account is closed.",
        ),
    ],
)
def test_a_bank_debit_processes_and_its_status_says_how_it_settled(
    gateway, stub, account, settled, message
):
    method = saved(gateway, stub, bank_account=account)

    debit = gateway.charge_saved(off_session(method, cents=4200))

    assert debit.outcome is Outcome.PROCESSING
    assert (debit.amount_cents, debit.message) == (4200, PROCESSING_MESSAGE)
    assert posted(stub, "/v1/payment_intents")[0].params["allowed_payment_method_types[0]"] == (
        "us_bank_account"
    )
    assert gateway.charge_status(debit.reference).outcome is Outcome.PROCESSING

    stub.settle(debit.reference)

    assert gateway.charge_status(debit.reference) == ChargeResult(
        settled, debit.reference, 4200, message
    )
    assert stub.requests[-1].path == f"/v1/payment_intents/{debit.reference}"


def test_the_status_of_a_charge_stripe_does_not_know_is_a_clear_error(gateway, stub):
    with pytest.raises(GatewayError, match="no charge with this reference"):
        gateway.charge_status("pi_test_unknown")


def test_a_charge_needs_a_positive_amount(gateway, stub):
    method = SavedMethod("pm_test_1", "cus_test_1", "card", "visa", "4242")

    with pytest.raises(ValueError):
        gateway.charge_saved(off_session(method, cents=0))
    assert stub.requests == []


# -- privacy ------------------------------------------------------------------------------


def test_saving_and_charging_tell_stripe_nothing_about_the_patient(gateway, stub):
    card = saved(gateway, stub, card="4242424242424242")
    bank = saved(gateway, stub, bank_account="000123456789")
    gateway.charge_saved(off_session(card, key="k-card"))
    debit = gateway.charge_saved(off_session(bank, key="k-bank"))
    gateway.charge_status(debit.reference)

    assert_no_phi(stub)
    for made in posted(stub, "/v1/customers"):
        assert set(made.params) == {"metadata[portal_plan]"}
    for customer in stub.customers.values():
        assert customer["metadata"] == {"portal_plan": PLAN}


# -- notifications ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("type", "kind"),
    [
        ("payment_intent.processing", EventKind.PAYMENT_PROCESSING),
        ("payment_intent.succeeded", EventKind.PAYMENT_SUCCEEDED),
    ],
)
def test_an_off_session_intents_events_report_its_payment(gateway, stub, type, kind):
    method = saved(gateway, stub, bank_account="000123456789")
    debit = gateway.charge_saved(off_session(method, cents=4200))
    if kind is EventKind.PAYMENT_SUCCEEDED:
        stub.settle(debit.reference)

    parsed = gateway.parse_webhook(*signed_body(type, stub.payment_intents[debit.reference]))

    assert parsed == GatewayEvent(
        kind=kind,
        payment_id="pay_7d2e",
        reference=debit.reference,
        amount_cents=4200,
        event_id="evt_test_saved",
    )


@pytest.mark.parametrize(
    ("account", "card", "message"),
    [
        (
            "000222222227",
            None,
            "Your bank returned the payment: the account did not have enough money.",
        ),
        ("000111111113", None, "Your bank returned the payment: the account is closed."),
        (None, "4000000000000341", "Your card was declined."),
        (None, "4000002500003155", AUTHENTICATION_MESSAGE),
    ],
)
def test_an_off_session_intent_that_failed_reports_its_payment_failed(
    gateway, stub, account, card, message
):
    method = saved(gateway, stub, card=card, bank_account=account)
    result = gateway.charge_saved(off_session(method, cents=4200))
    if account:
        stub.settle(result.reference)
    intent = stub.payment_intents[result.reference]

    for type, obj in (
        ("payment_intent.payment_failed", intent),
        ("charge.failed", stub.charge(result.reference)),
    ):
        parsed = gateway.parse_webhook(*signed_body(type, obj))

        assert parsed == GatewayEvent(
            kind=EventKind.PAYMENT_FAILED,
            payment_id="pay_7d2e",
            reference=result.reference,
            amount_cents=4200,
            message=message,
            event_id="evt_test_saved",
        ), type


def test_a_bank_debit_returned_after_it_succeeded_is_reported_failed(gateway, stub):
    method = saved(gateway, stub, bank_account="000123456789")
    debit = gateway.charge_saved(off_session(method, cents=4200))
    stub.settle(debit.reference)
    returned = {
        **stub.charge(debit.reference),
        "status": "failed",
        "failure_code": "insufficient_funds",
        "failure_message": "The customer's account has insufficient funds to cover this payment.",
    }

    parsed = gateway.parse_webhook(*signed_body("charge.failed", returned))

    assert parsed == GatewayEvent(
        kind=EventKind.PAYMENT_FAILED,
        payment_id="pay_7d2e",
        reference=debit.reference,
        amount_cents=4200,
        message="Your bank returned the payment: the account did not have enough money.",
        event_id="evt_test_saved",
    )


def test_a_checkout_payments_own_intent_events_are_not_acted_on(gateway, stub):
    """Its session's events report a Checkout payment; its PaymentIntent's (which carry the
    same payment id) and its failed attempts' charges must not."""
    session = gateway.create_checkout(
        CheckoutRequest("pay_checkout", 4550, "Payment toward statement S-1", BASE, BASE)
    )
    intent_id = stub.complete(session.session_id)["payment_intent"]
    intent = stub.payment_intents[intent_id]
    assert intent["metadata"] == {"payment_id": "pay_checkout"}
    failed_attempt = {**stub.charge(intent_id), "status": "failed", "failure_code": "card_declined"}

    for type, obj in (
        ("payment_intent.succeeded", intent),
        ("payment_intent.processing", {**intent, "status": "processing"}),
        ("payment_intent.payment_failed", {**intent, "status": "requires_payment_method"}),
        ("charge.failed", failed_attempt),
    ):
        assert gateway.parse_webhook(*signed_body(type, obj)) is None, type
    assert stub.requests[-1].path.startswith("/v1/checkout/sessions")  # nothing asked of Stripe


def test_an_off_session_event_signed_otherwise_is_rejected(gateway, stub):
    from portal.ports.payments import WebhookRejected

    method = saved(gateway, stub, card="4242424242424242")
    result = gateway.charge_saved(off_session(method))
    payload, _ = signed_body("payment_intent.succeeded", stub.payment_intents[result.reference])

    for header in (
        sign(payload, "whsec_other"),
        sign(payload, WEBHOOK_SECRET, int(time.time()) - 301),
    ):
        with pytest.raises(WebhookRejected):
            gateway.parse_webhook(payload, header)
