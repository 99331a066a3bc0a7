"""SqliteDatabase: what every part of the SQLite store shares (its handle, schema, retries)."""

import os
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from portal.adapters.sqlite.schema import MIGRATIONS, SCHEMA_VERSION
from portal.ports import store_calls
from portal.ports.store import StoreError, StoreNotReady

IDLE_KEPT = 8  # open connections kept between uses; any more in use at once close after

# Every store's connections, to hand the parent's over in a child right after a fork, and the
# parent's connections a child inherited: referenced for as long as the child runs, so that
# the child never closes them.
_EVERY: "weakref.WeakSet[_Connections]" = weakref.WeakSet()

_INHERITED: list[sqlite3.Connection] = []


class SqliteDatabase:
    """The SQLite handle the store's parts share; migrate and ping."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._ready = False
        self._connections = _Connections(self.path)
        # Tests and tools build many stores: each one's connections close when it is
        # collected (or at exit), without waiting for the process to end.
        self._closer = weakref.finalize(self, self._connections.close)

    def close(self) -> None:
        """Close the connections now; a later call opens new ones."""
        self._connections.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        self._check_ready()
        with self._connections.held() as conn:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.rollback()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One use case, one transaction: committed only when the block ends cleanly."""
        self._check_ready()
        with self._connections.held() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.commit()
            except BaseException:
                conn.rollback()
                raise

    def _check_ready(self) -> None:
        if self._ready:
            return
        if not self.path.exists():
            raise StoreNotReady(f"No database at {self.path}: run `portal migrate`.")
        with self._connections.held() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version != SCHEMA_VERSION:
            raise StoreNotReady(
                f"The database at {self.path} is at schema {version}, the code needs "
                f"{SCHEMA_VERSION}: run `portal migrate`."
            )
        self._ready = True

    def migrate(self) -> int:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connections.held() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"The database is at schema {version}, newer than this code ({SCHEMA_VERSION})."
                )
            for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
                try:
                    conn.executescript(
                        f"BEGIN IMMEDIATE; {script}; PRAGMA user_version = {number};"
                    )
                    conn.commit()
                except BaseException:
                    if conn.in_transaction:
                        conn.rollback()
                    raise
        self._ready = False
        return SCHEMA_VERSION

    def ping(self) -> None:
        try:
            with self._read() as conn:
                conn.execute("SELECT 1").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"SQLite store at {self.path} does not answer: {exc}") from exc

    def backup(self, path: Path) -> None:
        """SQLite's online backup, all pages in one step: one read transaction, so the copy
        is the store as of one commit, and (in WAL mode) writers go on meanwhile. Written
        to a temporary file beside `path`, checked, then linked into place, which fails
        rather than replace a file that appeared meanwhile."""
        target = Path(path)
        if target.exists() or target.is_symlink():
            raise StoreError(f"{target} exists: a backup goes to a new file, never over one.")
        if not target.parent.is_dir():
            raise StoreError(f"There is no folder {target.parent} to write the backup in.")
        self._check_ready()
        partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
        try:
            with self._connections.held() as source:
                copy = sqlite3.connect(partial, isolation_level=None)
                try:
                    source.backup(copy, pages=-1)
                    checked = copy.execute("PRAGMA integrity_check").fetchone()[0]
                    if checked != "ok":
                        raise StoreError(f"The backup did not check out: {checked}")
                finally:
                    copy.close()
            with open(partial, "rb") as written:
                os.fsync(written.fileno())
            os.link(partial, target)
        except FileExistsError:
            raise StoreError(
                f"{target} exists: a backup goes to a new file, never over one."
            ) from None
        except (OSError, sqlite3.Error) as exc:
            raise StoreError(f"The backup to {target} failed: {exc}") from exc
        finally:
            partial.unlink(missing_ok=True)


class _Connections:
    """A store's open SQLite connections, kept open: opening one, and above all closing the
    last one (which checkpoints the WAL and fsyncs), cost more than the transaction itself.

    A thread holds a connection of its own for the length of one transaction and gives it
    back; a single-threaded process uses one connection throughout. Not one per thread for
    the thread's life: werkzeug's threaded server starts a thread per request, so that
    would be a connection opened and closed per request again.

    Never across a fork (SQLite forbids using a parent's connection in the child): the
    child opens its own and leaves its parent's alone, unclosed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.idle: list[sqlite3.Connection] = []
        self.generation = 0  # close() starts a new one: what is held then closes on return
        _EVERY.add(self)

    def open(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=15, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA busy_timeout = 15000")
        # Each commit is on disk before it returns: an acknowledged payment survives a
        # power cut (FULL is SQLite's usual default; some builds default WAL to NORMAL).
        conn.execute("PRAGMA synchronous = FULL")
        return conn

    @contextmanager
    def held(self) -> Iterator[sqlite3.Connection]:
        if self.pid != os.getpid():
            self.forked()  # a fork that os.register_at_fork did not see
        pid = self.pid
        store_calls.count()
        with self.lock:
            generation = self.generation
            conn = self.idle.pop() if self.idle else None
        if conn is None:
            conn = self.open()
        try:
            yield conn
        finally:
            self._give_back(conn, pid, generation)

    def _give_back(self, conn: sqlite3.Connection, pid: int, generation: int) -> None:
        if pid != os.getpid():  # taken in the parent, given back in a forked child
            _INHERITED.append(conn)
            return
        with self.lock:
            keep = (
                generation == self.generation
                and not conn.in_transaction
                and len(self.idle) < IDLE_KEPT
            )
            if keep:
                self.idle.append(conn)
        if not keep:
            conn.close()

    def close(self) -> None:
        if self.pid != os.getpid():
            self.forked()
        with self.lock:
            idle, self.idle = self.idle, []
            self.generation += 1
        for conn in idle:
            conn.close()

    def forked(self) -> None:
        """In a child process: the parent's connections stay open and untouched."""
        _INHERITED.extend(self.idle)
        self.idle = []
        self.lock = threading.Lock()  # another thread of the parent may have held it
        self.pid = os.getpid()
        self.generation += 1


def _after_fork_in_child() -> None:
    for connections in list(_EVERY):
        connections.forked()


os.register_at_fork(after_in_child=_after_fork_in_child)
