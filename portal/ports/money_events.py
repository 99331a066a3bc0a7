"""The money events port: every money event a store committed, in one order that never
changes, read page by page after a position."""

from dataclasses import dataclass
from typing import Protocol

from portal.domain.money_events import MoneyEvent


@dataclass(frozen=True)
class EventPage:
    """Events after the position asked for, in order; `position` is where the next read
    starts (the same position when nothing is new)."""

    events: tuple[MoneyEvent, ...]
    position: int


class MoneyEvents(Protocol):
    def money_events(self, after: int, limit: int) -> EventPage:
        """Up to `limit` events after `position` `after` (0: from the first), in the order
        they were committed: an event committed after a read never gets a position at or
        before that read's `position`, so reading on from it never skips one."""
