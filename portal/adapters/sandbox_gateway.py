"""SandboxGateway: the local stand-in for a hosted card checkout and for the processor's
page that saves a payment method (test cards and Stripe's test bank account only).

Every id it hands out is a signed token carrying what it needs, so the sandbox keeps no
state of its own and nothing it issued can be tampered with: the checkout session (payment
id, amount, return addresses), the setup session (plan id, return addresses, customer),
the completed setup session (the saved method), the saved method (what a charge of it
does, the brand and the last four; never the full number) and an off-session charge's
reference (what it came to, derived from its idempotency key, so the same key is the same
charge).
"""

import hashlib
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadSignature, URLSafeSerializer

from portal.domain.payouts import BalanceTransaction, Payout
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
from portal.ports.sandbox import (
    SETUP_CARDS,
    SETUP_DECLINED,
    TEST_BANK_ACCOUNTS,
    TEST_BANK_NAME,
    TEST_CARDS,
    TEST_ROUTING_NUMBER,
    CardDeclined,
    SandboxSession,
    SandboxSetupSession,
    UnknownSession,
)

SETUP_PREFIX = "cs_sbx_setup_"
METHOD_PREFIX = "pm_sbx_"
CHARGE_PREFIX = "pi_sbx_"
CARD_BRAND = "visa"  # every test card number the sandbox takes is a Visa

NOT_A_SETUP = "We could not find this page for saving a payment method; please start again."
OTHER_PURPOSE = "This payment method was saved for another plan; please start again."
NOT_A_METHOD = "This saved payment method is not one the sandbox issued."
NOT_THE_CUSTOMERS = "This saved payment method does not belong to this customer."
NOT_A_CHARGE = "The sandbox made no charge with this reference."
# What each saved method's charge comes to: (outcome, message for the patient).
CHARGED = {
    "succeeds": (Outcome.SUCCEEDED, ""),
    "authenticate": (
        Outcome.NEEDS_AUTHENTICATION,
        "Your bank asks you to confirm this payment yourself, so nothing was charged. "
        "Please pay it on the portal.",
    ),
    "declines": (Outcome.SOFT_DECLINE, "Your card was declined."),
}
DEBIT_PROCESSING = "The payment from your bank account is on its way; it takes a few business days."
# What a bank debit comes to when it settles.
SETTLED = {
    "settles": (Outcome.SUCCEEDED, ""),
    "insufficient-funds": (
        Outcome.SOFT_DECLINE,
        "Your bank returned the payment: the account did not have enough money.",
    ),
    "account-closed": (
        Outcome.HARD_DECLINE,
        "Your bank returned the payment: the account is closed. Please choose another "
        "payment method.",
    ),
}


class SandboxGateway:
    name = "sandbox"
    pays_out = False

    def __init__(self, secret_key: str, base_url: str):
        self._signer = URLSafeSerializer(secret_key, salt="sandbox-checkout")
        self._setups = URLSafeSerializer(secret_key, salt="sandbox-setup")
        self._methods = URLSafeSerializer(secret_key, salt="sandbox-method")
        self._charges = URLSafeSerializer(secret_key, salt="sandbox-charge")
        self._base_url = base_url.rstrip("/")

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        session_id = "cs_sbx_" + self._signer.dumps(
            [
                request.payment_id,
                request.amount_cents,
                request.description,
                request.success_url,
                request.cancel_url,
            ]
        )
        return CheckoutSession(session_id, f"{self._base_url}/sandbox/checkout/{session_id}")

    def checkout_outcome(self, session_id: str) -> GatewayEvent | None:
        """The sandbox page applies its outcome itself before it sends the patient back."""
        return None

    def refund(self, payment_id: str, reference: str, amount_cents: int, key: str) -> RefundOutcome:
        """Locally a refund always goes through (the service calls it once per request)."""
        refund_id = "re_sbx_" + hashlib.sha256(key.encode()).hexdigest()[:24]
        return RefundOutcome(refund_id, amount_cents, key)

    def list_refunds(self, reference: str) -> list[RefundOutcome]:
        """The sandbox keeps no refunds (and sends no refund notifications to ask about)."""
        return []

    def payouts(self, arrived_from: date, arrived_before: date) -> list[Payout]:
        """The sandbox pays nothing out (its payments are make-believe)."""
        return []

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        return []

    def parse_webhook(self, payload: bytes, signature: str | None) -> GatewayEvent | None:
        """The sandbox sends no notifications: its page applies each outcome itself."""
        raise WebhookRejected("the sandbox gateway sends no notifications")

    def open_session(self, session_id: str) -> SandboxSession:
        try:
            payment_id, amount, description, success, cancel = self._signer.loads(
                session_id.removeprefix("cs_sbx_")
            )
        except (BadSignature, ValueError, TypeError) as exc:
            raise UnknownSession(session_id) from exc
        return SandboxSession(session_id, payment_id, amount, description, success, cancel)

    def charge(self, session: SandboxSession, card_number: str) -> GatewayEvent:
        """Charge a test card: the event to post, or CardDeclined with the reason."""
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if digits not in TEST_CARDS:
            raise CardDeclined("This is a test page: use one of the test card numbers shown.")
        if reason := TEST_CARDS[digits]:
            raise CardDeclined(reason)
        return GatewayEvent(
            kind=EventKind.PAYMENT_SUCCEEDED,
            payment_id=session.payment_id,
            reference=_reference(session.session_id),
            amount_cents=session.amount_cents,
            currency="usd",
        )

    def cancel(self, session: SandboxSession) -> GatewayEvent:
        return GatewayEvent(
            kind=EventKind.CHECKOUT_CANCELED,
            payment_id=session.payment_id,
            reference=_reference(session.session_id),
            message="You left the checkout page; nothing was charged.",
        )

    # -- saved methods --------------------------------------------------------------------

    def create_setup(self, request: SetupRequest) -> SetupSession:
        customer_id = request.customer_id or _customer_for(request.purpose_id)
        success = request.success_url
        if SESSION_PLACEHOLDER not in success:  # as Stripe's gateway asks for it
            success += f"{'&' if urlsplit(success).query else '?'}session_id={SESSION_PLACEHOLDER}"
        token = self._setups.dumps(
            ["open", request.purpose_id, success, request.cancel_url, customer_id]
        )
        session_id = SETUP_PREFIX + token
        return SetupSession(session_id, f"{self._base_url}/sandbox/setup/{session_id}")

    def setup_outcome(self, session_id: str, purpose_id: str | None = None) -> SavedMethod | None:
        """None for the open session (the sandbox's page has no expiry); the saved method
        for the completed session's id its page sent the patient back with."""
        state, purpose, *rest = self._setup_token(session_id)
        if purpose_id is not None and purpose != purpose_id:
            raise GatewayError(OTHER_PURPOSE)
        if state == "open":
            return None
        return self._method(rest[0])[0]

    def open_setup(self, session_id: str) -> SandboxSetupSession:
        try:
            state, purpose, success, cancel, customer = self._setup_token(session_id)
        except (GatewayError, ValueError) as exc:
            raise UnknownSession(session_id) from exc
        if state != "open":
            raise UnknownSession(session_id)
        return SandboxSetupSession(session_id, purpose, success, cancel, customer)

    def save_card(self, session: SandboxSetupSession, card_number: str) -> str:
        digits = "".join(ch for ch in card_number if ch.isdigit())
        if digits not in SETUP_CARDS:
            raise CardDeclined("This is a test page: use one of the test card numbers shown.")
        behaviour = SETUP_CARDS[digits]
        if behaviour is None:
            raise CardDeclined(SETUP_DECLINED)
        return self._completed(session, "card", CARD_BRAND, digits[-4:], behaviour)

    def save_bank_account(
        self, session: SandboxSetupSession, routing_number: str, account_number: str
    ) -> str:
        routing = "".join(ch for ch in routing_number if ch.isdigit())
        account = "".join(ch for ch in account_number if ch.isdigit())
        if routing != TEST_ROUTING_NUMBER or account not in TEST_BANK_ACCOUNTS:
            raise CardDeclined(
                "This is a test page: use the test routing and account numbers shown."
            )
        behaviour = TEST_BANK_ACCOUNTS[account]
        return self._completed(session, "us_bank_account", TEST_BANK_NAME, account[-4:], behaviour)

    def charge_saved(self, charge: OffSessionCharge) -> ChargeResult:
        if charge.amount_cents <= 0:
            raise ValueError("a charge needs a positive amount")
        method, behaviour = self._method(charge.method.method_id)
        if method.customer_id != charge.method.customer_id:
            raise GatewayError(NOT_THE_CUSTOMERS)
        key = hashlib.sha256(charge.key.encode()).hexdigest()[:24]
        reference = CHARGE_PREFIX + self._charges.dumps(
            [key, method.kind, behaviour, charge.amount_cents]
        )
        return _charged(reference, method.kind, behaviour, charge.amount_cents)

    def charge_status(self, reference: str) -> ChargeResult:
        try:
            _key, kind, behaviour, amount = self._charges.loads(
                reference.removeprefix(CHARGE_PREFIX)
            )
        except (BadSignature, ValueError, TypeError) as exc:
            raise GatewayError(NOT_A_CHARGE) from exc
        if kind == "us_bank_account":
            outcome, message = SETTLED.get(behaviour, SETTLED["settles"])
            return ChargeResult(outcome, reference, amount, message)
        return _charged(reference, kind, behaviour, amount)

    def _completed(
        self, session: SandboxSetupSession, kind: str, brand: str, last4: str, behaviour: str
    ) -> str:
        method_id = METHOD_PREFIX + self._methods.dumps(
            [session.customer_id, kind, brand, last4, behaviour]
        )
        return SETUP_PREFIX + self._setups.dumps(["done", session.purpose_id, method_id])

    def _setup_token(self, session_id: str) -> list[Any]:
        if not session_id.startswith(SETUP_PREFIX):
            raise GatewayError(NOT_A_SETUP)
        try:
            found = self._setups.loads(session_id.removeprefix(SETUP_PREFIX))
        except (BadSignature, ValueError, TypeError) as exc:
            raise GatewayError(NOT_A_SETUP) from exc
        if not isinstance(found, list) or len(found) < 3 or found[0] not in ("open", "done"):
            raise GatewayError(NOT_A_SETUP)
        return found

    def _method(self, method_id: str) -> tuple[SavedMethod, str]:
        """The saved method a method id stands for, and what a charge of it does."""
        try:
            customer, kind, brand, last4, behaviour = self._methods.loads(
                method_id.removeprefix(METHOD_PREFIX)
            )
        except (BadSignature, ValueError, TypeError) as exc:
            raise GatewayError(NOT_A_METHOD) from exc
        return SavedMethod(method_id, customer, kind, brand, last4), behaviour


def _customer_for(purpose_id: str) -> str:
    return "cus_sbx_" + hashlib.sha256(purpose_id.encode()).hexdigest()[:24]


def _charged(reference: str, kind: str, behaviour: str, amount_cents: int) -> ChargeResult:
    if kind == "us_bank_account":
        return ChargeResult(Outcome.PROCESSING, reference, amount_cents, DEBIT_PROCESSING)
    outcome, message = CHARGED.get(behaviour, CHARGED["declines"])
    return ChargeResult(outcome, reference, amount_cents, message)


def _reference(session_id: str) -> str:
    """One checkout session can take money once, so its reference derives from the session."""
    return "sbx_pi_" + hashlib.sha256(session_id.encode()).hexdigest()[:24]
