"""StripeGateway: Stripe Checkout for card payments (the only module that imports `stripe`).

Stripe sees an opaque payment id and a generic line ("Payment toward statements S-..., S-..."),
never a name, a code or a date of birth. Every POST carries an idempotency key derived
from what the portal asked for, so a retry (ours or the library's) acts once. The API
version is pinned here, not taken from the installed library, so upgrading the library
does not silently change the shape of what Stripe sends back.

The library is imported and the client built on the first call that needs them (then
reused while the function is warm), so a cold start that serves no payment pays for neither.
"""

import dataclasses
import json
import logging
import threading
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from portal.ports.payments import (
    CheckoutRequest,
    CheckoutSession,
    EventKind,
    GatewayError,
    GatewayEvent,
    RefundOutcome,
    WebhookRejected,
)

if TYPE_CHECKING:
    import stripe
    from stripe.params.checkout import SessionCreateParams

log = logging.getLogger(__name__)

# The API version of stripe 16.1.0 (stripe._api_version._ApiVersion.CURRENT), pinned.
API_VERSION = "2026-10-28.endive"
# Refunds that give money back or are on their way; failed and canceled ones give nothing.
REFUND_STATUSES_COUNTED = frozenset({"pending", "succeeded"})
REFUNDS_PER_PAGE = 100  # Stripe's largest page
# Stripe signs webhooks with the time it sent them; older than this is refused.
WEBHOOK_TOLERANCE_SECONDS = 300
MAX_NETWORK_RETRIES = 2
# (connect, read) seconds for one attempt; the library retries timeouts with the same key.
TIMEOUT_SECONDS = (5.0, 15.0)

UNAVAILABLE = (
    "The card processor is not answering; nothing was charged. Please try again in a few minutes."
)
NOT_AVAILABLE = (
    "Card payments are not available right now; nothing was charged. "
    "Please try again later or call the billing office."
)
CHECKOUT_CLOSED = (
    "This checkout is no longer open. If you did not finish paying, nothing was charged; "
    "please start the payment again."
)
FAILED_MESSAGE = "Your bank did not complete the payment, so nothing was taken."
EXPIRED_MESSAGE = "The checkout closed before the payment was made; nothing was charged."


class StripeGateway:
    name = "stripe"

    def __init__(self, secret_key: str, webhook_secret: str, api_base: str):
        # The webhook age check is the stripe library's own and reads the system time,
        # which is what Stripe signs with (not the services' clock).
        self._webhook_secret = webhook_secret
        self._secret_key = secret_key
        self._api_base = api_base
        self._stripe_client: stripe.StripeClient | None = None
        self._lock = threading.Lock()

    @property
    def _client(self) -> "stripe.StripeClient":
        """The Stripe client, made on first use and kept."""
        if self._stripe_client is None:
            with self._lock:
                if self._stripe_client is None:
                    import stripe

                    self._stripe_client = stripe.StripeClient(
                        self._secret_key,
                        stripe_version=API_VERSION,
                        base_addresses={"api": self._api_base.rstrip("/")},
                        max_network_retries=MAX_NETWORK_RETRIES,
                        http_client=stripe.RequestsClient(timeout=TIMEOUT_SECONDS),
                    )
        return self._stripe_client

    # -- checkout -------------------------------------------------------------------------

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        import stripe

        if request.amount_cents <= 0:
            raise ValueError("a checkout needs a positive amount")
        params = checkout_params(request)
        sessions = self._client.v1.checkout.sessions
        try:
            created = sessions.create(
                params=params,
                options={"idempotency_key": checkout_idempotency_key(request.payment_id)},
            )
            session = created.to_dict()
            if _replayed(created):
                # Stripe answers a repeated key with the first answer as it was then: ask
                # what the session has become since (paid or expired, it has no page).
                session = sessions.retrieve(session["id"]).to_dict()
        except stripe.CardError as exc:
            _log_error("create checkout", exc)
            raise GatewayError(exc.user_message or "Your card was declined.") from None
        except stripe.StripeError as exc:
            _log_error("create checkout", exc)
            raise GatewayError(_patient_message(exc)) from None
        if session.get("status") != "open" or not session.get("url"):
            log.warning("stripe checkout %s is %s, not open", session["id"], session.get("status"))
            raise GatewayError(CHECKOUT_CLOSED)
        return CheckoutSession(session["id"], session["url"])

    def checkout_outcome(self, session_id: str) -> GatewayEvent | None:
        import stripe

        try:
            session = self._client.v1.checkout.sessions.retrieve(session_id).to_dict()
        except stripe.StripeError as exc:
            _log_error("retrieve checkout", exc)
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                raise GatewayError("We could not find this checkout.") from None
            raise GatewayError(UNAVAILABLE if _unavailable(exc) else NOT_AVAILABLE) from None
        return outcome_from_session(session)

    # -- refunds --------------------------------------------------------------------------

    def refund(self, payment_id: str, reference: str, amount_cents: int, key: str) -> RefundOutcome:
        import stripe

        if amount_cents <= 0:
            raise GatewayError("The refund amount must be more than zero.")
        try:
            refund = self._client.v1.refunds.create(
                params={
                    "payment_intent": reference,
                    "amount": amount_cents,
                    "metadata": {"payment_id": payment_id, "request": key},
                },
                options={"idempotency_key": key},
            ).to_dict()
        except stripe.StripeError as exc:
            _log_error("refund", exc)
            if _unavailable(exc):
                raise GatewayError(
                    "Stripe is not answering, so the refund is not confirmed. Try again in a "
                    "few minutes: the same refund will not be made twice."
                ) from None
            if isinstance(exc, stripe.IdempotencyError):
                raise GatewayError(
                    "Stripe refused the refund: this refund was already asked for with "
                    "other details."
                ) from None
            detail = exc.user_message or type(exc).__name__
            raise GatewayError(f"Stripe refused the refund: {detail}") from None
        status = refund.get("status")
        if status in ("failed", "canceled"):
            log.warning("stripe refund %s came back %s", refund["id"], status)
            raise GatewayError(f"Stripe could not make the refund (it is {status}).")
        return RefundOutcome(refund["id"], _cents(refund.get("amount")) or amount_cents, key)

    def list_refunds(self, reference: str) -> list[RefundOutcome]:
        import stripe

        try:
            page = self._client.v1.refunds.list(
                params={"payment_intent": reference, "limit": REFUNDS_PER_PAGE}
            )
            refunds = [refund.to_dict() for refund in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            _log_error("list refunds", exc)
            raise GatewayError("Stripe could not list the payment's refunds.") from None
        return [
            RefundOutcome(
                refund["id"],
                _cents(refund.get("amount")),
                str((refund.get("metadata") or {}).get("request") or ""),
            )
            for refund in reversed(refunds)  # Stripe lists the newest first
            if refund.get("status") in REFUND_STATUSES_COUNTED and _cents(refund.get("amount"))
        ]

    # -- webhooks -------------------------------------------------------------------------

    def parse_webhook(self, payload: bytes, signature: str | None) -> GatewayEvent | None:
        """The event a signed notification reports, None when it is not about a portal
        payment; WebhookRejected when it is not provably from Stripe and recent."""
        import stripe

        if not signature:
            raise WebhookRejected("no Stripe-Signature header")
        try:
            stripe.WebhookSignature.verify_header(
                payload, signature, self._webhook_secret, tolerance=WEBHOOK_TOLERANCE_SECONDS
            )
        except stripe.SignatureVerificationError as exc:
            raise WebhookRejected(f"signature check failed: {exc.user_message}") from None
        except UnicodeDecodeError:
            raise WebhookRejected("the body is not UTF-8 text") from None
        try:
            data = json.loads(payload)
        except ValueError:
            raise WebhookRejected("the body is not JSON") from None
        if not isinstance(data, dict) or data.get("object") != "event":
            raise WebhookRejected("the body is not a Stripe event")
        event = event_from(data)
        if event is None or event.payment_id or not event.reference:
            return event
        # Disputes (and charges from before metadata was copied) name only the
        # PaymentIntent: its metadata says whether the payment is the portal's at all.
        payment_id = self._payment_id_of_intent(event.reference)
        return dataclasses.replace(event, payment_id=payment_id) if payment_id else None

    def _payment_id_of_intent(self, intent_id: str) -> str | None:
        import stripe

        try:
            intent = self._client.v1.payment_intents.retrieve(intent_id).to_dict()
        except stripe.InvalidRequestError as exc:
            if exc.http_status == 404:
                return None  # not on this Stripe account
            raise GatewayError("Stripe could not say whose payment this is.") from exc
        except stripe.StripeError as exc:
            raise GatewayError("The card processor is not answering.") from exc
        return (intent.get("metadata") or {}).get("payment_id") or None


# -- translation (pure functions) ---------------------------------------------------------


def checkout_idempotency_key(payment_id: str) -> str:
    return f"checkout-{payment_id}"


def checkout_params(request: CheckoutRequest) -> "SessionCreateParams":
    """What Stripe is told about a payment: the amount, a generic line, the portal's opaque
    payment id and where to send the patient back. Nothing else."""
    ids = {"payment_id": request.payment_id}
    return {
        "mode": "payment",
        "line_items": [
            {
                "price_data": {
                    "currency": "usd",
                    "unit_amount": request.amount_cents,
                    "product_data": {"name": request.description},
                },
                "quantity": 1,
            }
        ],
        "client_reference_id": request.payment_id,
        "metadata": dict(ids),
        "payment_intent_data": {"metadata": dict(ids)},
        "success_url": _with_query(request.success_url, "session_id={CHECKOUT_SESSION_ID}"),
        "cancel_url": request.cancel_url,
    }


def event_from(event: Mapping[str, Any]) -> GatewayEvent | None:
    """A Stripe event (the parsed webhook body) as a GatewayEvent; None for an event the
    portal does not act on or that is not about one of its payments."""
    kind = event.get("type")
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    if not isinstance(kind, str) or not isinstance(obj, Mapping):
        return None
    event_id = str(event.get("id") or "")
    if kind.startswith("checkout.session."):
        return _session_event(kind.removeprefix("checkout.session."), obj, event_id)
    if kind == "charge.refunded":
        return _refund_event(obj, event_id)
    if kind in ("charge.dispute.created", "charge.dispute.closed"):
        return _dispute_event(kind.removeprefix("charge.dispute."), obj, event_id)
    return None


def outcome_from_session(session: Mapping[str, Any]) -> GatewayEvent | None:
    """What a retrieved Checkout Session has come to; None while it is open."""
    status = session.get("status")
    if status == "complete":
        return _session_event("completed", session, "")
    if status == "expired":
        return _session_event("expired", session, "")
    return None


def _session_event(what: str, session: Mapping[str, Any], event_id: str) -> GatewayEvent | None:
    payment_id = _metadata(session).get("payment_id") or session.get("client_reference_id")
    if not payment_id or not isinstance(payment_id, str):
        return None  # a checkout some other integration on the account opened
    payment_status = session.get("payment_status")
    if what == "completed" and payment_status == "paid":
        kind, message = EventKind.PAYMENT_SUCCEEDED, ""
    elif what == "completed" and payment_status == "unpaid":
        kind, message = EventKind.PAYMENT_PROCESSING, ""
    elif what == "async_payment_succeeded":
        kind, message = EventKind.PAYMENT_SUCCEEDED, ""
    elif what == "async_payment_failed":
        kind, message = EventKind.PAYMENT_FAILED, FAILED_MESSAGE
    elif what == "expired":
        kind, message = EventKind.CHECKOUT_CANCELED, EXPIRED_MESSAGE
    else:
        return None
    return GatewayEvent(
        kind=kind,
        payment_id=payment_id,
        reference=_id_of(session.get("payment_intent")) or str(session.get("id") or ""),
        amount_cents=_cents_or_none(session.get("amount_total")),
        message=message,
        event_id=event_id,
        currency=_currency(session.get("currency")),
    )


def _refund_event(charge: Mapping[str, Any], event_id: str) -> GatewayEvent | None:
    reference = _id_of(charge.get("payment_intent"))
    if not reference:
        return None  # a charge made without Checkout: not the portal's
    return GatewayEvent(
        kind=EventKind.REFUNDED,
        # Stripe copies the PaymentIntent's metadata to its charge when it is confirmed.
        payment_id=str(_metadata(charge).get("payment_id") or ""),
        reference=reference,
        amount_cents=_cents(charge.get("amount_refunded")),  # cumulative, all refunds
        event_id=event_id,
    )


def _dispute_event(what: str, dispute: Mapping[str, Any], event_id: str) -> GatewayEvent | None:
    reference = _id_of(dispute.get("payment_intent"))
    if not reference:
        return None
    if what == "created":
        kind = EventKind.DISPUTE_OPENED
    elif dispute.get("status") == "won":
        kind = EventKind.DISPUTE_WON
    elif dispute.get("status") == "lost":
        kind = EventKind.DISPUTE_LOST
    else:
        return None  # e.g. warning_closed: an inquiry that never became a dispute
    return GatewayEvent(
        kind=kind,
        payment_id=str(_metadata(dispute).get("payment_id") or ""),
        reference=reference,
        amount_cents=_cents(dispute.get("amount")),
        event_id=event_id,
        dispute_id=str(dispute.get("id") or ""),
    )


def _metadata(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    metadata = obj.get("metadata")
    return metadata if isinstance(metadata, Mapping) else {}


def _id_of(value: Any) -> str:
    """An id field, whether Stripe sent the id or the expanded object."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) else ""


def _cents(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _cents_or_none(value: Any) -> int | None:
    """An amount Stripe may leave out: None when it did (not the same as 0)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _currency(value: Any) -> str:
    """Stripe's three-letter currency code, lower case; "" when it sent none."""
    return value.strip().lower() if isinstance(value, str) else ""


def _replayed(obj: Any) -> bool:
    response = getattr(obj, "last_response", None)
    headers = getattr(response, "headers", None) or {}
    return str(headers.get("idempotent-replayed", "")).lower() == "true"


def _with_query(url: str, query: str) -> str:
    return f"{url}{'&' if urlsplit(url).query else '?'}{query}"


# -- errors -------------------------------------------------------------------------------


def _unavailable(exc: "stripe.StripeError") -> bool:
    """Stripe could not be reached or failed on its side (after the library's retries)."""
    import stripe

    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    return isinstance(exc, stripe.APIError) or (exc.http_status or 0) >= 500


def _patient_message(exc: "stripe.StripeError") -> str:
    return UNAVAILABLE if _unavailable(exc) else NOT_AVAILABLE


def _log_error(operation: str, exc: "stripe.StripeError") -> None:
    """The error's kind and Stripe's request id, never what was sent."""
    body = exc.json_body if isinstance(exc.json_body, dict) else {}
    found = body.get("error")
    error = found if isinstance(found, dict) else {}
    log.warning(
        "stripe %s failed: %s type=%s code=%s status=%s request_id=%s",
        operation,
        type(exc).__name__,
        error.get("type"),
        exc.code or error.get("code"),
        exc.http_status,
        exc.request_id,
    )
