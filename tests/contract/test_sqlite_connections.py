"""The SQLite store keeps its connections open (issue 15): reused across calls and threads,
closed with the store, never shared with a forked child; what other processes commit is
still seen, and every commit is still synchronous."""

import gc
import os
import sqlite3
import threading
from pathlib import Path

import pytest

from portal import create_app
from portal.adapters.sqlite import database as sqlite_database
from portal.adapters.sqlite.store import SqliteStore
from portal.bootstrap import build_services
from portal.config import Settings
from portal.ports.store import StoreNotReady
from tests.conftest import NOW, lopez_account, statement


def open_files(path: Path) -> int:
    """File descriptors of this process open on `path` (one per SQLite connection)."""
    target = str(path.resolve())
    found = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            found += os.readlink(f"/proc/self/fd/{fd}") == target
        except OSError:
            continue  # the descriptor listing the folder itself, gone by now
    return found


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "held.sqlite3"


@pytest.fixture
def store(path: Path):
    made = SqliteStore(path)
    made.migrate()
    made.import_statement(lopez_account(), statement("S-2026-000123", (4550, 2000)), NOW)
    yield made
    made.close()


def test_one_connection_serves_every_call_and_a_commit_leaves_the_wal_unchecked(store, path):
    for i in range(20):
        assert store.get_account("100234") is not None
        assert store.claim("receipt", f"pay_{i}", NOW)

    assert open_files(path) == 1
    # Closing the last connection would have checkpointed the WAL into the file (and
    # fsynced both): the commits are still in the WAL, which SQLite folds in later.
    assert Path(f"{path}-wal").stat().st_size > 0


def test_each_connection_is_in_wal_with_full_sync_and_a_busy_timeout(store):
    with store._connections.held() as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 15000
        assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def test_a_thread_per_request_reuses_the_same_connection(store, path):
    """werkzeug's threaded server starts a thread for each request."""
    found = []
    for _ in range(30):
        thread = threading.Thread(target=lambda: found.append(store.get_account("100234")))
        thread.start()
        thread.join()

    assert len(found) == 30 and all(found)
    assert open_files(path) == 1


def test_threads_at_once_each_hold_their_own_and_few_are_kept(store, path):
    threads = 2 * sqlite_database.IDLE_KEPT
    claimed = []

    def burst(round: int) -> int:
        barrier = threading.Barrier(threads)

        def work(n: int) -> None:
            barrier.wait()
            for i in range(3):
                claimed.append(store.claim("receipt", f"pay_{round}_{n}_{i}", NOW))

        running = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
        for thread in running:
            thread.start()
        for thread in running:
            thread.join()
        assert len(store._connections.idle) <= sqlite_database.IDLE_KEPT
        return open_files(path)

    first = burst(1)
    again = burst(2)

    assert claimed.count(True) == 2 * threads * 3
    # SQLite holds back the descriptor of a connection closed while others hold a lock on
    # the file, and gives it to the next one opened: bounded by the most at once, reused.
    assert 1 <= first <= threads
    assert 1 <= again <= threads


def test_close_closes_now_and_the_store_opens_again_when_used(store, path):
    store.close()
    assert open_files(path) == 0

    assert store.get_account("100234") is not None
    assert open_files(path) == 1


def test_stores_built_and_dropped_leave_no_connection_open(tmp_path: Path):
    """The test suite builds thousands of stores: none may keep a file open after it."""
    paths = [tmp_path / f"many-{i}.sqlite3" for i in range(150)]
    before = len(os.listdir("/proc/self/fd"))
    for path in paths:
        store = SqliteStore(path)
        store.migrate()
        store.import_statement(lopez_account(), statement(), NOW)
        assert store.get_account("100234") is not None
        del store  # no cycle: its connections close at once

    assert sum(open_files(path) for path in paths) == 0
    assert len(os.listdir("/proc/self/fd")) <= before


def test_apps_and_services_built_and_dropped_leave_no_connection_open(tmp_path: Path):
    """An app holds its services in reference cycles: collected, its connections close."""
    paths = [tmp_path / f"app-{i}.sqlite3" for i in range(30)]
    for path in paths:
        services = build_services(
            Settings.from_env(
                {
                    "PORTAL_SQLITE_PATH": str(path),
                    "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
                    "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
                }
            )
        )
        services.store.migrate()
        assert create_app(services=services).test_client().get("/pay").status_code == 200
        del services
    gc.collect()

    assert sum(open_files(path) for path in paths) == 0


def test_a_read_sees_what_another_process_committed_since(store, path):
    assert store.get_account("300100") is None  # the connection is open, and was read on

    pid = os.fork()
    if pid == 0:  # another process: its own store on the same file
        code = 1
        try:
            other = SqliteStore(path)
            account = lopez_account()
            account = type(account)("300100", account.guarantor, account.patients)
            other.import_statement(
                account, statement("S-2026-000900", account_number="300100"), NOW
            )
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0

    assert open_files(path) == 1  # the same connection as before
    assert store.get_account("300100") is not None
    assert store.get_statement("S-2026-000900") is not None


def test_a_forked_child_opens_its_own_connection_and_leaves_the_parents(store, path):
    with store._connections.held() as parents:
        pass
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child uses the store object it inherited
        code = 1
        try:
            os.close(read)
            with store._connections.held() as conn:
                own = conn is not parents
            store.claim("receipt", "pay_child", NOW)
            seen = store.claim_completed("receipt", "pay_child") is False
            store.close()  # closes the child's connection only
            os.write(write, b"own" if own and seen else b"shared")
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    told = os.read(read, 16)
    os.close(read)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert told == b"own"
    # The parent goes on with the connection it had, and sees the child's claim.
    with store._connections.held() as conn:
        assert conn is parents
    assert not store.claim("receipt", "pay_child", NOW)
    assert open_files(path) == 1


def test_migrate_runs_on_the_held_connection_and_the_store_is_ready_after(path):
    raw = sqlite3.connect(path)
    raw.close()  # an empty file: schema 0
    store = SqliteStore(path)
    with pytest.raises(StoreNotReady):
        store.get_account("100234")  # opened, read the schema version, kept

    store.migrate()
    store.ping()
    assert store.get_account("100234") is None
    assert open_files(path) == 1
    store.close()
