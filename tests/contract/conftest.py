"""Fixtures for the Store contract: one `store` fixture per adapter.

Adding an adapter is one more entry in ADAPTERS: a function that builds a ready, migrated,
empty store of that kind. DynamoDB runs against moto's server over HTTP, a fresh table
per test.
"""

import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite.store import SqliteStore
from portal.ports.store import Store


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    store = SqliteStore(tmp_path / "contract.sqlite3")
    store.migrate()
    return store


def _dynamodb(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    request.getfixturevalue("moto_endpoint")
    store = DynamoDbStore(f"contract-{uuid.uuid4().hex[:12]}")
    store.migrate()
    # moto keeps every table in memory for the whole run: drop each when its test ends.
    request.addfinalizer(lambda: store.db.client.delete_table(TableName=store.db.name))
    return store


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return ADAPTERS[request.param](request, tmp_path)
