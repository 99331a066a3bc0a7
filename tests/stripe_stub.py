"""A local stand-in for Stripe's API, for tests and the browser test.

`with stripe_stub() as stub:` serves on a free port of 127.0.0.1 and answers the calls
StripeGateway makes the way Stripe does (form-encoded requests, JSON objects and errors,
idempotency keys): Checkout Sessions, refunds (made and listed), and a fake hosted checkout
page at `<base>/pay/<session id>`; for saved methods, Customers, setup-mode Checkout
Sessions with a fake hosted setup page at `<base>/setup/<session id>`, SetupIntents,
PaymentMethods (Stripe's test cards and test US bank account) and PaymentIntents confirmed
off-session, which behave as Stripe's test cards do. Every request is recorded in
`stub.requests`.

Also here: `sign()` makes a `Stripe-Signature` header exactly as Stripe does, and `event()`
an event envelope like Stripe's, for webhook tests.
"""

import hashlib
import hmac
import html
import json
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from portal.adapters.stripe_gateway import API_VERSION

SESSION_LIFETIME_SECONDS = 24 * 3600
MINIMUM_AMOUNT_CENTS = 50  # Stripe's smallest USD charge

# Stripe's test cards as saved on a setup page: what an off-session charge of each does
# (None: declined when saved).
SETUP_CARDS = {
    "4242424242424242": "succeeds",
    "4000002500003155": "authenticate",
    "4000000000000341": "declines",
    "4000000000000002": None,
}
TEST_ROUTING_NUMBER = "110000000"
# Stripe's test US bank accounts: how a debit from each settles (None: it goes through).
TEST_BANK_ACCOUNTS = {
    "000123456789": None,
    "000222222227": "insufficient_funds",
    "000111111113": "account_closed",
}
DEBIT_FAILURE_MESSAGES = {
    "insufficient_funds": "The customer's account has insufficient funds to cover this payment.",
    "account_closed": "The customer's bank account has been closed.",
}
# Off-session card declines as Stripe answers them: (code, decline_code, message).
CARD_DECLINES = {
    "authenticate": (
        "authentication_required",
        "authentication_required",
        "Your card was declined. This transaction requires authentication.",
    ),
    "declines": ("card_declined", "generic_decline", "Your card was declined."),
}


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The `Stripe-Signature` header Stripe sends with `payload` signed by `secret`."""
    ts = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def event(type: str, obj: dict, event_id: str | None = None) -> dict:
    """An event envelope like the ones Stripe posts to a webhook endpoint."""
    return {
        "id": event_id or _new_id("evt_test_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "type": type,
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }


@dataclass
class Recorded:
    """One request that reached the stub. `params` holds the form (POST) or query (GET)
    parameters with Stripe's bracket keys as sent, e.g. `metadata[payment_id]`; `headers`
    looks names up in any case."""

    method: str
    path: str
    query: str
    params: dict[str, str]
    headers: Message
    body: str

    @property
    def url(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")


@dataclass
class _Failure:
    status: int
    body: dict
    times: int


class _ApiError(Exception):
    """An error answer: Stripe's status and body."""

    def __init__(
        self, status: int, error_type: str, code: str | None, message: str, param=None, **extra
    ):
        super().__init__(message)
        self.status = status
        self.body = {"error": {"type": error_type, "code": code, "message": message, **extra}}
        if param:
            self.body["error"]["param"] = param


@dataclass
class StripeStub:
    base: str
    webhook_url: str | None = None  # when set, paying on the fake page posts a signed event
    webhook_secret: str = "whsec_test_stub"
    refund_status: str = "succeeded"  # what the next refunds come back as
    requests: list[Recorded] = field(default_factory=list)
    sessions: dict[str, dict] = field(default_factory=dict)
    payment_intents: dict[str, dict] = field(default_factory=dict)
    refunds: dict[str, dict] = field(default_factory=dict)
    customers: dict[str, dict] = field(default_factory=dict)
    setup_intents: dict[str, dict] = field(default_factory=dict)
    payment_methods: dict[str, dict] = field(default_factory=dict)
    webhook_deliveries: list[dict] = field(default_factory=list)
    payouts: dict[str, dict] = field(default_factory=dict)
    payout_lines: dict[str, list[dict]] = field(default_factory=dict)  # by payout id

    def __post_init__(self) -> None:
        self._lock = threading.RLock()
        self._failures: list[_Failure] = []
        self._idempotent: dict[str, tuple[tuple, int, dict]] = {}
        self._pi_metadata: dict[str, dict] = {}
        # A saved method's behaviour on off-session charges, and a decline set by a test.
        self._behaviours: dict[str, str | None] = {}
        self._declines: dict[str, tuple[str, str | None, str]] = {}

    # -- controls -------------------------------------------------------------------------

    def fail_next(
        self,
        status: int,
        error_type: str,
        code: str | None = None,
        message: str = "An error occurred.",
        times: int = 1,
    ) -> None:
        """Answer the next `times` API requests with a Stripe error body and `status`."""
        body = {"error": {"type": error_type, "code": code, "message": message}}
        with self._lock:
            self._failures.append(_Failure(status, body, times))

    def complete(self, session_id: str, paid: bool = True) -> dict:
        """The patient finished the checkout: paid by card, or by a method still on its way."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            intent_id = _new_id("pi_test_")
            self.payment_intents[intent_id] = {
                "id": intent_id,
                "object": "payment_intent",
                "amount": session["amount_total"],
                "amount_received": session["amount_total"] if paid else 0,
                "currency": "usd",
                "metadata": dict(self._pi_metadata.get(session_id, {})),
                "status": "succeeded" if paid else "processing",
                "latest_charge": _new_id("ch_test_"),
                "livemode": False,
            }
            session.update(
                status="complete",
                payment_status="paid" if paid else "unpaid",
                payment_intent=intent_id,
                url=None,
            )
            return dict(session)

    def expire(self, session_id: str) -> dict:
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "open":
                raise ValueError(f"{session_id} is {session['status']}, not open")
            session.update(status="expired", url=None)
            return dict(session)

    def charge(self, payment_intent: str) -> dict:
        """The Charge of a completed payment as Stripe sends it in charge.* events (Stripe
        copies the PaymentIntent's metadata to the charge when it is confirmed)."""
        with self._lock:
            intent = self.payment_intents[payment_intent]
            refunded = intent.get("amount_refunded", 0)
            error = intent.get("last_payment_error") or {}
            method = self.payment_methods.get(intent.get("payment_method") or "")
            failed = {
                "status": "failed",
                "failure_code": error.get("decline_code") or error.get("code"),
                "failure_message": error.get("message"),
            }
            return {
                "id": intent["latest_charge"],
                "object": "charge",
                "amount": intent["amount"],
                "amount_captured": intent["amount_received"],
                "amount_refunded": refunded,
                "currency": "usd",
                "metadata": dict(intent["metadata"]),
                "paid": intent["status"] == "succeeded",
                "payment_intent": payment_intent,
                "refunded": refunded >= intent["amount"],
                "status": "succeeded" if intent["status"] == "succeeded" else "pending",
                "livemode": False,
                **({"payment_method_details": {"type": method["type"]}} if method else {}),
                **(failed if error else {}),
            }

    def add_refund(self, payment_intent: str, amount_cents: int, status: str = "succeeded") -> dict:
        """A refund made outside the portal (in the Dashboard, say) on a PaymentIntent the
        stub knows: it is listed, and counted in the charge's `amount_refunded`."""
        with self._lock:
            intent = self.payment_intents[payment_intent]
            refund = {
                "id": _new_id("re_test_"),
                "object": "refund",
                "amount": amount_cents,
                "charge": intent.get("latest_charge") or f"ch_{payment_intent}",
                "created": int(time.time()),
                "currency": "usd",
                "metadata": {},
                "payment_intent": payment_intent,
                "status": status,
            }
            self._record_refund(refund)
            return dict(refund)

    def complete_setup(
        self, session_id: str, card: str | None = None, bank_account: str | None = None
    ) -> dict:
        """The patient saved a test card or test bank account on the setup page: a
        PaymentMethod attached to the session's Customer, its SetupIntent succeeded.
        ValueError when the page would refuse it (the session stays open)."""
        with self._lock:
            session = self.sessions[session_id]
            if session["status"] != "open" or session["mode"] != "setup":
                raise ValueError(f"{session_id} is not an open setup session")
            method_id = _new_id("pm_test_")
            if card is not None:
                digits = "".join(ch for ch in card if ch.isdigit())
                if SETUP_CARDS.get(digits) is None:
                    raise ValueError("Your card was declined.")
                details = {
                    "brand": "visa",
                    "last4": digits[-4:],
                    "exp_month": 12,
                    "exp_year": 2030,
                    "funding": "credit",
                    "country": "US",
                }
                method = {"type": "card", "card": details}
                self._behaviours[method_id] = SETUP_CARDS[digits]
            elif bank_account in TEST_BANK_ACCOUNTS:
                details = {
                    "account_holder_type": "individual",
                    "account_type": "checking",
                    "bank_name": "STRIPE TEST BANK",
                    "last4": bank_account[-4:],
                    "routing_number": TEST_ROUTING_NUMBER,
                }
                method = {"type": "us_bank_account", "us_bank_account": details}
                self._behaviours[method_id] = TEST_BANK_ACCOUNTS[bank_account]
            else:
                raise ValueError("Use a test card or the test bank account.")
            self.payment_methods[method_id] = {
                "id": method_id,
                "object": "payment_method",
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "created": int(time.time()),
                "customer": session["customer"],
                "livemode": False,
                "metadata": {},
                **method,
            }
            self.setup_intents[session["setup_intent"]].update(
                status="succeeded", payment_method=method_id
            )
            session.update(status="complete", url=None)
            return dict(session)

    def decline_charges(
        self, payment_method: str, decline_code: str, code: str = "card_declined"
    ) -> None:
        """Every later off-session charge of the method is declined with these codes."""
        with self._lock:
            self._declines[payment_method] = (code, decline_code, "Your card was declined.")

    def settle(self, payment_intent: str) -> dict:
        """A bank debit that was processing settles as its test account does: succeeded,
        or failed with the account's failure code."""
        with self._lock:
            intent = self.payment_intents[payment_intent]
            if intent["status"] != "processing":
                raise ValueError(f"{payment_intent} is {intent['status']}, not processing")
            failure = self._behaviours.get(intent["payment_method"])
            if failure is None:
                intent.update(status="succeeded", amount_received=intent["amount"])
            else:
                method = self.payment_methods[intent["payment_method"]]
                intent.update(
                    status="requires_payment_method",
                    last_payment_error={
                        "type": "invalid_request_error",
                        "code": failure,
                        "message": DEBIT_FAILURE_MESSAGES[failure],
                        "payment_method": dict(method),
                    },
                )
            return dict(intent)

    def add_payout(self, arrival: date, lines: list[dict], payout_id: str | None = None) -> dict:
        """A paid payout of these balance transactions (each `{"type", "amount", "fee",
        "source"}`, the source an object with `id` and `payment_intent`), its amount their
        net, with the payout's own transaction last, as Stripe lists them."""
        payout_id = payout_id or _new_id("po_")
        arrival_at = int(datetime(arrival.year, arrival.month, arrival.day, tzinfo=UTC).timestamp())
        listed = []
        for line in lines:
            net = line["amount"] - line.get("fee", 0)
            listed.append(
                {
                    "id": _new_id("txn_"),
                    "object": "balance_transaction",
                    "type": line["type"],
                    "amount": line["amount"],
                    "fee": line.get("fee", 0),
                    "net": net,
                    "currency": "usd",
                    "source": line.get("source"),
                }
            )
        amount = sum(t["net"] for t in listed)
        listed.append(
            {
                "id": _new_id("txn_"),
                "object": "balance_transaction",
                "type": "payout",
                "amount": -amount,
                "fee": 0,
                "net": -amount,
                "currency": "usd",
                "source": payout_id,
            }
        )
        payout = {
            "id": payout_id,
            "object": "payout",
            "amount": amount,
            "arrival_date": arrival_at,
            "currency": "usd",
            "status": "paid",
        }
        with self._lock:
            self.payouts[payout_id] = payout
            self.payout_lines[payout_id] = listed
        return payout

    def api_requests(self, path_prefix: str = "/v1/") -> list[Recorded]:
        return [r for r in self.requests if r.path.startswith(path_prefix)]

    # -- the API --------------------------------------------------------------------------

    def handle(self, method: str, target: str, headers: Message, body: bytes):
        """(status, extra headers, JSON or HTML body) for one request."""
        parts = urlsplit(target)
        text = body.decode("utf-8", "replace")
        form = text if method == "POST" else parts.query
        params = dict(parse_qsl(form, keep_blank_values=True))
        recorded = Recorded(method, parts.path, parts.query, params, headers, text)
        with self._lock:
            self.requests.append(recorded)
        if parts.path.startswith("/pay/"):
            return self._hosted_page(method, parts.path.removeprefix("/pay/"))
        if parts.path.startswith("/setup/"):
            return self._setup_page(method, parts.path.removeprefix("/setup/"), params)
        with self._lock:
            try:
                status, payload, extra = self._api(recorded)
            except _ApiError as exc:
                status, payload, extra = exc.status, exc.body, {}
        extra = {"Request-Id": _new_id("req_test_"), "Stripe-Version": API_VERSION, **extra}
        return status, extra, payload

    def _api(self, request: Recorded) -> tuple[int, dict, dict]:
        auth = request.headers.get("Authorization") or ""
        if not auth.startswith("Bearer sk_"):
            raise _ApiError(401, "invalid_request_error", None, "Invalid API Key provided.")
        if self._failures:
            failure = self._failures[0]
            failure.times -= 1
            if failure.times <= 0:
                self._failures.pop(0)
            return failure.status, failure.body, {}
        key = request.headers.get("Idempotency-Key")
        fingerprint = (request.method, request.path, sorted(request.params.items()))
        if request.method == "POST" and key and key in self._idempotent:
            seen, status, payload = self._idempotent[key]
            if seen != fingerprint:
                raise _ApiError(
                    400,
                    "idempotency_error",
                    None,
                    "Keys for idempotent requests can only be used with the same parameters "
                    f"they were first used with. Try using a key other than '{key}' if you "
                    "meant to execute a different request.",
                )
            return status, payload, {"Idempotent-Replayed": "true"}
        try:
            status, payload = self._route(request)
        except _ApiError as exc:
            # Stripe keeps the result of a request that ran, a card declined included; one
            # refused before it ran (a bad parameter) is not kept.
            if request.method == "POST" and key and exc.status == 402:
                self._idempotent[key] = (fingerprint, exc.status, exc.body)
            raise
        if request.method == "POST" and key:
            self._idempotent[key] = (fingerprint, status, payload)
        return status, payload, {}

    def _route(self, request: Recorded) -> tuple[int, dict]:
        path, method = request.path.rstrip("/"), request.method
        pieces = path.split("/")[2:]  # after "/v1"
        if method == "POST" and pieces == ["checkout", "sessions"]:
            if any(name.startswith("payment_method_types") for name in request.params):
                raise _unknown("payment_method_types")
            if request.params.get("mode") == "setup":
                return 200, self._create_setup_session(request.params)
            return 200, self._create_session(request.params)
        if method == "GET" and len(pieces) == 3 and pieces[:2] == ["checkout", "sessions"]:
            return 200, self._expanded(self._session(pieces[2]), request.params)
        if method == "POST" and pieces == ["customers"]:
            return 200, self._create_customer(request.params)
        if method == "GET" and len(pieces) == 2 and pieces[0] == "customers":
            return 200, dict(self._object(self.customers, pieces[1], "customer"))
        if method == "GET" and len(pieces) == 2 and pieces[0] == "setup_intents":
            found = self._object(self.setup_intents, pieces[1], "setupintent")
            return 200, self._expanded(found, request.params)
        if method == "GET" and len(pieces) == 2 and pieces[0] == "payment_methods":
            return 200, dict(self._object(self.payment_methods, pieces[1], "PaymentMethod"))
        if method == "POST" and pieces == ["payment_intents"]:
            return 200, self._create_payment_intent(request.params)
        if method == "POST" and len(pieces) == 4 and pieces[3] == "expire":
            session = self._session(pieces[2])
            if session["status"] != "open":
                raise _ApiError(
                    400,
                    "invalid_request_error",
                    "checkout_session_not_open",
                    f"Only Checkout Sessions with a status in open can be expired. This "
                    f"Checkout Session has a status of {session['status']}.",
                )
            return 200, self.expire(pieces[2])
        if method == "POST" and pieces == ["refunds"]:
            return 200, self._create_refund(request.params)
        if method == "GET" and pieces == ["refunds"]:
            return 200, self._list_refunds(request)
        if method == "GET" and len(pieces) == 2 and pieces[0] == "refunds":
            return 200, dict(self._object(self.refunds, pieces[1], "refund"))
        if method == "GET" and pieces == ["payouts"]:
            return 200, self._list_payouts(request.params)
        if method == "GET" and pieces == ["balance_transactions"]:
            return 200, self._list_balance_transactions(request.params)
        if method == "GET" and len(pieces) == 2 and pieces[0] == "payment_intents":
            return 200, dict(self._object(self.payment_intents, pieces[1], "payment_intent"))
        raise _ApiError(
            404,
            "invalid_request_error",
            None,
            f"Unrecognized request URL ({method}: {request.path}).",
        )

    def _create_session(self, params: dict[str, str]) -> dict:
        if params.get("mode") != "payment":
            raise _ApiError(
                400, "invalid_request_error", "parameter_invalid", "The stub knows mode=payment."
            )
        for name in ("success_url", "line_items[0][quantity]"):
            if not params.get(name):
                raise _missing(name)
        amount, index = 0, 0
        while f"line_items[{index}][quantity]" in params:
            prefix = f"line_items[{index}][price_data]"
            for name in ("[currency]", "[unit_amount]", "[product_data][name]"):
                if not params.get(prefix + name):
                    raise _missing(prefix + name)
            if params[prefix + "[currency]"] != "usd":
                raise _ApiError(
                    400, "invalid_request_error", "parameter_invalid", "The stub knows usd."
                )
            unit = _integer(params, prefix + "[unit_amount]")
            quantity = _integer(params, f"line_items[{index}][quantity]")
            amount += unit * quantity
            index += 1
        if amount < MINIMUM_AMOUNT_CENTS:
            raise _ApiError(
                400,
                "invalid_request_error",
                "amount_too_small",
                "The Checkout Session's total amount due must add up to at least $0.50 usd",
            )
        session_id = _new_id("cs_test_", 24)
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": amount,
            "amount_total": amount,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": "usd",
            "expires_at": now + SESSION_LIFETIME_SECONDS,
            "livemode": False,
            "metadata": _nested(params, "metadata"),
            "mode": "payment",
            "payment_intent": None,
            "payment_status": "unpaid",
            "status": "open",
            "success_url": params["success_url"],
            "url": f"{self.base}/pay/{session_id}",
        }
        self.sessions[session_id] = session
        self._pi_metadata[session_id] = _nested(params, "payment_intent_data[metadata]")
        return dict(session)

    def _create_customer(self, params: dict[str, str]) -> dict:
        customer = {
            "id": _new_id("cus_test_"),
            "object": "customer",
            "created": int(time.time()),
            "description": params.get("description"),
            "email": params.get("email"),
            "livemode": False,
            "metadata": _nested(params, "metadata"),
            "name": params.get("name"),
            "phone": params.get("phone"),
        }
        self.customers[customer["id"]] = customer
        return dict(customer)

    def _create_setup_session(self, params: dict[str, str]) -> dict:
        """Checkout in setup mode: its SetupIntent is made with it."""
        if not params.get("success_url"):
            raise _missing("success_url")
        allowed = _listed(params, "allowed_payment_method_types")
        if not allowed and not params.get("currency"):
            raise _missing("currency")
        if any(name.startswith("line_items") for name in params):
            raise _ApiError(
                400,
                "invalid_request_error",
                "parameter_invalid",
                "You can not pass `line_items` in `setup` mode.",
                "line_items",
            )
        customer = params.get("customer")
        if customer:
            self._object(self.customers, customer, "customer")
        session_id = _new_id("cs_test_", 24)
        intent_id = _new_id("seti_test_")
        self.setup_intents[intent_id] = {
            "id": intent_id,
            "object": "setup_intent",
            "customer": customer,
            "livemode": False,
            "metadata": _nested(params, "setup_intent_data[metadata]"),
            "payment_method": None,
            "payment_method_types": allowed or ["card"],
            "status": "requires_payment_method",
            "usage": "off_session",
        }
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "amount_subtotal": None,
            "amount_total": None,
            "cancel_url": params.get("cancel_url"),
            "client_reference_id": params.get("client_reference_id"),
            "created": now,
            "currency": params.get("currency"),
            "customer": customer,
            "expires_at": now + SESSION_LIFETIME_SECONDS,
            "livemode": False,
            "metadata": _nested(params, "metadata"),
            "mode": "setup",
            "payment_intent": None,
            "payment_method_types": allowed or ["card"],
            "payment_status": "no_payment_required",
            "setup_intent": intent_id,
            "status": "open",
            "success_url": params["success_url"],
            "url": f"{self.base}/setup/{session_id}",
        }
        self.sessions[session_id] = session
        return dict(session)

    def _create_payment_intent(self, params: dict[str, str]) -> dict:
        if any(name.startswith("payment_method_types") for name in params):
            raise _ApiError(
                400,
                "invalid_request_error",
                "payment_method_types_no_longer_supported",
                "payment_method_types is no longer supported on this API version; use "
                "allowed_payment_method_types or dynamic payment methods.",
                "payment_method_types",
            )
        for name in ("amount", "currency"):
            if not params.get(name):
                raise _missing(name)
        amount = _integer(params, "amount")
        if amount < MINIMUM_AMOUNT_CENTS:
            raise _ApiError(
                400,
                "invalid_request_error",
                "amount_too_small",
                "Amount must be at least $0.50 usd",
                "amount",
            )
        if params["currency"] != "usd":
            raise _ApiError(
                400, "invalid_request_error", "parameter_invalid", "The stub knows usd."
            )
        if params.get("confirm") != "true" or params.get("off_session") != "true":
            raise _ApiError(
                400,
                "invalid_request_error",
                "parameter_invalid",
                "The stub knows PaymentIntents confirmed off-session.",
            )
        method_id = params.get("payment_method") or ""
        if not method_id:
            raise _missing("payment_method")
        if method_id not in self.payment_methods:
            raise _ApiError(
                400,
                "invalid_request_error",
                "resource_missing",
                f"No such PaymentMethod: '{method_id}'",
                "payment_method",
            )
        method = self.payment_methods[method_id]
        if params.get("customer") != method["customer"]:
            raise _ApiError(
                400,
                "invalid_request_error",
                None,
                "The provided PaymentMethod does not belong to the provided Customer.",
                "payment_method",
            )
        allowed = _listed(params, "allowed_payment_method_types")
        if allowed and method["type"] not in allowed:
            raise _ApiError(
                400,
                "invalid_request_error",
                "payment_intent_incompatible_payment_method",
                f"The PaymentMethod provided ({method['type']}) is not allowed for this "
                "PaymentIntent.",
                "payment_method",
            )
        intent_id = _new_id("pi_test_")
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": amount,
            "amount_received": 0,
            "created": int(time.time()),
            "currency": "usd",
            "customer": method["customer"],
            "description": params.get("description"),
            "last_payment_error": None,
            "latest_charge": _new_id("ch_test_"),
            "livemode": False,
            "metadata": _nested(params, "metadata"),
            "payment_method": method_id,
            "payment_method_types": allowed or [method["type"]],
            "status": "processing",
        }
        self.payment_intents[intent_id] = intent
        if method["type"] == "us_bank_account":
            return dict(intent)
        behaviour = self._behaviours.get(method_id)
        decline = self._declines.get(method_id) or CARD_DECLINES.get(behaviour or "")
        if decline is None:
            intent.update(status="succeeded", amount_received=amount)
            return dict(intent)
        code, decline_code, message = decline
        error = {
            "type": "card_error",
            "code": code,
            "decline_code": decline_code,
            "message": message,
            "payment_method": dict(method),
        }
        intent.update(status="requires_payment_method", last_payment_error=error)
        raise _ApiError(
            402,
            "card_error",
            code,
            message,
            decline_code=decline_code,
            payment_intent=dict(intent),
            payment_method=dict(method),
        )

    def _expanded(self, obj: dict, params: dict[str, str]) -> dict:
        """A copy of the object with the `expand[]` paths replaced by their objects."""
        found = dict(obj)
        for path in _listed(params, "expand"):
            here = found
            for name in path.split("."):
                value = here.get(name)
                if isinstance(value, str):
                    value = dict(self._by_id(value))
                    here[name] = value
                if not isinstance(value, dict):
                    break
                here = value
        return found

    def _by_id(self, object_id: str) -> dict:
        for prefix, objects in (
            ("seti_", self.setup_intents),
            ("pm_", self.payment_methods),
            ("pi_", self.payment_intents),
            ("cus_", self.customers),
        ):
            if object_id.startswith(prefix) and object_id in objects:
                return objects[object_id]
        raise _ApiError(
            404, "invalid_request_error", "resource_missing", f"No such object: '{object_id}'"
        )

    def _create_refund(self, params: dict[str, str]) -> dict:
        intent_id = params.get("payment_intent")
        if not intent_id:
            raise _missing("payment_intent")
        intent = self._object(self.payment_intents, intent_id, "payment_intent")
        if intent["status"] != "succeeded":
            raise _ApiError(
                400,
                "invalid_request_error",
                "charge_not_refundable",
                "This PaymentIntent does not have a successful charge to refund.",
            )
        left = intent["amount"] - intent.get("amount_refunded", 0)
        if left <= 0:
            raise _ApiError(
                400,
                "invalid_request_error",
                "charge_already_refunded",
                f"Charge {intent['latest_charge']} has already been refunded.",
            )
        amount = _integer(params, "amount") if "amount" in params else left
        if amount <= 0:
            raise _ApiError(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid positive integer",
                param="amount",
            )
        if amount > left:
            raise _ApiError(
                400,
                "invalid_request_error",
                "amount_too_large",
                f"Refund amount (${amount / 100:.2f}) is greater than unrefunded amount on "
                f"charge (${left / 100:.2f})",
                param="amount",
            )
        refund = {
            "id": _new_id("re_test_"),
            "object": "refund",
            "amount": amount,
            "charge": intent["latest_charge"],
            "created": int(time.time()),
            "currency": "usd",
            "metadata": _nested(params, "metadata"),
            "payment_intent": intent_id,
            "status": self.refund_status,
        }
        self._record_refund(refund)
        return dict(refund)

    def _record_refund(self, refund: dict) -> None:
        intent = self.payment_intents.get(refund["payment_intent"])
        if intent is not None and refund["status"] in ("succeeded", "pending"):
            intent["amount_refunded"] = intent.get("amount_refunded", 0) + refund["amount"]
        self.refunds[refund["id"]] = refund

    def _list_refunds(self, request: Recorded) -> dict:
        """GET /v1/refunds: newest first, `limit` (1-100, default 10) a page, paged with
        `starting_after` / `ending_before`, filtered by `payment_intent` or `charge`."""
        params = request.params
        limit = _integer(params, "limit") if "limit" in params else 10
        if not 1 <= limit <= 100:
            raise _ApiError(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "This value must be greater than or equal to 1 and less than or equal to 100.",
                param="limit",
            )
        found = list(reversed(self.refunds.values()))
        if "payment_intent" in params:
            self._object(self.payment_intents, params["payment_intent"], "payment_intent")
            found = [r for r in found if r["payment_intent"] == params["payment_intent"]]
        if "charge" in params:
            found = [r for r in found if r["charge"] == params["charge"]]
        ids = [r["id"] for r in found]
        if params.get("starting_after"):
            found = found[self._cursor(ids, params["starting_after"]) + 1 :]
            page, has_more = found[:limit], len(found) > limit
        elif params.get("ending_before"):
            found = found[: self._cursor(ids, params["ending_before"])]
            page, has_more = found[-limit:], len(found) > limit
        else:
            page, has_more = found[:limit], len(found) > limit
        return {
            "object": "list",
            "data": [dict(r) for r in page],
            "has_more": has_more,
            "url": "/v1/refunds",
        }

    def _list_payouts(self, params: dict[str, str]) -> dict:
        """GET /v1/payouts: newest first, filtered by `arrival_date[gte|lt]`, paged."""
        found = sorted(self.payouts.values(), key=lambda p: p["arrival_date"], reverse=True)
        if "arrival_date[gte]" in params:
            found = [p for p in found if p["arrival_date"] >= _integer(params, "arrival_date[gte]")]
        if "arrival_date[lt]" in params:
            found = [p for p in found if p["arrival_date"] < _integer(params, "arrival_date[lt]")]
        return _paged(found, params, "/v1/payouts")

    def _list_balance_transactions(self, params: dict[str, str]) -> dict:
        """GET /v1/balance_transactions?payout=...: the payout's lines, `source` expanded
        with `expand[]=data.source` (else its id), paged."""
        if "payout" not in params:
            raise _unknown("payout (this stub lists a payout's transactions only)")
        lines = self.payout_lines.get(params["payout"])
        if lines is None:
            raise _ApiError(
                404, "invalid_request_error", "resource_missing", "No such payout", "payout"
            )
        expanded = "data.source" in _listed(params, "expand")
        shown = []
        for line in lines:
            source = line["source"]
            if isinstance(source, dict) and not expanded:
                source = source["id"]
            shown.append({**line, "source": source})
        return _paged(shown, params, "/v1/balance_transactions")

    def _cursor(self, ids: list[str], refund_id: str) -> int:
        self._object(self.refunds, refund_id, "refund")
        return ids.index(refund_id) if refund_id in ids else -1

    def _session(self, session_id: str) -> dict:
        return self._object(self.sessions, session_id, "checkout.session")

    @staticmethod
    def _object(objects: dict[str, dict], object_id: str, kind: str) -> dict:
        if object_id not in objects:
            raise _ApiError(
                404, "invalid_request_error", "resource_missing", f"No such {kind}: '{object_id}'"
            )
        return objects[object_id]

    # -- the fake hosted checkout page ----------------------------------------------------

    def _hosted_page(self, method: str, session_id: str):
        with self._lock:
            session = dict(self.sessions.get(session_id) or {})
        if not session:
            return 404, {}, _page("Not found", "<p>There is no such checkout.</p>")
        if session["status"] != "open":
            return 410, {}, _page("Checkout closed", "<p>This checkout is no longer open.</p>")
        if method != "POST":
            amount = f"${session['amount_total'] / 100:,.2f}"
            cancel = html.escape(session["cancel_url"] or "/", quote=True)
            content = (
                f"<p>Amount: <strong>{amount}</strong></p>"
                f'<form method="post"><button type="submit">Pay</button></form>'
                f'<p><a href="{cancel}">Cancel</a></p>'
            )
            return 200, {}, _page("Stripe test checkout", content)
        try:
            paid = self.complete(session_id, paid=True)
        except ValueError:
            return 410, {}, _page("Checkout closed", "<p>This checkout is no longer open.</p>")
        if self.webhook_url:  # outside the lock: the portal may call the stub back
            self._deliver(event("checkout.session.completed", paid))
        location = paid["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return 303, {"Location": location}, b""

    # -- the fake hosted setup page -------------------------------------------------------

    def _setup_page(self, method: str, session_id: str, form: dict[str, str]):
        """GET: a form for a test card or the test bank account; POST `card=...` or
        `routing_number=...&account_number=...`: saved, and back to the success URL."""
        with self._lock:
            session = dict(self.sessions.get(session_id) or {})
        if not session or session.get("mode") != "setup":
            return 404, {}, _page("Not found", "<p>There is no such setup page.</p>")
        if session["status"] != "open":
            return 410, {}, _page("Setup closed", "<p>This page is no longer open.</p>")
        form_html = (
            '<form method="post"><label>Card number <input name="card"></label>'
            '<button type="submit">Save card</button></form>'
            '<form method="post"><label>Routing number <input name="routing_number"></label>'
            '<label>Account number <input name="account_number"></label>'
            '<button type="submit">Save bank account</button></form>'
        )
        if method != "POST":
            return 200, {}, _page("Stripe test setup", form_html)
        try:
            if "card" in form:
                self.complete_setup(session_id, card=form["card"])
            elif form.get("routing_number") == TEST_ROUTING_NUMBER:
                self.complete_setup(session_id, bank_account=form.get("account_number", ""))
            else:
                raise ValueError("Use the test routing number.")
        except ValueError as exc:
            error = f'<p role="alert">{html.escape(str(exc))}</p>'
            return 402, {}, _page("Stripe test setup", error + form_html)
        location = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)
        return 303, {"Location": location}, b""

    def _deliver(self, envelope: dict) -> None:
        payload = json.dumps(envelope).encode()
        request = urllib.request.Request(
            self.webhook_url or "",
            data=payload,
            method="POST",
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Stripe-Signature": sign(payload, self.webhook_secret),
                "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                status: int | str = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError as exc:
            status = f"error: {exc}"
        with self._lock:
            self.webhook_deliveries.append({"event": envelope, "status": status})


class _Handler(BaseHTTPRequestHandler):
    server: "_Server"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, payload = self.server.stub.handle(
            self.command, self.path, self.headers, body
        )
        if isinstance(payload, dict):
            data, content_type = json.dumps(payload).encode(), "application/json"
        else:
            data, content_type = payload, "text/html; charset=utf-8"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    stub: StripeStub


@contextmanager
def stripe_stub(webhook_secret: str = "whsec_test_stub") -> Iterator[StripeStub]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.stub = StripeStub(
        f"http://127.0.0.1:{server.server_port}", webhook_secret=webhook_secret
    )
    # shutdown() waits up to one poll interval, and every test that uses the stub pays it.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01})
    thread.daemon = True
    thread.start()
    try:
        yield server.stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _new_id(prefix: str, length: int = 14) -> str:
    return prefix + secrets.token_hex(length)


def _nested(params: dict[str, str], prefix: str) -> dict[str, str]:
    """`metadata[payment_id]=x` -> {"payment_id": "x"} for prefix "metadata"."""
    start = prefix + "["
    return {
        key[len(start) : -1]: value
        for key, value in params.items()
        if key.startswith(start) and key.endswith("]") and "[" not in key[len(start) : -1]
    }


def _paged(found: list[dict], params: dict[str, str], url: str) -> dict:
    """A list page: `limit` (1-100, default 10) after `starting_after`."""
    limit = _integer(params, "limit") if "limit" in params else 10
    if not 1 <= limit <= 100:
        raise _ApiError(400, "invalid_request_error", "parameter_invalid_integer", "limit", "limit")
    ids = [item["id"] for item in found]
    after = params.get("starting_after")
    if after:
        if after not in ids:
            raise _ApiError(404, "invalid_request_error", "resource_missing", "No such object")
        found = found[ids.index(after) + 1 :]
    return {"object": "list", "data": found[:limit], "has_more": len(found) > limit, "url": url}


def _integer(params: dict[str, str], name: str) -> int:
    value = params.get(name, "")
    if not (value.isascii() and value.isdigit()):
        raise _ApiError(
            400, "invalid_request_error", "parameter_invalid_integer", "Invalid integer", name
        )
    return int(value)


def _listed(params: dict[str, str], name: str) -> list[str]:
    """`expand[0]=a&expand[1]=b` -> ["a", "b"] for name "expand"."""
    values, index = [], 0
    while f"{name}[{index}]" in params:
        values.append(params[f"{name}[{index}]"])
        index += 1
    return values


def _unknown(name: str) -> _ApiError:
    return _ApiError(
        400,
        "invalid_request_error",
        "parameter_unknown",
        f"Received unknown parameter: {name}",
        name,
    )


def _missing(name: str) -> _ApiError:
    return _ApiError(
        400, "invalid_request_error", "parameter_missing", f"Missing required param: {name}.", name
    )


def _page(title: str, content: str) -> bytes:
    return (
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{content}</body></html>"
    ).encode()
