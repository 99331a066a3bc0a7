"""The SQLite store's mail-feedback port: undeliverable addresses and SES events applied."""

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _insert_audit, _insert_mail, _ts
from portal.domain.staff import AuditEntry, MailRecord
from portal.ports.mail_feedback import UndeliverableAddress, normal_address

# SNS retries a delivery for hours at most: an event id older than this is not seen again.
MAIL_EVENTS_KEPT = timedelta(days=30)


class SqliteMailFeedback(SqliteDatabase):
    """The MailFeedback port on SQLite."""

    def apply_mail_event(
        self,
        event_id: str,
        at: datetime,
        mail: Sequence[MailRecord] = (),
        undeliverable: Sequence[UndeliverableAddress] = (),
    ) -> bool:
        with self._write() as conn:
            conn.execute("DELETE FROM mail_events WHERE at < ?", (_ts(at - MAIL_EVENTS_KEPT),))
            cursor = conn.execute(
                "INSERT INTO mail_events (event_id, at) VALUES (?, ?) ON CONFLICT DO NOTHING",
                (event_id, _ts(at)),
            )
            if cursor.rowcount != 1:
                return False
            for record in mail:
                _insert_mail(conn, record)
            for report in undeliverable:
                _mark(conn, report)
            return True

    def undeliverable(self, address: str) -> UndeliverableAddress | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM undeliverable_addresses WHERE address = ?",
                (normal_address(address),),
            ).fetchone()
            return _report(row) if row else None

    def undeliverable_addresses(self, limit: int = 1000) -> list[UndeliverableAddress]:
        with self._read() as conn:
            return [
                _report(r)
                for r in conn.execute(
                    "SELECT * FROM undeliverable_addresses ORDER BY at DESC, address LIMIT ?",
                    (limit,),
                )
            ]

    def clear_undeliverable(self, address: str, audit: AuditEntry | None = None) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM undeliverable_addresses WHERE address = ?", (normal_address(address),)
            )
            if cursor.rowcount != 1:
                return False
            if audit is not None:
                _insert_audit(conn, audit)
            return True


def _mark(conn: sqlite3.Connection, report: UndeliverableAddress) -> None:
    address = normal_address(report.address)
    row = conn.execute(
        "SELECT accounts FROM undeliverable_addresses WHERE address = ?", (address,)
    ).fetchone()
    if row is None:
        conn.execute(
            "INSERT INTO undeliverable_addresses (address, reason, detail, at, accounts)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                address,
                report.reason,
                report.detail,
                _ts(report.at),
                json.dumps(sorted(set(report.accounts))),
            ),
        )
        return
    accounts = sorted(set(json.loads(row["accounts"])) | set(report.accounts))
    conn.execute(
        "UPDATE undeliverable_addresses SET accounts = ? WHERE address = ?",
        (json.dumps(accounts), address),
    )


def _report(row: sqlite3.Row) -> UndeliverableAddress:
    return UndeliverableAddress(
        address=row["address"],
        reason=row["reason"],
        detail=row["detail"],
        at=datetime.fromisoformat(row["at"]),
        accounts=tuple(json.loads(row["accounts"])),
    )
