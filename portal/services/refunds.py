"""Giving money back on a card payment: through the gateway first, then the ledger."""

import contextlib
import logging
import re
from datetime import date

from portal.domain.account_book import KeyKind
from portal.domain.money import format_cents, parse_amount
from portal.domain.payments import REFUNDABLE_STATUSES, Payment, RefundExceedsPayment
from portal.domain.staff import AuditAction, AuditEntry, EscalationKind
from portal.ports.claims import Claim
from portal.ports.ledger import PostingResult
from portal.ports.payments import GatewayError, RefundOutcome
from portal.services import ledger
from portal.services.accounts import account_view
from portal.services.claims import Finish, claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.errors import InvalidInput, NotFound
from portal.services.refund_notices import (
    REFUND_NOTICE_CLAIM,
    claim_refund_notice,
    send_refund_notice,
)
from portal.services.staff_actions import open_escalation

log = logging.getLogger(__name__)
REFUND_CLAIM = "refund-request"
SYSTEM = "system"


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
    payload = claim_payload(payment_id=payment_id, cents=cents, actor=actor, address=address)
    if not store.claim(REFUND_CLAIM, key, now, stale_before(now), payload=payload):
        if store.claim_completed(REFUND_CLAIM, key):
            return PostingResult(payment=payment, posted=False)
        raise InvalidInput(
            "amount",
            "This refund is being made right now. Look at the payment again in a few minutes "
            "before asking again: the same refund will not be made twice.",
        )
    try:
        outcome = services.payments.refund(payment_id, payment.gateway_reference or "", cents, key)
    except GatewayError as exc:
        # Refused or not confirmed: the person asking is told and decides. If the processor
        # did make it, its notice (or the same request again) posts it by its id.
        store.drop_claim(REFUND_CLAIM, key)
        raise InvalidInput("amount", exc.message) from exc
    except BaseException:
        store.release_claim(REFUND_CLAIM, key)
        raise
    result = post_requested_refund(services, key, payment, outcome, actor, address)
    log.info(
        "payment %s: refunded %d cents (%s)%s",
        payment_id,
        outcome.amount_cents,
        outcome.refund_id,
        "" if result.posted else ", posted already from the processor's notification",
    )
    # Posted here or already by the notification of the same refund: this request made it.
    return PostingResult(payment=result.payment, posted=True, entries=result.entries)


def post_requested_refund(
    services: Services,
    key: str,
    payment: Payment,
    outcome: RefundOutcome,
    actor: str,
    address: str,
    note: str = "",
    how: str = "",
) -> PostingResult:
    """Post a refund the processor made for a claimed request, then close the claim with
    its audit entry in the same write (so a crash never audits it twice or not at all)."""
    store, now = services.store, services.clock.now()
    how = how or refund_how(payment)
    told = claim_refund_notice(services, payment, outcome.refund_id, outcome.amount_cents, how)
    try:
        result = ledger.post_refund(
            store, payment.payment_id, outcome.refund_id, outcome.amount_cents, now
        )
    except RefundExceedsPayment as exc:
        if told:
            store.drop_claim(REFUND_NOTICE_CLAIM, outcome.refund_id)
        # The gateway gave the money back, but the ledger already shows refunds that leave
        # no room for it: a person must reconcile the two.
        _escalate_unposted(services, payment.account_number, outcome.refund_id, exc)
        store.complete_claim(REFUND_CLAIM, key, now)
        raise InvalidInput(
            "amount",
            f"The card processor made refund {outcome.refund_id}, but with it the refunds "
            "would be more than the payment took, so the ledger was not changed; it is in "
            "the queue for a supervisor.",
        ) from exc
    entry = AuditEntry(
        at=now,
        actor=actor,
        action=AuditAction.REFUND_PAYMENT,
        account_number=payment.account_number,
        subject=f"{payment.payment_id} {format_cents(outcome.amount_cents)} "
        f"({outcome.refund_id}){note}",
        address=address,
    )
    store.complete_claim(REFUND_CLAIM, key, now, audit=entry)
    if told:
        send_refund_notice(
            services, payment.payment_id, outcome.refund_id, outcome.amount_cents, how
        )
    return result


def refund_how(payment: Payment) -> str:
    """How the money went back, in the refund e-mail's words."""
    if payment.gateway == "manual":
        return "by check"
    return "to the card or bank account you paid with"


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


def finish_refund_request(services: Services, claim: Claim, today: date) -> Finish:
    """The daily sweep's finisher: a refund request whose holder died is finished as that
    request would have been. The refund it made (found among the payment's refunds by its
    request key) is posted; one never made is made now, under the same idempotency key."""
    fields = payload_fields(claim.payload)
    payment_id, cents = fields.get("payment_id"), fields.get("cents")
    if not isinstance(payment_id, str) or not isinstance(cents, int):
        log.warning("sweep: the refund request %s keeps no refund to finish", claim.key)
        return Finish.LEFT
    store, now = services.store, services.clock.now()
    if not store.claim(REFUND_CLAIM, claim.key, now, stale_before(now)):
        return Finish.LEFT  # finished or held since it was listed
    payment = store.get_payment(payment_id)
    if payment is None:
        store.drop_claim(REFUND_CLAIM, claim.key)
        return Finish.DROPPED
    actor, address = str(fields.get("actor") or SYSTEM), str(fields.get("address") or "")
    check = fields.get("check_number")
    if isinstance(check, str) and check:
        # A check written by the practice: nothing to ask the processor, only to record.
        with contextlib.suppress(InvalidInput):
            _record_check_refund(services, claim.key, payment, cents, check, actor, address)
        return Finish.DONE
    try:
        outcome = _refund_made_for(services, payment, claim.key) or services.payments.refund(
            payment_id, payment.gateway_reference or "", cents, claim.key
        )
    except GatewayError as exc:
        # Refused now (or the processor is down): a person decides, the claim is closed.
        store.drop_claim(REFUND_CLAIM, claim.key)
        open_escalation(
            services,
            SYSTEM,
            payment.account_number,
            EscalationKind.OTHER,
            f"A refund of {format_cents(cents)} on payment {payment_id} asked for by {actor} "
            f"was interrupted and could not be finished: {exc.message}",
            key=f"refund-unfinished:{claim.key}",
        )
        return Finish.DROPPED
    # More refunded than taken is escalated there, and the claim closed.
    with contextlib.suppress(InvalidInput):
        post_requested_refund(
            services, claim.key, payment, outcome, actor, address, " (finished by the daily run)"
        )
    return Finish.DONE


def _refund_made_for(services: Services, payment: Payment, key: str) -> RefundOutcome | None:
    if not payment.gateway_reference:
        return None
    made = services.payments.list_refunds(payment.gateway_reference)
    return next((refund for refund in made if refund.request == key), None)


# -- a credit given back by check ---------------------------------------------------------

CHECK_NUMBER = re.compile(r"[A-Za-z0-9-]{1,20}")


def refund_credit_by_check(
    services: Services,
    actor: str,
    account_number: str,
    amount_text: str,
    check_number: str,
    address: str = "",
) -> PostingResult:
    """Record a check the practice wrote to give back (part of) the account's credit, once
    per check number: on the most recent posted payment that holds that much, as a refund
    of it by check. `posted` False: this check was recorded before."""
    number = (check_number or "").strip()
    if not CHECK_NUMBER.fullmatch(number):
        raise InvalidInput(
            "check_number", "Enter the check's number: letters, digits or dashes, up to 20."
        )
    store = services.store
    key = f"refund-check-{account_number}-{number}"
    if store.claim_completed(REFUND_CLAIM, key):  # this check was recorded before
        refund_id = f"check-{account_number}-{number}"
        book = store.load_book(account_number, [(KeyKind.REFUND, refund_id)])
        owner = book.owners.get((KeyKind.REFUND, refund_id))
        recorded = store.get_payment(owner) if owner else None
        if recorded is not None:
            return PostingResult(payment=recorded, posted=False)
    view = account_view(services, account_number)
    cents = parse_amount(amount_text)
    if cents <= 0:
        raise InvalidInput("amount", "The amount must be more than $0.00.")
    if cents > view.credit_cents:
        held = format_cents(view.credit_cents)
        raise InvalidInput("amount", f"The account's credit is {held}: refund at most that.")
    payment = next(
        (p for p in view.payments if refundable_cents(services, p.payment_id) >= cents), None
    )
    if payment is None:
        raise InvalidInput(
            "amount", "No single payment holds that much of the credit: refund it in parts."
        )
    now = services.clock.now()
    payload = claim_payload(
        payment_id=payment.payment_id,
        cents=cents,
        actor=actor,
        address=address,
        check_number=number,
    )
    if not store.claim(REFUND_CLAIM, key, now, stale_before(now), payload=payload):
        if store.claim_completed(REFUND_CLAIM, key):
            return PostingResult(payment=payment, posted=False)
        raise InvalidInput("check_number", "This check is being recorded right now.")
    return _record_check_refund(services, key, payment, cents, number, actor, address)


def _record_check_refund(
    services: Services,
    key: str,
    payment: Payment,
    cents: int,
    number: str,
    actor: str,
    address: str,
) -> PostingResult:
    outcome = RefundOutcome(f"check-{payment.account_number}-{number}", cents, key)
    try:
        return post_requested_refund(
            services,
            key,
            payment,
            outcome,
            actor,
            address,
            note=f" by check {number} from the account's credit",
            how=f"by check number {number}",
        )
    except InvalidInput:
        raise
    except ValueError as exc:  # the check's number names another payment's refund
        services.store.drop_claim(REFUND_CLAIM, key)
        raise InvalidInput(
            "check_number", f"Check {number} was recorded before, for another refund."
        ) from exc
