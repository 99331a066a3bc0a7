"""The SQLite store's cases port: patients' questions and assistance requests, one row each
(the case as JSON in `body`)."""

import json
import sqlite3
from dataclasses import replace
from datetime import datetime

from portal.adapters.case_records import case_of, case_record
from portal.adapters.plan_records import utc_text
from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _insert_audit
from portal.domain.cases import Case
from portal.domain.staff import AuditEntry


class SqliteCases(SqliteDatabase):
    """The Cases port on SQLite."""

    def add_case(self, case: Case) -> bool:
        record = case_record(case)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO cases (case_id, account_number, opened_at, due_on, resolved_at,"
                " version, body) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    case.case_id,
                    case.account_number,
                    record["opened_at"],
                    record["due_on"],
                    record["resolved_at"],
                    case.version,
                    json.dumps(record),
                ),
            )
            return cursor.rowcount == 1

    def get_case(self, case_id: str) -> Case | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM cases WHERE case_id = ?", (case_id,)).fetchone()
            return _case(row) if row else None

    def account_cases(self, account_number: str) -> list[Case]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM cases WHERE account_number = ?"
                " ORDER BY opened_at DESC, case_id DESC",
                (account_number,),
            )
            return [_case(r) for r in rows]

    def save_case(self, case: Case, audit: AuditEntry | None = None) -> Case | None:
        written = replace(case, version=case.version + 1)
        record = case_record(written)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE cases SET due_on = ?, resolved_at = ?, version = ?, body = ?"
                " WHERE case_id = ? AND account_number = ? AND version = ?",
                (
                    record["due_on"],
                    record["resolved_at"],
                    written.version,
                    json.dumps(record),
                    case.case_id,
                    case.account_number,
                    case.version,
                ),
            )
            if cursor.rowcount != 1:
                return None
            if audit is not None:
                _insert_audit(conn, audit)
            return written

    def open_cases(self) -> list[Case]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM cases WHERE resolved_at IS NULL ORDER BY due_on, case_id"
            )
            return [_case(r) for r in rows]

    def holding_cases(self, resolved_since: datetime) -> list[Case]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM cases WHERE resolved_at IS NULL"
                " UNION ALL SELECT * FROM cases WHERE resolved_at >= ?"
                " ORDER BY case_id",
                (utc_text(resolved_since),),
            )
            return [_case(r) for r in rows]

    def cases_opened(self, since: datetime, until: datetime) -> list[Case]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM cases WHERE opened_at >= ? AND opened_at < ?"
                " ORDER BY opened_at, case_id",
                (utc_text(since), utc_text(until)),
            )
            return [_case(r) for r in rows]


def _case(row: sqlite3.Row) -> Case:
    return replace(case_of(json.loads(row["body"])), version=row["version"])
