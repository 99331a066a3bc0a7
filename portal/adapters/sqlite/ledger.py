"""The SQLite store's ledger port: accounts, statements, payments, entries; books loaded and
changes committed."""

import functools
import json
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.money_events import insert_events
from portal.adapters.sqlite.records import (
    RELEASED,
    SESSION_LIFETIME,
    _account,
    _account_of,
    _accounts,
    _ts,
)
from portal.adapters.statement_records import statement_from_record, statement_record
from portal.domain.account_book import AccountBook, Change, KeyKind
from portal.domain.accounts import Account
from portal.domain.corrections import as_stored, correction_entries, is_correction, transfers
from portal.domain.ledger import (
    EntryKind,
    LedgerEntry,
    apply_credit,
    balances,
    statement_entries,
)
from portal.domain.money_events import change_events, entry_events
from portal.domain.names import name_key
from portal.domain.payments import OPEN_STATUSES, Payment, PaymentStatus
from portal.domain.statements import LineItem, Statement
from portal.ports.claims import Claim, ClaimMark
from portal.ports.ledger import (
    COMMITTED,
    STALE,
    AccountRecords,
    CommitOutcome,
    CommitResult,
    ImportOutcome,
    ImportResult,
    ImportState,
    PatientPage,
    StatementImport,
)
from portal.ports.mail_feedback import normal_address


class SqliteLedger(SqliteDatabase):
    """The Ledger port on SQLite."""

    def import_statement(
        self, account: Account, statement: Statement, at: datetime, notice: Claim | None = None
    ) -> ImportOutcome:
        return self.import_statements([StatementImport(account, statement, notice)], at)[0].outcome

    def import_statements(
        self, items: Sequence[StatementImport], at: datetime
    ) -> list[ImportResult]:
        # One transaction for the batch, a savepoint for each statement: a statement that
        # fails is rolled back alone and the ones before it are committed. New statements
        # of accounts that have nothing else in the batch and no credit to apply are written
        # a run at a time (one statement per table, `_import_new`); a run that fails is
        # written again one by one, to find the statement that fails.
        results: list[ImportResult] = []
        failure: Exception | None = None
        with self._write() as conn:
            for run, alone in _runs(conn, items):
                if not alone:
                    conn.execute("SAVEPOINT run")
                    try:
                        done = _import_new(conn, run, at)
                    except Exception:
                        conn.execute("ROLLBACK TO run")
                        conn.execute("RELEASE run")
                    else:
                        conn.execute("RELEASE run")
                        results += done
                        continue
                for item in run:
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
                    break
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
            stopped = (
                bool(row["email"])
                and conn.execute(
                    "SELECT 1 FROM undeliverable_addresses WHERE address = ?",
                    (normal_address(row["email"]),),
                ).fetchone()
                is not None
            )
            return PatientPage(row["subject"], records, stopped)

    def get_statement(self, statement_id: str) -> Statement | None:
        with self._read() as conn:
            return _statement(conn, statement_id)

    def statement_versions(self, statement_id: str) -> list[Statement]:
        with self._read() as conn:
            rows = conn.execute(
                "SELECT body FROM statement_versions WHERE statement_id = ? ORDER BY version",
                (statement_id,),
            )
            return [statement_from_record(json.loads(r["body"])) for r in rows]

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
            insert_events(conn, change_events(change))
            for mark in marks:
                _write_mark(conn, mark, change.at)
            return COMMITTED


def _save_account(conn: sqlite3.Connection, account: Account, at: datetime) -> None:
    conn.execute(SAVE_ACCOUNT, _account_row(account, at))
    conn.executemany(SAVE_PATIENT, _patient_rows(account))


SAVE_ACCOUNT = (
    "INSERT INTO accounts (account_number, first_name, last_name, date_of_birth, email,"
    " phone, preferred_language, created_at, last_name_key, full_name_key)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(account_number)"
    " DO UPDATE SET first_name = excluded.first_name, last_name = excluded.last_name,"
    " date_of_birth = excluded.date_of_birth, email = excluded.email,"
    " phone = excluded.phone, preferred_language = excluded.preferred_language,"
    " last_name_key = excluded.last_name_key, full_name_key = excluded.full_name_key"
)
SAVE_PATIENT = (
    "INSERT INTO patients VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE"
    " SET first_name = excluded.first_name, last_name = excluded.last_name,"
    " date_of_birth = excluded.date_of_birth, last_name_key = excluded.last_name_key,"
    " full_name_key = excluded.full_name_key"
)


def _account_row(account: Account, at: datetime) -> tuple:
    g = account.guarantor
    return (
        account.account_number,
        g.first_name,
        g.last_name,
        g.date_of_birth.isoformat(),
        g.email,
        g.phone,
        g.preferred_language,
        _ts(at),
        *_name_keys(g.first_name, g.last_name),
    )


def _patient_rows(account: Account) -> list[tuple]:
    return [
        (
            account.account_number,
            p.patient_id,
            p.first_name,
            p.last_name,
            p.date_of_birth.isoformat(),
            *_name_keys(p.first_name, p.last_name),
        )
        for p in account.patients
    ]


def _name_keys(first_name: str, last_name: str) -> tuple[str, str]:
    return name_key(last_name), name_key(first_name + last_name)


def _import_one(conn: sqlite3.Connection, item: StatementImport, at: datetime) -> ImportResult:
    account, statement, notice = item.account, item.statement, item.notice
    fingerprint = statement.fingerprint()
    row = conn.execute(
        "SELECT fingerprint, version FROM statements WHERE statement_id = ?",
        (statement.statement_id,),
    ).fetchone()
    if row is not None:
        if row["fingerprint"] == fingerprint:
            return ImportResult(ImportOutcome.UNCHANGED)
        if not is_correction(row["version"], statement):
            return ImportResult(ImportOutcome.CONFLICT)
        return _correct(conn, item, at)
    number = statement.account_number
    _save_account(conn, account, at)
    conn.execute(INSERT_STATEMENT, _statement_row(statement, fingerprint, at))
    _insert_lines(conn, statement)
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
        transfers = apply_credit(
            number,
            _entries(conn, number) + entries,
            _statement_headers(conn, number),  # the new one included
            at,
        )
        entries += transfers
        _insert_entries(conn, entries)
        insert_events(conn, entry_events(transfers))
        due = conn.execute(
            "SELECT due_cents FROM receivables WHERE account_number = ?", (number,)
        ).fetchone()
        due_cents = due[0] if due else 0
    else:
        _insert_entries(conn, entries, refresh=False)
        due_cents = _add_receivable(conn, statement, sum(e.amount_cents for e in entries))
    conn.execute("UPDATE accounts SET version = version + 1 WHERE account_number = ?", (number,))
    _insert_notice(conn, notice)
    balance = sum(e.amount_cents for e in entries if e.statement_id == statement.statement_id)
    return ImportResult(ImportOutcome.IMPORTED, balance, due_cents)


def _insert_lines(conn: sqlite3.Connection, statement: Statement) -> None:
    conn.executemany(INSERT_LINE, _line_rows(statement))


INSERT_STATEMENT = "INSERT INTO statements VALUES (?, ?, ?, ?, ?, ?, ?)"
INSERT_LINE = "INSERT INTO statement_lines VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"


def _statement_row(statement: Statement, fingerprint: str, at: datetime) -> tuple:
    return (
        statement.statement_id,
        statement.account_number,
        statement.statement_date.isoformat(),
        statement.due_date.isoformat(),
        fingerprint,
        _ts(at),
        statement.version,
    )


def _line_rows(statement: Statement) -> list[tuple]:
    return [
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
            _codes_json(tuple(line.diagnosis_codes)),
            line.charge_cents,
            line.insurance_paid_cents,
            line.adjustment_cents,
            line.patient_responsibility_cents,
            line.description_es,
            line.claim_id,
        )
        for position, line in enumerate(statement.lines)
    ]


@functools.lru_cache(maxsize=4096)
def _codes_json(codes: tuple[str, ...]) -> str:
    """A line's diagnosis codes as stored (a JSON list), written once for each set: a file's
    lines name the same few."""
    return json.dumps(list(codes))


def _runs(
    conn: sqlite3.Connection, items: Sequence[StatementImport]
) -> Iterator[tuple[list[StatementImport], bool]]:
    """The batch in order, as runs: (items, False) for a run of new statements each of an
    account that has nothing else in the batch and no credit to apply (so nothing the
    statements before it write changes what it writes); (items, True) for the others, each
    imported on its own."""
    ids = Counter(item.statement.statement_id for item in items)
    numbers = Counter(item.account.account_number for item in items)
    single = [n for n, count in numbers.items() if count == 1]
    stored = _present(conn, "SELECT statement_id FROM statements WHERE statement_id IN", list(ids))
    credited = _present(
        conn,
        "SELECT account_number FROM ledger_entries INDEXED BY ledger_unapplied"
        " WHERE statement_id IS NULL GROUP BY account_number HAVING SUM(amount_cents) < 0"
        " AND account_number IN",
        single,
    )
    run: list[StatementImport] = []
    alone = True
    for item in items:
        number, sid = item.account.account_number, item.statement.statement_id
        own = (
            numbers[number] == 1
            and ids[sid] == 1
            and sid not in stored
            and number not in credited
            and number == item.statement.account_number
        )
        if run and own is alone:
            yield run, alone
            run = []
        run.append(item)
        alone = not own
    if run:
        yield run, alone


def _present(conn: sqlite3.Connection, select: str, values: list[str]) -> set[str]:
    """The values a query ending in `IN` finds, asked CHUNK at a time."""
    found: set[str] = set()
    for start in range(0, len(values), CHUNK):
        chunk = values[start : start + CHUNK]
        rows = conn.execute(f"{select} ({', '.join('?' * len(chunk))})", chunk)
        found.update(row[0] for row in rows)
    return found


CHUNK = 500


def _import_new(
    conn: sqlite3.Connection, items: list[StatementImport], at: datetime
) -> list[ImportResult]:
    """New statements, each of its own account with no credit to apply (see `_runs`),
    written as `_import_one` writes each, one statement per table for all of them."""
    numbers = [item.account.account_number for item in items]
    owed: dict[str, tuple[str, str, int]] = {}
    for start in range(0, len(numbers), CHUNK):
        chunk = numbers[start : start + CHUNK]
        for row in conn.execute(
            "SELECT account_number, statement_id, due_date, due_cents FROM receivables"
            f" WHERE account_number IN ({', '.join('?' * len(chunk))})",
            chunk,
        ):
            owed[row[0]] = (row[2], row[1], row[3])
    results: list[ImportResult] = []
    statements, lines, entries, receivables = [], [], [], []
    for item in items:
        statement = item.statement
        statements.append(_statement_row(statement, statement.fingerprint(), at))
        lines += _line_rows(statement)
        made = statement_entries(statement, at)
        entries += made
        balance = sum(e.amount_cents for e in made)
        row = owed.get(statement.account_number)
        due_cents = row[2] if row else 0
        if balance > 0:
            mine = (statement.due_date.isoformat(), statement.statement_id)
            oldest = mine if row is None else min(mine, row[:2])
            due_cents += balance
            receivables.append((statement.account_number, oldest[1], oldest[0], due_cents))
        results.append(ImportResult(ImportOutcome.IMPORTED, balance, due_cents))
    conn.executemany(SAVE_ACCOUNT, [_account_row(item.account, at) for item in items])
    conn.executemany(SAVE_PATIENT, [row for item in items for row in _patient_rows(item.account)])
    conn.executemany(INSERT_STATEMENT, statements)
    conn.executemany(INSERT_LINE, lines)
    _insert_entries(conn, entries, refresh=False)
    conn.executemany(
        "INSERT INTO receivables VALUES (?, ?, ?, ?) ON CONFLICT(account_number) DO UPDATE"
        " SET statement_id = excluded.statement_id, due_date = excluded.due_date,"
        " due_cents = excluded.due_cents",
        receivables,
    )
    conn.executemany(
        "UPDATE accounts SET version = version + 1 WHERE account_number = ?",
        [(number,) for number in numbers],
    )
    _insert_notices(conn, [item.notice for item in items if item.notice is not None])
    return results


def _correct(conn: sqlite3.Connection, item: StatementImport, at: datetime) -> ImportResult:
    """Replace the stored statement by a higher version of it: the version replaced is kept
    whole, the lines replaced, and the ledger moved from the old lines to the new."""
    sent, notice = item.statement, item.notice
    number = sent.account_number
    old = _statement(conn, sent.statement_id)
    assert old is not None
    new = as_stored(old, sent, item.new_due_date)
    conn.execute(
        "INSERT INTO statement_versions (statement_id, version, replaced_at, body)"
        " VALUES (?, ?, ?, ?)",
        (old.statement_id, old.version, _ts(at), json.dumps(statement_record(old))),
    )
    conn.execute(
        "UPDATE statements SET statement_date = ?, due_date = ?, fingerprint = ?, version = ?"
        " WHERE statement_id = ?",
        (
            new.statement_date.isoformat(),
            new.due_date.isoformat(),
            sent.fingerprint(),  # as sent: the same file again is unchanged
            new.version,
            new.statement_id,
        ),
    )
    conn.execute("DELETE FROM statement_lines WHERE statement_id = ?", (new.statement_id,))
    _insert_lines(conn, new)
    entries = correction_entries(
        old, new, _entries(conn, number), _statement_headers(conn, number), at
    )
    _insert_entries(conn, entries, refresh=False)
    _refresh_receivable(conn, number)  # the due date may have changed, if nothing else
    insert_events(conn, entry_events(transfers(entries)))
    conn.execute("UPDATE accounts SET version = version + 1 WHERE account_number = ?", (number,))
    _insert_notice(conn, notice)
    after = balances(_entries(conn, number))
    return ImportResult(
        ImportOutcome.CORRECTED,
        after.by_statement.get(new.statement_id, 0),
        after.due_cents,
    )


def _insert_notice(conn: sqlite3.Connection, notice: Claim | None) -> None:
    if notice is not None:
        _insert_notices(conn, [notice])


def _insert_notices(conn: sqlite3.Connection, notices: list[Claim]) -> None:
    conn.executemany(
        "INSERT OR IGNORE INTO messages (kind, key, claimed_at, payload) VALUES (?, ?, ?, ?)",
        [
            (
                notice.kind,
                notice.key,
                RELEASED if notice.claimed_at is None else _ts(notice.claimed_at),
                notice.payload,
            )
            for notice in notices
        ],
    )


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
        version=row["version"],
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
        "SELECT s.account_number, s.statement_date, s.due_date, s.version, l.*"
        " FROM statements s"
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
            version=rows[0]["version"],
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
        description_es=r["description_es"],
        claim_id=r["claim_id"],
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
            source=r["source"],
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
        " statement_id, payment_id, memo, source) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                e.account_number,
                e.kind.value,
                e.amount_cents,
                _ts(e.posted_at),
                e.statement_id,
                e.payment_id,
                e.memo,
                e.source,
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
