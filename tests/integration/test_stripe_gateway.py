"""StripeGateway with the real `stripe` library against the local Stripe stand-in."""

import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote_plus

import pytest

from portal.adapters.stripe_gateway import API_VERSION, UNAVAILABLE, StripeGateway
from portal.domain.payments import new_payment_id
from portal.ports.payments import (
    CheckoutRequest,
    EventKind,
    GatewayError,
    GatewayEvent,
    RefundOutcome,
    WebhookRejected,
)
from portal.services.payments import start_payment
from tests.email_catalogs import compile_catalogs, renderer
from tests.stripe_stub import event, sign, stripe_stub

SECRET_KEY = "sk_test_portal_0123456789"
WEBHOOK_SECRET = "whsec_test_portal_0123456789"
BASE = "http://portal.test"

# What the portal knows about the Lopez family (tests/conftest.py): none of it may reach Stripe.
PHI = [
    "Maria",
    "Lopez",
    "Ana",
    "José",
    "Jose",
    "Núñez",
    "Nunez",
    "1984-03-12",
    "03/12/1984",
    "19840312",
    "2015-06-02",
    "2018-01-09",
    "2026-10-14",
    "99213",
    "J06.9",
    "J069",
    "Office visit",
    "established patient",
    "Dr. Chen",
    "maria@example.com",
    "100234",
]


@pytest.fixture
def stub():
    with stripe_stub(webhook_secret=WEBHOOK_SECRET) as running:
        yield running


@pytest.fixture
def gateway(stub) -> StripeGateway:
    return StripeGateway(SECRET_KEY, WEBHOOK_SECRET, stub.base)


def checkout_request(payment_id: str | None = None, amount_cents: int = 4550) -> CheckoutRequest:
    """As start_payment builds it."""
    payment_id = payment_id or new_payment_id()
    return CheckoutRequest(
        payment_id=payment_id,
        amount_cents=amount_cents,
        description="Payment toward statement S-2026-000123",
        success_url=f"{BASE}/payments/{payment_id}",
        cancel_url=f"{BASE}/payments/{payment_id}?canceled=1",
    )


def sessions_posted(stub) -> list:
    return [r for r in stub.requests if (r.method, r.path) == ("POST", "/v1/checkout/sessions")]


def paid_session(gateway, stub, amount_cents: int = 4550) -> tuple[str, str]:
    """A checkout the patient has paid: (payment id, payment intent id)."""
    request = checkout_request(amount_cents=amount_cents)
    session = gateway.create_checkout(request)
    return request.payment_id, stub.complete(session.session_id)["payment_intent"]


# -- creating a checkout --------------------------------------------------------------------


def test_checkout_sends_exactly_the_parameters_stripe_needs(gateway, stub):
    request = checkout_request()
    pid = request.payment_id

    session = gateway.create_checkout(request)

    assert session.session_id.startswith("cs_test_")
    assert session.url == f"{stub.base}/pay/{session.session_id}"
    [sent] = sessions_posted(stub)
    assert sent.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert sent.params == {
        "mode": "payment",
        "line_items[0][price_data][currency]": "usd",
        "line_items[0][price_data][unit_amount]": "4550",
        "line_items[0][price_data][product_data][name]": "Payment toward statement S-2026-000123",
        "line_items[0][quantity]": "1",
        "client_reference_id": pid,
        "metadata[payment_id]": pid,
        "payment_intent_data[metadata][payment_id]": pid,
        "success_url": f"{BASE}/payments/{pid}?session_id={{CHECKOUT_SESSION_ID}}",
        "cancel_url": f"{BASE}/payments/{pid}?canceled=1",
        "locale": "en",
    }
    stored = stub.sessions[session.session_id]
    assert (stored["amount_total"], stored["client_reference_id"]) == (4550, pid)
    assert stored["metadata"] == {"payment_id": pid}


@pytest.mark.parametrize(
    ("language", "locale"), [("es", "es"), ("es-US", "es"), ("en", "en"), ("haw", "auto")]
)
def test_checkout_opens_in_the_patients_language_where_stripe_has_it(
    gateway, stub, language, locale
):
    gateway.create_checkout(replace(checkout_request(), language=language))

    [sent] = sessions_posted(stub)
    assert sent.params["locale"] == locale


def test_a_success_url_with_a_query_gets_the_session_id_after_an_ampersand(gateway, stub):
    request = replace(checkout_request(), success_url=f"{BASE}/payments/p?from=checkout")

    gateway.create_checkout(request)

    [sent] = sessions_posted(stub)
    assert sent.params["success_url"] == (
        f"{BASE}/payments/p?from=checkout&session_id={{CHECKOUT_SESSION_ID}}"
    )


def test_asking_twice_for_one_payment_opens_one_checkout(gateway, stub):
    request = checkout_request()

    first = gateway.create_checkout(request)
    again = gateway.create_checkout(request)
    other = gateway.create_checkout(checkout_request())

    assert again == first
    assert other.session_id != first.session_id
    assert len(stub.sessions) == 2
    keys = [r.headers["Idempotency-Key"] for r in sessions_posted(stub)]
    assert keys[0] == keys[1] == f"checkout-{request.payment_id}"
    assert keys[2] != keys[0]
    # Stripe replays its first answer to a repeated key; the gateway asks what became of it.
    assert [(r.method, r.path) for r in stub.requests][1:3] == [
        ("POST", "/v1/checkout/sessions"),
        ("GET", f"/v1/checkout/sessions/{first.session_id}"),
    ]


def test_the_library_retries_a_500_with_the_same_key_and_one_session_results(gateway, stub):
    stub.fail_next(500, "api_error", None, "An unknown error occurred")
    request = checkout_request()

    session = gateway.create_checkout(request)

    posted = sessions_posted(stub)
    assert len(posted) == 2
    assert {r.headers["Idempotency-Key"] for r in posted} == {f"checkout-{request.payment_id}"}
    assert list(stub.sessions) == [session.session_id]


def test_a_session_that_is_no_longer_open_is_not_offered_again(gateway, stub):
    request = checkout_request()
    session = gateway.create_checkout(request)
    stub.expire(session.session_id)

    with pytest.raises(GatewayError, match="no longer open"):
        gateway.create_checkout(request)
    assert len(stub.sessions) == 1


def test_every_request_pins_the_api_version_and_sends_the_secret_key(gateway, stub):
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.[a-z]+", API_VERSION)
    pid, intent = paid_session(gateway, stub)
    session_id = next(iter(stub.sessions))
    gateway.checkout_outcome(session_id)
    gateway.refund(pid, intent, 100, "refund-1")
    gateway.list_refunds(intent)

    assert {(r.method, r.path.split("/")[2]) for r in stub.requests} == {
        ("POST", "checkout"),
        ("GET", "checkout"),
        ("POST", "refunds"),
        ("GET", "refunds"),
    }
    for sent in stub.requests:
        assert sent.headers["Stripe-Version"] == API_VERSION
        assert sent.headers["Authorization"] == f"Bearer {SECRET_KEY}"


def test_the_pinned_version_holds_when_the_library_moves_on(stub, monkeypatch):
    """A library upgrade brings a newer default version; the gateway keeps its own."""
    from stripe._api_version import _ApiVersion

    monkeypatch.setattr(_ApiVersion, "CURRENT", "2099-01-01.future")
    gateway = StripeGateway(SECRET_KEY, WEBHOOK_SECRET, stub.base)

    gateway.create_checkout(checkout_request())

    assert sessions_posted(stub)[0].headers["Stripe-Version"] == API_VERSION


def test_construction_makes_no_request():
    with stripe_stub() as quiet:
        StripeGateway(SECRET_KEY, WEBHOOK_SECRET, quiet.base + "/")
        assert quiet.requests == []


# -- privacy --------------------------------------------------------------------------------


def everything_sent(stub) -> str:
    parts = []
    for sent in stub.requests:
        parts += [sent.url, unquote_plus(sent.url), sent.body, unquote_plus(sent.body)]
        parts += [f"{name}: {value}" for name, value in sent.headers.items()]
    return "\n".join(parts).lower()


def assert_no_phi(stub) -> None:
    sent = everything_sent(stub)
    found = [word for word in PHI if word.lower() in sent]
    assert not found, f"PHI sent to Stripe: {found}"


def test_no_health_or_identity_information_reaches_stripe(gateway, stub):
    pid, intent = paid_session(gateway, stub)
    gateway.checkout_outcome(next(iter(stub.sessions)))
    gateway.refund(pid, intent, 1000, f"refund-{pid}-1")
    gateway.list_refunds(intent)

    assert len(stub.requests) == 4
    assert_no_phi(stub)


def test_paying_through_the_portal_tells_stripe_nothing_about_the_patient(
    services, lopez, gateway, stub
):
    """The real use case builds the checkout from the Lopez account, codes and all."""
    with_stripe = replace(services, payments=gateway)

    checkout = start_payment(with_stripe, "100234", "45.50")

    [sent] = sessions_posted(stub)
    assert checkout.url == stub.sessions[checkout.session_id]["url"]
    assert sent.params["line_items[0][price_data][unit_amount]"] == "4550"
    # $45.50 pays the older statement's $30.00 and $15.50 of the newer one: both named.
    assert sent.params["line_items[0][price_data][product_data][name]"] == (
        "Payment toward statements S-2026-000100, S-2026-000123"
    )
    assert_no_phi(stub)


def test_the_checkout_line_names_only_the_statements_the_amount_pays(
    services, lopez, gateway, stub
):
    start_payment(replace(services, payments=gateway), "100234", "20.00")

    [sent] = sessions_posted(stub)
    assert sent.params["line_items[0][price_data][product_data][name]"] == (
        "Payment toward statement S-2026-000100"
    )


def test_a_spanish_patients_checkout_line_is_in_spanish(services, lopez, gateway, stub, tmp_path):
    """Checkout opens in Spanish, its line too: statement numbers only, as in English."""
    emails = renderer(compile_catalogs(tmp_path / "catalogs"))

    start_payment(replace(services, payments=gateway, emails=emails), "100234", "45.50", "", "es")

    [sent] = sessions_posted(stub)
    assert sent.params["locale"] == "es"
    assert sent.params["line_items[0][price_data][product_data][name]"] == (
        "Pago de los estados de cuenta S-2026-000100, S-2026-000123"
    )
    assert_no_phi(stub)


# -- errors ---------------------------------------------------------------------------------


def test_a_card_error_shows_stripes_message_for_the_patient(gateway, stub, caplog):
    stub.fail_next(402, "card_error", "card_declined", "Your card was declined.")
    request = checkout_request()

    with caplog.at_level(logging.INFO), pytest.raises(GatewayError) as raised:
        gateway.create_checkout(request)

    assert raised.value.message == "Your card was declined."
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name.startswith("portal"))
    assert "CardError" in logged and "card_declined" in logged
    assert request.payment_id not in logged and "statement" not in logged


def test_stripe_failing_after_the_retries_is_a_clear_message(gateway, stub):
    stub.fail_next(500, "api_error", None, "An unknown error occurred", times=3)

    started = time.monotonic()
    with pytest.raises(GatewayError) as raised:
        gateway.create_checkout(checkout_request())

    assert raised.value.message == UNAVAILABLE
    assert "nothing was charged" in raised.value.message
    assert len(sessions_posted(stub)) == 3  # the first try and the library's two retries
    assert time.monotonic() - started >= 0.5  # it waited between them
    assert stub.sessions == {}


def test_stripe_unreachable_is_the_same_clear_message():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    gateway = StripeGateway(SECRET_KEY, WEBHOOK_SECRET, f"http://127.0.0.1:{closed_port}")

    with pytest.raises(GatewayError) as raised:
        gateway.create_checkout(checkout_request())

    assert raised.value.message == UNAVAILABLE


def test_a_rejected_key_does_not_blame_the_patient(stub):
    gateway = StripeGateway("rk_wrong", WEBHOOK_SECRET, stub.base)

    with pytest.raises(GatewayError) as raised:
        gateway.create_checkout(checkout_request())

    assert "not available right now" in raised.value.message
    assert "nothing was charged" in raised.value.message


# -- the outcome of a checkout --------------------------------------------------------------


def test_checkout_outcome_follows_the_session(gateway, stub):
    open_request, paid_request = checkout_request(), checkout_request(amount_cents=2000)
    still_open = gateway.create_checkout(open_request)
    paid = gateway.create_checkout(paid_request)
    slow = gateway.create_checkout(checkout_request())
    left = gateway.create_checkout(checkout_request())
    intent = stub.complete(paid.session_id)["payment_intent"]
    slow_intent = stub.complete(slow.session_id, paid=False)["payment_intent"]
    stub.expire(left.session_id)

    assert gateway.checkout_outcome(still_open.session_id) is None
    assert gateway.checkout_outcome(paid.session_id) == GatewayEvent(
        kind=EventKind.PAYMENT_SUCCEEDED,
        payment_id=paid_request.payment_id,
        reference=intent,
        amount_cents=2000,
    )
    processing = gateway.checkout_outcome(slow.session_id)
    assert (processing.kind, processing.reference) == (EventKind.PAYMENT_PROCESSING, slow_intent)
    canceled = gateway.checkout_outcome(left.session_id)
    assert canceled.kind is EventKind.CHECKOUT_CANCELED
    assert canceled.reference == left.session_id  # no payment intent on an expired session
    assert "nothing was charged" in canceled.message


def test_checkout_outcome_of_an_unknown_session_is_a_gateway_error(gateway):
    with pytest.raises(GatewayError, match="could not find"):
        gateway.checkout_outcome("cs_test_nope")


# -- refunds --------------------------------------------------------------------------------


def test_refund_sends_the_payment_intent_amount_and_key_and_answers_its_own_amount(gateway, stub):
    pid, intent = paid_session(gateway, stub, amount_cents=4550)

    first = gateway.refund(pid, intent, 1000, "refund-key-1")
    second = gateway.refund(pid, intent, 500, "refund-key-2")

    assert first.amount_cents == 1000 and first.refund_id.startswith("re_test_")
    assert second.amount_cents == 500 and second.refund_id != first.refund_id
    refunds = [r for r in stub.requests if r.path == "/v1/refunds"]
    assert refunds[0].params == {
        "payment_intent": intent,
        "amount": "1000",
        "metadata[payment_id]": pid,
        "metadata[request]": "refund-key-1",  # finds it again if the request dies
    }
    assert [r.headers["Idempotency-Key"] for r in refunds] == ["refund-key-1", "refund-key-2"]
    assert stub.payment_intents[intent]["amount_refunded"] == 1500


def test_a_retried_refund_refunds_once(gateway, stub):
    pid, intent = paid_session(gateway, stub)

    first = gateway.refund(pid, intent, 1000, "refund-key-1")
    again = gateway.refund(pid, intent, 1000, "refund-key-1")

    assert again == first == RefundOutcome(first.refund_id, 1000, "refund-key-1")
    assert gateway.list_refunds(intent) == [first]
    assert len(stub.refunds) == 1
    assert stub.payment_intents[intent]["amount_refunded"] == 1000


def test_refunding_more_than_is_left_is_refused_with_stripes_reason(gateway, stub):
    pid, intent = paid_session(gateway, stub, amount_cents=3000)
    gateway.refund(pid, intent, 2000, "refund-key-1")

    with pytest.raises(GatewayError) as raised:
        gateway.refund(pid, intent, 1500, "refund-key-2")

    assert raised.value.message.startswith("Stripe refused the refund: ")
    assert "greater than unrefunded amount" in raised.value.message
    assert stub.payment_intents[intent]["amount_refunded"] == 2000


def test_a_refund_stripe_reports_failed_is_an_error(gateway, stub):
    pid, intent = paid_session(gateway, stub)
    stub.refund_status = "failed"

    with pytest.raises(GatewayError, match="failed"):
        gateway.refund(pid, intent, 1000, "refund-key-1")


def test_a_refund_while_stripe_is_down_says_a_retry_is_safe(gateway, stub):
    pid, intent = paid_session(gateway, stub)
    stub.fail_next(503, "api_error", None, "Service unavailable", times=3)

    with pytest.raises(GatewayError) as raised:
        gateway.refund(pid, intent, 1000, "refund-key-1")

    assert "not be made twice" in raised.value.message
    assert stub.refunds == {}


def test_listing_refunds_answers_the_payments_refunds_oldest_first(gateway, stub):
    pid, intent = paid_session(gateway, stub, amount_cents=4000)
    other_pid, other_intent = paid_session(gateway, stub, amount_cents=2000)
    made = gateway.refund(pid, intent, 1000, "refund-key-1")
    gateway.refund(other_pid, other_intent, 700, "refund-key-2")
    pending = stub.add_refund(intent, 300, status="pending")
    stub.add_refund(intent, 200, status="failed")
    stub.add_refund(intent, 100, status="canceled")

    found = gateway.list_refunds(intent)

    assert found == [made, RefundOutcome(pending["id"], 300)]
    [listed] = [r for r in stub.requests if r.method == "GET" and r.path == "/v1/refunds"]
    assert listed.params == {"payment_intent": intent, "limit": "100"}


def test_listing_refunds_follows_every_page(gateway, stub):
    _, intent = paid_session(gateway, stub, amount_cents=50000)
    made = [stub.add_refund(intent, 100 + n)["id"] for n in range(230)]

    found = gateway.list_refunds(intent)

    assert [r.refund_id for r in found] == made
    pages = [r for r in stub.requests if r.method == "GET" and r.path == "/v1/refunds"]
    assert len(pages) == 3
    assert pages[1].params["starting_after"] == made[130]


def test_listing_refunds_while_stripe_is_down_is_a_gateway_error(gateway, stub):
    _, intent = paid_session(gateway, stub)
    stub.fail_next(503, "api_error", None, "Service unavailable", times=3)

    with pytest.raises(GatewayError, match="could not list"):
        gateway.list_refunds(intent)


# -- webhooks -------------------------------------------------------------------------------


def completed_event(payment_id: str = "pay_abc") -> bytes:
    session = {
        "id": "cs_test_1",
        "object": "checkout.session",
        "amount_total": 4550,
        "currency": "usd",
        "client_reference_id": payment_id,
        "metadata": {"payment_id": payment_id},
        "mode": "payment",
        "payment_intent": "pi_test_1",
        "payment_status": "paid",
        "status": "complete",
    }
    return json.dumps(event("checkout.session.completed", session, "evt_test_1")).encode()


def test_a_signed_event_becomes_a_gateway_event(gateway):
    payload = completed_event()

    parsed = gateway.parse_webhook(payload, sign(payload, WEBHOOK_SECRET))

    assert parsed == GatewayEvent(
        kind=EventKind.PAYMENT_SUCCEEDED,
        payment_id="pay_abc",
        reference="pi_test_1",
        amount_cents=4550,
        event_id="evt_test_1",
    )


def test_a_signed_event_from_299_seconds_ago_is_still_accepted(gateway):
    payload = completed_event()
    header = sign(payload, WEBHOOK_SECRET, int(time.time()) - 299)

    assert gateway.parse_webhook(payload, header).event_id == "evt_test_1"


def test_a_signed_event_the_portal_does_not_handle_is_none(gateway):
    payload = json.dumps(event("customer.created", {"id": "cus_1", "object": "customer"}))

    assert gateway.parse_webhook(payload.encode(), sign(payload.encode(), WEBHOOK_SECRET)) is None


@pytest.mark.parametrize(
    "case",
    [
        "tampered body",
        "wrong secret",
        "missing header",
        "empty header",
        "301 seconds old",
        "not a signature",
        "other scheme only",
    ],
)
def test_a_notification_not_provably_from_stripe_is_rejected(gateway, case):
    payload = completed_event()
    header = sign(payload, WEBHOOK_SECRET)
    if case == "tampered body":
        payload = payload.replace(b"4550", b"9550")
    elif case == "wrong secret":
        header = sign(payload, "whsec_someone_else")
    elif case == "missing header":
        header = None
    elif case == "empty header":
        header = ""
    elif case == "301 seconds old":
        header = sign(payload, WEBHOOK_SECRET, int(time.time()) - 301)
    elif case == "not a signature":
        header = "hello"
    elif case == "other scheme only":
        header = header.replace("v1=", "v0=")

    with pytest.raises(WebhookRejected):
        gateway.parse_webhook(payload, header)


@pytest.mark.parametrize("payload", [b"not json", b"[1, 2]", b'{"id": "x"}', b"\xff\xfe{}"])
def test_a_signed_body_that_is_not_an_event_is_rejected(gateway, payload):
    with pytest.raises(WebhookRejected):
        gateway.parse_webhook(payload, sign(payload, WEBHOOK_SECRET))


# -- the stub's fake hosted page, and its webhook ------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        try:
            result = self.server.gateway.parse_webhook(body, self.headers["Stripe-Signature"])
            status = 200
        except WebhookRejected as exc:
            result, status = exc, 400
        self.server.received.append(result)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def test_paying_on_the_fake_page_returns_to_the_portal_and_posts_a_signed_event(gateway, stub):
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    receiver.gateway, receiver.received = gateway, []
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        stub.webhook_url = f"http://127.0.0.1:{receiver.server_port}/webhooks/stripe"
        request = checkout_request()
        session = gateway.create_checkout(request)

        with urllib.request.urlopen(session.url) as page:
            assert b">Pay</button>" in page.read()
        opener = urllib.request.build_opener(_NoRedirect)
        with pytest.raises(urllib.error.HTTPError) as redirect:
            opener.open(urllib.request.Request(session.url, data=b"", method="POST"))
    finally:
        receiver.shutdown()
        receiver.server_close()

    assert redirect.value.code == 303
    assert redirect.value.headers["Location"] == (
        f"{BASE}/payments/{request.payment_id}?session_id={session.session_id}"
    )
    [delivered] = receiver.received
    assert delivered.kind is EventKind.PAYMENT_SUCCEEDED
    assert delivered.payment_id == request.payment_id
    assert delivered.reference == stub.sessions[session.session_id]["payment_intent"]
    assert [d["status"] for d in stub.webhook_deliveries] == [200]
    assert gateway.checkout_outcome(session.session_id).kind is EventKind.PAYMENT_SUCCEEDED
