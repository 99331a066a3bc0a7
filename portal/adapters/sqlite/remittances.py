"""The SQLite store's remittances port: statement lines by claim id (an index of
statement_lines), and one row per remittance (the record as JSON in `body`)."""

import json
import sqlite3
from collections.abc import Collection
from dataclasses import replace
from datetime import date, datetime

from portal.adapters.plan_records import utc_text
from portal.adapters.remittance_records import remittance_of, remittance_record
from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.ledger import _line
from portal.domain.remittance_posting import ClaimLine, RemittanceRecord


class SqliteRemittances(SqliteDatabase):
    """The Remittances port on SQLite."""

    def claim_lines(self, claim_ids: Collection[str]) -> list[ClaimLine]:
        ids = sorted(set(claim_ids))
        found: list[ClaimLine] = []
        with self._read() as conn:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                rows = conn.execute(
                    "SELECT l.*, s.account_number FROM statement_lines l"
                    " INDEXED BY statement_lines_by_claim"
                    " JOIN statements s ON s.statement_id = l.statement_id"
                    f" WHERE l.claim_id IN ({', '.join('?' * len(chunk))}) AND l.claim_id != ''"
                    " ORDER BY s.statement_date, l.statement_id, l.position",
                    chunk,
                )
                found += [ClaimLine(r["account_number"], r["statement_id"], _line(r)) for r in rows]
        return found

    def add_remittance(self, record: RemittanceRecord) -> bool:
        record = replace(record, version=0)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO remittances (remittance_id, imported_at, paid_on, open_items,"
                " version, body) VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT DO NOTHING",
                (*_indexed(record), json.dumps(remittance_record(record))),
            )
            return cursor.rowcount == 1

    def get_remittance(self, remittance_id: str) -> RemittanceRecord | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM remittances WHERE remittance_id = ?", (remittance_id,)
            ).fetchone()
            return _record(row) if row else None

    def save_remittance(self, record: RemittanceRecord) -> RemittanceRecord | None:
        written = replace(record, version=record.version + 1)
        _, _, paid_on, open_items = _indexed(written)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE remittances SET paid_on = ?, open_items = ?, version = ?, body = ?"
                " WHERE remittance_id = ? AND version = ?",
                (
                    paid_on,
                    open_items,
                    written.version,
                    json.dumps(remittance_record(written)),
                    record.remittance_id,
                    record.version,
                ),
            )
            return written if cursor.rowcount == 1 else None

    def remittances_imported(self, since: datetime, until: datetime) -> list[RemittanceRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM remittances WHERE imported_at >= ? AND imported_at < ?"
                " ORDER BY imported_at, remittance_id",
                (utc_text(since), utc_text(until)),
            )
            return [_record(r) for r in rows]

    def remittances_paid(self, since: date, until: date) -> list[RemittanceRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM remittances WHERE paid_on >= ? AND paid_on <= ?"
                " ORDER BY paid_on, remittance_id",
                (since.isoformat(), until.isoformat()),
            )
            return [_record(r) for r in rows]

    def remittances_with_open_items(self) -> list[RemittanceRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM remittances INDEXED BY remittances_open WHERE open_items > 0"
                " ORDER BY imported_at, remittance_id"
            )
            return [_record(r) for r in rows]


def _indexed(record: RemittanceRecord) -> tuple[str, str, str, int]:
    return (
        record.remittance_id,
        utc_text(record.imported_at),
        record.paid_on.isoformat() if record.paid_on else "",
        record.open_items,
    )


def _record(row: sqlite3.Row) -> RemittanceRecord:
    return replace(remittance_of(json.loads(row["body"])), version=row["version"])
