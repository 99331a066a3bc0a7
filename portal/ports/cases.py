"""The cases port: patients' questions and financial-assistance requests, each kept whole
(messages, hold, outcome) as one record, written only over the version it was read at."""

from datetime import datetime
from typing import Protocol

from portal.domain.cases import Case
from portal.domain.staff import AuditEntry


class Cases(Protocol):
    def add_case(self, case: Case) -> bool:
        """Store a new case as given; False, and nothing written, when one with its id
        exists."""

    def get_case(self, case_id: str) -> Case | None:
        """The case as stored; None when there is none with this id."""

    def account_cases(self, account_number: str) -> list[Case]:
        """The account's cases, open and resolved, newest first (opened_at, then case_id)."""

    def save_case(self, case: Case, audit: AuditEntry | None = None) -> Case | None:
        """Write the case over the stored version `case.version` and return it as written,
        at version + 1, with the audit entry of the staff action that changed it in the
        same write. None, and nothing written, when the stored case is at another version
        (read it again and decide again) or there is no such case."""

    def open_cases(self) -> list[Case]:
        """Every open case, by due date then case_id (the staff queue), read from an index
        of open cases only (on DynamoDB a moment behind the latest writes)."""

    def holding_cases(self, resolved_since: datetime) -> list[Case]:
        """The cases whose hold still matters to the reminder run: every open case, and
        those resolved at or after `resolved_since` (their held days still shift their
        statement's schedule); read from an index, never every case."""

    def cases_opened(self, since: datetime, until: datetime) -> list[Case]:
        """Cases opened in [since, until), oldest first (the monthly report), read by
        month from an index."""
