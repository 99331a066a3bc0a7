"""The SQLite store's staff port: staff users, audit log, notes, escalations, mail log."""

import sqlite3
from collections.abc import Sequence
from datetime import date, datetime

from portal.adapters.sqlite.database import SqliteDatabase
from portal.adapters.sqlite.records import _insert_audit, _insert_mail, _ts
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


class SqliteStaff(SqliteDatabase):
    """The Staff port on SQLite."""

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

    def open_escalation(
        self, item: Escalation, audit: AuditEntry | None = None
    ) -> Escalation | None:
        return self.open_escalations([(item, audit)])[0]

    def open_escalations(
        self, items: Sequence[tuple[Escalation, AuditEntry | None]]
    ) -> list[Escalation | None]:
        with self._write() as conn:
            return [_open_escalation(conn, item, audit) for item, audit in items]

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


def _open_escalation(
    conn: sqlite3.Connection, item: Escalation, audit: AuditEntry | None
) -> Escalation | None:
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
    if audit is not None:
        _insert_audit(conn, audit)
    return _find_escalation(conn, cursor.lastrowid)
