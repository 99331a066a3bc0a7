"""Long lists shown a page at a time, newest first (an account's statements and ledger)."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    number: int  # 1-based, within 1..count
    count: int  # pages in all (1 for an empty list)
    total: int  # items over every page
    first: int  # the 1-based position of items[0] in the whole list; 0 when empty

    @property
    def last(self) -> int:
        return self.first + len(self.items) - 1 if self.items else 0

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.count else None


def newest_first(oldest_first: Sequence[T], number: int, size: int) -> Page[T]:
    """Page `number` of the list reversed; a number past the end shows the last page."""
    total = len(oldest_first)
    count = max(1, -(-total // size))
    number = min(max(number, 1), count)
    end = total - (number - 1) * size
    start = max(end - size, 0)
    items = tuple(reversed(oldest_first[start:end]))
    return Page(items, number, count, total, (number - 1) * size + 1 if items else 0)
