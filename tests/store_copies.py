"""Set-up made once and copied: a store's records (a SQLite file's pages, a DynamoDB table's
items) and the outbox folders, taken after the first test built them and put into each later
test's empty store, so that many tests start from the same imported records without each
running the import."""

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite.store import SqliteStore
from portal.config import Settings
from portal.ports.store import Store

BATCH = 25  # DynamoDB's BatchWriteItem takes at most 25 puts


@dataclass
class Copy:
    folder: tempfile.TemporaryDirectory
    items: list[dict[str, Any]]  # DynamoDB's items, as its client reads them


def store_kind(store: Store) -> str:
    """Stores whose records can be copied into each other (a sharded table's keys differ)."""
    if isinstance(store, SqliteStore):
        return "sqlite"
    assert isinstance(store, DynamoDbStore)
    return f"dynamodb-{store.shards}"


def _outboxes(settings: Settings | None) -> tuple[tuple[str, str], ...]:
    if settings is None:
        return ()
    return (("outbox", settings.outbox_dir), ("sms", settings.sms_outbox_dir))


def take(store: Store, settings: Settings | None = None) -> Copy:
    """The store's records (and the outboxes of `settings`) as they are now."""
    folder = tempfile.TemporaryDirectory(prefix="store-copy-")
    kept = Path(folder.name)
    for name, source in _outboxes(settings):
        if Path(source).is_dir():
            shutil.copytree(source, kept / name)
    items: list[dict[str, Any]] = []
    if isinstance(store, SqliteStore):
        store.backup(kept / "records.sqlite3")
    else:
        assert isinstance(store, DynamoDbStore)
        for page in store.db.client.get_paginator("scan").paginate(
            TableName=store.db.name, ConsistentRead=True
        ):
            items.extend(page["Items"])
    return Copy(folder, items)


def put(copy: Copy, store: Store, settings: Settings | None = None) -> None:
    """Into an empty, migrated store (and the empty outboxes of `settings`): the records
    (and mail) of `copy`."""
    kept = Path(copy.folder.name)
    for name, target in _outboxes(settings):
        if (kept / name).is_dir():
            shutil.copytree(kept / name, target)
    if isinstance(store, SqliteStore):
        source = sqlite3.connect(kept / "records.sqlite3")
        target = sqlite3.connect(store.path)
        try:
            source.backup(target)
        finally:
            source.close()
            target.close()
        return
    assert isinstance(store, DynamoDbStore)
    client = store.db.client
    for start in range(0, len(copy.items), BATCH):
        wanted = {
            store.db.name: [{"PutRequest": {"Item": i}} for i in copy.items[start : start + BATCH]]
        }
        while wanted:
            wanted = client.batch_write_item(RequestItems=wanted)["UnprocessedItems"]
