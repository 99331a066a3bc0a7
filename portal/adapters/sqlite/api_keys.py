"""The SQLite store's api keys port: keys for the statement import API."""

import sqlite3
from datetime import datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _ts
from portal.domain.api_keys import ApiKey


class SqliteApiKeys(SqliteDatabase):
    """The ApiKeys port on SQLite."""

    def create_api_key(self, key: ApiKey) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    key.name,
                    key.key_hash,
                    key.last_four,
                    _ts(key.created_at),
                    _ts(key.revoked_at) if key.revoked_at else None,
                ),
            )
            return cursor.rowcount == 1

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        with self._read() as conn:
            row = conn.execute("SELECT * FROM api_keys WHERE key_hash = ?", (key_hash,)).fetchone()
            return _api_key(row) if row else None

    def api_keys(self) -> list[ApiKey]:
        with self._read() as conn:
            return [_api_key(r) for r in conn.execute("SELECT * FROM api_keys ORDER BY name")]

    def revoke_api_key(self, name: str, at: datetime) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE api_keys SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (_ts(at), name),
            )
            return cursor.rowcount == 1


def _api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        name=row["name"],
        key_hash=row["key_hash"],
        last_four=row["last_four"],
        created_at=datetime.fromisoformat(row["created_at"]),
        revoked_at=datetime.fromisoformat(row["revoked_at"]) if row["revoked_at"] else None,
    )
