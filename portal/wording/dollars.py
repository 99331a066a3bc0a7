"""US dollars as a locale writes them: Babel's format_currency, read once per locale into a
shape an f-string fills (Babel takes about 20 times as long, and a page or a reminder run
writes hundreds of amounts)."""

import re
from collections.abc import Callable
from decimal import Decimal
from functools import cache, partial

from babel import Locale
from babel.numbers import format_currency


def babel_money(cents: int, locale: Locale) -> str:
    """US dollars as `locale` writes them (Babel). Exact: Decimal cents, never a float."""
    return format_currency(Decimal(cents) / 100, "USD", locale=locale, currency_digits=True)


PROBE_CENTS = 123456789  # every digit once, in three groups: $1,234,567.89 in English
_SHAPE = re.compile(
    r"(?P<before>\D*)1(?P<group>\D+)234(?P=group)567(?P<decimal>\D+)89(?P<after>\D*)"
)


US_ENGLISH = ("$", "-$", ",", ".", "")


@cache
def money_shape(locale: Locale) -> tuple[str, str, str, str, str] | None:
    """(sign and symbol before, the same for a negative amount, group separator, decimal
    separator, text after) read from Babel's own output; None when the locale groups digits
    otherwise (then every amount goes through Babel). US English's is known: reading
    Babel's locale data costs a process tens of milliseconds the first time
    (tests/unit/test_money_formats.py holds it to Babel's)."""
    if str(locale) == "en_US":
        return US_ENGLISH
    positive = _SHAPE.fullmatch(babel_money(PROBE_CENTS, locale))
    negative = _SHAPE.fullmatch(babel_money(-PROBE_CENTS, locale))
    if positive is None or negative is None or positive["after"] != negative["after"]:
        return None
    if (positive["group"], positive["decimal"]) != (negative["group"], negative["decimal"]):
        return None
    return (
        positive["before"],
        negative["before"],
        positive["group"],
        positive["decimal"],
        positive["after"],
    )


def dollars_in(cents: int, locale: Locale) -> str:
    """1234567 -> "$12,345.67" in English: the same as Babel's format_currency; a negative
    amount gets the locale's minus sign."""
    return dollars_writer(locale)(cents)


@cache
def dollars_writer(locale: Locale) -> Callable[[int], str]:
    """dollars_in for one locale, its shape read once."""
    shape = money_shape(locale)
    if shape is None:
        return partial(babel_money, locale=locale)
    before, negative_before, group, decimal, after = shape

    def write(cents: int) -> str:
        dollars, rest = divmod(abs(cents), 100)
        digits = f"{dollars:,}".replace(",", group) if group != "," else f"{dollars:,}"
        return f"{negative_before if cents < 0 else before}{digits}{decimal}{rest:02d}{after}"

    return write


@cache
def parsed_locale(name: str) -> Locale:
    return Locale.parse(name)
