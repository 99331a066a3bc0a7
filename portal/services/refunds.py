"""Giving money back on a card payment: through the gateway first, then the ledger."""

import logging

from portal.adapters.payments import GatewayError
from portal.adapters.store import PostingResult
from portal.bootstrap import Services
from portal.domain.money import format_cents, parse_amount
from portal.domain.payments import REFUNDABLE_STATUSES
from portal.domain.staff import AuditAction
from portal.services.audit import audit
from portal.services.claims import CLAIM_STALE_AFTER
from portal.services.errors import InvalidInput, NotFound

log = logging.getLogger(__name__)
REFUND_CLAIM = "refund-request"
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
    refunds nothing more. The ledger entry is posted when the gateway confirms, here or by its
    notification (whichever comes first; the store posts the total once).
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
        outcome = services.payments.refund(
            payment_id, payment.gateway_reference or "", cents, payment.refunded_cents, key
        )
    except GatewayError as exc:
        store.release_message(REFUND_CLAIM, key)
        raise InvalidInput("amount", exc.message) from exc
    except BaseException:
        store.release_message(REFUND_CLAIM, key)
        raise
    result = store.post_refund(payment_id, outcome.refunded_total_cents, now)
    store.mark_message_sent(REFUND_CLAIM, key, now)
    audit(
        services,
        actor,
        AuditAction.REFUND_PAYMENT,
        payment.account_number,
        f"{payment_id} {format_cents(cents)} ({outcome.refund_id})",
        address,
    )
    log.info("payment %s: refunded %d cents (%s)", payment_id, cents, outcome.refund_id)
    return result
