"""Scheduled plan charges: Zappa event function "functions.plans.handler".

EventBridge calls it once a day (zappa_settings.json `events`). It builds the services on
the first call of a cold start (functions/reminders.py keeps them), runs the same charge
run as `portal plans charge`, writes one JSON line to the log and returns the four counts.
An exception propagates, so Lambda records a failed run and EventBridge's retry runs it
again; every try is claimed once in the store and charged with the processor's idempotency
key, so a retry never charges an installment twice.

With a work queue (PORTAL_WORK_QUEUE_URL) it only plans: the ids of the plans due go on the
queue in batches for `functions.workers.handler`, and the four counts are 0 (the workers
log what they charge); the log line and the answer add `queued_batches` and
`queued_plans`.
"""

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from functions.reminders import container_services

if TYPE_CHECKING:
    from portal.services.context import Services


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Charge what is due as of now; returns {"charged", "failed", "skipped", "defaulted"}."""
    from portal.services.plan_charges import run_plan_charges, summary_json

    services = container_services()
    if services.work_queue is not None:
        return _plan(services)
    summary = run_plan_charges(services, as_of=services.clock.now())
    print(summary_json(summary), flush=True)
    return summary.counts()


def _plan(services: "Services") -> dict[str, int]:
    from portal.services.fanout import plan_plan_charges
    from portal.services.log_lines import emit

    queued = plan_plan_charges(services, as_of=services.clock.now())
    counts = {"charged": 0, "failed": 0, "skipped": 0, "defaulted": 0}
    planned = {"queued_batches": queued.batches, "queued_plans": queued.accounts}
    emit({"job": "plans", **counts, **planned})
    return {**counts, **planned}
