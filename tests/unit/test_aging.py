"""Aging buckets and the practice's calendar date."""

from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from portal.domain.aging import BUCKETS, aging, bucket, days_past_due, practice_date

NEW_YORK = ZoneInfo("America/New_York")
DUE = date(2026, 6, 30)


@pytest.mark.parametrize(
    ("days", "name"),
    [
        (-30, "current"),
        (-1, "current"),
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "91-120"),
        (120, "91-120"),
        (121, "over 120"),
        (1000, "over 120"),
    ],
)
def test_bucket_boundaries(days, name):
    assert bucket(DUE, DUE + timedelta(days=days)) == name


def test_days_past_due_is_never_negative():
    assert days_past_due(DUE, DUE - timedelta(days=5)) == 0
    assert days_past_due(DUE, DUE) == 0
    assert days_past_due(DUE, DUE + timedelta(days=45)) == 45


def test_buckets_are_the_six_in_order():
    assert BUCKETS == ("current", "1-30", "31-60", "61-90", "91-120", "over 120")


def test_aging_has_every_bucket_even_when_empty():
    assert aging([], DUE) == dict.fromkeys(BUCKETS, 0)
    assert list(aging([], DUE)) == list(BUCKETS)


def test_aging_sums_into_all_six_buckets():
    today = date(2026, 11, 28)
    balances = [
        (today + timedelta(days=2), 100),  # not yet due
        (today, 200),  # due today
        (today - timedelta(days=1), 300),
        (today - timedelta(days=30), 400),
        (today - timedelta(days=31), 500),
        (today - timedelta(days=60), 600),
        (today - timedelta(days=61), 700),
        (today - timedelta(days=90), 800),
        (today - timedelta(days=91), 900),
        (today - timedelta(days=120), 1000),
        (today - timedelta(days=121), 1100),
        (today - timedelta(days=400), 1200),
    ]
    assert aging(balances, today) == {
        "current": 300,
        "1-30": 700,
        "31-60": 1100,
        "61-90": 1500,
        "91-120": 1900,
        "over 120": 2300,
    }


def test_aging_ignores_paid_and_credit_balances():
    today = date(2026, 11, 28)
    result = aging([(today, 0), (today - timedelta(days=40), -500), (today, 250)], today)
    assert result == {**dict.fromkeys(BUCKETS, 0), "current": 250}


@pytest.mark.parametrize(
    ("instant", "local_date"),
    [
        # Around midnight in November (EST, UTC-5).
        (datetime(2026, 11, 28, 3, 0, tzinfo=UTC), date(2026, 11, 27)),
        (datetime(2026, 11, 28, 4, 59, tzinfo=UTC), date(2026, 11, 27)),
        (datetime(2026, 11, 28, 5, 0, tzinfo=UTC), date(2026, 11, 28)),
        # In summer (EDT, UTC-4) midnight is at 04:00 UTC.
        (datetime(2026, 7, 1, 3, 59, tzinfo=UTC), date(2026, 6, 30)),
        (datetime(2026, 7, 1, 4, 0, tzinfo=UTC), date(2026, 7, 1)),
        # DST ends 2026-11-01 at 06:00 UTC: 04:30 UTC is 00:30 EDT on Nov 1 ...
        (datetime(2026, 11, 1, 4, 30, tzinfo=UTC), date(2026, 11, 1)),
        # ... and the day after, 04:30 UTC is 23:30 EST on Nov 1.
        (datetime(2026, 11, 2, 4, 30, tzinfo=UTC), date(2026, 11, 1)),
        # DST starts 2026-03-08 at 07:00 UTC: 04:30 UTC is 23:30 EST on Mar 7 ...
        (datetime(2026, 3, 8, 4, 30, tzinfo=UTC), date(2026, 3, 7)),
        # ... and the day after, 04:30 UTC is 00:30 EDT on Mar 9.
        (datetime(2026, 3, 9, 4, 30, tzinfo=UTC), date(2026, 3, 9)),
    ],
)
def test_practice_date_in_new_york(instant, local_date):
    assert practice_date(instant, NEW_YORK) == local_date


def test_practice_date_accepts_any_aware_datetime():
    tokyo_morning = datetime(2026, 11, 28, 8, 0, tzinfo=timezone(timedelta(hours=9)))
    assert practice_date(tokyo_morning, NEW_YORK) == date(2026, 11, 27)
    assert practice_date(tokyo_morning, UTC) == date(2026, 11, 27)


def test_practice_date_refuses_a_naive_datetime():
    with pytest.raises(ValueError, match="timezone-aware"):
        practice_date(datetime(2026, 11, 28, 3, 0), NEW_YORK)  # noqa: DTZ001 (naive on purpose)
