"""What only the SQLite adapter promises: its file, its pragmas, its triggers."""

import sqlite3
from datetime import date
from pathlib import Path

import pytest

from portal.adapters.sqlite.schema import SCHEMA_VERSION
from portal.adapters.sqlite.store import SqliteStore
from portal.domain.statements import Statement
from portal.ports.store import StoreError, StoreNotReady
from tests.conftest import NOW, line, lopez_account, statement


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "sqlite-specific.sqlite3"


@pytest.fixture
def sqlite_store(db_path: Path) -> SqliteStore:
    store = SqliteStore(db_path)
    assert store.migrate() == SCHEMA_VERSION
    store.import_statement(lopez_account(), statement("S-2026-000123", (4550, 2000)), NOW)
    return store


def raw(path: Path) -> sqlite3.Connection:
    return sqlite3.connect(path, isolation_level=None)


def ledger_rows(path: Path) -> list[tuple]:
    conn = raw(path)
    try:
        return conn.execute("SELECT * FROM ledger_entries ORDER BY entry_id").fetchall()
    finally:
        conn.close()


def test_ledger_entries_cannot_be_updated(sqlite_store: SqliteStore, db_path: Path):
    before = ledger_rows(db_path)
    assert before

    conn = raw(db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("UPDATE ledger_entries SET amount_cents = 0")
    finally:
        conn.close()

    assert ledger_rows(db_path) == before


def test_ledger_entries_cannot_be_deleted(sqlite_store: SqliteStore, db_path: Path):
    before = ledger_rows(db_path)

    conn = raw(db_path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute("DELETE FROM ledger_entries")
    finally:
        conn.close()

    assert ledger_rows(db_path) == before


def test_wal_mode_is_on_after_migrate(sqlite_store: SqliteStore, db_path: Path):
    conn = raw(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0].lower() == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    finally:
        conn.close()


def test_migrate_creates_the_folder_of_the_file(tmp_path: Path):
    path = tmp_path / "deeper" / "var" / "portal.sqlite3"
    store = SqliteStore(path)

    assert store.migrate() == SCHEMA_VERSION
    store.ping()
    assert path.exists()


def test_a_missing_file_is_not_ready_and_names_portal_migrate(db_path: Path):
    store = SqliteStore(db_path)

    with pytest.raises(StoreNotReady, match="portal migrate"):
        store.get_account("100234")
    with pytest.raises(StoreNotReady, match="portal migrate"):
        store.import_statement(lopez_account(), statement(), NOW)
    with pytest.raises(StoreError):
        store.ping()
    assert not db_path.exists()


def test_an_unmigrated_file_is_not_ready_and_names_portal_migrate(db_path: Path):
    raw(db_path).close()  # an empty SQLite file, schema version 0
    assert db_path.exists()
    store = SqliteStore(db_path)

    with pytest.raises(StoreNotReady, match="portal migrate"):
        store.account_records("100234")
    with pytest.raises(StoreError):
        store.ping()

    store.migrate()
    assert store.get_account("100234") is None


def test_a_newer_schema_is_refused(db_path: Path):
    conn = raw(db_path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    store = SqliteStore(db_path)

    with pytest.raises(StoreError, match="newer"):
        store.migrate()
    with pytest.raises(StoreNotReady, match="portal migrate"):
        store.get_account("100234")


def test_import_is_all_or_nothing(sqlite_store: SqliteStore, db_path: Path):
    broken = Statement(
        "S-2026-000777",
        "300100",
        date(2026, 11, 1),
        date(2026, 11, 30),
        (line("1"), line("1")),  # the same line id twice breaks the insert half-way
    )
    account = lopez_account()
    account = type(account)("300100", account.guarantor, account.patients)

    with pytest.raises(sqlite3.IntegrityError):
        sqlite_store.import_statement(account, broken, NOW)

    assert sqlite_store.get_account("300100") is None
    assert sqlite_store.get_statement("S-2026-000777") is None
    conn = raw(db_path)
    try:
        rows = conn.execute(
            "SELECT COUNT(*) FROM ledger_entries WHERE account_number = '300100'"
        ).fetchone()
        assert rows[0] == 0
    finally:
        conn.close()


def test_complete_claim_records_when(sqlite_store: SqliteStore, db_path: Path):
    assert sqlite_store.claim("receipt", "pay_1", NOW)
    sqlite_store.complete_claim("receipt", "pay_1", NOW)

    conn = raw(db_path)
    try:
        sent_at = conn.execute(
            "SELECT sent_at FROM messages WHERE kind = 'receipt' AND key = 'pay_1'"
        ).fetchone()[0]
    finally:
        conn.close()
    assert sent_at is not None
    assert sent_at.startswith("2026-11-28T15:00:00")


def test_upgrading_from_schema_1_fills_the_index_of_accounts_that_owe(tmp_path: Path):
    from portal.adapters.sqlite.schema import MIGRATIONS

    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.executescript(f"BEGIN; {MIGRATIONS[0]}; PRAGMA user_version = 1; COMMIT;")
    conn.executescript(
        """
        INSERT INTO accounts (account_number, first_name, last_name, date_of_birth, created_at)
            VALUES ('100234', 'Maria', 'Lopez', '1984-03-12', '2026-11-01T00:00:00+00:00');
        INSERT INTO statements VALUES
            ('S-1', '100234', '2026-09-01', '2026-09-30', 'f1', '2026-09-01T00:00:00+00:00'),
            ('S-2', '100234', '2026-10-01', '2026-10-31', 'f2', '2026-10-01T00:00:00+00:00');
        INSERT INTO ledger_entries (account_number, kind, amount_cents, posted_at, statement_id)
            VALUES ('100234', 'charge', 3000, '2026-09-01T00:00:00+00:00', 'S-1'),
                   ('100234', 'patient_payment', -3000, '2026-09-02T00:00:00+00:00', 'S-1'),
                   ('100234', 'charge', 4550, '2026-10-01T00:00:00+00:00', 'S-2');
        """
    )
    conn.close()

    store = SqliteStore(path)
    assert store.migrate() == SCHEMA_VERSION

    (due,) = store.accounts_due(date(2026, 12, 1))
    assert (due.account_number, due.statement_id, due.due_cents) == ("100234", "S-2", 4550)
    assert store.get_account("100234").reminders_opted_out_at is None
