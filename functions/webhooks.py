"""Outbound webhooks to the practice system: Zappa event function "functions.webhooks.handler".

EventBridge calls it every 5 minutes (zappa_settings.json `events`). It makes a delivery
for each new money event and POSTs what is due (portal/services/outbound_webhooks.py),
writes one JSON line to the log and returns the counts. Without
PORTAL_OUTBOUND_WEBHOOK_URL it does nothing. Deliveries are recorded conditionally, so an
overlapping or retried run never records one twice; a receiver may get an event again (at
least once) and dedupes by its id; a run takes each delivery (a lease) before its POST, so
two runs at once POST it once.

With a work queue (PORTAL_WORK_QUEUE_URL) it only plans: it makes the deliveries of new
events, then the deliveries due go on the queue in batches of event ids for
`functions.workers.handler`, and the other three counts are 0 (the workers log what they
POST); the log line and the answer add `queued_batches` and `queued_deliveries`.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from functions.reminders import container_services

if TYPE_CHECKING:
    from portal.services.context import Services


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Deliver what is due; returns {"queued", "delivered", "retrying", "failed"}."""
    from portal.services.outbound_webhooks import deliver_webhooks

    services = container_services()
    if services.work_queue is not None:
        return _plan(services)
    run = deliver_webhooks(services)
    print(run.summary_json(), flush=True)
    return run.counts()


def _plan(services: "Services") -> dict[str, int]:
    from portal.services.fanout import plan_webhooks
    from portal.services.log_lines import emit

    queued = plan_webhooks(services, as_of=services.clock.now())
    counts = {"queued": queued.made, "delivered": 0, "retrying": 0, "failed": 0}
    planned = {"queued_batches": queued.batches, "queued_deliveries": queued.accounts}
    emit({"job": "webhooks", **counts, **planned})
    return {**counts, **planned}
