"""Notifications from the card processor: verified, recorded once, then applied."""

import logging
from datetime import timedelta
from enum import StrEnum

from portal.bootstrap import Services
from portal.domain.staff import EscalationKind
from portal.services.errors import PaymentNotFound, UnpostableEvent
from portal.services.payments import SYSTEM, apply_gateway_event
from portal.services.staff_actions import open_escalation

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
    ESCALATED = "escalated"  # signed but never applicable: a person looks at it


def receive_notification(services: Services, payload: bytes, signature: str | None) -> Outcome:
    """Verify the raw body, record the event id before acting, apply it.

    WebhookRejected when the notification is not provably the processor's; PaymentNotReady
    when it must be delivered again later (the claim is given up, so it will be applied).
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
        apply_gateway_event(services, event)
    except PaymentNotFound:
        log.warning("%s %s names a payment this portal does not have", event.kind, event.event_id)
        outcome = Outcome.IGNORED
    except UnpostableEvent as exc:
        # Signed but never applicable: acknowledged (so it is not sent for days), no money
        # changed, and a person is told which event it was.
        open_escalation(
            services,
            SYSTEM,
            exc.account_number,
            EscalationKind.OTHER,
            f"Card processor event {event.event_id or event.reference}: {exc.message}",
            key=f"gateway-event:{event.event_id or event.reference}",
        )
        outcome = Outcome.ESCALATED
    except BaseException:
        if event.event_id:
            store.release_message(EVENT_CLAIM, event.event_id)
        raise
    else:
        outcome = Outcome.PROCESSED
    if event.event_id:
        store.mark_message_sent(EVENT_CLAIM, event.event_id, services.clock.now())
    log.info("gateway event %s (%s): %s", event.event_id, event.kind, outcome)
    return outcome
