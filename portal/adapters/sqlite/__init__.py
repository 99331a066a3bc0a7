"""The sqlite store, one module per port."""

from portal.adapters.sqlite.store import SqliteStore

__all__ = ["SqliteStore"]
