"""The daily sweep of unfinished claims: nothing claimed is left without a path that
finishes it.

A claim never marked done that was released (its send failed; its event must come again)
or is older than the stale window (its holder died) is finished here, by its kind's
finisher, from what the claim keeps (its payload): a gateway event is applied again
without asking the processor, a receipt or statement notice is sent, a reminder is decided
again for its account. Each finisher takes the claim over through the same claim a live
request would use, so a sweep racing a request (or another sweep) finishes it once.

The reminder run (`portal reminders`, functions.reminders.handler) runs it after the day's
reminders. A kind with no finisher is listed and left (logged) until one is added to
FINISHERS.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from portal.domain.dunning import Stage
from portal.ports.claims import Claim
from portal.services.cases import CASE_UPDATE_CLAIM, finish_case_update
from portal.services.claims import Finish, payload_fields, stale_before
from portal.services.context import Services
from portal.services.errors import PaymentNotReady
from portal.services.notices import (
    STATEMENT_CLAIM,
    Delivery,
    send_once,
    statement_notice_for,
)
from portal.services.plan_charges import PLAN_CHARGE_CLAIM, finish_plan_charge
from portal.services.plan_notices import (
    DEFAULTED_CLAIM,
    FAILED_CLAIM,
    UPCOMING_CLAIM,
    finish_plan_notice,
)
from portal.services.plans import AGREEMENT_CLAIM, finish_agreement_copy
from portal.services.receipts import RECEIPT_CLAIM, receipt_message
from portal.services.refund_notices import REFUND_NOTICE_CLAIM, finish_refund_notice
from portal.services.refunds import REFUND_CLAIM, finish_refund_request
from portal.services.reminders import (
    TEXT_STAGES,
    finish_reminder_claim,
    finish_text_reminder_claim,
    text_kind,
)
from portal.services.staff_pay_links import PAY_LINK_CLAIM, finish_pay_link_claim
from portal.services.texting import INBOUND_CLAIM, finish_inbound_claim
from portal.services.webhooks import (
    EVENT_CLAIM,
    EventInProgress,
    ReceiptPending,
    apply_event_once,
    event_from_payload,
)

log = logging.getLogger(__name__)
Finisher = Callable[[Services, Claim, date], Finish]


@dataclass
class SweepSummary:
    found: int = 0  # unfinished claims listed (released, or older than the stale window)
    done: int = 0
    dropped: int = 0
    left: int = 0  # still unfinished: tried again by the next sweep

    @property
    def closed(self) -> int:
        return self.done + self.dropped


def sweep_claims(
    services: Services, today: date, dry_run: bool = False, limit: int = 500
) -> SweepSummary:
    """Finish every unfinished claim that is released or stale; a dry run only counts them
    (those it has a finisher for as `done`)."""
    claims = services.store.unfinished_claims(stale_before(services.clock.now()), limit)
    summary = SweepSummary(found=len(claims))
    for claim in claims:
        finisher = FINISHERS.get(claim.kind)
        if finisher is None:
            log.warning("sweep: no way to finish a %s claim (%s)", claim.kind, claim.key)
            outcome = Finish.LEFT
        elif dry_run:
            outcome = Finish.DONE
        else:
            outcome = _finish(services, finisher, claim, today)
        if outcome is Finish.DONE:
            summary.done += 1
        elif outcome is Finish.DROPPED:
            summary.dropped += 1
        else:
            summary.left += 1
    if claims:
        log.info(
            "sweep of unfinished claims: found=%d done=%d dropped=%d left=%d",
            summary.found,
            summary.done,
            summary.dropped,
            summary.left,
        )
    return summary


def _finish(services: Services, finisher: Finisher, claim: Claim, today: date) -> Finish:
    try:
        outcome = finisher(services, claim, today)
    except Exception:
        # One claim's trouble must not stop the others; it stays unfinished for tomorrow.
        log.exception("sweep: the %s claim %s could not be finished", claim.kind, claim.key)
        return Finish.LEFT
    log.info("sweep: %s %s: %s", claim.kind, claim.key, outcome)
    return outcome


# -- finishers, by claim kind -----------------------------------------------------------------


def finish_event(services: Services, claim: Claim, today: date) -> Finish:
    """Apply the gateway event the claim keeps, as a delivery of it would."""
    event = event_from_payload(claim.payload)
    if event is None or event.event_id != claim.key:
        log.warning("sweep: the gateway event claim %s keeps no event to apply", claim.key)
        return Finish.LEFT
    try:
        apply_event_once(services, event)
    except (EventInProgress, ReceiptPending, PaymentNotReady) as exc:
        log.info("sweep: gateway event %s not finished yet: %s", claim.key, type(exc).__name__)
        return Finish.LEFT
    return Finish.DONE


def finish_receipt(services: Services, claim: Claim, today: date) -> Finish:
    payment_id = str(payload_fields(claim.payload).get("payment_id") or claim.key)
    payment = services.store.get_payment(payment_id)
    message = receipt_message(services, payment) if payment and payment.posted_at else None
    if payment is None or message is None:
        return drop_claim(services, claim, "no receipt to send (no posted payment or address)")
    outcome = send_once(
        services, RECEIPT_CLAIM, claim.key, message, payment.account_number, claim.payload
    )
    return _finished(services, claim, outcome)


def finish_statement_notice(services: Services, claim: Claim, today: date) -> Finish:
    statement_id = str(payload_fields(claim.payload).get("statement_id") or claim.key)
    statement = services.store.get_statement(statement_id)
    account = services.store.get_account(statement.account_number) if statement else None
    message = statement_notice_for(services, account, statement) if statement and account else None
    if account is None or message is None:
        return drop_claim(services, claim, "no statement notice to send (no statement or address)")
    outcome = send_once(
        services, STATEMENT_CLAIM, claim.key, message, account.account_number, claim.payload
    )
    return _finished(services, claim, outcome)


def drop_claim(services: Services, claim: Claim, reason: str) -> Finish:
    """Close a claim with nothing left to send, once it is taken over (not from a live
    holder)."""
    now = services.clock.now()
    if not services.store.claim(claim.kind, claim.key, now, stale_before(now)):
        return Finish.LEFT
    services.store.drop_claim(claim.kind, claim.key)
    log.info("sweep: %s %s dropped: %s", claim.kind, claim.key, reason)
    return Finish.DROPPED


def _finished(services: Services, claim: Claim, outcome: Delivery | None) -> Finish:
    if outcome is None:
        # Taken by someone else since it was listed (an event finished just before sent it).
        done = services.store.claim_completed(claim.kind, claim.key)
        return Finish.DONE if done else Finish.LEFT
    return Finish.LEFT if outcome is Delivery.FAILED else Finish.DONE


FINISHERS: dict[str, Finisher] = {
    REFUND_CLAIM: finish_refund_request,
    EVENT_CLAIM: finish_event,
    RECEIPT_CLAIM: finish_receipt,
    STATEMENT_CLAIM: finish_statement_notice,
    PLAN_CHARGE_CLAIM: finish_plan_charge,
    AGREEMENT_CLAIM: finish_agreement_copy,
    REFUND_NOTICE_CLAIM: finish_refund_notice,
    UPCOMING_CLAIM: finish_plan_notice,
    FAILED_CLAIM: finish_plan_notice,
    DEFAULTED_CLAIM: finish_plan_notice,
    CASE_UPDATE_CLAIM: finish_case_update,
    INBOUND_CLAIM: finish_inbound_claim,
    PAY_LINK_CLAIM: finish_pay_link_claim,
    **{stage.value: finish_reminder_claim for stage in Stage},
    **{text_kind(stage): finish_text_reminder_claim for stage in TEXT_STAGES},
}
