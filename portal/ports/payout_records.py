"""The payout records port: each card payout the processor reported, reconciled against
the portal's payments (portal/domain/payouts.py), written at the version read."""

from datetime import date
from typing import Protocol

from portal.domain.payouts import PayoutRecord


class PayoutRecords(Protocol):
    def add_payout(self, record: PayoutRecord) -> bool:
        """Keep a new payout (at version 0); False, and nothing written, when one with its
        id is kept already."""

    def get_payout(self, payout_id: str) -> PayoutRecord | None: ...

    def save_payout(self, record: PayoutRecord) -> PayoutRecord | None:
        """Write the record if it is still at `record.version` (the written one, a version
        on, is returned); None when it changed meanwhile."""

    def payouts_arriving(self, since: date, until: date) -> list[PayoutRecord]:
        """Payouts arriving on days in [since, until], by arrival day and id."""

    def unreconciled_payouts(self) -> list[PayoutRecord]:
        """Payouts not reconciled, by arrival day and id."""
