"""Patient payments: their states and the limits on what a patient may pay."""

import secrets
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from portal.domain.errors import InvalidInput
from portal.domain.money import format_cents

MINIMUM_PAYMENT_CENTS = 100


class PaymentStatus(StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELED = "canceled"
    REFUNDED = "refunded"
    DISPUTED = "disputed"
    REVERSED = "reversed"


OPEN_STATUSES = frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING})

# Payments staff post by hand, and what each is called on screen.
MANUAL_METHODS = {"check": "Check", "cash": "Cash", "card_desk": "Card at the desk"}


@dataclass(frozen=True)
class Payment:
    payment_id: str
    account_number: str
    amount_cents: int
    status: PaymentStatus
    method: str
    gateway: str
    created_at: datetime
    checkout_session_id: str | None = None
    gateway_reference: str | None = None
    posted_at: datetime | None = None
    failure_message: str = ""
    refunded_cents: int = 0
    method_detail: str = ""  # the check number, or how a desk card payment was taken

    def succeeded(self, reference: str, amount_cents: int, at: datetime) -> "Payment":
        return replace(
            self,
            status=PaymentStatus.SUCCEEDED,
            gateway_reference=reference,
            amount_cents=amount_cents,
            posted_at=at,
            failure_message="",
        )


def new_payment_id() -> str:
    """Opaque and unguessable: it appears in URLs and at the payment gateway."""
    return "pay_" + secrets.token_hex(12)


def check_payment_amount(amount_cents: int, due_cents: int) -> None:
    """A patient pays at least $1.00 (or a smaller whole balance) and at most the balance."""
    if due_cents <= 0:
        raise InvalidInput("amount", "There is no balance to pay on this account.")
    if amount_cents > due_cents:
        raise InvalidInput(
            "amount", f"The amount is more than your balance of {format_cents(due_cents)}."
        )
    if amount_cents < MINIMUM_PAYMENT_CENTS and amount_cents != due_cents:
        raise InvalidInput("amount", "The smallest payment is $1.00.")
