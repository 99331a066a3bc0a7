"""Scheduled plan charges: Zappa event function "functions.plans.handler".

EventBridge calls it once a day (zappa_settings.json `events`). It builds the services on
the first call of a cold start (functions/reminders.py keeps them), runs the same charge
run as `portal plans charge`, writes one JSON line to the log and returns the four counts.
An exception propagates, so Lambda records a failed run and EventBridge's retry runs it
again; every try is claimed once in the store and charged with the processor's idempotency
key, so a retry never charges an installment twice.
"""

from collections.abc import Mapping
from typing import Any

from functions.reminders import container_services


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Charge what is due as of now; returns {"charged", "failed", "skipped", "defaulted"}."""
    from portal.services.plan_charges import run_plan_charges, summary_json

    services = container_services()
    summary = run_plan_charges(services, as_of=services.clock.now())
    print(summary_json(summary), flush=True)
    return summary.counts()
