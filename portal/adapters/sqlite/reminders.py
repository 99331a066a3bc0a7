"""The SQLite store's reminders port: accounts due a reminder and opt-outs."""

import sqlite3
from datetime import date, datetime

from portal.adapters.sqlite.claims import _take
from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _account, _insert_mails, _ts
from portal.adapters.sqlite.staff import _open_escalation
from portal.ports.reminders import ClaimKey, DueAccount, ReminderBatch
from portal.ports.store import StoreError


class SqliteReminders(SqliteDatabase):
    """The Reminders port on SQLite."""

    def accounts_due(self, due_on_or_before: date) -> list[DueAccount]:
        with self._read() as conn:
            return [
                DueAccount(
                    r["account_number"],
                    r["statement_id"],
                    date.fromisoformat(r["due_date"]),
                    r["due_cents"],
                )
                for r in conn.execute(
                    "SELECT * FROM receivables WHERE due_date <= ?"
                    " ORDER BY due_date, account_number",
                    (due_on_or_before.isoformat(),),
                )
            ]

    def opt_out_of_reminders(self, account_number: str, at: datetime) -> bool:
        with self._write() as conn:
            if _account(conn, account_number) is None:
                raise KeyError(account_number)
            cursor = conn.execute(
                "UPDATE accounts SET reminders_opted_out_at = ?"
                " WHERE account_number = ? AND reminders_opted_out_at IS NULL",
                (_ts(at), account_number),
            )
            return cursor.rowcount == 1

    def opt_out_token(self, account_number: str, new_token: str) -> str:
        with self._read() as conn:  # given before (every reminder after the first): no write
            row = conn.execute(
                "SELECT token FROM opt_out_tokens WHERE account_number = ?", (account_number,)
            ).fetchone()
            if row is not None:
                return row["token"]
        with self._write() as conn:
            if _account(conn, account_number) is None:
                raise KeyError(account_number)
            conn.execute(
                "INSERT INTO opt_out_tokens (token, account_number) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (new_token, account_number),
            )
            row = conn.execute(
                "SELECT token FROM opt_out_tokens WHERE account_number = ?", (account_number,)
            ).fetchone()
            if row is None:  # the new token was another account's: vanishingly unlikely
                raise StoreError("that opt-out token is taken; try again")
            return row["token"]

    def opt_out_tokens(self, new_tokens: dict[str, str]) -> dict[str, str]:
        if not new_tokens:
            return {}
        with self._write() as conn:
            return _tokens(conn, new_tokens)

    def claim_reminders(
        self, batch: ReminderBatch, at: datetime, stale_before: datetime
    ) -> tuple[set[ClaimKey], dict[str, str]]:
        with self._write() as conn:
            if batch.finished:
                conn.executemany(
                    "UPDATE messages SET sent_at = ? WHERE kind = ? AND key = ?",
                    [(_ts(at), kind, key) for kind, key in batch.finished],
                )
            _insert_mails(conn, batch.mail)
            taken = {(c.kind, c.key) for c in batch.claims if _take(conn, c, at, stale_before)}
            tokens = _tokens(
                conn, dict(pair for claim, pair in batch.tokens.items() if claim in taken)
            )
            for claim, (item, audit) in batch.escalations.items():
                if claim in taken:
                    _open_escalation(conn, item, audit)
            return taken, tokens

    def account_of_opt_out_token(self, token: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT account_number FROM opt_out_tokens WHERE token = ?", (token,)
            ).fetchone()
            return row["account_number"] if row else None


def _tokens(conn: sqlite3.Connection, new_tokens: dict[str, str]) -> dict[str, str]:
    """Each account's opt-out token: the one given before, else the new one, kept."""
    if not new_tokens:
        return {}
    conn.executemany(
        "INSERT INTO opt_out_tokens (token, account_number) SELECT ?, account_number"
        " FROM accounts WHERE account_number = ? ON CONFLICT DO NOTHING",
        [(token, number) for number, token in new_tokens.items()],
    )
    marks = ", ".join("?" * len(new_tokens))
    rows = conn.execute(
        f"SELECT account_number, token FROM opt_out_tokens WHERE account_number IN ({marks})",
        list(new_tokens),
    )
    return {r["account_number"]: r["token"] for r in rows}
