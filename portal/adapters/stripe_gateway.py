"""StripeGateway: Stripe Checkout for card payments, and payment methods saved on Checkout's
setup page and charged off-session (the only module that imports `stripe`).

Stripe sees an opaque payment id and a generic line ("Payment toward statements S-..., S-..."),
never a name, a code or a date of birth; a Customer made for a saved method carries only
the plan's opaque id. Every POST carries an idempotency key derived from what the portal
asked for, so a retry (ours or the library's) acts once (a setup page, which charges
nothing, is opened anew each time it is asked for). The API
version is pinned here, not taken from the installed library, so upgrading the library
does not silently change the shape of what Stripe sends back.

The library is imported and the client built on the first call that needs them (then
reused while the function is warm), so a cold start that serves no payment pays for neither.
"""

import dataclasses
import json
import logging
import secrets
import threading
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from portal.domain.payouts import (
    CHARGE,
    DISPUTE,
    FEE,
    OTHER,
    REFUND,
    BalanceTransaction,
    Payout,
)
from portal.domain.plans import Outcome, SavedMethod
from portal.ports.payments import (
    SESSION_PLACEHOLDER,
    ChargeResult,
    CheckoutRequest,
    CheckoutSession,
    EventKind,
    GatewayError,
    GatewayEvent,
    OffSessionCharge,
    RefundOutcome,
    SetupRequest,
    SetupSession,
    WebhookRejected,
)

if TYPE_CHECKING:
    import stripe
    from stripe.params import PaymentIntentCreateParams
    from stripe.params.checkout import SessionCreateParams

log = logging.getLogger(__name__)

# The API version of stripe 16.1.0 (stripe._api_version._ApiVersion.CURRENT), pinned.
API_VERSION = "2026-10-28.endive"
# Refunds that give money back or are on their way; failed and canceled ones give nothing.
REFUND_STATUSES_COUNTED = frozenset({"pending", "succeeded"})
REFUNDS_PER_PAGE = 100  # Stripe's largest page
LIST_PAGE = 100  # payouts and balance transactions a page (Stripe's largest)
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

# -- saved methods
# The methods a plan may save: both are charged without sending the patient anywhere.
SAVED_METHOD_TYPES = ("card", "us_bank_account")
# Marks the PaymentIntents the portal confirms off-session, whose own events report their
# outcome (a Checkout payment's outcome comes from its session's events instead).
OFF_SESSION_MARK = "portal_off_session"
SETUP_UNAVAILABLE = (
    "The card processor is not answering, so nothing was saved. Please try again in a few minutes."
)
SETUP_NOT_AVAILABLE = (
    "Saving a payment method is not available right now. Please try again later or call "
    "the billing office."
)
SETUP_NOT_FOUND = "We could not find this page for saving a payment method; please start again."
SETUP_OTHER_PURPOSE = "This payment method was saved for another plan; please start again."
SETUP_EXPIRED = (
    "The page for saving a payment method closed before one was saved; nothing was saved. "
    "Please start again."
)
SETUP_UNVERIFIED = (
    "Your bank account is not verified yet, so it cannot be used. Please start again and "
    "choose another payment method, or verify the account first."
)
SETUP_UNUSABLE = (
    "That kind of payment method cannot be used here; please choose a card or bank account."
)
CHARGE_UNAVAILABLE = "The card processor is not answering; the charge is not confirmed."
CHARGE_REFUSED = "The card processor refused the charge"
CHARGE_NOT_FOUND = "The card processor has no charge with this reference."
PROCESSING_MESSAGE = (
    "The payment from your bank account is on its way; it takes a few business days."
)
AUTHENTICATION_MESSAGE = (
    "Your bank asks you to confirm this payment yourself, so nothing was charged. "
    "Please pay it on the portal."
)
DECLINED_MESSAGE = "Your card was declined."
HARD_DECLINED_MESSAGE = (
    "Your payment method was declined and cannot be charged again; please choose another."
)
# Decline codes (cards) and failure codes (bank debits) that will not work on a later try.
HARD_DECLINES = frozenset(
    {
        "lost_card",
        "stolen_card",
        "pickup_card",
        "expired_card",
        "incorrect_number",
        "invalid_number",
        "invalid_account",
        "card_not_supported",
        "restricted_card",
        "fraudulent",
        "merchant_blacklist",
        "do_not_try_again",
        "do_not_honor_no_retry",
        "revocation_of_all_authorizations",
        "revocation_of_authorization",
        "stop_payment_order",
        "transaction_not_allowed",
        "currency_not_supported",
        "new_account_information_available",
        "security_violation",
        # ACH returns
        "account_closed",
        "no_account",
        "invalid_account_number",
        "bank_account_restricted",
        "bank_account_frozen",
        "debit_not_authorized",
        "bank_account_unusable",
    }
)
# Failures of a bank debit, in words for the patient.
DEBIT_RETURNED = "Your bank returned the payment."
DEBIT_FAILURES = {
    "insufficient_funds": "Your bank returned the payment: the account did not have enough money.",
    "account_closed": "Your bank returned the payment: the account is closed.",
    "no_account": "Your bank returned the payment: the account was not found.",
    "debit_not_authorized": "Your bank returned the payment as not authorized.",
}


class StripeGateway:
    name = "stripe"
    pays_out = True

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

    # -- payouts --------------------------------------------------------------------------

    def payouts(self, arrived_from: date, arrived_before: date) -> list[Payout]:
        import stripe

        window = {"gte": _epoch(arrived_from), "lt": _epoch(arrived_before)}
        try:
            page = self._client.v1.payouts.list(
                params={"arrival_date": window, "limit": LIST_PAGE}  # type: ignore[arg-type]
            )
            found = [p.to_dict() for p in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            _log_error("list payouts", exc)
            raise GatewayError("Stripe could not list the payouts.") from None
        payouts = [payout_of(p) for p in found]
        return sorted(payouts, key=lambda p: (p.arrival_date, p.payout_id))

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        import stripe

        try:
            page = self._client.v1.balance_transactions.list(
                params={"payout": payout_id, "limit": LIST_PAGE, "expand": ["data.source"]}
            )
            found = [t.to_dict() for t in page.auto_paging_iter()]
        except stripe.StripeError as exc:
            _log_error("list a payout's balance transactions", exc)
            raise GatewayError("Stripe could not list the payout's lines.") from None
        return [line for t in found if (line := balance_line(t)) is not None]

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
        if event is None or event.payment_id or event.payout or not event.reference:
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

    # -- saved methods --------------------------------------------------------------------

    def create_setup(self, request: SetupRequest) -> SetupSession:
        """Checkout in setup mode for a Customer that carries only the plan's id."""
        import stripe

        try:
            customer_id = request.customer_id or self._new_customer(request.purpose_id)
            session = self._client.v1.checkout.sessions.create(
                params=setup_params(request, customer_id),
                options={"idempotency_key": f"setup-{request.purpose_id}-{secrets.token_hex(8)}"},
            ).to_dict()
        except stripe.StripeError as exc:
            _log_error("create setup", exc)
            raise GatewayError(
                SETUP_UNAVAILABLE if _unavailable(exc) else SETUP_NOT_AVAILABLE
            ) from None
        if session.get("status") != "open" or not session.get("url"):
            log.warning("stripe setup %s is %s, not open", session["id"], session.get("status"))
            raise GatewayError(SETUP_NOT_AVAILABLE)
        return SetupSession(session["id"], session["url"])

    def _new_customer(self, purpose_id: str) -> str:
        customer = self._client.v1.customers.create(
            params={"metadata": {"portal_plan": purpose_id}},
            options={"idempotency_key": f"customer-{purpose_id}"},
        )
        return str(customer.id)

    def setup_outcome(self, session_id: str, purpose_id: str | None = None) -> SavedMethod | None:
        import stripe

        try:
            session = self._client.v1.checkout.sessions.retrieve(
                session_id, params={"expand": ["setup_intent.payment_method"]}
            ).to_dict()
        except stripe.StripeError as exc:
            _log_error("retrieve setup", exc)
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                raise GatewayError(SETUP_NOT_FOUND) from None
            raise GatewayError(
                SETUP_UNAVAILABLE if _unavailable(exc) else SETUP_NOT_AVAILABLE
            ) from None
        return method_from_session(session, purpose_id)

    def charge_saved(self, charge: OffSessionCharge) -> ChargeResult:
        import stripe

        if charge.amount_cents <= 0:
            raise ValueError("a charge needs a positive amount")
        try:
            intent = self._client.v1.payment_intents.create(
                params=off_session_params(charge), options={"idempotency_key": charge.key}
            ).to_dict()
        except stripe.CardError as exc:
            # Declined (or the bank wants the patient): Stripe made the PaymentIntent, and
            # the error carries it.
            found = exc.error.payment_intent if exc.error else None
            reference = str(found.id) if found is not None else ""
            outcome, message = decline_of(
                exc.code, _decline_code(exc), exc.user_message, charge.method.kind != "card"
            )
            log.info(
                "stripe off-session charge %s declined: code=%s decline_code=%s",
                reference,
                exc.code,
                _decline_code(exc),
            )
            return ChargeResult(outcome, reference, charge.amount_cents, message)
        except stripe.StripeError as exc:
            _log_error("charge saved method", exc)
            if _unavailable(exc):
                raise GatewayError(CHARGE_UNAVAILABLE) from None
            detail = exc.user_message or type(exc).__name__
            raise GatewayError(f"{CHARGE_REFUSED}: {detail}") from None
        return result_of_intent(intent)

    def charge_status(self, reference: str) -> ChargeResult:
        import stripe

        try:
            intent = self._client.v1.payment_intents.retrieve(reference).to_dict()
        except stripe.StripeError as exc:
            _log_error("retrieve charge", exc)
            if isinstance(exc, stripe.InvalidRequestError) and exc.http_status == 404:
                raise GatewayError(CHARGE_NOT_FOUND) from None
            raise GatewayError(
                CHARGE_UNAVAILABLE if _unavailable(exc) else f"{CHARGE_REFUSED}."
            ) from None
        return result_of_intent(intent)


# -- translation (pure functions) ---------------------------------------------------------


def checkout_idempotency_key(payment_id: str) -> str:
    return f"checkout-{payment_id}"


# The languages Checkout's page is written in (Stripe's `locale` values) that a portal
# language maps to; any other opens as the patient's browser is set ("auto").
CHECKOUT_LOCALES = frozenset(
    [
        "bg",
        "cs",
        "da",
        "de",
        "el",
        "en",
        "es",
        "et",
        "fi",
        "fil",
        "fr",
        "hr",
        "hu",
        "id",
        "it",
        "ja",
        "ko",
        "lt",
        "lv",
        "ms",
        "mt",
        "nb",
        "nl",
        "pl",
        "pt",
        "ro",
        "ru",
        "sk",
        "sl",
        "sv",
        "th",
        "tr",
        "vi",
        "zh",
    ]
)


def checkout_locale(language: str) -> Any:
    """Checkout's `locale` for the portal's language: the same language, else "auto" (typed
    Any: Stripe's typed parameters list the locales as a Literal)."""
    base = language.split("-")[0].split("_")[0].lower()
    return base if base in CHECKOUT_LOCALES else "auto"


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
        "locale": checkout_locale(request.language),
    }


def setup_params(request: SetupRequest, customer_id: str) -> "SessionCreateParams":
    """Checkout in setup mode: the Customer, the plan's opaque id, where to send the patient
    back. A bank account must be verified on the page (instantly, through the patient's
    bank), so a completed page has saved a method that can be charged."""
    return {
        "mode": "setup",
        "customer": customer_id,
        "currency": "usd",
        "allowed_payment_method_types": list(SAVED_METHOD_TYPES),
        "payment_method_options": {"us_bank_account": {"verification_method": "instant"}},
        "metadata": {"plan_id": request.purpose_id},
        "setup_intent_data": {"metadata": {"plan_id": request.purpose_id}},
        "success_url": setup_success_url(request.success_url),
        "cancel_url": request.cancel_url,
        "locale": checkout_locale(request.language),
    }


def setup_success_url(url: str) -> str:
    """Where Stripe sends the patient back, with the session's id: in the caller's
    `{CHECKOUT_SESSION_ID}`, or in `session_id` when the caller left none."""
    return (
        url if SESSION_PLACEHOLDER in url else _with_query(url, f"session_id={SESSION_PLACEHOLDER}")
    )


def off_session_params(charge: OffSessionCharge) -> "PaymentIntentCreateParams":
    """A PaymentIntent confirmed at once with the patient away: the amount, a generic line,
    the portal's opaque payment id, the saved method and its Customer. Nothing else."""
    return {
        "amount": charge.amount_cents,
        "currency": "usd",
        "customer": charge.method.customer_id,
        "payment_method": charge.method.method_id,
        "allowed_payment_method_types": [charge.method.kind],
        "off_session": True,
        "confirm": True,
        "description": charge.description,
        "metadata": {"payment_id": charge.payment_id, OFF_SESSION_MARK: "true"},
    }


def method_from_session(
    session: Mapping[str, Any], purpose_id: str | None = None
) -> SavedMethod | None:
    """The method a retrieved setup-mode Checkout Session saved (its SetupIntent and
    PaymentMethod expanded); None while it is open; GatewayError otherwise."""
    plan_id = _metadata(session).get("plan_id")
    if session.get("mode") != "setup" or not plan_id:
        raise GatewayError(SETUP_NOT_FOUND)
    if purpose_id is not None and plan_id != purpose_id:
        raise GatewayError(SETUP_OTHER_PURPOSE)
    status = session.get("status")
    if status == "open":
        return None
    if status != "complete":
        raise GatewayError(SETUP_EXPIRED)
    intent = session.get("setup_intent")
    intent = intent if isinstance(intent, Mapping) else {}
    if intent.get("status") != "succeeded":
        log.warning("stripe setup %s completed with its intent %s", session.get("id"), intent)
        raise GatewayError(SETUP_UNVERIFIED)
    method = intent.get("payment_method")
    method = method if isinstance(method, Mapping) else {}
    kind = method.get("type")
    details = method.get(kind) if isinstance(kind, str) else None
    customer = _id_of(session.get("customer")) or _id_of(intent.get("customer"))
    if kind not in SAVED_METHOD_TYPES or not isinstance(details, Mapping) or not customer:
        raise GatewayError(SETUP_UNUSABLE)
    brand = details.get("brand") if kind == "card" else details.get("bank_name")
    return SavedMethod(
        method_id=str(method.get("id") or ""),
        customer_id=customer,
        kind=str(kind),
        brand=str(brand or ""),
        last4=str(details.get("last4") or ""),
    )


def result_of_intent(intent: Mapping[str, Any]) -> ChargeResult:
    """What an off-session PaymentIntent has come to."""
    status = intent.get("status")
    reference = str(intent.get("id") or "")
    amount = _cents(intent.get("amount"))
    if status == "succeeded":
        return ChargeResult(
            Outcome.SUCCEEDED, reference, _cents(intent.get("amount_received")) or amount
        )
    if status == "processing":
        return ChargeResult(Outcome.PROCESSING, reference, amount, PROCESSING_MESSAGE)
    if status == "requires_action":
        return ChargeResult(Outcome.NEEDS_AUTHENTICATION, reference, amount, AUTHENTICATION_MESSAGE)
    error = intent.get("last_payment_error")
    error = error if isinstance(error, Mapping) else {}
    outcome, message = decline_of(
        error.get("code"), error.get("decline_code"), error.get("message"), _paid_by_bank(intent)
    )
    return ChargeResult(outcome, reference, amount, message)


def decline_of(code: Any, decline_code: Any, message: Any, bank: bool) -> tuple[Outcome, str]:
    """A decline's outcome and the patient's message, from Stripe's codes (a card's decline
    code, or a bank debit's failure code) and Stripe's own message for the customer."""
    codes = {c for c in (code, decline_code) if isinstance(c, str)}
    if "authentication_required" in codes:
        return Outcome.NEEDS_AUTHENTICATION, AUTHENTICATION_MESSAGE
    if bank:  # Stripe's words for a returned debit are for the merchant, not the patient
        text = next((DEBIT_FAILURES[c] for c in sorted(codes) if c in DEBIT_FAILURES), None)
        text = text or DEBIT_RETURNED
    elif isinstance(message, str) and message:
        text = message
    else:
        text = DECLINED_MESSAGE
    if codes & HARD_DECLINES:
        return Outcome.HARD_DECLINE, HARD_DECLINED_MESSAGE if text == DECLINED_MESSAGE else text
    return Outcome.SOFT_DECLINE, text


def _paid_by_bank(obj: Mapping[str, Any]) -> bool:
    """Whether a PaymentIntent or Charge is a bank debit (its failures are bank returns)."""
    error = obj.get("last_payment_error")
    method = error.get("payment_method") if isinstance(error, Mapping) else None
    details = obj.get("payment_method_details")
    types = obj.get("payment_method_types")
    return (
        (isinstance(method, Mapping) and method.get("type") == "us_bank_account")
        or (isinstance(details, Mapping) and details.get("type") == "us_bank_account")
        or types == ["us_bank_account"]
    )


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
    if kind in INTENT_EVENTS:
        return _intent_event(INTENT_EVENTS[kind], obj, event_id)
    if kind == "charge.failed":
        return _charge_failed_event(obj, event_id)
    if kind in PAYOUT_EVENTS and obj.get("id") and obj.get("arrival_date"):
        payout = payout_of(obj)
        return GatewayEvent(
            kind=PAYOUT_EVENTS[kind],
            payment_id="",
            reference=payout.payout_id,
            amount_cents=payout.amount_cents,
            event_id=event_id,
            currency=_currency(obj.get("currency")),
            payout=payout,
        )
    return None


PAYOUT_EVENTS = {
    "payout.paid": EventKind.PAYOUT_PAID,
    "payout.reconciliation_completed": EventKind.PAYOUT_RECONCILED,
}


def payout_of(p: Mapping[str, Any]) -> Payout:
    return Payout(
        str(p["id"]),
        _cents(p.get("amount")),
        datetime.fromtimestamp(int(p["arrival_date"]), UTC).date(),
        str(p.get("status") or ""),
    )


# An off-session PaymentIntent's events (a Checkout payment's own are not acted on: its
# session's events report it).
INTENT_EVENTS = {
    "payment_intent.succeeded": EventKind.PAYMENT_SUCCEEDED,
    "payment_intent.processing": EventKind.PAYMENT_PROCESSING,
    "payment_intent.payment_failed": EventKind.PAYMENT_FAILED,
}


def _off_session_payment(obj: Mapping[str, Any]) -> str:
    """The portal's payment id of an off-session charge the portal made; "" otherwise."""
    metadata = _metadata(obj)
    payment_id = metadata.get("payment_id")
    if metadata.get(OFF_SESSION_MARK) != "true" or not isinstance(payment_id, str):
        return ""
    return payment_id


def _intent_event(kind: EventKind, intent: Mapping[str, Any], event_id: str) -> GatewayEvent | None:
    payment_id = _off_session_payment(intent)
    reference = _id_of(intent.get("id"))
    if not payment_id or not reference:
        return None
    result = result_of_intent(intent)
    if kind is EventKind.PAYMENT_SUCCEEDED:
        amount = _cents_or_none(intent.get("amount_received"))
    else:
        amount = _cents_or_none(intent.get("amount"))
    return GatewayEvent(
        kind=kind,
        payment_id=payment_id,
        reference=reference,
        amount_cents=amount,
        message=result.message if kind is EventKind.PAYMENT_FAILED else "",
        event_id=event_id,
        currency=_currency(intent.get("currency")),
    )


def _charge_failed_event(charge: Mapping[str, Any], event_id: str) -> GatewayEvent | None:
    """A charge of an off-session payment that failed: a card declined, or a bank debit
    returned (even after its PaymentIntent had succeeded)."""
    payment_id = _off_session_payment(charge)
    reference = _id_of(charge.get("payment_intent"))
    if not payment_id or not reference:
        return None
    _, message = decline_of(
        charge.get("failure_code"), None, charge.get("failure_message"), _paid_by_bank(charge)
    )
    return GatewayEvent(
        kind=EventKind.PAYMENT_FAILED,
        payment_id=payment_id,
        reference=reference,
        amount_cents=_cents_or_none(charge.get("amount")),
        message=message,
        event_id=event_id,
        currency=_currency(charge.get("currency")),
    )


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


# A payout's lines by Stripe's balance transaction type (the payout itself is left out).
_CATEGORIES = {
    "charge": CHARGE,
    "payment": CHARGE,
    "refund": REFUND,
    "payment_refund": REFUND,
    "adjustment": DISPUTE,  # a dispute's withdrawal or reinstatement
    "stripe_fee": FEE,
    "application_fee": FEE,
    "tax": FEE,
}


def balance_line(t: Mapping[str, Any]) -> BalanceTransaction | None:
    """A payout's line from a balance transaction (its source expanded), None for the
    payout's own transaction."""
    kind = str(t.get("type") or "")
    if kind in ("payout", "payout_cancel", "payout_failure"):
        return None
    source = t.get("source")
    reference = None
    source_id = ""
    if isinstance(source, Mapping):
        source_id = str(source.get("id") or "")
        reference = _id_of(source.get("payment_intent")) or None
    elif isinstance(source, str):
        source_id = source
    category = _CATEGORIES.get(kind, OTHER)
    if kind == "adjustment" and not str(source_id).startswith("du_"):
        category = OTHER
    return BalanceTransaction(
        str(t["id"]),
        category,
        _cents(t.get("amount")),
        _cents(t.get("fee")),
        _cents(t.get("net")),
        reference if category != FEE else None,
        source_id,
    )


def _epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


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


def _decline_code(exc: "stripe.StripeError") -> str | None:
    return exc.error.decline_code if exc.error else None


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
