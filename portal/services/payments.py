"""Taking a card payment: open a checkout, then apply what the gateway reports.

Every outcome (the sandbox page, a Stripe webhook, the return page asking Stripe) goes
through `apply_gateway_event`. Events come more than once, late and out of order: each
handler leaves the same state whatever came before it, and the store makes every posting
happen once.
"""

import dataclasses
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from portal.domain.account_book import ReferenceAlreadyPosted
from portal.domain.ledger import allocate
from portal.domain.money import format_cents, parse_amount
from portal.domain.payments import (
    OPEN_STATUSES,
    REVERSIBLE_STATUSES,
    Payment,
    PaymentStatus,
    RefundExceedsPayment,
    check_payment_amount,
    checkout_line,
    new_payment_id,
)
from portal.domain.staff import EscalationKind
from portal.ports.claims import ClaimMark
from portal.ports.ledger import PostingResult
from portal.ports.payments import (
    CheckoutRequest,
    CheckoutSession,
    EventKind,
    GatewayError,
    GatewayEvent,
)
from portal.services import ledger
from portal.services.accounts import account_view
from portal.services.context import Services
from portal.services.errors import PaymentNotFound, PaymentNotReady, UnpostableEvent
from portal.services.notices import Delivery
from portal.services.plan_payments import record_installment_payment
from portal.services.receipts import receipt_mark, send_posted_receipt, send_receipt
from portal.services.refund_notices import (
    REFUND_NOTICE_CLAIM,
    claim_refund_notice,
    send_refund_notice,
)
from portal.services.staff_actions import open_escalation

log = logging.getLogger(__name__)
SYSTEM = "system"
LEDGER_CURRENCY = "usd"  # the ledger is in US cents: money taken in anything else is not posted


def start_payment(
    services: Services,
    account_number: str,
    amount_text: str,
    payment_id: str = "",
    language: str = "en",
) -> CheckoutSession:
    """Check the amount against the balance, record a pending payment, open the checkout
    (in the patient's `language` where the processor's page can be).
    `payment_id`: the payment's id when the caller names it (a plan's installment)."""
    amount_cents = parse_amount(amount_text)
    view = account_view(services, account_number)
    check_payment_amount(amount_cents, view.due_cents)
    payment = Payment(
        payment_id=payment_id or new_payment_id(),
        account_number=account_number,
        amount_cents=amount_cents,
        status=PaymentStatus.PENDING,
        method="card",
        gateway=services.payments.name,
        created_at=services.clock.now(),
        requested_cents=amount_cents,
    )
    services.store.create_payment(payment)
    open_now = view.balances.open_statements([s.statement for s in view.statements])
    paid = allocate(amount_cents, open_now)
    base = services.settings.base_url
    try:
        checkout = services.payments.create_checkout(
            CheckoutRequest(
                payment_id=payment.payment_id,
                amount_cents=amount_cents,
                description=checkout_line(
                    [statement_id for statement_id, _ in paid.applied],
                    services.emails.wording(language).gettext,
                ),
                success_url=f"{base}/payments/{payment.payment_id}",
                cancel_url=f"{base}/payments/{payment.payment_id}?canceled=1",
                language=language,
            )
        )
    except GatewayError as exc:
        services.store.close_payment(
            payment.payment_id, PaymentStatus.CANCELED, exc.message, services.clock.now()
        )
        raise
    services.store.attach_checkout(payment.payment_id, checkout.session_id)
    log.info("payment %s opened checkout for %d cents", payment.payment_id, amount_cents)
    return checkout


def reconcile_checkout(services: Services, payment: Payment, session_id: str) -> Payment:
    """On the return page: ask the gateway how the checkout ended, in case its notification
    is late, and apply that the same way the notification would."""
    if payment.status not in OPEN_STATUSES or session_id != payment.checkout_session_id:
        return payment
    try:
        event = services.payments.checkout_outcome(session_id)
    except GatewayError as exc:
        log.warning("payment %s: could not ask the gateway: %s", payment.payment_id, exc)
        return payment
    if event is None or event.payment_id != payment.payment_id:
        return payment
    try:
        apply_gateway_event(services, event)
    except UnpostableEvent as exc:
        # The processor's notification of the same outcome takes it to a person, by its id.
        log.warning("payment %s: the checkout cannot be applied: %s", payment.payment_id, exc)
    return services.store.get_payment(payment.payment_id) or payment


def apply_or_escalate(
    services: Services, event: GatewayEvent, marks: Sequence[ClaimMark] = ()
) -> PostingResult | Payment | None:
    """Apply a gateway event; one that can never be applied changes no money and goes to a
    person instead (once per event): None then. `marks` as for apply_gateway_event."""
    try:
        return apply_gateway_event(services, event, marks)
    except UnpostableEvent as exc:
        log.warning("gateway event %s (%s) not applied: %s", event.event_id, event.kind, exc)
        _escalate_once(
            services,
            exc.account_number,
            EscalationKind.UNPOSTABLE_EVENT,
            f"The card processor's event {event.event_id or '(no id)'} ({event.kind}) about "
            f"payment {exc.payment_id} cannot be applied: {exc.message} Nothing was posted "
            "for it; check the payment with the card processor.",
            key=f"unpostable:{event.event_id or exc.payment_id + ':' + event.kind}",
        )
        return None


def apply_gateway_event(
    services: Services, event: GatewayEvent, marks: Sequence[ClaimMark] = ()
) -> PostingResult | Payment:
    """Apply one gateway outcome; applying it again changes nothing.

    PaymentNotFound: the event names a payment the portal does not have. PaymentNotReady:
    it is about a payment not posted yet (a refund or dispute that overtook the payment).
    UnpostableEvent: it can never be applied as it stands (nothing was changed).
    `marks`: claims written with a paid event's posting, if it posts now (the event's own).
    """
    payment = _payment_of(services, event)
    now = services.clock.now()
    if event.kind is EventKind.PAYMENT_SUCCEEDED:
        return _succeeded(services, payment, event, now, marks)
    return HANDLERS[event.kind](services, payment, event, now)


def _payment_of(services: Services, event: GatewayEvent) -> Payment:
    if event.payment_id:
        found = services.store.get_payment(event.payment_id)
        if found is None:
            raise PaymentNotFound(event.payment_id)
        return found
    found = services.store.payment_by_reference(event.reference)
    if found is None:
        raise PaymentNotReady(f"no payment is posted with reference {event.reference} yet")
    return found


def _posted(payment: Payment, event: GatewayEvent) -> Payment:
    if payment.posted_at is None:
        raise PaymentNotReady(f"{event.kind} for payment {payment.payment_id}, not posted yet")
    return payment


def _succeeded(
    services: Services,
    payment: Payment,
    event: GatewayEvent,
    now: datetime,
    marks: Sequence[ClaimMark] = (),
):
    if payment.posted_at is None:
        if event.amount_cents is None or event.amount_cents <= 0:
            raise UnpostableEvent(
                payment.payment_id,
                payment.account_number,
                "it reports the payment paid but not how much was taken."
                if event.amount_cents is None
                else f"it reports the payment paid with {event.amount_cents} cents taken.",
            )
        if event.currency != LEDGER_CURRENCY:
            return _held_for_currency(services, payment, event, now)

    def claims(book) -> tuple[ClaimMark, ...]:
        receipt = receipt_mark(book, payment.payment_id)
        return (*marks, *((receipt,) if receipt else ()))

    try:
        result = ledger.post_payment(
            services.store,
            payment.payment_id,
            event.reference,
            event.amount_cents or 0,
            now,
            account_number=payment.account_number,
            marks=claims,
        )
    except ReferenceAlreadyPosted as exc:
        raise UnpostableEvent(
            payment.payment_id,
            payment.account_number,
            f"its PaymentIntent {exc.reference} is already posted to payment {exc.payment_id}.",
        ) from None
    log.info(result.message)
    posted = result.payment
    _keep_on_plan(services, posted)
    if posted.amount_cents != posted.asked_cents:
        # The money taken is real, so it is posted as taken; a person sorts out the rest.
        _escalate_once(
            services,
            posted.account_number,
            EscalationKind.PAYMENT_MISMATCH,
            f"Card payment {posted.payment_id}: the portal asked for "
            f"{format_cents(posted.asked_cents)}, the card processor took "
            f"{format_cents(posted.amount_cents)} ({_source(event)}), and "
            f"{format_cents(posted.amount_cents)} is posted. Contact the patient.",
            key=f"payment-mismatch:{posted.payment_id}",
        )
    if result.posted:
        # Its claim went in with the posting, held by this process: a crash from here
        # leaves it unfinished, for the next delivery or the sweep.
        if send_posted_receipt(services, result) is Delivery.FAILED:
            result = dataclasses.replace(result, receipt_unsent=True)
    elif not marks:
        # Posted before (by another path or delivery): the receipt is claimed once. (With
        # marks, the caller's claimed path does this: see services/webhooks.py.)
        send_receipt(services, payment.payment_id)
    return result


def _keep_on_plan(services: Services, payment: Payment) -> None:
    """A checkout payment for a plan's installment counts for it (services/plan_payments);
    the posting stands if that fails (the charge run keeps it on the plan later)."""
    try:
        record_installment_payment(services, payment)
    except Exception:
        log.exception("payment %s: not kept on its plan yet", payment.payment_id)


def _held_for_currency(
    services: Services, payment: Payment, event: GatewayEvent, now: datetime
) -> Payment:
    """Money taken in another currency cannot go on the USD ledger: the payment stays open,
    says so, and a person settles it with the card processor."""
    currency = (event.currency or "unknown").upper()
    held = services.store.close_payment(
        payment.payment_id,
        PaymentStatus.PROCESSING,
        f"Your card was charged in another currency ({currency}), not US dollars, so "
        "nothing is posted to your account yet. Our billing office has been told and will "
        "contact you.",
        now,
    )
    _escalate_once(
        services,
        payment.account_number,
        EscalationKind.PAYMENT_MISMATCH,
        f"Card payment {payment.payment_id}: the portal asked for "
        f"{format_cents(payment.asked_cents)}, the card processor reports "
        f"{event.amount_cents} in {currency}'s smallest unit ({_source(event)}). Nothing "
        "is posted; settle it with the card processor and contact the patient.",
        key=f"payment-mismatch:{payment.payment_id}",
    )
    return held


def _source(event: GatewayEvent) -> str:
    """Which report of the processor said so, for the staff who check it there."""
    if event.event_id:
        return f"event {event.event_id}, reference {event.reference}"
    return f"reference {event.reference}"


def _escalate_once(
    services: Services, account_number: str, kind: EscalationKind, reason: str, key: str
) -> None:
    """Open the item unless one with this key was ever opened: a late copy of the same event
    does not reopen what a person has resolved."""
    if any(
        item.key == key
        for item in services.store.escalations(open_only=False, account_number=account_number)
    ):
        return
    open_escalation(services, SYSTEM, account_number, kind, reason, key=key)


def _failed(services: Services, payment: Payment, event: GatewayEvent, now: datetime):
    """A failure of a payment still open closes it; a bank debit that fails after it was
    posted (returned by the bank days later) is reversed with entries, never edited, and
    goes to staff; the patient sees the reversal and its reason on the account."""
    returned = (
        payment.status in REVERSIBLE_STATUSES
        and payment.method == "us_bank_account"
        and event.reference == payment.gateway_reference
    )
    if not returned:
        return _closed(PaymentStatus.FAILED)(services, payment, event, now)
    reason = f"Bank payment returned: {event.message or 'the bank did not pay it'}"
    reversed_ = ledger.reverse_payment(services.store, payment.payment_id, reason, now)
    _escalate_once(
        services,
        payment.account_number,
        EscalationKind.FAILED_PAYMENT,
        f"Bank payment {payment.payment_id} was returned after it was posted; it is reversed."
        f" {event.message}".strip(),
        key=f"returned:{payment.payment_id}",
    )
    return reversed_


def _closed(status: PaymentStatus):
    def close(services: Services, payment: Payment, event: GatewayEvent, now: datetime):
        closed = services.store.close_payment(payment.payment_id, status, event.message, now)
        # A plan's try that failed is the plan's to retry, and to escalate on default.
        if (
            closed.status is PaymentStatus.FAILED
            and payment.status in OPEN_STATUSES
            and not payment.is_plan_charge
        ):
            open_escalation(
                services,
                SYSTEM,
                closed.account_number,
                EscalationKind.FAILED_PAYMENT,
                f"Card payment {closed.payment_id} failed: {event.message or 'no reason given'}",
                key=f"payment:{closed.payment_id}",
            )
        return closed

    return close


def _refunded(services: Services, payment: Payment, event: GatewayEvent, now: datetime):
    if _posted(payment, event).status is PaymentStatus.REVERSED:
        # The money was taken back already (a lost dispute): nothing is left to refund in the
        # ledger, but money left the practice, so a person must look.
        open_escalation(
            services,
            SYSTEM,
            payment.account_number,
            EscalationKind.OTHER,
            f"The card processor reports refunds of {event.amount_cents} cents on payment "
            f"{payment.payment_id}, which was already reversed; check the payout.",
            key=f"refund-after-reversal:{payment.payment_id}",
        )
        return payment
    # The event carries only the charge's running total; each refund is posted by its id
    # (the same refund reported by the staff request that made it posts once).
    reported = event.amount_cents or 0
    if reported > payment.amount_cents:
        raise _too_much_refunded(payment, reported, "the event reports")
    refunds = services.payments.list_refunds(payment.gateway_reference or event.reference)
    listed = sum(refund.amount_cents for refund in refunds)
    if listed > payment.amount_cents:
        raise _too_much_refunded(payment, listed, "the processor lists")
    latest: PostingResult | Payment = payment
    how = "to the card or bank account you paid with"
    for refund in refunds:
        told = claim_refund_notice(services, payment, refund.refund_id, refund.amount_cents, how)
        try:
            latest = ledger.post_refund(
                services.store, payment.payment_id, refund.refund_id, refund.amount_cents, now
            )
        except RefundExceedsPayment as exc:
            if told:
                services.store.drop_claim(REFUND_NOTICE_CLAIM, refund.refund_id)
            raise UnpostableEvent(
                payment.payment_id,
                payment.account_number,
                f"Refund {refund.refund_id} on payment {payment.payment_id} cannot be posted: "
                f"{exc}",
            ) from exc
        if latest.posted:
            log.info(
                "payment %s: posted refund %s of %d cents",
                payment.payment_id,
                refund.refund_id,
                refund.amount_cents,
            )
        if told:
            send_refund_notice(
                services, payment.payment_id, refund.refund_id, refund.amount_cents, how
            )
    return latest


def _too_much_refunded(payment: Payment, cents: int, source: str) -> UnpostableEvent:
    return UnpostableEvent(
        payment.payment_id,
        payment.account_number,
        f"The card processor reports refunds of {format_cents(cents)} on payment "
        f"{payment.payment_id} ({source}), more than the {format_cents(payment.amount_cents)} "
        "it took; nothing was posted.",
    )


def _dispute_key(payment: Payment, event: GatewayEvent) -> str:
    return f"dispute:{event.dispute_id or payment.payment_id}"


def _dispute_opened(services: Services, payment: Payment, event: GatewayEvent, now: datetime):
    _posted(payment, event)
    key = _dispute_key(payment, event)
    # Claimed by whichever of opened/closed comes first: a late "opened" after the dispute
    # was closed must not mark the payment disputed again.
    if not services.store.claim("dispute", key, now):
        return services.store.get_payment(payment.payment_id)
    disputed = services.store.set_dispute(payment.payment_id, True)
    open_escalation(
        services,
        SYSTEM,
        payment.account_number,
        EscalationKind.DISPUTE,
        f"The cardholder disputed card payment {payment.payment_id}; answer the card "
        "processor with the statement and receipt.",
        key=key,
    )
    services.store.complete_claim("dispute", key, now)  # a marker: nothing to sweep
    return disputed


def _dispute_closed(won: bool):
    def close(services: Services, payment: Payment, event: GatewayEvent, now: datetime):
        _posted(payment, event)
        key = _dispute_key(payment, event)
        services.store.claim("dispute", key, now)
        services.store.complete_claim("dispute", key, now)
        if won:
            outcome: Payment | PostingResult = services.store.set_dispute(payment.payment_id, False)
            resolution = "Dispute won: the payment stands."
        else:
            outcome = ledger.reverse_payment(
                services.store, payment.payment_id, "Card dispute lost", now
            )
            resolution = (
                "Dispute lost: the card processor took the money back; the payment is reversed."
            )
        for item in services.store.escalations(account_number=payment.account_number):
            if item.key == key and item.escalation_id is not None:
                services.store.resolve_escalation(item.escalation_id, SYSTEM, resolution, now)
        return outcome

    return close


Handler = Callable[[Services, Payment, GatewayEvent, datetime], PostingResult | Payment]
HANDLERS: dict[EventKind, Handler] = {
    EventKind.PAYMENT_SUCCEEDED: _succeeded,
    EventKind.PAYMENT_PROCESSING: _closed(PaymentStatus.PROCESSING),
    EventKind.PAYMENT_FAILED: _failed,
    EventKind.CHECKOUT_CANCELED: _closed(PaymentStatus.CANCELED),
    EventKind.REFUNDED: _refunded,
    EventKind.DISPUTE_OPENED: _dispute_opened,
    EventKind.DISPUTE_WON: _dispute_closed(won=True),
    EventKind.DISPUTE_LOST: _dispute_closed(won=False),
}
