"""The sandbox's own checkout and setup pages: the local stand-ins for a hosted card
checkout and for the processor's page that saves a payment method, which only the sandbox
gateway offers (test cards and Stripe's test bank account only)."""

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from portal.ports.payments import GatewayEvent

TEST_CARDS = {
    "4242424242424242": None,
    # Saved, these two fail off-session; with the patient at the checkout they pay.
    "4000002500003155": None,
    "4000000000000341": None,
    "4000000000000002": "Your card was declined.",
    "4000000000009995": "Your card has insufficient funds.",
}

# What a card saved on the setup page does when charged off-session, as Stripe's own
# test cards do; None: declined when saved.
SETUP_CARDS = {
    "4242424242424242": "succeeds",
    "4000002500003155": "authenticate",  # on every off-session charge
    "4000000000000341": "declines",  # every charge: "Your card was declined."
    "4000000000000002": None,
}
SETUP_DECLINED = "Your card was declined."
# Stripe's test US bank account: a routing number, and account numbers by what a debit
# from them does when it settles.
TEST_ROUTING_NUMBER = "110000000"
TEST_BANK_ACCOUNTS = {
    "000123456789": "settles",
    "000222222227": "insufficient-funds",
    "000111111113": "account-closed",
}
TEST_BANK_NAME = "STRIPE TEST BANK"


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


@dataclass(frozen=True)
class SandboxSetupSession:
    session_id: str
    purpose_id: str
    success_url: str
    cancel_url: str
    customer_id: str


@runtime_checkable
class SandboxSetup(Protocol):
    def open_setup(self, session_id: str) -> SandboxSetupSession:
        """The open setup session a link names; UnknownSession when it is not one of ours."""

    def save_card(self, session: SandboxSetupSession, card_number: str) -> str:
        """Save a test card: the completed session's id, or CardDeclined with the reason."""

    def save_bank_account(
        self, session: SandboxSetupSession, routing_number: str, account_number: str
    ) -> str:
        """Save the test bank account: the completed session's id, or CardDeclined."""
