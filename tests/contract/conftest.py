"""Fixtures for the Store contract: one `store` fixture per adapter.

Adding an adapter (e.g. DynamoDB against a local endpoint) is one more entry in ADAPTERS:
a function that builds a ready, migrated, empty store of that kind.
"""

from collections.abc import Callable
from pathlib import Path

import pytest

from portal.adapters.sqlite_store import SqliteStore
from portal.adapters.store import Store


def _sqlite(tmp_path: Path) -> Store:
    store = SqliteStore(tmp_path / "contract.sqlite3")
    store.migrate()
    return store


ADAPTERS: dict[str, Callable[[Path], Store]] = {
    "sqlite": _sqlite,
}


@pytest.fixture(params=sorted(ADAPTERS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Store:
    return ADAPTERS[request.param](tmp_path)
