"""SandboxGateway: the local stand-in for a hosted card checkout (test cards only).

The checkout session id is a signed token carrying the payment id, amount and return
addresses, so the sandbox keeps no state of its own and cannot be tampered with.
"""

import hashlib

from itsdangerous import BadSignature, URLSafeSerializer

from portal.ports.payments import (
    CheckoutRequest,
    CheckoutSession,
    EventKind,
    GatewayEvent,
    RefundOutcome,
    WebhookRejected,
)
from portal.ports.sandbox import TEST_CARDS, CardDeclined, SandboxSession, UnknownSession


class SandboxGateway:
    name = "sandbox"

    def __init__(self, secret_key: str, base_url: str):
        self._signer = URLSafeSerializer(secret_key, salt="sandbox-checkout")
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


def _reference(session_id: str) -> str:
    """One checkout session can take money once, so its reference derives from the session."""
    return "sbx_pi_" + hashlib.sha256(session_id.encode()).hexdigest()[:24]
