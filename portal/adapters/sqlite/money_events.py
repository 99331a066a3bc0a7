"""The SQLite store's money events: a row per event, numbered by an AUTOINCREMENT key in
the transaction that commits the money change. SQLite has one writer at a time (BEGIN
IMMEDIATE holds the write lock until COMMIT), so numbers are given in commit order and
every snapshot a reader sees holds all the events up to some number: none numbered lower
is ever committed later."""

import json
import sqlite3
from collections.abc import Iterable

from portal.adapters.sqlite.database import SqliteDatabase
from portal.domain.money_events import MoneyEvent
from portal.ports.money_events import EventPage


class SqliteMoneyEvents(SqliteDatabase):
    """The MoneyEvents port on SQLite."""

    def money_events(self, after: int, limit: int) -> EventPage:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT position, body FROM money_events WHERE position > ?"
                " ORDER BY position LIMIT ?",
                (after, limit),
            ).fetchall()
        if not rows:
            return EventPage((), after)
        events = tuple(MoneyEvent.from_json(json.loads(r["body"])) for r in rows)
        return EventPage(events, rows[-1]["position"])


def insert_events(conn: sqlite3.Connection, events: Iterable[MoneyEvent]) -> None:
    conn.executemany(
        "INSERT INTO money_events (event_id, body) VALUES (?, ?)",
        [(e.event_id, json.dumps(e.to_json(), sort_keys=True)) for e in events],
    )
