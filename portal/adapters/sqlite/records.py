"""Records and helpers the sqlite store's parts share."""

import functools
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, timedelta

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.staff import AuditEntry, MailRecord

SESSION_LIFETIME = timedelta(days=1)

MAIL_LOG_KEPT = timedelta(days=366)

RELEASED = ""  # messages.claimed_at of a claim its holder gave up: any claim takes it


@functools.lru_cache(maxsize=1024)
def _ts(at: datetime) -> str:
    """UTC timestamps as fixed-width ISO text, so text order is time order (each instant
    written once: an import writes the same one on thousands of rows)."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


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


def _insert_mail(conn: sqlite3.Connection, record: MailRecord) -> None:
    _insert_mails(conn, [record])


def _insert_mails(conn: sqlite3.Connection, records: Sequence[MailRecord]) -> None:
    """The mail-log lines, and the lines older than a year before the earliest dropped."""
    if not records:
        return
    oldest = min(record.at for record in records)
    conn.execute("DELETE FROM mail_log WHERE at < ?", (_ts(oldest - MAIL_LOG_KEPT),))
    conn.executemany(
        "INSERT INTO mail_log (account_number, kind, recipient, subject, outcome, detail, at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                record.account_number,
                record.kind,
                record.to,
                record.subject,
                record.outcome,
                record.detail,
                _ts(record.at),
            )
            for record in records
        ],
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
