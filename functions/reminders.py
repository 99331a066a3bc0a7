"""Scheduled payment reminders: Zappa event function "functions.reminders.handler".

EventBridge calls it once a day (zappa_settings.json `events`). It builds the services on
the first call of a cold start and reuses them while the container stays warm, runs the
same reminder service as `portal reminders` (which ends with the sweep of unfinished
claims), writes one JSON line to the log (the four counts, `swept` and `unfinished`) and
returns the four counts. An exception propagates, so Lambda records a failed run and EventBridge's
retry runs it again; every reminder send is claimed once in the store, so a retry never
sends a reminder twice.

With a work queue (PORTAL_WORK_QUEUE_URL) it only plans: the due accounts go on the queue
in batches for `functions.workers.handler`, the sweep runs here, and the four counts are 0
(the workers log what they send); the log line and the answer add `queued_batches` and
`queued_accounts`.
"""

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from portal.services.context import Services

COUNTS = ("sent", "skipped", "failed", "escalated")
SWEEP_COUNTS = ("swept", "unfinished")  # in the log line only: the return value is COUNTS

_container: "Services | None" = None


def container_services() -> "Services":
    """The services of this container, built on first use (no I/O at import time)."""
    global _container
    if _container is None:
        from portal.bootstrap import build_services
        from portal.config import Settings

        _container = build_services(Settings.from_env())
    return _container


def handler(event: Mapping[str, Any] | None = None, context: Any = None) -> dict[str, int]:
    """Run the reminder schedule as of now; returns {"sent", "skipped", "failed", "escalated"}."""
    from portal.services.reminders import run_reminders

    current = container_services()
    if current.work_queue is not None:
        return _plan(current)
    summary = run_reminders(current, as_of=current.clock.now())
    counts = summary_counts(summary)
    logged = {"job": "reminders", **counts, **sweep_counts(summary)}
    print(json.dumps(logged, sort_keys=True), flush=True)
    return counts


def _plan(current: "Services") -> dict[str, int]:
    from portal.services.fanout import plan_reminders

    queued = plan_reminders(current, as_of=current.clock.now())
    counts = {name: 0 for name in COUNTS}
    planned = {"queued_batches": queued.batches, "queued_accounts": queued.accounts}
    swept = {"swept": queued.swept, "unfinished": queued.unfinished}
    print(
        json.dumps({"job": "reminders", **counts, **planned, **swept}, sort_keys=True), flush=True
    )
    return {**counts, **planned}


def summary_counts(summary: Any) -> dict[str, int]:
    """The four counts of a reminder summary, whether a mapping or an object with attributes."""
    if isinstance(summary, Mapping):
        return {name: int(summary[name]) for name in COUNTS}
    return {name: int(getattr(summary, name)) for name in COUNTS}


def sweep_counts(summary: Any) -> dict[str, int]:
    """What the sweep of unfinished claims did in the run (0 when the summary has none)."""
    if isinstance(summary, Mapping):
        return {name: int(summary.get(name, 0)) for name in SWEEP_COUNTS}
    return {name: int(getattr(summary, name, 0)) for name in SWEEP_COUNTS}
