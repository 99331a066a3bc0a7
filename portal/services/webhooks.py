"""Notifications from the card processor: verified, recorded once, then applied."""

import dataclasses
import logging
from enum import StrEnum

from portal.ports.claims import ClaimMark
from portal.ports.ledger import PostingResult
from portal.ports.payments import EventKind, GatewayEvent
from portal.services.claims import claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.errors import PaymentNotFound, PaymentNotReady, UnpostableEvent
from portal.services.ledger import ClaimHeld
from portal.services.notices import Delivery
from portal.services.payments import apply_gateway_event, apply_or_escalate
from portal.services.payouts import record_payout
from portal.services.receipts import receipt_delivery, receipt_unsent

log = logging.getLogger(__name__)
EVENT_CLAIM = "gateway-event"


class EventInProgress(Exception):
    """Another delivery of the same event is being applied right now."""


class ReceiptPending(Exception):
    """The event is applied but its receipt is not sent (the mail server failed, or another
    request holds the receipt's claim): the event stays unfinished, to be delivered again."""


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # not about a portal payment, or a kind the portal does not use
    ESCALATED = "escalated"  # can never be applied: nothing changed, a person was told


def receive_notification(services: Services, payload: bytes, signature: str | None) -> Outcome:
    """Verify the raw body, record the event id before acting, apply it.

    WebhookRejected when the notification is not provably the processor's; PaymentNotReady
    or ReceiptPending when it must be delivered again later (the claim is released, so it
    will be applied: by the next delivery or by the daily sweep). An event that can never be
    applied is acknowledged (ESCALATED) so it is not sent again.
    """
    event = services.payments.parse_webhook(payload, signature)
    if event is None:
        return Outcome.IGNORED
    if event.payout is not None:
        return _record_payout(services, event)
    return apply_event_once(services, event)


def _record_payout(services: Services, event: GatewayEvent) -> Outcome:
    """A payout's event: its record is written once for what the processor lists now (the
    record's own version makes it once; no claim is needed). GatewayError when the processor
    cannot list its lines: nothing is written, and the event comes again."""
    assert event.payout is not None
    written = record_payout(services, event.payout)
    if written is None:
        raise EventInProgress(event.event_id)
    outcome = Outcome.PROCESSED if written else Outcome.DUPLICATE
    log.info("gateway event %s (%s): %s", event.event_id, event.kind, outcome)
    return outcome


def apply_event_once(services: Services, event: GatewayEvent) -> Outcome:
    """Apply the event once. A paid event that posts its payment now is marked done by
    the posting's own write (with its receipt's claim, sent next); any other event is
    claimed first (taking over a released or stale claim), applied, and marked done once
    everything it must do is done (its receipt included)."""
    if event.event_id and event.kind is EventKind.PAYMENT_SUCCEEDED:
        posted = _post_paid_event(services, event)
        if posted is not None:
            return posted
    store, now = services.store, services.clock.now()
    if event.event_id and not store.claim(
        EVENT_CLAIM,
        event.event_id,
        now,
        stale_before=stale_before(now),
        payload=event_payload(event),
    ):
        if store.claim_completed(EVENT_CLAIM, event.event_id):
            if _send_unsent_receipt(services, event):
                return Outcome.PROCESSED
            return Outcome.DUPLICATE
        # Another delivery holds it: if that one dies, this answer makes Stripe try again.
        raise EventInProgress(event.event_id)
    try:
        escalated = apply_or_escalate(services, event) is None
        if not escalated:
            _check_receipt(services, event)
    except PaymentNotFound:
        log.warning("%s %s names a payment this portal does not have", event.kind, event.event_id)
        outcome = Outcome.IGNORED
    except BaseException:
        if event.event_id:
            store.release_claim(EVENT_CLAIM, event.event_id)
        raise
    else:
        outcome = Outcome.ESCALATED if escalated else Outcome.PROCESSED
    if event.event_id:
        store.complete_claim(EVENT_CLAIM, event.event_id, services.clock.now())
    log.info("gateway event %s (%s): %s", event.event_id, event.kind, outcome)
    return outcome


def _post_paid_event(services: Services, event: GatewayEvent) -> Outcome | None:
    """Post a paid event's payment with the event marked done in the same write; None when
    it posted nothing now (posted before, not found, not ready, not postable: the claimed
    path answers, applying it again). A retried posting is refused by the account's
    version, so no claim is needed before it."""
    now = services.clock.now()
    done = ClaimMark(
        EVENT_CLAIM, event.event_id, event_payload(event), done=True, stale_before=stale_before(now)
    )
    try:
        result = apply_gateway_event(services, event, marks=(done,))
    except (PaymentNotFound, PaymentNotReady, UnpostableEvent):
        return None
    except ClaimHeld:
        # Another delivery holds it: if that one dies, this answer makes Stripe try again.
        raise EventInProgress(event.event_id) from None
    if not isinstance(result, PostingResult) or not result.posted:
        return None
    log.info("gateway event %s (%s): %s", event.event_id, event.kind, Outcome.PROCESSED)
    if result.receipt_unsent:
        raise ReceiptPending(result.payment.payment_id)
    return Outcome.PROCESSED


def _send_unsent_receipt(services: Services, event: GatewayEvent) -> bool:
    """For a paid event marked done: its receipt, if still unsent (its sender died, or its
    send failed), is sent now when its claim can be taken over; True when done now.
    EventInProgress while a live sender holds it (the delivery that posted it is still at
    work), ReceiptPending when the send failed again."""
    if event.kind is not EventKind.PAYMENT_SUCCEEDED:
        return False
    payment_id = _payment_id(services, event)
    if not payment_id or not receipt_unsent(services, payment_id):
        return False
    outcome = receipt_delivery(services, payment_id)
    if outcome is None:
        raise EventInProgress(event.event_id)
    if outcome is Delivery.FAILED:
        raise ReceiptPending(payment_id)
    return True


def _payment_id(services: Services, event: GatewayEvent) -> str:
    if event.payment_id or not event.reference:
        return event.payment_id
    found = services.store.payment_by_reference(event.reference)
    return found.payment_id if found is not None else ""


def _check_receipt(services: Services, event: GatewayEvent) -> None:
    """A paid event is done only once its receipt is: otherwise a delivery that died while
    sending it would leave the receipt to nobody."""
    if event.kind is not EventKind.PAYMENT_SUCCEEDED:
        return
    payment_id = _payment_id(services, event)
    if payment_id and receipt_unsent(services, payment_id):
        raise ReceiptPending(payment_id)


def event_payload(event: GatewayEvent) -> str:
    """The parsed event, kept on its claim so the sweep can apply it without the processor."""
    return claim_payload(**dataclasses.asdict(event))


def event_from_payload(payload: str) -> GatewayEvent | None:
    """The event an event claim keeps; None when the payload does not hold one."""
    fields = payload_fields(payload)
    known = {f.name for f in dataclasses.fields(GatewayEvent)}
    try:
        values = {name: value for name, value in fields.items() if name in known}
        values["kind"] = EventKind(values["kind"])
        return GatewayEvent(**values)
    except (KeyError, ValueError, TypeError):
        return None
