"""The sandbox's own checkout page: the local stand-in for a hosted card checkout, which
only the sandbox gateway offers (test cards only)."""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from portal.ports.payments import GatewayEvent

TEST_CARDS = {
    "4242424242424242": None,
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
}


class CardDeclined(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class UnknownSession(LookupError):
    pass


@dataclass(frozen=True)
class SandboxSession:
    session_id: str
    payment_id: str
    amount_cents: int
    description: str
    success_url: str
    cancel_url: str


@runtime_checkable
class SandboxCheckout(Protocol):
    def open_session(self, session_id: str) -> SandboxSession:
        """The session a checkout link names; UnknownSession when it is not one of ours."""

    def charge(self, session: SandboxSession, card_number: str) -> GatewayEvent:
        """Charge a test card: the event to post, or CardDeclined with the reason."""

    def cancel(self, session: SandboxSession) -> GatewayEvent:
        """The patient left the checkout: the event that closes the payment."""
