"""The SQLite store's payout records port: one row per payout (the record as JSON in
`body`), indexed by arrival day and, while not reconciled, in a partial index."""

import json
import sqlite3
from dataclasses import replace
from datetime import date

from portal.adapters.payout_records import payout_data, payout_of
from portal.adapters.sqlite.database import SqliteDatabase
from portal.domain.payouts import PayoutRecord


class SqlitePayouts(SqliteDatabase):
    """The PayoutRecords port on SQLite."""

    def add_payout(self, record: PayoutRecord) -> bool:
        record = replace(record, version=0)
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO payouts (payout_id, arrival_date, reconciled, version, body)"
                " VALUES (?, ?, ?, 0, ?) ON CONFLICT DO NOTHING",
                (*_indexed(record), json.dumps(payout_data(record))),
            )
            return cursor.rowcount == 1

    def get_payout(self, payout_id: str) -> PayoutRecord | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM payouts WHERE payout_id = ?", (payout_id,)).fetchone()
            return _record(row) if row else None

    def save_payout(self, record: PayoutRecord) -> PayoutRecord | None:
        written = replace(record, version=record.version + 1)
        _, arrival, reconciled = _indexed(written)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE payouts SET arrival_date = ?, reconciled = ?, version = ?, body = ?"
                " WHERE payout_id = ? AND version = ?",
                (
                    arrival,
                    reconciled,
                    written.version,
                    json.dumps(payout_data(written)),
                    record.payout_id,
                    record.version,
                ),
            )
            return written if cursor.rowcount == 1 else None

    def payouts_arriving(self, since: date, until: date) -> list[PayoutRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM payouts WHERE arrival_date >= ? AND arrival_date <= ?"
                " ORDER BY arrival_date, payout_id",
                (since.isoformat(), until.isoformat()),
            )
            return [_record(r) for r in rows]

    def unreconciled_payouts(self) -> list[PayoutRecord]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM payouts INDEXED BY payouts_unreconciled WHERE reconciled = 0"
                " ORDER BY arrival_date, payout_id"
            )
            return [_record(r) for r in rows]


def _indexed(record: PayoutRecord) -> tuple[str, str, int]:
    return (record.payout_id, record.payout.arrival_date.isoformat(), int(record.reconciled))


def _record(row: sqlite3.Row) -> PayoutRecord:
    return replace(payout_of(json.loads(row["body"])), version=row["version"])
