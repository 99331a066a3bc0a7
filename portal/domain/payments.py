"""Patient payments: their states and the limits on what a patient may pay."""

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from portal.domain.catalog import N_
from portal.domain.errors import InvalidInput
from portal.domain.money import format_cents

MINIMUM_PAYMENT_CENTS = 100
PLAN_CHARGE_PREFIX = "pay_plan_"
# A payment plan's installment the patient pays on the hosted checkout page (the bank asked
# them to confirm it): the id names the plan and installment, so its posting counts for it.
INSTALLMENT_PAYMENT_PREFIX = "pay_inst_"


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
# Posted payments whose money the practice holds: a lost dispute or a bounced check reverses.
REVERSIBLE_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.DISPUTED})
# Posted payments money can still be given back on.
REFUNDABLE_STATUSES = frozenset({PaymentStatus.SUCCEEDED, PaymentStatus.REFUNDED})

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
    # What the portal asked the card for; the gateway may report another amount taken, which
    # is posted as taken. None on payments from before it was kept: the same as the amount.
    requested_cents: int | None = None

    @property
    def is_plan_charge(self) -> bool:
        """A payment plan's try, charged on the saved method (portal/services/plan_charges)."""
        return self.payment_id.startswith(PLAN_CHARGE_PREFIX)

    @property
    def asked_cents(self) -> int:
        return self.amount_cents if self.requested_cents is None else self.requested_cents

    def refunded(self, refunded_total_cents: int) -> "Payment":
        status = (
            PaymentStatus.REFUNDED if refunded_total_cents >= self.amount_cents else self.status
        )
        return replace(self, status=status, refunded_cents=refunded_total_cents)

    def succeeded(self, reference: str, amount_cents: int, at: datetime) -> "Payment":
        return replace(
            self,
            status=PaymentStatus.SUCCEEDED,
            gateway_reference=reference,
            amount_cents=amount_cents,
            requested_cents=self.asked_cents,
            posted_at=at,
            failure_message="",
        )


def new_payment_id() -> str:
    """Opaque and unguessable: it appears in URLs and at the payment gateway."""
    return "pay_" + secrets.token_hex(12)


def installment_payment_id(plan_id: str, number: int) -> str:
    """A new checkout payment for the plan's installment `number` (each checkout its own)."""
    return f"{INSTALLMENT_PAYMENT_PREFIX}{plan_id}_{number}_{secrets.token_hex(8)}"


def installment_of(payment_id: str) -> tuple[str, int] | None:
    """The (plan id, installment number) a checkout payment was made for; None for any
    other payment."""
    if not payment_id.startswith(INSTALLMENT_PAYMENT_PREFIX):
        return None
    parts = payment_id.removeprefix(INSTALLMENT_PAYMENT_PREFIX).rsplit("_", 2)
    if len(parts) != 3 or not parts[0] or not parts[1].isdigit():
        return None
    return parts[0], int(parts[1])


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


class RefundExceedsPayment(ValueError):
    """Refunds on a payment would add up to more than the payment took."""

    def __init__(self, payment_id: str, taken_cents: int, refunded_total_cents: int):
        super().__init__(
            f"Refunds of {refunded_total_cents} cents are more than payment {payment_id} "
            f"took ({taken_cents} cents)."
        )
        self.payment_id = payment_id
        self.taken_cents = taken_cents
        self.refunded_total_cents = refunded_total_cents


def refunded_total(payment: Payment, amount_cents: int) -> int:
    """What a payment's refunds come to with one more refund of `amount_cents`.

    ValueError when the payment was never posted (or its money was taken back) or the
    amount is not positive; RefundExceedsPayment when the total is more than it took."""
    if payment.posted_at is None or payment.status not in REFUNDABLE_STATUSES | {
        PaymentStatus.DISPUTED
    }:
        raise ValueError(f"Payment {payment.payment_id} is {payment.status}: nothing to refund.")
    if amount_cents <= 0:
        raise ValueError(
            f"A refund of {amount_cents} cents: a refund gives back a positive amount."
        )
    total = payment.refunded_cents + amount_cents
    if total > payment.amount_cents:
        raise RefundExceedsPayment(payment.payment_id, payment.amount_cents, total)
    return total


# A checkout's line names the statements a payment pays, up to this many.
NAMED_STATEMENTS = 3


def _same(message: str) -> str:
    return message


def checkout_line(statement_ids: Sequence[str], gettext: Callable[[str], str] = _same) -> str:
    """The line the processor shows for a payment: the statements it pays, oldest first (as
    the payment is applied), or "account balance" when there are many; in the patient's
    language (`gettext`, the `email` catalog's). Statement numbers only: never what the care
    was."""
    if not statement_ids or len(statement_ids) > NAMED_STATEMENTS:
        return gettext(N_("Payment toward account balance"))
    if len(statement_ids) == 1:
        return gettext(N_("Payment toward statement %(statement)s")) % {
            "statement": statement_ids[0]
        }
    return gettext(N_("Payment toward statements %(statements)s")) % {
        "statements": ", ".join(statement_ids)
    }


def installment_line(number: int, count: int, gettext: Callable[[str], str] = _same) -> str:
    """The line the processor shows for a plan's installment charged with the patient away:
    "Payment plan installment 2 of 6", in the patient's language."""
    return gettext(N_("Payment plan installment %(number)s of %(count)s")) % {
        "number": number,
        "count": count,
    }
