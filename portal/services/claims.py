"""Claims: a write that must happen once (a gateway event, a receipt, a notice, a reminder,
a refund request) is claimed in the store first, then done, then marked done.

Claims that belong together (an event and the receipt it sends) expire together: a claim
never marked done and older than CLAIM_STALE_AFTER belongs to a holder that died, and the
next attempt (or the daily sweep, portal/services/sweep.py) takes it over. A claim keeps a
payload with what is needed to finish it without the request that made it.
"""

import json
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

# Longer than anything a live holder does between claim and mark (one SMTP send gives up
# after 15 s; a webhook request after 30 s).
CLAIM_STALE_AFTER = timedelta(minutes=10)


class Finish(StrEnum):
    """What finishing an unfinished claim came to."""

    DONE = "done"  # finished now: applied, sent (or refused for good)
    DROPPED = "dropped"  # nothing is owed any more: the claim is closed without a send
    LEFT = "left"  # still unfinished (failed again, or held by a live holder): next run


def stale_before(now: datetime) -> datetime:
    """Claims made before this and never marked done are taken over."""
    return now - CLAIM_STALE_AFTER


def claim_payload(**fields: Any) -> str:
    """What a claim keeps to be finished later, as JSON text (plain values only)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"))


def payload_fields(payload: str) -> dict[str, Any]:
    """The fields of a claim's payload; {} when it has none (or is not ours)."""
    try:
        fields = json.loads(payload) if payload else {}
    except ValueError:
        return {}
    return fields if isinstance(fields, dict) else {}
