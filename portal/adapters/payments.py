"""The PaymentGateway port: a hosted checkout page, and the events that report its outcome."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: str
    amount_cents: int
    description: str  # generic, e.g. "Payment toward statement S-2026-000123": never PHI
    success_url: str
    cancel_url: str


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str


class EventKind(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_FAILED = "payment_failed"
    CHECKOUT_CANCELED = "checkout_canceled"


@dataclass(frozen=True)
class GatewayEvent:
    """What the gateway reports about one portal payment, whichever gateway it came from."""

    kind: EventKind
    payment_id: str
    reference: str  # the gateway's id of the money movement: posting is idempotent on it
    amount_cents: int = 0
    message: str = ""


class PaymentGateway(Protocol):
    name: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open a hosted checkout for the payment; the patient is sent to `url`."""
