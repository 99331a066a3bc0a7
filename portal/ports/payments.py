"""The PaymentGateway port: a hosted checkout page, and the events that report its outcome;
payment methods saved on a hosted page and charged later, with the patient away."""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Protocol

from portal.domain.payouts import BalanceTransaction, Payout
from portal.domain.plans import Outcome, SavedMethod


@dataclass(frozen=True)
class CheckoutRequest:
    payment_id: str
    amount_cents: int
    description: str  # generic, e.g. "Payment toward statement S-2026-000123": never PHI
    success_url: str
    cancel_url: str
    language: str = "en"  # the patient's: the hosted page opens in it where it can


@dataclass(frozen=True)
class CheckoutSession:
    session_id: str
    url: str


class EventKind(StrEnum):
    PAYMENT_SUCCEEDED = "payment_succeeded"
    PAYMENT_PROCESSING = "payment_processing"  # checkout done, the money is still on its way
    PAYMENT_FAILED = "payment_failed"
    CHECKOUT_CANCELED = "checkout_canceled"  # left or expired: nothing was charged
    REFUNDED = "refunded"  # amount_cents: everything refunded on the payment so far
    DISPUTE_OPENED = "dispute_opened"
    DISPUTE_WON = "dispute_won"
    DISPUTE_LOST = "dispute_lost"
    PAYOUT_PAID = "payout_paid"  # a payout reached the bank: `payout` says which
    PAYOUT_RECONCILED = "payout_reconciled"  # the processor finished listing its lines


@dataclass(frozen=True)
class GatewayEvent:
    """What the gateway reports about one portal payment, whichever gateway it came from.

    `payment_id` is the portal's id when the gateway's object carries it; events about a
    charge (refunds, disputes) may carry only `reference`, the gateway's id of the money
    movement that the payment was posted with.

    `amount_cents` is in the smallest unit of `currency` (a lower-case ISO code); None when
    the gateway did not say how much (only a checkout outcome can come without it).
    """

    kind: EventKind
    payment_id: str
    reference: str  # the gateway's id of the money movement: posting is idempotent on it
    amount_cents: int | None = 0
    message: str = ""
    event_id: str = ""  # the gateway's id of the notification, when it came as one
    dispute_id: str = ""
    currency: str = "usd"
    payout: Payout | None = None  # a payout event's, about no one payment


class GatewayError(Exception):
    """The gateway refused or failed; `message` is fit to show the person who asked."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class WebhookRejected(Exception):
    """A notification that is not provably from the gateway (signature, age, shape)."""


@dataclass(frozen=True)
class RefundOutcome:
    """One refund the gateway made: its id (the ledger posts each refund once by it) and
    the amount it gives back."""

    refund_id: str
    amount_cents: int
    request: str = ""  # the portal's request key it was made for ("" when made elsewhere)


class Checkouts(Protocol):
    """The hosted checkout where the patient pays by card."""

    name: str

    def create_checkout(self, request: CheckoutRequest) -> CheckoutSession:
        """Open a hosted checkout for the payment; the patient is sent to `url`.

        Asking again for the same payment id opens no second checkout."""

    def checkout_outcome(self, session_id: str) -> GatewayEvent | None:
        """What the checkout has come to (the return page asks, in case the notification is
        late); None while it is still open."""


class Refunds(Protocol):
    """Money given back on a posted card payment."""

    def refund(self, payment_id: str, reference: str, amount_cents: int, key: str) -> RefundOutcome:
        """Give back `amount_cents` of a posted payment (`reference` is what it was posted
        with); `key` makes a retry of the same request refund once. GatewayError when the
        gateway refuses."""

    def list_refunds(self, reference: str) -> list[RefundOutcome]:
        """The refunds made on the payment posted with `reference` that give money back or
        are on their way (not failed or canceled ones). GatewayError when it cannot say."""


class WebhookSource(Protocol):
    """The gateway's signed notifications of what happened to a payment."""

    def parse_webhook(self, payload: bytes, signature: str | None) -> GatewayEvent | None:
        """The event a notification from the gateway reports, None when it is not about a
        portal payment; WebhookRejected when it is not provably from the gateway."""


# Where a hosted page's return address takes the session's id.
SESSION_PLACEHOLDER = "{CHECKOUT_SESSION_ID}"


@dataclass(frozen=True)
class SetupRequest:
    """A hosted page where the patient saves a card or US bank account for later charges.

    `{CHECKOUT_SESSION_ID}` in `success_url` is replaced by the session's id on the way back
    (without one, the id comes back as the `session_id` query parameter).
    `customer_id`: the processor's customer to save it for (when the method is changed);
    None makes a new one, which carries nothing about the patient."""

    purpose_id: str  # the plan's id
    success_url: str
    cancel_url: str
    customer_id: str | None = None
    language: str = "en"  # the patient's: the hosted page opens in it where it can


@dataclass(frozen=True)
class SetupSession:
    session_id: str
    url: str


@dataclass(frozen=True)
class OffSessionCharge:
    """A charge of a saved method with the patient away. `key` is the processor's
    idempotency key: the same key twice is the same charge, never two."""

    payment_id: str
    method: SavedMethod
    amount_cents: int
    description: str  # generic, e.g. "Payment plan installment 2 of 6": never PHI
    key: str


@dataclass(frozen=True)
class ChargeResult:
    """What a charge came to. `reference` is the processor's id of the charge (posting is
    idempotent on it); `message` is fit to show the patient (no card details beyond the
    brand and last four)."""

    outcome: Outcome
    reference: str
    amount_cents: int
    message: str = ""


class SavedMethods(Protocol):
    """Cards and bank accounts saved on the processor's page and charged off-session."""

    def create_setup(self, request: SetupRequest) -> SetupSession:
        """Open a hosted page where the patient saves a method; the patient is sent to
        `url`. GatewayError when the processor cannot open one."""

    def setup_outcome(self, session_id: str, purpose_id: str | None = None) -> SavedMethod | None:
        """The method a completed setup session saved; None while it is still open.
        GatewayError (a message fit to show) when it was canceled or expired, saved
        nothing usable, is not one of ours, or (given `purpose_id`) was opened for
        another purpose."""

    def charge_saved(self, charge: OffSessionCharge) -> ChargeResult:
        """Charge a saved method off-session. Declines are outcomes, never errors;
        GatewayError only when the processor cannot be reached or fails, and then a retry
        with the same key is safe."""

    def charge_status(self, reference: str) -> ChargeResult:
        """What a charge has come to since (a bank debit that was PROCESSING).
        GatewayError when the processor cannot say."""


class Payouts(Protocol):
    """Card money paid out to the practice's bank in batches, net of fees (issue 21)."""

    pays_out: bool  # False for a stand-in that moves no money (the sandbox)

    def payouts(self, arrived_from: date, arrived_before: date) -> list[Payout]:
        """The payouts that arrive (or are to arrive) on days in [from, before), oldest
        first; GatewayError when the processor cannot be asked."""

    def payout_transactions(self, payout_id: str) -> list[BalanceTransaction]:
        """Every line of a payout (each page of them); GatewayError as above."""


class PaymentGateway(Checkouts, Refunds, WebhookSource, SavedMethods, Payouts, Protocol):
    """One card processor in every role (Stripe, or the sandbox, whose own checkout and
    setup pages are the SandboxCheckout and SandboxSetup ports)."""
