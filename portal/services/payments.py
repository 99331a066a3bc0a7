"""Taking a card payment: open a checkout, then apply what the gateway reports."""

import logging

from portal.adapters.payments import CheckoutRequest, CheckoutSession, EventKind, GatewayEvent
from portal.adapters.store import PostingResult
from portal.bootstrap import Services
from portal.domain.money import parse_amount
from portal.domain.payments import (
    OPEN_STATUSES,
    Payment,
    PaymentStatus,
    check_payment_amount,
    new_payment_id,
)
from portal.domain.staff import EscalationKind
from portal.services.accounts import account_view
from portal.services.errors import PaymentNotFound
from portal.services.receipts import send_receipt
from portal.services.staff_actions import open_escalation

log = logging.getLogger(__name__)


def start_payment(services: Services, account_number: str, amount_text: str) -> CheckoutSession:
    """Check the amount against the balance, record a pending payment, open the checkout."""
    amount_cents = parse_amount(amount_text)
    view = account_view(services, account_number)
    check_payment_amount(amount_cents, view.due_cents)
    payment = Payment(
        payment_id=new_payment_id(),
        account_number=account_number,
        amount_cents=amount_cents,
        status=PaymentStatus.PENDING,
        method="card",
        gateway=services.payments.name,
        created_at=services.clock.now(),
    )
    services.store.create_payment(payment)
    oldest = view.open_statements[0].statement.statement_id
    base = services.settings.base_url
    checkout = services.payments.create_checkout(
        CheckoutRequest(
            payment_id=payment.payment_id,
            amount_cents=amount_cents,
            description=f"Payment toward statement {oldest}",
            success_url=f"{base}/payments/{payment.payment_id}",
            cancel_url=f"{base}/payments/{payment.payment_id}?canceled=1",
        )
    )
    services.store.attach_checkout(payment.payment_id, checkout.session_id)
    log.info("payment %s opened checkout for %d cents", payment.payment_id, amount_cents)
    return checkout


def apply_gateway_event(services: Services, event: GatewayEvent) -> PostingResult | Payment:
    """The one path every gateway's outcome takes (sandbox page, Stripe webhook, return page).

    Idempotent: applying the same event twice posts once and sends one receipt.
    """
    before = services.store.get_payment(event.payment_id)
    if before is None:
        raise PaymentNotFound(event.payment_id)
    now = services.clock.now()
    if event.kind is EventKind.PAYMENT_SUCCEEDED:
        result = services.store.post_payment(
            event.payment_id, event.reference, event.amount_cents, now
        )
        log.info(result.message)
        if result.posted:
            send_receipt(services, event.payment_id)
        return result
    status = (
        PaymentStatus.FAILED if event.kind is EventKind.PAYMENT_FAILED else PaymentStatus.CANCELED
    )
    closed = services.store.close_payment(event.payment_id, status, event.message, now)
    if closed.status is PaymentStatus.FAILED and before.status in OPEN_STATUSES:
        open_escalation(
            services,
            "system",
            closed.account_number,
            EscalationKind.FAILED_PAYMENT,
            f"Card payment {closed.payment_id} failed: {event.message or 'no reason given'}",
            key=f"payment:{closed.payment_id}",
        )
    return closed
