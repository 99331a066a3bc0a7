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
from tests.conftest import copy_of_migrated


def _sqlite(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    path = tmp_path / "contract.sqlite3"
    copy_of_migrated(request.getfixturevalue("migrated_sqlite"), path)
    store = SqliteStore(path)
    store.migrate()  # nothing left to do on the copy
    return store


def _dynamodb(request: pytest.FixtureRequest, tmp_path: Path, shards: int = 1) -> Store:
    request.getfixturevalue("moto_endpoint")
    store = DynamoDbStore(f"contract-{uuid.uuid4().hex[:12]}", shards=shards)
    store.migrate()
    # moto keeps every table in memory for the whole run: drop each when its test ends.
    request.addfinalizer(lambda: store.db.client.delete_table(TableName=store.db.name))
    return store


def _dynamodb_sharded(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    """The shared items over 4 keys each (PORTAL_DYNAMODB_SHARDS): with the accounts the
    tests use, every shard holds some."""
    return _dynamodb(request, tmp_path, shards=4)


ADAPTERS: dict[str, Callable[[pytest.FixtureRequest, Path], Store]] = {
    "sqlite": _sqlite,
    "dynamodb": _dynamodb,
    "dynamodb-sharded": _dynamodb_sharded,
}


# The whole contract on the sharded store runs in `make test-slow`: it differs from the
# plain DynamoDB store only in the shared items' keys, which tests/contract/
# test_dynamodb_shards.py checks in `make test` against an unsharded table.
STORE_PARAMS = [
    pytest.param(name, marks=pytest.mark.slow) if name == "dynamodb-sharded" else name
    for name in sorted(ADAPTERS)
]


@pytest.fixture(params=STORE_PARAMS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return ADAPTERS[request.param](request, tmp_path)
