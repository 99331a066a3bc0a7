"""The SQLite store's outbound webhook deliveries."""

import json
import sqlite3
from datetime import datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _ts
from portal.domain.money_events import MoneyEvent
from portal.domain.outbound import Delivery, DeliveryState, new_delivery
from portal.ports.money_events import EventPage


class SqliteDeliveries(SqliteDatabase):
    """The Deliveries port on SQLite."""

    def webhook_position(self) -> int:
        with self._read() as conn:
            row = conn.execute("SELECT position FROM webhook_position WHERE id = 1").fetchone()
            return row["position"] if row else 0

    def add_deliveries(self, after: int, page: EventPage, at: datetime) -> bool:
        with self._write() as conn:
            row = conn.execute("SELECT position FROM webhook_position WHERE id = 1").fetchone()
            if (row["position"] if row else 0) != after:
                return False
            conn.executemany(
                "INSERT OR IGNORE INTO webhook_deliveries (event_id, position, body, state,"
                " attempts, next_at, last_error, first_at, done_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [_row(new_delivery(e, page.position, at, n)) for n, e in enumerate(page.events)],
            )
            conn.execute(
                "INSERT INTO webhook_position (id, position) VALUES (1, ?)"
                " ON CONFLICT (id) DO UPDATE SET position = excluded.position",
                (page.position,),
            )
            return True

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM webhook_deliveries INDEXED BY webhook_deliveries_due"
                " WHERE state = 'pending' AND next_at <= ? ORDER BY position, rowid LIMIT ?",
                (_ts(now), limit),
            )
            return [_delivery(r) for r in rows]

    def save_delivery(self, before: Delivery, after: Delivery) -> bool:
        with self._write() as conn:
            changed = conn.execute(
                "UPDATE webhook_deliveries SET state = ?, attempts = ?, next_at = ?,"
                " last_error = ?, first_at = ?, done_at = ?"
                " WHERE event_id = ? AND state = ? AND attempts = ? AND next_at = ?",
                (
                    after.state.value,
                    after.attempts,
                    _ts(after.next_at),
                    after.last_error,
                    _ts(after.first_at),
                    _ts(after.done_at) if after.done_at else None,
                    before.event_id,
                    before.state.value,
                    before.attempts,
                    _ts(before.next_at),
                ),
            )
            return changed.rowcount == 1

    def failed_deliveries(self, limit: int = 200) -> list[Delivery]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT * FROM webhook_deliveries WHERE state = 'failed'"
                " ORDER BY position, rowid LIMIT ?",
                (limit,),
            )
            return [_delivery(r) for r in rows]

    def get_delivery(self, event_id: str) -> Delivery | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM webhook_deliveries WHERE event_id = ?", (event_id,)
            ).fetchone()
            return _delivery(row) if row else None


def _row(d: Delivery) -> tuple:
    return (
        d.event_id,
        d.position,
        json.dumps(d.event.to_json(), sort_keys=True),
        d.state.value,
        d.attempts,
        _ts(d.next_at),
        d.last_error,
        _ts(d.first_at),
        _ts(d.done_at) if d.done_at else None,
    )


def _delivery(r: sqlite3.Row) -> Delivery:
    return Delivery(
        event=MoneyEvent.from_json(json.loads(r["body"])),
        position=r["position"],
        state=DeliveryState(r["state"]),
        first_at=datetime.fromisoformat(r["first_at"]),
        next_at=datetime.fromisoformat(r["next_at"]),
        attempts=r["attempts"],
        last_error=r["last_error"],
        done_at=datetime.fromisoformat(r["done_at"]) if r["done_at"] else None,
    )
