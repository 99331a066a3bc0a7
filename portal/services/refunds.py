"""Giving money back on a card payment: through the gateway first, then the ledger."""

import logging

from portal.adapters.payments import GatewayError
from portal.adapters.store import PostingResult
from portal.bootstrap import Services
from portal.domain.money import format_cents, parse_amount
from portal.domain.payments import REFUNDABLE_STATUSES, RefundExceedsPayment
from portal.domain.staff import AuditAction, EscalationKind
from portal.services.audit import audit
from portal.services.claims import CLAIM_STALE_AFTER
from portal.services.errors import InvalidInput, NotFound
from portal.services.staff_actions import open_escalation

log = logging.getLogger(__name__)
REFUND_CLAIM = "refund-request"
SYSTEM = "system"
ABANDONED_AFTER = CLAIM_STALE_AFTER  # one stale window for every claim


def refundable_cents(services: Services, payment_id: str) -> int:
    payment = services.store.get_payment(payment_id)
    if payment is None or payment.posted_at is None or payment.status not in REFUNDABLE_STATUSES:
        return 0
    return payment.amount_cents - payment.refunded_cents


def refund_payment(
    services: Services,
    actor: str,
    payment_id: str,
    amount_text: str,
    request_key: str,
    address: str = "",
) -> PostingResult:
    """Refund all or part of a posted card payment, once per request.

    `request_key` names this request (the form it came from): sending the same request again
    refunds nothing more. The refund the gateway made is posted by its id, here or by the
    gateway's notification (whichever comes first), so requests made at the same moment
    each post their own. `posted` in the answer says this request made a refund.
    """
    store = services.store
    payment = store.get_payment(payment_id)
    if payment is None:
        raise NotFound(payment_id)
    if payment.gateway == "manual":
        raise InvalidInput("amount", "A check or cash payment is given back by reversing it.")
    left = refundable_cents(services, payment_id)
    if left <= 0:
        raise InvalidInput("amount", f"Nothing is left to refund on a {payment.status} payment.")
    cents = parse_amount(amount_text)
    if cents <= 0:
        raise InvalidInput("amount", "The amount must be more than $0.00.")
    if cents > left:
        raise InvalidInput("amount", f"At most {format_cents(left)} can still be refunded.")
    now = services.clock.now()
    key = f"refund-{payment_id}-{request_key}"
    if not store.claim_message(REFUND_CLAIM, key, now, stale_before=now - ABANDONED_AFTER):
        return PostingResult(payment=payment, posted=False)
    try:
        outcome = services.payments.refund(payment_id, payment.gateway_reference or "", cents, key)
    except GatewayError as exc:
        store.release_message(REFUND_CLAIM, key)
        raise InvalidInput("amount", exc.message) from exc
    except BaseException:
        store.release_message(REFUND_CLAIM, key)
        raise
    try:
        result = store.post_refund(payment_id, outcome.refund_id, outcome.amount_cents, now)
    except RefundExceedsPayment as exc:
        # The gateway gave the money back, but the ledger already shows refunds that leave
        # no room for it: a person must reconcile the two.
        store.mark_message_sent(REFUND_CLAIM, key, now)
        _escalate_unposted(services, payment.account_number, outcome.refund_id, exc)
        raise InvalidInput(
            "amount",
            f"The card processor made refund {outcome.refund_id}, but with it the refunds "
            "would be more than the payment took, so the ledger was not changed; it is in "
            "the queue for a supervisor.",
        ) from exc
    store.mark_message_sent(REFUND_CLAIM, key, now)
    audit(
        services,
        actor,
        AuditAction.REFUND_PAYMENT,
        payment.account_number,
        f"{payment_id} {format_cents(cents)} ({outcome.refund_id})",
        address,
    )
    log.info(
        "payment %s: refunded %d cents (%s)%s",
        payment_id,
        outcome.amount_cents,
        outcome.refund_id,
        "" if result.posted else ", posted already from the processor's notification",
    )
    # Posted here or already by the notification of the same refund: this request made it.
    return PostingResult(payment=result.payment, posted=True, entries=result.entries)


def _escalate_unposted(
    services: Services, account_number: str, refund_id: str, exc: RefundExceedsPayment
) -> None:
    open_escalation(
        services,
        SYSTEM,
        account_number,
        EscalationKind.OTHER,
        f"Card refund {refund_id} was made but not posted: {exc}",
        key=f"refund-unposted:{refund_id}",
    )
