"""Notifications from the card processor: verified, recorded once, then applied."""

import logging
from datetime import timedelta
from enum import StrEnum

from portal.bootstrap import Services
from portal.services.errors import PaymentNotFound
from portal.services.payments import apply_or_escalate

log = logging.getLogger(__name__)
# A claim this old and never finished belongs to a delivery that died (a Lambda timeout):
# the next delivery of the same event takes it over.
ABANDONED_AFTER = timedelta(minutes=5)
EVENT_CLAIM = "gateway-event"


class EventInProgress(Exception):
    """Another delivery of the same event is being applied right now."""


class Outcome(StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"  # not about a portal payment, or a kind the portal does not use
    ESCALATED = "escalated"  # can never be applied: nothing changed, a person was told


def receive_notification(services: Services, payload: bytes, signature: str | None) -> Outcome:
    """Verify the raw body, record the event id before acting, apply it.

    WebhookRejected when the notification is not provably the processor's; PaymentNotReady
    when it must be delivered again later (the claim is given up, so it will be applied).
    An event that can never be applied is acknowledged (ESCALATED) so it is not sent again.
    """
    event = services.payments.parse_webhook(payload, signature)
    if event is None:
        return Outcome.IGNORED
    store, now = services.store, services.clock.now()
    if event.event_id and not store.claim_message(
        EVENT_CLAIM, event.event_id, now, stale_before=now - ABANDONED_AFTER
    ):
        if store.message_sent(EVENT_CLAIM, event.event_id):
            return Outcome.DUPLICATE
        # Another delivery holds it: if that one dies, this answer makes Stripe try again.
        raise EventInProgress(event.event_id)
    try:
        escalated = apply_or_escalate(services, event)
    except PaymentNotFound:
        log.warning("%s %s names a payment this portal does not have", event.kind, event.event_id)
        outcome = Outcome.IGNORED
    except BaseException:
        if event.event_id:
            store.release_message(EVENT_CLAIM, event.event_id)
        raise
    else:
        outcome = Outcome.ESCALATED if escalated else Outcome.PROCESSED
    if event.event_id:
        store.mark_message_sent(EVENT_CLAIM, event.event_id, services.clock.now())
    log.info("gateway event %s (%s): %s", event.event_id, event.kind, outcome)
    return outcome
