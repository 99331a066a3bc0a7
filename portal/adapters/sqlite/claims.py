"""The SQLite store's claims port: claims of work done once, and the unfinished ones for the
sweep."""

import sqlite3
from collections.abc import Sequence
from datetime import datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import RELEASED, _insert_audit, _insert_mail, _insert_mails, _ts
from portal.domain.staff import AuditEntry, MailRecord
from portal.ports.claims import Claim


class SqliteClaims(SqliteDatabase):
    """The Claims port on SQLite."""

    def claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        stale_before: datetime | None = None,
        payload: str = "",
    ) -> bool:
        with self._write() as conn:
            return _take(conn, Claim(kind, key, None, payload), at, stale_before)

    def complete_claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        mail: MailRecord | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET sent_at = ? WHERE kind = ? AND key = ?", (_ts(at), kind, key)
            )
            if mail is not None:
                _insert_mail(conn, mail)
            if audit is not None:
                _insert_audit(conn, audit)

    def claim_many(
        self, claims: Sequence[Claim], at: datetime, stale_before: datetime
    ) -> set[tuple[str, str]]:
        with self._write() as conn:
            return {(c.kind, c.key) for c in claims if _take(conn, c, at, stale_before)}

    def complete_claims(
        self, claims: Sequence[tuple[str, str]], at: datetime, mail: Sequence[MailRecord] = ()
    ) -> None:
        with self._write() as conn:
            conn.executemany(
                "UPDATE messages SET sent_at = ? WHERE kind = ? AND key = ?",
                [(_ts(at), kind, key) for kind, key in claims],
            )
            _insert_mails(conn, mail)

    def claim_completed(self, kind: str, key: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT sent_at FROM messages WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return bool(row and row[0])

    def release_claim(self, kind: str, key: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET claimed_at = ? WHERE kind = ? AND key = ? AND sent_at IS NULL",
                (RELEASED, kind, key),
            )

    def drop_claim(self, kind: str, key: str) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM messages WHERE kind = ? AND key = ? AND sent_at IS NULL", (kind, key)
            )

    def unfinished_claims(self, before: datetime, limit: int = 500) -> list[Claim]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT kind, key, claimed_at, payload FROM messages INDEXED BY messages_unfinished"
                " WHERE sent_at IS NULL AND claimed_at < ? ORDER BY claimed_at LIMIT ?",
                (_ts(before), limit),
            ).fetchall()
        return [
            Claim(kind, key, datetime.fromisoformat(at) if at else None, payload)
            for kind, key, at, payload in rows
        ]


def _take(
    conn: sqlite3.Connection, claim: Claim, at: datetime, stale_before: datetime | None
) -> bool:
    """Claim (kind, key) unless claimed before; a released claim has claimed_at ''
    (RELEASED): any claim takes it over, and so does one made before `stale_before`."""
    cursor = conn.execute(
        "INSERT INTO messages (kind, key, claimed_at, payload) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET claimed_at = excluded.claimed_at,"
        " payload = CASE WHEN excluded.payload = '' THEN payload"
        " ELSE excluded.payload END"
        " WHERE sent_at IS NULL AND (claimed_at = ? OR claimed_at < ?)",
        (
            claim.kind,
            claim.key,
            _ts(at),
            claim.payload,
            RELEASED,
            _ts(stale_before) if stale_before else RELEASED,
        ),
    )
    return cursor.rowcount == 1
