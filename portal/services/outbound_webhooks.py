"""Outbound webhooks to the practice system (PORTAL_OUTBOUND_WEBHOOK_URL): the scheduled run
makes a delivery for each new money event and POSTs what is due, one signed POST per event;
a failed try waits longer each time, for a day, then staff may try it again by hand. Never
run inside a patient's request: a slow receiver holds up only the scheduled function."""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from portal.domain.outbound import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    Delivery,
    DeliveryState,
    delivery_body,
    signature_header,
)
from portal.domain.staff import AuditAction
from portal.ports.outbound import DeliveryFailed, WebhookSender
from portal.services.audit import audit
from portal.services.context import Services
from portal.services.errors import NotFound

PAGE = 50  # events read at once when making deliveries
DUE_AT_ONCE = 500  # deliveries tried in one run, at most (the time budget comes first)
RUN_BUDGET = timedelta(seconds=15)  # no new POST after this (+ a 10 s POST < the 30 s Lambda)


@dataclass(frozen=True)
class DeliveryRun:
    queued: int = 0
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def counts(self) -> dict[str, int]:
        return {
            "queued": self.queued,
            "delivered": self.delivered,
            "retrying": self.retrying,
            "failed": self.failed,
        }

    def summary_line(self) -> str:
        return " ".join(f"{k}={v}" for k, v in self.counts().items())

    def summary_json(self) -> str:
        return json.dumps({"job": "webhooks", **self.counts()})


def queue_deliveries(services: Services, at: datetime) -> int:
    """A delivery for every money event after the last one given one; how many."""
    store = services.store
    added = 0
    for _ in range(1000):
        after = store.webhook_position()
        page = store.money_events(after, PAGE)
        if not page.events:
            break
        if store.add_deliveries(after, page, at):
            added += len(page.events)
    return added


def deliver_webhooks(services: Services) -> DeliveryRun:
    """Make deliveries for new events and POST those due; nothing without a receiver."""
    sender = services.webhooks
    if sender is None:
        return DeliveryRun()
    started = services.clock.now()
    queued = queue_deliveries(services, started)
    delivered = retrying = failed = 0
    for delivery in services.store.due_deliveries(started, DUE_AT_ONCE):
        now = services.clock.now()
        if now - started > RUN_BUDGET:
            break
        after = send(services, sender, delivery, now)
        if not services.store.save_delivery(delivery, after):
            continue  # another run tried it meanwhile and wrote what it found
        if after.state is DeliveryState.DELIVERED:
            delivered += 1
        elif after.state is DeliveryState.FAILED:
            failed += 1
        else:
            retrying += 1
    return DeliveryRun(queued, delivered, retrying, failed)


def send(services: Services, sender: WebhookSender, delivery: Delivery, now: datetime) -> Delivery:
    body = delivery_body(delivery.event)
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "patient-billing-portal",
        EVENT_ID_HEADER: delivery.event_id,
        SIGNATURE_HEADER: signature_header(services.settings.outbound_webhook_secret, now, body),
    }
    try:
        sender.post(body, headers)
    except DeliveryFailed as exc:
        return delivery.attempt_failed(str(exc), services.clock.now())
    return delivery.succeeded(services.clock.now())


def failed_deliveries(services: Services, actor: str, address: str = "") -> list[Delivery]:
    """What staff see: deliveries given up on (the read is audited)."""
    audit(services, actor, AuditAction.VIEW_WEBHOOK_FAILURES, address=address)
    return services.store.failed_deliveries()


def retry_delivery(services: Services, event_id: str, actor: str, address: str = "") -> bool:
    """Staff try a failed delivery again: the next scheduled run POSTs it, and tries go on
    for another day. False when it is not failed (now); NotFound for an unknown one."""
    delivery = services.store.get_delivery(event_id)
    if delivery is None:
        raise NotFound(f"No webhook delivery for event {event_id}.")
    if delivery.state is not DeliveryState.FAILED:
        return False
    if not services.store.save_delivery(delivery, delivery.retried(services.clock.now())):
        return False
    audit(
        services,
        actor,
        AuditAction.RETRY_WEBHOOK,
        delivery.event.account_number,
        subject=event_id,
        address=address,
    )
    return True
