"""Outbound webhooks to the practice system (PORTAL_OUTBOUND_WEBHOOK_URL): the scheduled run
makes a delivery for each new money event and POSTs what is due, one signed POST per event;
a failed try waits longer each time, for a day, then staff may try it again by hand. Never
run inside a patient's request: a slow receiver holds up only the scheduled function."""

import json
from collections import Counter
from collections.abc import Sequence
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
    outcomes: Counter[DeliveryState] = Counter()
    for delivery in services.store.due_deliveries(started, DUE_AT_ONCE):
        now = services.clock.now()
        if now - started > RUN_BUDGET:
            break
        state = deliver_one(services, sender, delivery, now)
        if state is not None:
            outcomes[state] += 1
    return DeliveryRun(
        queued,
        outcomes[DeliveryState.DELIVERED],
        outcomes[DeliveryState.PENDING],
        outcomes[DeliveryState.FAILED],
    )


def deliver_listed(services: Services, event_ids: Sequence[str]) -> dict[str, int]:
    """A fan-out worker's batch: POST each listed delivery still due, as the scheduled run
    does; one no longer pending or due (done, or taken by another run) is skipped, and so is
    what is left when the time is up (the next plan queues it again)."""
    counts = {"delivered": 0, "retrying": 0, "failed": 0, "skipped": 0}
    sender = services.webhooks
    started = services.clock.now()
    for n, event_id in enumerate(event_ids):
        now = services.clock.now()
        if sender is None or now - started > RUN_BUDGET:
            counts["skipped"] += len(event_ids) - n
            break
        delivery = services.store.get_delivery(event_id)
        state = None
        if delivery and delivery.state is DeliveryState.PENDING and delivery.next_at <= now:
            state = deliver_one(services, sender, delivery, now)
        counts[_COUNTED[state] if state else "skipped"] += 1
    return counts


_COUNTED = {
    DeliveryState.DELIVERED: "delivered",
    DeliveryState.PENDING: "retrying",
    DeliveryState.FAILED: "failed",
}


def deliver_one(
    services: Services, sender: WebhookSender, delivery: Delivery, now: datetime
) -> DeliveryState | None:
    """Take the delivery (saved leased: no other run POSTs it meanwhile), POST it and record
    what came of it; its new state, or None when another run took or changed it first."""
    taken = delivery.leased(now)
    if not services.store.save_delivery(delivery, taken):
        return None
    after = send(services, sender, taken, now)
    if not services.store.save_delivery(taken, after):
        return None
    return after.state


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
