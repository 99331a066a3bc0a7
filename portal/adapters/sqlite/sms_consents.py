"""The SQLite store's SMS consent port (table sms_consents, migration 13)."""

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _ts
from portal.domain.texting import SmsConsent


class SqliteSmsConsents(SqliteDatabase):
    def sms_consent(self, account_number: str) -> SmsConsent | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM sms_consents WHERE account_number = ?", (account_number,)
            ).fetchone()
            return _consent(row) if row else None

    def save_sms_consent(self, consent: SmsConsent) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO sms_consents VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT(account_number) DO UPDATE SET phone = excluded.phone,"
                " given_at = excluded.given_at, source = excluded.source,"
                " stopped_at = excluded.stopped_at, time_zone = excluded.time_zone",
                (
                    consent.account_number,
                    consent.phone,
                    _ts(consent.given_at),
                    consent.source,
                    _ts(consent.stopped_at) if consent.stopped_at else None,
                    consent.time_zone,
                ),
            )

    def sms_consents(self, account_numbers: Sequence[str]) -> dict[str, SmsConsent]:
        numbers = list(dict.fromkeys(account_numbers))
        found: dict[str, SmsConsent] = {}
        with self._read() as conn:
            for start in range(0, len(numbers), 500):
                chunk = numbers[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for row in conn.execute(
                    f"SELECT * FROM sms_consents WHERE account_number IN ({marks})", chunk
                ):
                    found[row["account_number"]] = _consent(row)
        return found

    def sms_consents_for_phone(self, phone: str) -> list[SmsConsent]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM sms_consents WHERE phone = ? ORDER BY account_number", (phone,)
            ).fetchall()
            return [_consent(row) for row in rows]


def _consent(row: sqlite3.Row) -> SmsConsent:
    return SmsConsent(
        account_number=row["account_number"],
        phone=row["phone"],
        given_at=datetime.fromisoformat(row["given_at"]),
        source=row["source"],
        stopped_at=datetime.fromisoformat(row["stopped_at"]) if row["stopped_at"] else None,
        time_zone=row["time_zone"],
    )
