"""Outbound webhooks to the practice system: Zappa event function "functions.webhooks.handler".

EventBridge calls it every 5 minutes (zappa_settings.json `events`). It makes a delivery
for each new money event and POSTs what is due (portal/services/outbound_webhooks.py),
writes one JSON line to the log and returns the counts. Without
PORTAL_OUTBOUND_WEBHOOK_URL it does nothing. Deliveries are recorded conditionally, so an
overlapping or retried run never records one twice; a receiver may get an event again (at
least once) and dedupes by its id.
"""

from collections.abc import Mapping
from typing import Any

from functions.reminders import container_services


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Deliver what is due; returns {"queued", "delivered", "retrying", "failed"}."""
    from portal.services.outbound_webhooks import deliver_webhooks

    run = deliver_webhooks(container_services())
    print(run.summary_json(), flush=True)
    return run.counts()
