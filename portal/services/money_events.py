"""The practice system's feed of money events: pages read after an opaque cursor."""

import re

from portal.domain.errors import InvalidInput
from portal.ports.money_events import EventPage
from portal.services.context import Services

CURSOR_PATTERN = "^m1[0-9a-f]{15}$"
DEFAULT_LIMIT = 100
MAX_LIMIT = 500


def encode_cursor(position: int) -> str:
    return f"m1{position:015x}"


def decode_cursor(cursor: str | None) -> int:
    """The position a cursor stands for (none or empty: before the first event);
    InvalidInput for a cursor not of the portal's form."""
    if not cursor:
        return 0
    if re.fullmatch(CURSOR_PATTERN, cursor) is None:
        raise InvalidInput(
            "since",
            "not a cursor this portal gave; send the `next` of the last page (or nothing, "
            "to start from the first event).",
        )
    return int(cursor[2:], 16)


def read_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidInput("limit", f"a whole number from 1 to {MAX_LIMIT}.")
    return int(text)


def events_page(services: Services, cursor: str | None, limit: int) -> tuple[EventPage, str]:
    """The page after `cursor` and the cursor to read on from."""
    page = services.store.money_events(decode_cursor(cursor), limit)
    return page, encode_cursor(page.position)
