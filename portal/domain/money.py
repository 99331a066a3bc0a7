"""Money is an integer number of cents (USD). Parsing is strict; formatting is for display."""

import re

from portal.domain.errors import InvalidInput

_AMOUNT = re.compile(
    r"\$?(?:(?P<dollars>[0-9]{1,3}(?:,[0-9]{3}){1,2}|[0-9]{1,9})(?:\.(?P<cents>[0-9]{1,2}))?|\.(?P<only>[0-9]{1,2}))"
)
_TOO_PRECISE = re.compile(r"\$?[0-9,]*\.[0-9]{3,}")


def parse_amount(text: str | None, field: str = "amount") -> int:
    """Parse "123.45" (also "123", "$1,234.5", ".50") into cents; refuse anything else."""
    value = (text or "").strip()
    if not value:
        raise InvalidInput(field, "Enter an amount, for example 25.00.")
    if value.lstrip("$").startswith("-"):
        raise InvalidInput(field, "The amount cannot be negative.")
    match = _AMOUNT.fullmatch(value)
    if match is None:
        if _TOO_PRECISE.fullmatch(value):
            raise InvalidInput(field, "Use at most two digits after the decimal point.")
        raise InvalidInput(field, "Enter the amount in dollars and cents, for example 25.00.")
    if match["only"] is not None:
        return int(match["only"].ljust(2, "0"))
    cents = (match["cents"] or "").ljust(2, "0")
    return int(match["dollars"].replace(",", "")) * 100 + int(cents)


def format_cents(cents: int) -> str:
    """1234567 -> "$12,345.67"; a negative amount gets a leading minus sign."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}${dollars:,}.{rest:02d}"


def cents_to_plain(cents: int) -> str:
    """1234567 -> "12345.67", the form a money field is pre-filled with."""
    sign = "-" if cents < 0 else ""
    dollars, rest = divmod(abs(cents), 100)
    return f"{sign}{dollars}.{rest:02d}"
