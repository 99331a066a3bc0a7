"""DynamoDbTable: what every part of the DynamoDB store shares (its handle, schema, retries)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from portal.adapters.dynamodb.items import Partition, account_pk
from portal.adapters.dynamodb.records import _audit_pk, _Retry
from portal.adapters.dynamodb.shards import AUDIT, MAX_SHARDS, shard_key
from portal.adapters.dynamodb.table import MAX_ATTEMPTS, Item, Table, key_condition, seq, ts
from portal.domain.staff import AuditEntry
from portal.ports.store import StoreError

SCHEMA_VERSION = 1


class DynamoDbTable:
    """The DynamoDB handle the store's parts share; migrate and ping."""

    db: Table

    def __init__(self, table_name: str, resource: Any = None, shards: int = 1):
        if not 1 <= shards <= MAX_SHARDS:
            raise ValueError(f"shards must be 1 to {MAX_SHARDS}")
        self.db = Table(table_name, resource)
        self.shards = shards

    def migrate(self) -> int:
        self.db.create_if_local()
        return SCHEMA_VERSION

    def backup(self, path: Path) -> None:
        raise StoreError(
            f"The DynamoDB table {self.db.name} is backed up by its point-in-time recovery "
            "(35 days, to the second; infra/portal.yaml): restore it to a new table as "
            "docs/operations.md describes. `portal backup` copies the SQLite store only."
        )

    def ping(self) -> None:
        try:
            self.db.check_ready()
        except StoreError:
            raise
        except Exception as exc:
            raise StoreError(f"DynamoDB table {self.db.name} does not answer: {exc}") from exc

    def _partition(self, account_number: str) -> Partition:
        part = Partition(account_number)
        for item in self.db.query(**key_condition("PK", account_pk(account_number))):
            part.add(item)
        part.statements.sort(key=lambda s: (s.statement_date, s.statement_id))
        part.entries.sort(key=lambda e: e.entry_id or 0)
        return part

    def _account_of(self, kind: str, key: str) -> str | None:
        pointer = self.db.get(f"{kind}#{key}", kind)
        return pointer["account_number"] if pointer else None

    def _with_retries(self, attempt: Callable[[], Any]) -> Any:
        for _ in range(MAX_ATTEMPTS):
            try:
                return attempt()
            except _Retry:
                continue
        raise StoreError("the account kept changing while it was being written; try again")

    def _audit_item(self, entry: AuditEntry) -> Item:
        entry_id = seq(self.db.next_number("audit"))
        return {
            "PK": _audit_pk(entry.account_number),
            "SK": entry_id,
            "GSI1PK": f"ACTOR#{entry.actor}",
            "GSI1SK": entry_id,
            "GSI2PK": shard_key(AUDIT, entry_id, self.shards),
            "GSI2SK": entry_id,
            "at": ts(entry.at),
            "actor": entry.actor,
            "action": entry.action.value,
            "subject": entry.subject,
            "address": entry.address,
        }
