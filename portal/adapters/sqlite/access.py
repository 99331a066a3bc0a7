"""The SQLite store's access port: the look-up throttle and patients' browser sessions."""

from datetime import datetime, timedelta

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import SESSION_LIFETIME, _ts


class SqliteAccess(SqliteDatabase):
    """The Access port on SQLite."""

    def record_lookup_failure(self, key: str, at: datetime, since: datetime) -> int:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM lookup_failures WHERE key = ? AND failed_at < ?", (key, _ts(since))
            )
            # Attempts on keys nobody tries again (sprayed account numbers) go after a day.
            day_ago = _ts(at - timedelta(days=1))
            conn.execute("DELETE FROM lookup_failures WHERE failed_at < ?", (day_ago,))
            conn.execute("DELETE FROM lookup_locks WHERE locked_until < ?", (day_ago,))
            conn.execute("INSERT INTO lookup_failures VALUES (?, ?)", (key, _ts(at)))
            return conn.execute(
                "SELECT COUNT(*) FROM lookup_failures WHERE key = ? AND failed_at >= ?",
                (key, _ts(since)),
            ).fetchone()[0]

    def lock_lookups(self, key: str, until: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO lookup_locks VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                " SET locked_until = max(locked_until, excluded.locked_until)",
                (key, _ts(until)),
            )

    def lookup_locked_until(self, key: str, now: datetime) -> datetime | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT locked_until FROM lookup_locks WHERE key = ? AND locked_until > ?",
                (key, _ts(now)),
            ).fetchone()
            return datetime.fromisoformat(row[0]) if row else None

    def forget_lookup_failure(self, key: str, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM lookup_failures WHERE rowid = (SELECT rowid FROM lookup_failures"
                " WHERE key = ? AND failed_at = ? LIMIT 1)",
                (key, _ts(at)),
            )

    def clear_lookup_failures(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM lookup_failures WHERE key = ?", (key,))

    def open_web_session(self, session_id: str, subject: str, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM web_sessions WHERE opened_at < ?", (_ts(at - SESSION_LIFETIME),)
            )
            conn.execute(
                "INSERT INTO web_sessions VALUES (?, ?, ?)", (session_id, subject, _ts(at))
            )

    def web_session_subject(self, session_id: str, now: datetime) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT subject FROM web_sessions WHERE session_id = ? AND opened_at >= ?",
                (session_id, _ts(now - SESSION_LIFETIME)),
            ).fetchone()
            return row[0] if row else None

    def end_web_session(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM web_sessions WHERE session_id = ?", (session_id,))
