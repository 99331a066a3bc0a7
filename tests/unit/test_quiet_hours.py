"""Quiet hours: 8 a.m. to 9 p.m. where the patient is, never on a closed day, across time
zones and daylight-saving days."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.quiet_hours import TextingDays

NEW_YORK = ZoneInfo("America/New_York")
DAYS = TextingDays(NEW_YORK)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    ("at", "allowed"),
    [
        (utc(2026, 11, 30, 12, 59), False),  # 7:59 a.m. EST
        (utc(2026, 11, 30, 13, 0), True),  # 8:00 a.m.
        (utc(2026, 12, 1, 1, 59), True),  # 8:59 p.m.
        (utc(2026, 12, 1, 2, 0), False),  # 9:00 p.m.
    ],
)
def test_texts_go_from_8_am_to_9_pm_in_the_practice_zone(at, allowed):
    assert DAYS.may_text(at) is allowed


def test_the_patients_zone_rules_when_the_account_has_one():
    at = utc(2026, 11, 30, 14, 0)  # 9 a.m. in New York, 6 a.m. in Los Angeles
    assert DAYS.may_text(at) is True
    assert DAYS.may_text(at, "America/Los_Angeles") is False
    assert DAYS.next_time(at, "America/Los_Angeles") == utc(2026, 11, 30, 16, 0)
    late = utc(2026, 12, 1, 3, 30)  # 10:30 p.m. in New York, 7:30 p.m. in Los Angeles
    assert DAYS.may_text(late) is False
    assert DAYS.may_text(late, "America/Los_Angeles") is True
    assert DAYS.may_text(utc(2026, 11, 30, 19, 0), "Pacific/Honolulu") is True  # 9 a.m.


def test_an_unknown_patient_zone_falls_back_to_the_practices():
    at = utc(2026, 11, 30, 14, 0)
    assert DAYS.may_text(at, "Mars/Olympus_Mons") is True
    assert DAYS.may_text(at, "../../etc/passwd") is True


def test_spring_forward_day_8_am_is_an_hour_earlier_in_utc():
    # 2026-03-08: clocks go from 2 a.m. EST to 3 a.m. EDT in New York.
    assert DAYS.may_text(utc(2026, 3, 7, 12, 30)) is False  # 7:30 a.m. EST
    assert DAYS.may_text(utc(2026, 3, 8, 12, 30)) is True  # 8:30 a.m. EDT
    assert DAYS.next_time(utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 8, 12, 0)
    assert DAYS.next_time(utc(2026, 3, 7, 5, 0)) == utc(2026, 3, 7, 13, 0)
    # 9 p.m. EDT is 01:00 UTC the next day.
    assert DAYS.may_text(utc(2026, 3, 9, 0, 59)) is True
    assert DAYS.may_text(utc(2026, 3, 9, 1, 0)) is False


def test_fall_back_day_8_am_is_an_hour_later_in_utc():
    # 2026-11-01: clocks go from 2 a.m. EDT back to 1 a.m. EST.
    assert DAYS.next_time(utc(2026, 11, 1, 6, 30)) == utc(2026, 11, 1, 13, 0)
    assert DAYS.may_text(utc(2026, 11, 1, 12, 30)) is False  # 7:30 a.m. EST
    assert DAYS.may_text(utc(2026, 10, 31, 12, 30)) is True  # 8:30 a.m. EDT


def test_dst_days_differ_between_zones():
    # 2026-03-08 to 03-29 the US has moved its clocks and Europe has not.
    london = TextingDays(ZoneInfo("Europe/London"))
    at = utc(2026, 3, 20, 7, 30)
    assert london.may_text(at) is False  # 7:30 a.m. GMT
    assert london.may_text(utc(2026, 3, 30, 7, 30)) is True  # 8:30 a.m. BST
    assert DAYS.may_text(utc(2026, 3, 20, 12, 30)) is True  # 8:30 a.m. EDT


def test_closed_weekdays_and_dates_send_nothing():
    closed = TextingDays(NEW_YORK, closed_weekdays=(6,), closed_dates=(date(2026, 12, 25),))
    assert closed.may_text(utc(2026, 12, 6, 15, 0)) is False  # Sunday 10 a.m.
    assert closed.may_text(utc(2026, 12, 7, 15, 0)) is True  # Monday
    assert closed.may_text(utc(2026, 12, 25, 15, 0)) is False  # Christmas, a Friday
    assert closed.next_time(utc(2026, 12, 25, 15, 0)) == utc(2026, 12, 26, 13, 0)
    assert closed.next_time(utc(2026, 12, 5, 23, 0)) == utc(2026, 12, 5, 23, 0)  # Sat 6 p.m.
    assert closed.next_time(utc(2026, 12, 6, 2, 30)) == utc(2026, 12, 7, 13, 0)  # Sat 9:30 p.m.


def test_a_day_closed_at_the_practice_is_closed_for_a_patient_still_on_the_day_before():
    closed = TextingDays(NEW_YORK, closed_dates=(date(2026, 12, 25),))
    # 8 p.m. on the 24th in Los Angeles is 11 p.m. in New York: open in both.
    assert closed.may_text(utc(2026, 12, 25, 4, 0), "America/Los_Angeles") is True
    # 7 a.m. on the 25th in Honolulu... and on the 26th at 8 a.m. it is the 26th in New York.
    honolulu = "Pacific/Honolulu"
    assert closed.may_text(utc(2026, 12, 25, 18, 0), honolulu) is False  # 8 a.m. on the 25th
    # 7 p.m. in Honolulu on the 25th is midnight of the 26th in New York: still the 25th there.
    assert closed.may_text(utc(2026, 12, 26, 5, 0), honolulu) is False
    assert closed.next_time(utc(2026, 12, 25, 18, 0), honolulu) == utc(2026, 12, 26, 18, 0)


def test_every_day_closed_gives_no_time():
    assert TextingDays(NEW_YORK, closed_weekdays=tuple(range(7))).next_time(utc(2026, 1, 1)) is None


ZONES = st.sampled_from(
    [
        "",
        "America/New_York",
        "America/Los_Angeles",
        "America/Phoenix",
        "Pacific/Honolulu",
        "Europe/London",
        "Asia/Kolkata",
    ]
)
INSTANTS = st.datetimes(
    min_value=datetime(2026, 1, 1),  # noqa: DTZ001 (hypothesis takes naive bounds)
    max_value=datetime(2027, 12, 31),  # noqa: DTZ001
    timezones=st.just(UTC),
)


@given(INSTANTS, ZONES, st.sets(st.integers(0, 6), max_size=5))
def test_the_next_time_is_allowed_and_nothing_earlier_in_that_hour_is(at, zone, weekdays):
    days = TextingDays(NEW_YORK, closed_weekdays=tuple(sorted(weekdays)))
    found = days.next_time(at, zone)
    assert found is not None and found >= at
    assert days.may_text(found, zone)
    local = found.astimezone(days.zone_for(zone))
    assert 8 <= local.hour < 21
