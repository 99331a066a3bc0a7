"""Issue 18: money and dates formatted for the page's language (portal/web/filters.py):
English exactly as before, Spanish in the US convention (es_US), Babel's output always."""

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from babel import Locale
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from hypothesis import given
from hypothesis import strategies as st

from portal.domain.money import format_cents
from portal.web import filters
from portal.wording.dollars import babel_money

LOCALES = ["en_US", "es_US", "es", "fr_CA", "de", "en_IN", "ar_EG"]
KEPT_LOCALES = {name: Locale.parse(name) for name in LOCALES}


@pytest.fixture
def locale_of(monkeypatch):
    def use(name: str) -> None:
        monkeypatch.setattr(filters, "current_formatting_locale", lambda: Locale.parse(name))

    return use


@given(cents=st.integers(min_value=-(10**13), max_value=10**13))
def test_english_money_is_as_it_always_was(cents):
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(filters, "current_formatting_locale", lambda: Locale.parse("en_US"))
        assert filters.format_money(cents) == format_cents(cents)


@pytest.mark.parametrize("name", LOCALES)
@given(cents=st.integers(min_value=-(10**13), max_value=10**13))
def test_the_fast_money_format_is_babels(name, cents):
    locale = Locale.parse(name)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(filters, "current_formatting_locale", lambda: locale)
        assert filters.format_money(cents) == babel_money(cents, locale)


def test_spanish_money_and_dates_in_the_us_convention(locale_of):
    locale_of("es_US")

    assert filters.format_money(123456) == "$1,234.56"
    assert filters.format_money(-5) == "-$0.05"
    assert filters.format_date(date(2026, 11, 30)) == "30 nov 2026"
    moment = datetime(2026, 11, 30, 20, 4, tzinfo=UTC)  # 3:04 PM in New York
    assert filters.time_in_zone(moment, ZoneInfo("America/New_York")) == (
        "30 nov 2026, 3:04 p.m. EST"
    )


def test_english_dates_and_times_as_they_always_were(locale_of):
    locale_of("en_US")

    assert [filters.format_date(date(2026, m, 1)) for m in (1, 6, 9, 11)] == [
        "Jan 1, 2026",
        "Jun 1, 2026",
        "Sep 1, 2026",
        "Nov 1, 2026",
    ]
    moment = datetime(2026, 7, 4, 4, 9, tzinfo=UTC)  # 12:09 AM in New York (summer time)
    assert filters.time_in_zone(moment, ZoneInfo("America/New_York")) == (
        "Jul 4, 2026, 12:09 AM EDT"
    )


@pytest.mark.parametrize("name", LOCALES)
@given(moment=st.datetimes(timezones=st.just(UTC)))
def test_times_of_day_kept_per_locale_are_babels(name, moment):
    locale = KEPT_LOCALES[name]  # one object per locale: its times of day are kept
    zone = ZoneInfo("America/New_York")
    local = moment.astimezone(zone)
    clock = babel_time(local, "h:mm a", locale=locale).replace("\u202f", " ")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(filters, "current_formatting_locale", lambda: locale)
        assert filters.time_in_zone(moment, zone) == (
            f"{babel_date(local, 'medium', locale=locale)}, {clock} {local:%Z}"
        )
