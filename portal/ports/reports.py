"""The reports port: the practice's figures (aging, ledger totals, receivable)."""

from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from portal.domain.ledger import EntryKind


@dataclass(frozen=True)
class OpenBalance:
    """A statement's balance as of a moment, for the aging report."""

    account_number: str
    guarantor_name: str
    statement_id: str
    due_date: date
    balance_cents: int


class Reports(Protocol):
    def open_balances(self, as_of: datetime) -> list[OpenBalance]:
        """Every statement with a positive balance from entries posted before `as_of`."""

    def ledger_totals(self, since: datetime, until: datetime) -> dict[EntryKind, int]:
        """The sum of entries of each kind posted in [since, until)."""

    def receivable_at(self, at: datetime) -> int:
        """The sum of every entry posted before `at`: what all guarantors owed then."""
