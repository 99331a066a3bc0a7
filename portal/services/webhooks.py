"""Notifications from the card processor: verified, recorded once, then applied."""

import dataclasses
import logging
from enum import StrEnum

from portal.ports.payments import EventKind, GatewayEvent
from portal.services.claims import claim_payload, payload_fields, stale_before
from portal.services.context import Services
from portal.services.errors import PaymentNotFound
from portal.services.payments import apply_or_escalate
from portal.services.receipts import receipt_unsent

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
    return apply_event_once(services, event)


def apply_event_once(services: Services, event: GatewayEvent) -> Outcome:
    """Claim the event (taking over a released or stale claim), apply it, mark it done once
    everything it must do is done (its receipt included)."""
    store, now = services.store, services.clock.now()
    if event.event_id and not store.claim(
        EVENT_CLAIM,
        event.event_id,
        now,
        stale_before=stale_before(now),
        payload=event_payload(event),
    ):
        if store.claim_completed(EVENT_CLAIM, event.event_id):
            return Outcome.DUPLICATE
        # Another delivery holds it: if that one dies, this answer makes Stripe try again.
        raise EventInProgress(event.event_id)
    try:
        escalated = apply_or_escalate(services, event)
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


def _check_receipt(services: Services, event: GatewayEvent) -> None:
    """A paid event is done only once its receipt is: otherwise a delivery that died while
    sending it would leave the receipt to nobody."""
    if event.kind is not EventKind.PAYMENT_SUCCEEDED:
        return
    payment_id = event.payment_id
    if not payment_id and event.reference:
        found = services.store.payment_by_reference(event.reference)
        payment_id = found.payment_id if found is not None else ""
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
