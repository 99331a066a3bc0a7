"""The SQLite store's reports port: the practice's figures: aging, ledger totals, receivable."""

from datetime import date, datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _ts
from portal.domain.ledger import EntryKind
from portal.ports.reports import OpenBalance


class SqliteReports(SqliteDatabase):
    """The Reports port on SQLite."""

    def open_balances(self, as_of: datetime) -> list[OpenBalance]:
        with self._read() as conn:
            return [
                OpenBalance(
                    account_number=r["account_number"],
                    guarantor_name=f"{r['first_name']} {r['last_name']}",
                    statement_id=r["statement_id"],
                    due_date=date.fromisoformat(r["due_date"]),
                    balance_cents=r["balance"],
                )
                for r in conn.execute(
                    "SELECT s.account_number, a.first_name, a.last_name, s.statement_id,"
                    " s.due_date, SUM(l.amount_cents) AS balance"
                    " FROM ledger_entries l JOIN statements s ON s.statement_id = l.statement_id"
                    " JOIN accounts a ON a.account_number = s.account_number"
                    " WHERE l.posted_at < ? GROUP BY s.statement_id HAVING balance > 0"
                    " ORDER BY s.account_number, s.due_date, s.statement_id",
                    (_ts(as_of),),
                )
            ]

    def ledger_totals(self, since: datetime, until: datetime) -> dict[EntryKind, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT kind, SUM(amount_cents) FROM ledger_entries"
                " WHERE posted_at >= ? AND posted_at < ? GROUP BY kind",
                (_ts(since), _ts(until)),
            )
            return {EntryKind(kind): total for kind, total in rows}

    def receivable_at(self, at: datetime) -> int:
        with self._read() as conn:
            return conn.execute(
                "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries WHERE posted_at < ?",
                (_ts(at),),
            ).fetchone()[0]
