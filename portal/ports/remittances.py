"""The remittances port: statement lines by claim id, and each remittance imported (the
payment, what it posted and the associates' work items), written at the version read."""

from collections.abc import Collection
from datetime import date, datetime
from typing import Protocol

from portal.domain.remittance_posting import ClaimLine, RemittanceRecord


class Remittances(Protocol):
    def claim_lines(self, claim_ids: Collection[str]) -> list[ClaimLine]:
        """The statement lines carrying any of these claim ids, by statement and line
        order."""

    def add_remittance(self, record: RemittanceRecord) -> bool:
        """Keep a new remittance (at version 0); False, and nothing written, when one with
        its id is kept already."""

    def get_remittance(self, remittance_id: str) -> RemittanceRecord | None: ...

    def save_remittance(self, record: RemittanceRecord) -> RemittanceRecord | None:
        """Write the record if it is still at `record.version` (the written one, a version
        on, is returned); None when it changed meanwhile."""

    def remittances_imported(self, since: datetime, until: datetime) -> list[RemittanceRecord]:
        """Remittances imported in [since, until), oldest first."""

    def remittances_paid(self, since: date, until: date) -> list[RemittanceRecord]:
        """Remittances paid (BPR16) on days in [since, until], by day paid."""

    def remittances_with_open_items(self) -> list[RemittanceRecord]:
        """Remittances with a work item not yet resolved, oldest first."""
