"""Outbound webhooks to the practice system: one signed POST per money event, tried again
with backoff for a day, then listed for staff to try again by hand."""

import hashlib
import hmac
import json
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from portal.domain.money_events import MoneyEvent

SIGNATURE_HEADER = "X-Portal-Signature"
EVENT_ID_HEADER = "X-Portal-Event-Id"
# Waits after the 1st, 2nd, ... failed try; the last repeats until a day has passed.
RETRY_DELAYS = tuple(timedelta(minutes=m) for m in (1, 5, 15, 30, 60, 120, 240, 480))
RETRY_FOR = timedelta(days=1)
# A run takes a delivery for this long before its POST (10 s at most) and the record after
# it: another run skips it meanwhile, and tries it again after it if the first one died.
LEASE = timedelta(minutes=2)
MAX_ERROR = 300


class DeliveryState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"  # tried for a day: waits for staff


@dataclass(frozen=True)
class Delivery:
    event: MoneyEvent
    position: int  # where the page of events it was read in ends (orders deliveries)
    state: DeliveryState
    first_at: datetime  # the first try (or staff's retry): tries go on for a day from it
    next_at: datetime
    attempts: int = 0
    last_error: str = ""
    done_at: datetime | None = None
    order: int = 0  # the event's place in its page (with `position`: the events' order)

    @property
    def event_id(self) -> str:
        return self.event.event_id

    def leased(self, at: datetime) -> "Delivery":
        """Taken by a run at `at`: not due for anyone else until the lease is over."""
        return replace(self, next_at=at + LEASE)

    def succeeded(self, at: datetime) -> "Delivery":
        return replace(self, state=DeliveryState.DELIVERED, attempts=self.attempts + 1, done_at=at)

    def attempt_failed(self, error: str, at: datetime) -> "Delivery":
        """Another try after the next wait, the last one a day after the first; FAILED
        when that day is over."""
        attempts = self.attempts + 1
        error = error[:MAX_ERROR]
        give_up_at = self.first_at + RETRY_FOR
        if at >= give_up_at:
            return replace(
                self,
                state=DeliveryState.FAILED,
                attempts=attempts,
                last_error=error,
                done_at=at,
            )
        wait = RETRY_DELAYS[min(attempts, len(RETRY_DELAYS)) - 1]
        return replace(
            self, attempts=attempts, last_error=error, next_at=min(at + wait, give_up_at)
        )

    def retried(self, at: datetime) -> "Delivery":
        """Staff try a failed delivery again: a new day of tries from now."""
        if self.state is not DeliveryState.FAILED:
            raise ValueError(f"The delivery of {self.event_id} is {self.state}, not failed.")
        return replace(self, state=DeliveryState.PENDING, first_at=at, next_at=at, done_at=None)


def new_delivery(event: MoneyEvent, position: int, at: datetime, order: int = 0) -> Delivery:
    return Delivery(event, position, DeliveryState.PENDING, first_at=at, next_at=at, order=order)


def delivery_body(event: MoneyEvent) -> bytes:
    return json.dumps(event.to_json(), sort_keys=True, separators=(",", ":")).encode()


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 (hex) of `<timestamp>.<body>` with the shared secret."""
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, at: datetime, body: bytes) -> str:
    timestamp = int(at.timestamp())
    return f"t={timestamp},v1={signature(secret, timestamp, body)}"


def verify_signature(secret: str, header: str, body: bytes) -> bool:
    """Whether `header` (as signature_header makes it) signs `body` with `secret`: what a
    receiver checks (it should also refuse an old timestamp)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    if not parts.get("t", "").isdigit() or "v1" not in parts:
        return False
    return hmac.compare_digest(parts["v1"], signature(secret, int(parts["t"]), body))
