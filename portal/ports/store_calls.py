"""How many calls the store made for the work in hand (one request, one job batch), for the
portal's JSON log lines (docs/operations.md). A context variable, so requests served on
threads count apart; a read fanned out to threads counts into its request's tally when the
threads run in a copy of the request's context.

The adapters count: a DynamoDB API call (every retry and page included) or a SQLite
transaction is one call."""

from contextvars import ContextVar
from dataclasses import dataclass


@dataclass
class Tally:
    calls: int = 0


_TALLY: ContextVar[Tally | None] = ContextVar("portal_store_calls", default=None)


def begin() -> Tally:
    """Start counting afresh for the work about to run in this context."""
    tally = Tally()
    _TALLY.set(tally)
    return tally


def count(n: int = 1) -> None:
    tally = _TALLY.get()
    if tally is not None:
        tally.calls += n


def current() -> int:
    tally = _TALLY.get()
    return tally.calls if tally is not None else 0
