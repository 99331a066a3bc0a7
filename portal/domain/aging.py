"""Aging: outstanding balances grouped by days past the statement's due date."""

from collections.abc import Iterable
from datetime import date, datetime, time, tzinfo

BUCKETS = ("current", "1-30", "31-60", "61-90", "91-120", "over 120")


def practice_date(at: datetime, tz: tzinfo) -> date:
    """The calendar date at the practice for a UTC instant."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware (UTC)")
    return at.astimezone(tz).date()


def practice_midnight(day: date, tz: tzinfo) -> datetime:
    """The instant a day starts on the practice's calendar."""
    return datetime.combine(day, time.min, tzinfo=tz)


def days_past_due(due_date: date, today: date) -> int:
    return max(0, (today - due_date).days)


def bucket(due_date: date, today: date) -> str:
    days = days_past_due(due_date, today)
    if days == 0:
        return "current"
    for upper, name in ((30, "1-30"), (60, "31-60"), (90, "61-90"), (120, "91-120")):
        if days <= upper:
            return name
    return "over 120"


def aging(open_balances: Iterable[tuple[date, int]], today: date) -> dict[str, int]:
    """Sum (due_date, balance_cents) pairs into the six buckets, every bucket present."""
    totals = dict.fromkeys(BUCKETS, 0)
    for due_date, cents in open_balances:
        if cents > 0:
            totals[bucket(due_date, today)] += cents
    return totals
