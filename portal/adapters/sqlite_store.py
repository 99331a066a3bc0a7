"""SqliteStore: the local default Store, one SQLite file in WAL mode."""

import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from portal.adapters.sqlite_schema import MIGRATIONS, SCHEMA_VERSION
from portal.domain.account_book import AccountBook, Change, KeyKind
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.api_keys import ApiKey
from portal.domain.ledger import (
    EntryKind,
    LedgerEntry,
    apply_credit,
    statement_entries,
)
from portal.domain.names import name_key
from portal.domain.payments import OPEN_STATUSES, Payment, PaymentStatus
from portal.domain.staff import (
    AuditAction,
    AuditEntry,
    Escalation,
    EscalationKind,
    MailRecord,
    Note,
    Role,
    StaffUser,
)
from portal.domain.statements import LineItem, Statement
from portal.ports.store import (
    COMMITTED,
    STALE,
    AccountRecords,
    Claim,
    ClaimMark,
    CommitOutcome,
    CommitResult,
    DueAccount,
    ImportOutcome,
    ImportResult,
    ImportState,
    OpenBalance,
    PatientPage,
    StatementImport,
    StoreError,
    StoreNotReady,
)

SESSION_LIFETIME = timedelta(days=1)
MAIL_LOG_KEPT = timedelta(days=366)
RELEASED = ""  # messages.claimed_at of a claim its holder gave up: any claim takes it


IDLE_KEPT = 8  # open connections kept between uses; any more in use at once close after


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


# Every store's connections, to hand the parent's over in a child right after a fork, and the
# parent's connections a child inherited: referenced for as long as the child runs, so that
# the child never closes them.
_EVERY: "weakref.WeakSet[_Connections]" = weakref.WeakSet()
_INHERITED: list[sqlite3.Connection] = []


def _after_fork_in_child() -> None:
    for connections in list(_EVERY):
        connections.forked()


os.register_at_fork(after_in_child=_after_fork_in_child)


class SqliteStore:
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

    # -- connections -------------------------------------------------------------------

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

    # -- schema ------------------------------------------------------------------------

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

    # -- accounts and statements -------------------------------------------------------

    def import_statement(
        self, account: Account, statement: Statement, at: datetime, notice: Claim | None = None
    ) -> ImportOutcome:
        return self.import_statements([StatementImport(account, statement, notice)], at)[0].outcome

    def import_statements(
        self, items: Sequence[StatementImport], at: datetime
    ) -> list[ImportResult]:
        # One transaction for the batch, a savepoint for each statement: a statement that
        # fails is rolled back alone and the ones before it are committed.
        results: list[ImportResult] = []
        failure: Exception | None = None
        with self._write() as conn:
            for item in items:
                conn.execute("SAVEPOINT statement")
                try:
                    results.append(_import_one(conn, item, at))
                except Exception as exc:
                    conn.execute("ROLLBACK TO statement")
                    conn.execute("RELEASE statement")
                    failure = exc
                    break
                conn.execute("RELEASE statement")
        if failure is not None:
            raise failure
        return results

    def import_state(
        self, account_numbers: Iterable[str], statement_ids: Iterable[str]
    ) -> ImportState:
        numbers, ids = sorted(set(account_numbers)), sorted(set(statement_ids))
        with self._read() as conn:
            accounts = _accounts(conn, numbers)
            fingerprints = dict(
                conn.execute(
                    "SELECT statement_id, fingerprint FROM statements"
                    f" WHERE statement_id IN ({', '.join('?' * len(ids))})",
                    ids,
                ).fetchall()
            )
        return ImportState(accounts, fingerprints)

    def get_account(self, account_number: str) -> Account | None:
        with self._read() as conn:
            return _account(conn, account_number)

    def account_records(self, account_number: str) -> AccountRecords | None:
        with self._read() as conn:
            account = _account(conn, account_number)
            if account is None:
                return None
            ids = [
                r["statement_id"]
                for r in conn.execute(
                    "SELECT statement_id FROM statements WHERE account_number = ? "
                    "ORDER BY statement_date, statement_id",
                    (account_number,),
                )
            ]
            return AccountRecords(
                account=account,
                statements=tuple(_existing_statement(conn, sid) for sid in ids),
                entries=tuple(_entries(conn, account_number)),
                payments=tuple(_payments(conn, account_number)),
            )

    def patient_page(
        self, session_id: str, now: datetime, account_number: str, statement_id: str | None = None
    ) -> PatientPage:
        with self._read() as conn:
            # The session, the account and its patients in one statement.
            row = conn.execute(
                "SELECT w.subject, a.*, (SELECT json_group_array(json_object("
                "  'patient_id', p.patient_id, 'first_name', p.first_name,"
                "  'last_name', p.last_name, 'date_of_birth', p.date_of_birth))"
                "  FROM patients p WHERE p.account_number = a.account_number) AS patients"
                " FROM web_sessions w LEFT JOIN accounts a ON a.account_number = ?"
                " WHERE w.session_id = ? AND w.opened_at >= ?",
                (account_number, session_id, _ts(now - SESSION_LIFETIME)),
            ).fetchone()
            if row is None:
                return PatientPage(None, None)
            if row["account_number"] is None:
                return PatientPage(row["subject"], None)
            patients = sorted(json.loads(row["patients"]), key=lambda p: p["patient_id"])
            if statement_id is None:
                statements = [
                    _statement_header(r)
                    for r in conn.execute(
                        "SELECT * FROM statements WHERE account_number = ? "
                        "ORDER BY statement_date, statement_id",
                        (account_number,),
                    )
                ]
                payments = _payments(conn, account_number)
            else:
                statements = _shown_statement(conn, account_number, statement_id)
                payments = []
            records = AccountRecords(
                account=_account_of(row, patients),
                statements=tuple(statements),
                entries=tuple(_entries(conn, account_number)),
                payments=tuple(payments),
            )
            return PatientPage(row["subject"], records)

    def get_statement(self, statement_id: str) -> Statement | None:
        with self._read() as conn:
            return _statement(conn, statement_id)

    # -- payments ----------------------------------------------------------------------

    def create_payment(self, payment: Payment) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO payments (payment_id, account_number, amount_cents, status, method,"
                " gateway, created_at, checkout_session_id, method_detail, requested_cents)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(payment_id) DO NOTHING",
                (
                    payment.payment_id,
                    payment.account_number,
                    payment.amount_cents,
                    payment.status.value,
                    payment.method,
                    payment.gateway,
                    _ts(payment.created_at),
                    payment.checkout_session_id,
                    payment.method_detail,
                    payment.requested_cents,
                ),
            )
            return cursor.rowcount == 1

    def get_payment(self, payment_id: str) -> Payment | None:
        with self._read() as conn:
            return _find_payment(conn, payment_id)

    def attach_checkout(self, payment_id: str, session_id: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE payments SET checkout_session_id = ? WHERE payment_id = ?",
                (session_id, payment_id),
            )

    def close_payment(
        self, payment_id: str, status: PaymentStatus, message: str, at: datetime
    ) -> Payment:
        with self._write() as conn:
            payment = _existing_payment(conn, payment_id)
            if payment.status not in OPEN_STATUSES:
                return payment
            conn.execute(
                "UPDATE payments SET status = ?, failure_message = ? WHERE payment_id = ?",
                (status.value, message, payment_id),
            )
            return _existing_payment(conn, payment_id)

    def payment_by_reference(self, reference: str) -> Payment | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT * FROM payments WHERE gateway_reference = ?", (reference,)
            ).fetchone()
            return _payment(row) if row else None

    def set_dispute(self, payment_id: str, disputed: bool) -> Payment:
        before, after = (
            (PaymentStatus.SUCCEEDED, PaymentStatus.DISPUTED)
            if disputed
            else (PaymentStatus.DISPUTED, PaymentStatus.SUCCEEDED)
        )
        with self._write() as conn:
            conn.execute(
                "UPDATE payments SET status = ? WHERE payment_id = ? AND status = ?",
                (after.value, payment_id, before.value),
            )
            return _existing_payment(conn, payment_id)

    # -- lookup throttling -------------------------------------------------------------

    def record_lookup_failure(self, key: str, at: datetime, since: datetime) -> int:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM lookup_failures WHERE key = ? AND failed_at < ?", (key, _ts(since))
            )
            # Attempts on keys nobody tries again (sprayed account numbers) go after a day.
            day_ago = _ts(at - timedelta(days=1))
            conn.execute("DELETE FROM lookup_failures WHERE failed_at < ?", (day_ago,))
            conn.execute("DELETE FROM lookup_locks WHERE locked_until < ?", (day_ago,))
            conn.execute("INSERT INTO lookup_failures VALUES (?, ?)", (key, _ts(at)))
            return conn.execute(
                "SELECT COUNT(*) FROM lookup_failures WHERE key = ? AND failed_at >= ?",
                (key, _ts(since)),
            ).fetchone()[0]

    def lock_lookups(self, key: str, until: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO lookup_locks VALUES (?, ?) ON CONFLICT(key) DO UPDATE"
                " SET locked_until = max(locked_until, excluded.locked_until)",
                (key, _ts(until)),
            )

    def lookup_locked_until(self, key: str, now: datetime) -> datetime | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT locked_until FROM lookup_locks WHERE key = ? AND locked_until > ?",
                (key, _ts(now)),
            ).fetchone()
            return datetime.fromisoformat(row[0]) if row else None

    def forget_lookup_failure(self, key: str, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM lookup_failures WHERE rowid = (SELECT rowid FROM lookup_failures"
                " WHERE key = ? AND failed_at = ? LIMIT 1)",
                (key, _ts(at)),
            )

    def clear_lookup_failures(self, key: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM lookup_failures WHERE key = ?", (key,))

    # -- browser sessions --------------------------------------------------------------

    def open_web_session(self, session_id: str, subject: str, at: datetime) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM web_sessions WHERE opened_at < ?", (_ts(at - SESSION_LIFETIME),)
            )
            conn.execute(
                "INSERT INTO web_sessions VALUES (?, ?, ?)", (session_id, subject, _ts(at))
            )

    def web_session_subject(self, session_id: str, now: datetime) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT subject FROM web_sessions WHERE session_id = ? AND opened_at >= ?",
                (session_id, _ts(now - SESSION_LIFETIME)),
            ).fetchone()
            return row[0] if row else None

    def end_web_session(self, session_id: str) -> None:
        with self._write() as conn:
            conn.execute("DELETE FROM web_sessions WHERE session_id = ?", (session_id,))

    # -- messages ----------------------------------------------------------------------

    def claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        stale_before: datetime | None = None,
        payload: str = "",
    ) -> bool:
        with self._write() as conn:
            return _take(conn, Claim(kind, key, None, payload), at, stale_before)

    def complete_claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        mail: MailRecord | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET sent_at = ? WHERE kind = ? AND key = ?", (_ts(at), kind, key)
            )
            if mail is not None:
                _insert_mail(conn, mail)
            if audit is not None:
                _insert_audit(conn, audit)

    def claim_many(
        self, claims: Sequence[Claim], at: datetime, stale_before: datetime
    ) -> set[tuple[str, str]]:
        with self._write() as conn:
            return {(c.kind, c.key) for c in claims if _take(conn, c, at, stale_before)}

    def complete_claims(
        self, claims: Sequence[tuple[str, str]], at: datetime, mail: Sequence[MailRecord] = ()
    ) -> None:
        with self._write() as conn:
            conn.executemany(
                "UPDATE messages SET sent_at = ? WHERE kind = ? AND key = ?",
                [(_ts(at), kind, key) for kind, key in claims],
            )
            for record in mail:
                _insert_mail(conn, record)

    def claim_completed(self, kind: str, key: str) -> bool:
        with self._read() as conn:
            row = conn.execute(
                "SELECT sent_at FROM messages WHERE kind = ? AND key = ?", (kind, key)
            ).fetchone()
            return bool(row and row[0])

    def release_claim(self, kind: str, key: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE messages SET claimed_at = ? WHERE kind = ? AND key = ? AND sent_at IS NULL",
                (RELEASED, kind, key),
            )

    def drop_claim(self, kind: str, key: str) -> None:
        with self._write() as conn:
            conn.execute(
                "DELETE FROM messages WHERE kind = ? AND key = ? AND sent_at IS NULL", (kind, key)
            )

    def unfinished_claims(self, before: datetime, limit: int = 500) -> list[Claim]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT kind, key, claimed_at, payload FROM messages INDEXED BY messages_unfinished"
                " WHERE sent_at IS NULL AND claimed_at < ? ORDER BY claimed_at LIMIT ?",
                (_ts(before), limit),
            ).fetchall()
        return [
            Claim(kind, key, datetime.fromisoformat(at) if at else None, payload)
            for kind, key, at, payload in rows
        ]

    # -- staff -----------------------------------------------------------------------------

    def create_staff_user(self, user: StaffUser) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO staff_users VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    user.username,
                    user.role.value,
                    user.password_hash,
                    user.totp_secret,
                    _ts(user.created_at),
                    user.session_epoch,
                    user.totp_last_step,
                ),
            )
            return cursor.rowcount == 1

    def get_staff_user(self, username: str) -> StaffUser | None:
        with self._read() as conn:
            return _find_staff_user(conn, username)

    def staff_users(self) -> list[StaffUser]:
        with self._read() as conn:
            names = [r[0] for r in conn.execute("SELECT username FROM staff_users ORDER BY 1")]
            return [user for name in names if (user := _find_staff_user(conn, name))]

    def set_staff_password(self, username: str, password_hash: str) -> StaffUser:
        with self._write() as conn:
            conn.execute(
                "UPDATE staff_users SET password_hash = ?, session_epoch = session_epoch + 1"
                " WHERE username = ?",
                (password_hash, username),
            )
            user = _find_staff_user(conn, username)
            if user is None:
                raise KeyError(username)
            return user

    def end_staff_sessions(self, username: str) -> None:
        with self._write() as conn:
            conn.execute(
                "UPDATE staff_users SET session_epoch = session_epoch + 1 WHERE username = ?",
                (username,),
            )

    def use_totp_step(self, username: str, step: int) -> bool:
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE staff_users SET totp_last_step = ?1"
                " WHERE username = ?2 AND totp_last_step < ?1",
                (step, username),
            )
            return cursor.rowcount == 1

    def append_audit(self, entry: AuditEntry) -> None:
        with self._write() as conn:
            _insert_audit(conn, entry)

    def audit_entries(
        self, account_number: str | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        where, params = [], []
        if account_number is not None:
            where.append("account_number = ?")
            params.append(account_number)
        if actor is not None:
            where.append("actor = ?")
            params.append(actor)
        sql = "SELECT * FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY entry_id DESC LIMIT ?"
        with self._read() as conn:
            return [
                AuditEntry(
                    entry_id=r["entry_id"],
                    at=datetime.fromisoformat(r["at"]),
                    actor=r["actor"],
                    action=AuditAction(r["action"]),
                    account_number=r["account_number"],
                    subject=r["subject"],
                    address=r["address"],
                )
                for r in conn.execute(sql, (*params, limit))
            ]

    def add_note(self, note: Note) -> None:
        with self._write() as conn:
            conn.execute(
                "INSERT INTO account_notes (account_number, author, text, promise_to_pay_on,"
                " created_at) VALUES (?, ?, ?, ?, ?)",
                (
                    note.account_number,
                    note.author,
                    note.text,
                    _day(note.promise_to_pay_on),
                    _ts(note.created_at),
                ),
            )

    def notes(self, account_number: str) -> list[Note]:
        with self._read() as conn:
            return [
                Note(
                    note_id=r["note_id"],
                    account_number=r["account_number"],
                    author=r["author"],
                    text=r["text"],
                    promise_to_pay_on=(
                        date.fromisoformat(r["promise_to_pay_on"])
                        if r["promise_to_pay_on"]
                        else None
                    ),
                    created_at=datetime.fromisoformat(r["created_at"]),
                )
                for r in conn.execute(
                    "SELECT * FROM account_notes WHERE account_number = ? ORDER BY note_id DESC",
                    (account_number,),
                )
            ]

    def search_accounts(self, query: str, limit: int = 25) -> list[Account]:
        text = query.strip()
        key = name_key(text)
        with self._read() as conn:
            numbers: list[str] = []
            for sql, value in (
                ("SELECT account_number FROM accounts WHERE account_number = ?", text),
                ("SELECT account_number FROM statements WHERE statement_id = ?", text),
                ("SELECT account_number FROM payments WHERE payment_id = ?", text),
            ):
                numbers += [r[0] for r in conn.execute(sql, (value,))]
            if len(key) >= 2:
                numbers += [
                    r[0]
                    for r in conn.execute(
                        "SELECT account_number FROM accounts"
                        " WHERE last_name_key LIKE ?1 OR full_name_key LIKE ?1"
                        " UNION SELECT account_number FROM patients"
                        " WHERE last_name_key LIKE ?1 OR full_name_key LIKE ?1"
                        " ORDER BY account_number LIMIT ?2",
                        (key + "%", limit),
                    )
                ]
            unique = list(dict.fromkeys(numbers))[:limit]
            return [account for n in unique if (account := _account(conn, n)) is not None]

    def list_payments(
        self,
        since: datetime,
        until: datetime,
        status: PaymentStatus | None = None,
        method: str | None = None,
    ) -> list[Payment]:
        sql = (
            "SELECT * FROM payments WHERE coalesce(posted_at, created_at) >= ?"
            " AND coalesce(posted_at, created_at) < ?"
        )
        params: list[str] = [_ts(since), _ts(until)]
        if status is not None:
            sql += " AND status = ?"
            params.append(status.value)
        if method is not None:
            sql += " AND method = ?"
            params.append(method)
        sql += " ORDER BY coalesce(posted_at, created_at), payment_id"
        with self._read() as conn:
            return [_payment(r) for r in conn.execute(sql, params)]

    # -- an account's book: every money change -----------------------------------------

    def load_book(
        self, account_number: str, keys: Iterable[tuple[KeyKind, str]] = ()
    ) -> AccountBook:
        with self._read() as conn:
            row = conn.execute(
                "SELECT version FROM accounts WHERE account_number = ?", (account_number,)
            ).fetchone()
            payments = conn.execute(
                "SELECT * FROM payments WHERE account_number = ?", (account_number,)
            )
            return AccountBook(
                account_number=account_number,
                version=row["version"] if row else 0,
                statements=tuple(
                    sorted(
                        _statement_headers(conn, account_number),
                        key=lambda s: (s.statement_date, s.statement_id),
                    )
                ),
                entries=tuple(_entries(conn, account_number)),
                payments={p.payment_id: p for p in map(_payment, payments)},
                owners={key: owner for key in keys if (owner := _owner(conn, *key))},
                account=_account(conn, account_number) if row else None,
            )

    def commit(self, change: Change, marks: Sequence[ClaimMark] = ()) -> CommitResult:
        with self._write() as conn:
            bumped = conn.execute(
                "UPDATE accounts SET version = version + 1"
                " WHERE account_number = ? AND version = ?",
                (change.account_number, change.version),
            )
            if bumped.rowcount == 0:
                return STALE
            if any(_held(conn, mark) for mark in marks):
                conn.rollback()
                return CommitResult(CommitOutcome.CLAIMED)
            for claim in change.claims:
                owner = _owner(conn, claim.kind, claim.value)
                if owner is not None:
                    conn.rollback()
                    return CommitResult(CommitOutcome.TAKEN, (claim.kind, claim.value), owner)
                if claim.kind is KeyKind.REFUND:
                    conn.execute(
                        "INSERT INTO refunds (refund_id, payment_id, amount_cents, posted_at)"
                        " VALUES (?, ?, ?, ?)",
                        (claim.value, claim.payment_id, claim.amount_cents, _ts(change.at)),
                    )
            if change.payment is not None and not _update_payment(conn, change):
                conn.rollback()
                return STALE
            _insert_entries(conn, list(change.entries))
            for mark in marks:
                _write_mark(conn, mark, change.at)
            return COMMITTED

    # -- escalation queue ------------------------------------------------------------------

    def open_escalation(self, item: Escalation) -> Escalation | None:
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT OR IGNORE INTO escalations (key, account_number, kind, reason,"
                " opened_at, opened_by, owner, promise_to_pay_on) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    item.key,
                    item.account_number,
                    item.kind.value,
                    item.reason,
                    _ts(item.opened_at),
                    item.opened_by,
                    item.owner,
                    _day(item.promise_to_pay_on),
                ),
            )
            if cursor.rowcount != 1:
                return None
            assert cursor.lastrowid is not None  # the INSERT just added a row
            return _find_escalation(conn, cursor.lastrowid)

    def get_escalation(self, escalation_id: int) -> Escalation | None:
        with self._read() as conn:
            return _find_escalation(conn, escalation_id)

    def escalations(
        self,
        open_only: bool = True,
        owner: str | None = None,
        account_number: str | None = None,
    ) -> list[Escalation]:
        sql, params = "SELECT * FROM escalations WHERE 1 = 1", []
        if open_only:
            sql += " AND resolved_at IS NULL"
        if owner is not None:
            sql += " AND owner = ?"
            params.append(owner)
        if account_number is not None:
            sql += " AND account_number = ?"
            params.append(account_number)
        sql += " ORDER BY opened_at, escalation_id"
        with self._read() as conn:
            return [_escalation(r) for r in conn.execute(sql, params)]

    def update_escalation(
        self, escalation_id: int, owner: str, promise_to_pay_on: date | None
    ) -> Escalation:
        with self._write() as conn:
            conn.execute(
                "UPDATE escalations SET owner = ?, promise_to_pay_on = ?"
                " WHERE escalation_id = ? AND resolved_at IS NULL",
                (owner, _day(promise_to_pay_on), escalation_id),
            )
            return _existing_escalation(conn, escalation_id)

    def resolve_escalation(
        self, escalation_id: int, resolved_by: str, resolution: str, at: datetime
    ) -> Escalation:
        with self._write() as conn:
            conn.execute(
                "UPDATE escalations SET resolved_at = ?, resolved_by = ?, resolution = ?"
                " WHERE escalation_id = ? AND resolved_at IS NULL",
                (_ts(at), resolved_by, resolution, escalation_id),
            )
            return _existing_escalation(conn, escalation_id)

    def record_mail(self, record: MailRecord) -> None:
        with self._write() as conn:
            _insert_mail(conn, record)

    def mail_log(self, account_number: str, limit: int = 50) -> list[MailRecord]:
        with self._read() as conn:
            return [
                MailRecord(
                    r["account_number"],
                    r["kind"],
                    r["recipient"],
                    r["subject"],
                    r["outcome"],
                    datetime.fromisoformat(r["at"]),
                    r["detail"],
                )
                for r in conn.execute(
                    "SELECT * FROM mail_log WHERE account_number = ?"
                    " ORDER BY entry_id DESC LIMIT ?",
                    (account_number, limit),
                )
            ]

    # -- reminders -----------------------------------------------------------------------------

    def accounts_due(self, due_on_or_before: date) -> list[DueAccount]:
        with self._read() as conn:
            return [
                DueAccount(
                    r["account_number"],
                    r["statement_id"],
                    date.fromisoformat(r["due_date"]),
                    r["due_cents"],
                )
                for r in conn.execute(
                    "SELECT * FROM receivables WHERE due_date <= ?"
                    " ORDER BY due_date, account_number",
                    (due_on_or_before.isoformat(),),
                )
            ]

    def opt_out_of_reminders(self, account_number: str, at: datetime) -> bool:
        with self._write() as conn:
            if _account(conn, account_number) is None:
                raise KeyError(account_number)
            cursor = conn.execute(
                "UPDATE accounts SET reminders_opted_out_at = ?"
                " WHERE account_number = ? AND reminders_opted_out_at IS NULL",
                (_ts(at), account_number),
            )
            return cursor.rowcount == 1

    def opt_out_token(self, account_number: str, new_token: str) -> str:
        with self._read() as conn:  # given before (every reminder after the first): no write
            row = conn.execute(
                "SELECT token FROM opt_out_tokens WHERE account_number = ?", (account_number,)
            ).fetchone()
            if row is not None:
                return row["token"]
        with self._write() as conn:
            if _account(conn, account_number) is None:
                raise KeyError(account_number)
            conn.execute(
                "INSERT INTO opt_out_tokens (token, account_number) VALUES (?, ?)"
                " ON CONFLICT DO NOTHING",
                (new_token, account_number),
            )
            row = conn.execute(
                "SELECT token FROM opt_out_tokens WHERE account_number = ?", (account_number,)
            ).fetchone()
            if row is None:  # the new token was another account's: vanishingly unlikely
                raise StoreError("that opt-out token is taken; try again")
            return row["token"]

    def opt_out_tokens(self, new_tokens: dict[str, str]) -> dict[str, str]:
        if not new_tokens:
            return {}
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO opt_out_tokens (token, account_number) SELECT ?, account_number"
                " FROM accounts WHERE account_number = ? ON CONFLICT DO NOTHING",
                [(token, number) for number, token in new_tokens.items()],
            )
            marks = ", ".join("?" * len(new_tokens))
            rows = conn.execute(
                "SELECT account_number, token FROM opt_out_tokens"
                f" WHERE account_number IN ({marks})",
                list(new_tokens),
            )
            return {r["account_number"]: r["token"] for r in rows}

    def account_of_opt_out_token(self, token: str) -> str | None:
        with self._read() as conn:
            row = conn.execute(
                "SELECT account_number FROM opt_out_tokens WHERE token = ?", (token,)
            ).fetchone()
            return row["account_number"] if row else None

    # -- reports -----------------------------------------------------------------------------

    def open_balances(self, as_of: datetime) -> list[OpenBalance]:
        with self._read() as conn:
            return [
                OpenBalance(
                    account_number=r["account_number"],
                    guarantor_name=f"{r['first_name']} {r['last_name']}",
                    statement_id=r["statement_id"],
                    due_date=date.fromisoformat(r["due_date"]),
                    balance_cents=r["balance"],
                )
                for r in conn.execute(
                    "SELECT s.account_number, a.first_name, a.last_name, s.statement_id,"
                    " s.due_date, SUM(l.amount_cents) AS balance"
                    " FROM ledger_entries l JOIN statements s ON s.statement_id = l.statement_id"
                    " JOIN accounts a ON a.account_number = s.account_number"
                    " WHERE l.posted_at < ? GROUP BY s.statement_id HAVING balance > 0"
                    " ORDER BY s.account_number, s.due_date, s.statement_id",
                    (_ts(as_of),),
                )
            ]

    def ledger_totals(self, since: datetime, until: datetime) -> dict[EntryKind, int]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT kind, SUM(amount_cents) FROM ledger_entries"
                " WHERE posted_at >= ? AND posted_at < ? GROUP BY kind",
                (_ts(since), _ts(until)),
            )
            return {EntryKind(kind): total for kind, total in rows}

    def receivable_at(self, at: datetime) -> int:
        with self._read() as conn:
            return conn.execute(
                "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries WHERE posted_at < ?",
                (_ts(at),),
            ).fetchone()[0]

    # -- API keys ------------------------------------------------------------------------

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


# -- row mapping -----------------------------------------------------------------------


def _api_key(row: sqlite3.Row) -> ApiKey:
    return ApiKey(
        name=row["name"],
        key_hash=row["key_hash"],
        last_four=row["last_four"],
        created_at=datetime.fromisoformat(row["created_at"]),
        revoked_at=datetime.fromisoformat(row["revoked_at"]) if row["revoked_at"] else None,
    )


def _ts(at: datetime) -> str:
    """UTC timestamps as fixed-width ISO text, so text order is time order."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _save_account(conn: sqlite3.Connection, account: Account, at: datetime) -> None:
    g = account.guarantor
    conn.execute(
        "INSERT INTO accounts (account_number, first_name, last_name, date_of_birth, email,"
        " phone, preferred_language, created_at, last_name_key, full_name_key)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account_number)"
        " DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,"
        " date_of_birth = excluded.date_of_birth, email = excluded.email,"
        " phone = excluded.phone, preferred_language = excluded.preferred_language,"
        " last_name_key = excluded.last_name_key, full_name_key = excluded.full_name_key",
        (
            account.account_number,
            g.first_name,
            g.last_name,
            g.date_of_birth.isoformat(),
            g.email,
            g.phone,
            g.preferred_language,
            _ts(at),
            *_name_keys(g.first_name, g.last_name),
        ),
    )
    conn.executemany(
        "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
        " SET first_name = excluded.first_name, last_name = excluded.last_name,"
        " date_of_birth = excluded.date_of_birth, last_name_key = excluded.last_name_key,"
        " full_name_key = excluded.full_name_key",
        [
            (
                account.account_number,
                p.patient_id,
                p.first_name,
                p.last_name,
                p.date_of_birth.isoformat(),
                *_name_keys(p.first_name, p.last_name),
            )
            for p in account.patients
        ],
    )


def _name_keys(first_name: str, last_name: str) -> tuple[str, str]:
    return name_key(last_name), name_key(first_name + last_name)


def _account(conn: sqlite3.Connection, account_number: str) -> Account | None:
    return _accounts(conn, [account_number]).get(account_number)


def _accounts(conn: sqlite3.Connection, numbers: Sequence[str]) -> dict[str, Account]:
    marks = ", ".join("?" * len(numbers))
    patients: dict[str, list[Mapping[str, str]]] = {}
    for p in conn.execute(
        f"SELECT * FROM patients WHERE account_number IN ({marks})"
        " ORDER BY account_number, patient_id",
        numbers,
    ):
        patients.setdefault(p["account_number"], []).append(p)
    return {
        row["account_number"]: _account_of(row, patients.get(row["account_number"], ()))
        for row in conn.execute(
            f"SELECT * FROM accounts WHERE account_number IN ({marks})", numbers
        )
    }


def _account_of(row: sqlite3.Row, patients: Iterable[Mapping[str, str]]) -> Account:
    """The account of an accounts row, with its patients' rows (in patient id order)."""
    guarantor = Guarantor(
        first_name=row["first_name"],
        last_name=row["last_name"],
        date_of_birth=date.fromisoformat(row["date_of_birth"]),
        email=row["email"],
        phone=row["phone"],
        preferred_language=row["preferred_language"],
    )
    return Account(
        account_number=row["account_number"],
        guarantor=guarantor,
        patients=tuple(
            Patient(
                patient_id=p["patient_id"],
                first_name=p["first_name"],
                last_name=p["last_name"],
                date_of_birth=date.fromisoformat(p["date_of_birth"]),
            )
            for p in patients
        ),
        reminders_opted_out_at=(
            datetime.fromisoformat(row["reminders_opted_out_at"])
            if row["reminders_opted_out_at"]
            else None
        ),
    )


def _import_one(conn: sqlite3.Connection, item: StatementImport, at: datetime) -> ImportResult:
    account, statement, notice = item.account, item.statement, item.notice
    fingerprint = statement.fingerprint()
    row = conn.execute(
        "SELECT fingerprint FROM statements WHERE statement_id = ?", (statement.statement_id,)
    ).fetchone()
    if row is not None:
        if row["fingerprint"] == fingerprint:
            return ImportResult(ImportOutcome.UNCHANGED)
        return ImportResult(ImportOutcome.CONFLICT)
    number = statement.account_number
    _save_account(conn, account, at)
    conn.execute(
        "INSERT INTO statements VALUES (?, ?, ?, ?, ?, ?)",
        (
            statement.statement_id,
            number,
            statement.statement_date.isoformat(),
            statement.due_date.isoformat(),
            fingerprint,
            _ts(at),
        ),
    )
    conn.executemany(
        "INSERT INTO statement_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                statement.statement_id,
                position,
                line.line_id,
                line.patient_id,
                line.service_date.isoformat(),
                line.provider,
                line.code_system,
                line.code,
                line.description,
                json.dumps(list(line.diagnosis_codes)),
                line.charge_cents,
                line.insurance_paid_cents,
                line.adjustment_cents,
                line.patient_responsibility_cents,
            )
            for position, line in enumerate(statement.lines)
        ],
    )
    entries = statement_entries(statement, at)
    # Money already received beyond the balance goes to the new statement. Without such a
    # credit (the usual case) nothing else of the account is read: the cost of an import
    # does not grow with the account's history.
    unapplied = conn.execute(
        "SELECT COALESCE(SUM(amount_cents), 0) FROM ledger_entries INDEXED BY ledger_unapplied"
        " WHERE account_number = ? AND statement_id IS NULL",
        (number,),
    ).fetchone()[0]
    if unapplied < 0:
        entries += apply_credit(
            number,
            _entries(conn, number) + entries,
            _statement_headers(conn, number),  # the new one included
            at,
        )
        _insert_entries(conn, entries)
        due = conn.execute(
            "SELECT due_cents FROM receivables WHERE account_number = ?", (number,)
        ).fetchone()
        due_cents = due[0] if due else 0
    else:
        _insert_entries(conn, entries, refresh=False)
        due_cents = _add_receivable(conn, statement, sum(e.amount_cents for e in entries))
    conn.execute("UPDATE accounts SET version = version + 1 WHERE account_number = ?", (number,))
    if notice is not None:
        claimed = RELEASED if notice.claimed_at is None else _ts(notice.claimed_at)
        conn.execute(
            "INSERT OR IGNORE INTO messages (kind, key, claimed_at, payload) VALUES (?, ?, ?, ?)",
            (notice.kind, notice.key, claimed, notice.payload),
        )
    balance = sum(e.amount_cents for e in entries if e.statement_id == statement.statement_id)
    return ImportResult(ImportOutcome.IMPORTED, balance, due_cents)


def _add_receivable(conn: sqlite3.Connection, statement: Statement, balance: int) -> int:
    """The index of accounts that owe, kept with a new statement whose entries are all its
    own (no credit moved): as `_refresh_receivable` would leave it, without reading the
    account's other statements. Returns what the account now owes."""
    number = statement.account_number
    row = conn.execute(
        "SELECT statement_id, due_date, due_cents FROM receivables WHERE account_number = ?",
        (number,),
    ).fetchone()
    owed = row["due_cents"] if row else 0
    if balance <= 0:
        return owed
    mine = (statement.due_date.isoformat(), statement.statement_id)
    oldest = mine if row is None else min(mine, (row["due_date"], row["statement_id"]))
    conn.execute(
        "INSERT INTO receivables VALUES (?, ?, ?, ?) ON CONFLICT(account_number) DO UPDATE"
        " SET statement_id = excluded.statement_id, due_date = excluded.due_date,"
        " due_cents = excluded.due_cents",
        (number, oldest[1], oldest[0], owed + balance),
    )
    return owed + balance


def _statement_header(row: sqlite3.Row, lines: tuple[LineItem, ...] = ()) -> Statement:
    return Statement(
        statement_id=row["statement_id"],
        account_number=row["account_number"],
        statement_date=date.fromisoformat(row["statement_date"]),
        due_date=date.fromisoformat(row["due_date"]),
        lines=lines,
    )


def _statement_headers(conn: sqlite3.Connection, account_number: str) -> list[Statement]:
    """The account's statements without their lines (enough for balances and aging)."""
    return [
        _statement_header(r)
        for r in conn.execute(
            "SELECT * FROM statements WHERE account_number = ?", (account_number,)
        )
    ]


def _statement(conn: sqlite3.Connection, statement_id: str) -> Statement | None:
    row = conn.execute(
        "SELECT * FROM statements WHERE statement_id = ?", (statement_id,)
    ).fetchone()
    if row is None:
        return None
    lines = tuple(
        _line(r)
        for r in conn.execute(
            "SELECT * FROM statement_lines WHERE statement_id = ? ORDER BY position",
            (statement_id,),
        )
    )
    return _statement_header(row, lines)


def _shown_statement(
    conn: sqlite3.Connection, account_number: str, statement_id: str
) -> list[Statement]:
    """The account's statement with its lines, in one statement; none when it is not the
    account's."""
    rows = conn.execute(
        "SELECT s.account_number, s.statement_date, s.due_date, l.* FROM statements s"
        " LEFT JOIN statement_lines l ON l.statement_id = s.statement_id"
        " WHERE s.statement_id = ? AND s.account_number = ? ORDER BY l.position",
        (statement_id, account_number),
    ).fetchall()
    if not rows:
        return []
    lines = tuple(_line(r) for r in rows if r["line_id"] is not None)
    return [
        Statement(
            statement_id=statement_id,
            account_number=account_number,
            statement_date=date.fromisoformat(rows[0]["statement_date"]),
            due_date=date.fromisoformat(rows[0]["due_date"]),
            lines=lines,
        )
    ]


def _line(r: sqlite3.Row) -> LineItem:
    return LineItem(
        line_id=r["line_id"],
        patient_id=r["patient_id"],
        service_date=date.fromisoformat(r["service_date"]),
        provider=r["provider"],
        code_system=r["code_system"],
        code=r["code"],
        description=r["description"],
        diagnosis_codes=tuple(json.loads(r["diagnosis_codes"])),
        charge_cents=r["charge_cents"],
        insurance_paid_cents=r["insurance_paid_cents"],
        adjustment_cents=r["adjustment_cents"],
        patient_responsibility_cents=r["patient_responsibility_cents"],
    )


def _entries(conn: sqlite3.Connection, account_number: str) -> list[LedgerEntry]:
    return [
        LedgerEntry(
            entry_id=r["entry_id"],
            account_number=r["account_number"],
            kind=EntryKind(r["kind"]),
            amount_cents=r["amount_cents"],
            posted_at=datetime.fromisoformat(r["posted_at"]),
            statement_id=r["statement_id"],
            payment_id=r["payment_id"],
            memo=r["memo"],
        )
        for r in conn.execute(
            "SELECT * FROM ledger_entries WHERE account_number = ? ORDER BY entry_id",
            (account_number,),
        )
    ]


def _payments(conn: sqlite3.Connection, account_number: str) -> list[Payment]:
    return [
        _payment(r)
        for r in conn.execute(
            "SELECT * FROM payments WHERE account_number = ? ORDER BY created_at, payment_id",
            (account_number,),
        )
    ]


def _insert_entries(
    conn: sqlite3.Connection, entries: list[LedgerEntry], refresh: bool = True
) -> None:
    conn.executemany(
        "INSERT INTO ledger_entries (account_number, kind, amount_cents, posted_at,"
        " statement_id, payment_id, memo) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.account_number,
                e.kind.value,
                e.amount_cents,
                _ts(e.posted_at),
                e.statement_id,
                e.payment_id,
                e.memo,
            )
            for e in entries
        ],
    )
    if not refresh:
        return
    for account_number in {e.account_number for e in entries}:
        _refresh_receivable(conn, account_number)


def _refresh_receivable(conn: sqlite3.Connection, account_number: str) -> None:
    """Keep the account's row in the index of accounts that owe something."""
    conn.execute("DELETE FROM receivables WHERE account_number = ?", (account_number,))
    conn.execute(
        "INSERT INTO receivables SELECT account_number, statement_id, due_date, total FROM ("
        " SELECT s.account_number, s.statement_id, s.due_date,"
        " SUM(b.balance) OVER () AS total,"
        " ROW_NUMBER() OVER (ORDER BY s.due_date, s.statement_id) AS position"
        " FROM statements s JOIN ("
        "  SELECT statement_id, SUM(amount_cents) AS balance FROM ledger_entries"
        "  WHERE account_number = ?1 AND statement_id IS NOT NULL"
        "  GROUP BY statement_id HAVING balance > 0"
        " ) b ON b.statement_id = s.statement_id WHERE s.account_number = ?1"
        ") WHERE position = 1",
        (account_number,),
    )


def _owner(conn: sqlite3.Connection, kind: KeyKind, value: str) -> str | None:
    """The payment holding a unique key (a gateway reference, a refund id), if any."""
    sql = {
        KeyKind.REFERENCE: "SELECT payment_id FROM payments WHERE gateway_reference = ?",
        KeyKind.REFUND: "SELECT payment_id FROM refunds WHERE refund_id = ?",
    }[kind]
    row = conn.execute(sql, (value,)).fetchone()
    return row["payment_id"] if row else None


def _update_payment(conn: sqlite3.Connection, change: Change) -> bool:
    """Write the change's payment fields if the payment is still as the book read it."""
    before, after = change.payment_before, change.payment
    assert before is not None and after is not None
    values = [_column(getattr(after, name)) for name in change.fields]
    cursor = conn.execute(
        f"UPDATE payments SET {', '.join(f'{name} = ?' for name in change.fields)}"
        " WHERE payment_id = ? AND status = ? AND refunded_cents = ? AND posted_at IS ?",
        (
            *values,
            after.payment_id,
            before.status.value,
            before.refunded_cents,
            _column(before.posted_at),
        ),
    )
    return cursor.rowcount == 1


def _column(value: object) -> object:
    if isinstance(value, datetime):
        return _ts(value)
    if isinstance(value, PaymentStatus):
        return value.value
    return value


def _find_payment(conn: sqlite3.Connection, payment_id: str) -> Payment | None:
    row = conn.execute("SELECT * FROM payments WHERE payment_id = ?", (payment_id,)).fetchone()
    return _payment(row) if row else None


def _existing_statement(conn: sqlite3.Connection, statement_id: str) -> Statement:
    statement = _statement(conn, statement_id)
    if statement is None:
        raise KeyError(statement_id)
    return statement


def _existing_payment(conn: sqlite3.Connection, payment_id: str) -> Payment:
    payment = _find_payment(conn, payment_id)
    if payment is None:
        raise KeyError(payment_id)
    return payment


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _escalation(row: sqlite3.Row) -> Escalation:
    return Escalation(
        escalation_id=row["escalation_id"],
        key=row["key"],
        account_number=row["account_number"],
        kind=EscalationKind(row["kind"]),
        reason=row["reason"],
        opened_at=datetime.fromisoformat(row["opened_at"]),
        opened_by=row["opened_by"],
        owner=row["owner"],
        promise_to_pay_on=(
            date.fromisoformat(row["promise_to_pay_on"]) if row["promise_to_pay_on"] else None
        ),
        resolved_at=datetime.fromisoformat(row["resolved_at"]) if row["resolved_at"] else None,
        resolved_by=row["resolved_by"],
        resolution=row["resolution"],
    )


def _find_escalation(conn: sqlite3.Connection, escalation_id: int) -> Escalation | None:
    row = conn.execute(
        "SELECT * FROM escalations WHERE escalation_id = ?", (escalation_id,)
    ).fetchone()
    return _escalation(row) if row else None


def _existing_escalation(conn: sqlite3.Connection, escalation_id: int) -> Escalation:
    item = _find_escalation(conn, escalation_id)
    if item is None:
        raise KeyError(escalation_id)
    return item


def _find_staff_user(conn: sqlite3.Connection, username: str) -> StaffUser | None:
    row = conn.execute("SELECT * FROM staff_users WHERE username = ?", (username,)).fetchone()
    if row is None:
        return None
    return StaffUser(
        username=row["username"],
        role=Role(row["role"]),
        password_hash=row["password_hash"],
        totp_secret=row["totp_secret"],
        created_at=datetime.fromisoformat(row["created_at"]),
        session_epoch=row["session_epoch"],
        totp_last_step=row["totp_last_step"],
    )


def _payment(row: sqlite3.Row) -> Payment:
    return Payment(
        payment_id=row["payment_id"],
        account_number=row["account_number"],
        amount_cents=row["amount_cents"],
        status=PaymentStatus(row["status"]),
        method=row["method"],
        gateway=row["gateway"],
        created_at=datetime.fromisoformat(row["created_at"]),
        checkout_session_id=row["checkout_session_id"],
        gateway_reference=row["gateway_reference"],
        posted_at=datetime.fromisoformat(row["posted_at"]) if row["posted_at"] else None,
        failure_message=row["failure_message"],
        refunded_cents=row["refunded_cents"],
        method_detail=row["method_detail"],
        requested_cents=row["requested_cents"],
    )


def _insert_mail(conn: sqlite3.Connection, record: MailRecord) -> None:
    conn.execute("DELETE FROM mail_log WHERE at < ?", (_ts(record.at - MAIL_LOG_KEPT),))
    conn.execute(
        "INSERT INTO mail_log (account_number, kind, recipient, subject, outcome, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            record.account_number,
            record.kind,
            record.to,
            record.subject,
            record.outcome,
            record.detail,
            _ts(record.at),
        ),
    )


def _take(
    conn: sqlite3.Connection, claim: Claim, at: datetime, stale_before: datetime | None
) -> bool:
    """Claim (kind, key) unless claimed before; a released claim has claimed_at ''
    (RELEASED): any claim takes it over, and so does one made before `stale_before`."""
    cursor = conn.execute(
        "INSERT INTO messages (kind, key, claimed_at, payload) VALUES (?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET claimed_at = excluded.claimed_at,"
        " payload = CASE WHEN excluded.payload = '' THEN payload"
        " ELSE excluded.payload END"
        " WHERE sent_at IS NULL AND (claimed_at = ? OR claimed_at < ?)",
        (
            claim.kind,
            claim.key,
            _ts(at),
            claim.payload,
            RELEASED,
            _ts(stale_before) if stale_before else RELEASED,
        ),
    )
    return cursor.rowcount == 1


def _held(conn: sqlite3.Connection, mark: ClaimMark) -> bool:
    """True when another holder's claim refuses the mark (see ClaimMark.stale_before)."""
    if mark.stale_before is None:
        return False
    row = conn.execute(
        "SELECT 1 FROM messages WHERE kind = ? AND key = ? AND sent_at IS NULL"
        " AND claimed_at != ? AND claimed_at >= ?",
        (mark.kind, mark.key, RELEASED, _ts(mark.stale_before)),
    ).fetchone()
    return row is not None


def _write_mark(conn: sqlite3.Connection, mark: ClaimMark, at: datetime) -> None:
    """A claim written with a commit: held from `at`, or marked sent at `at` (a claim sent
    before is left as it is)."""
    conn.execute(
        "INSERT INTO messages (kind, key, claimed_at, payload, sent_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT DO UPDATE SET claimed_at = excluded.claimed_at,"
        " payload = excluded.payload, sent_at = excluded.sent_at WHERE sent_at IS NULL",
        (mark.kind, mark.key, _ts(at), mark.payload, _ts(at) if mark.done else None),
    )


def _insert_audit(conn: sqlite3.Connection, entry: AuditEntry) -> None:
    conn.execute(
        "INSERT INTO audit_log (at, actor, action, account_number, subject, address)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            _ts(entry.at),
            entry.actor,
            entry.action.value,
            entry.account_number,
            entry.subject,
            entry.address,
        ),
    )
