"""Records and helpers the dynamodb store's parts share."""

import secrets
import time
import zlib
from datetime import datetime, timedelta

from portal.adapters.dynamodb.table import Item, epoch, month_of, ts
from portal.domain.staff import MailRecord

FAILED = "ConditionalCheckFailed"

TRANSACTION_ITEMS = 100

PENDING = "LEDGER_PENDING"  # GSI3PK of an account item while entries wait on it

NO_ACCOUNT = "-"

# Unsent claims are listed under GSI2PK UNFINISHED#0..7, so no one partition takes every
# claim's writes; the daily sweep reads the eight.
UNFINISHED = "UNFINISHED#"

CLAIM_SHARDS = 8  # the audit partition of entries about no account (sign-ins, searches)


class _Retry(Exception):
    """Another writer changed the account first: read it again and recompute."""


def _months(since: datetime, until: datetime) -> list[str]:
    """The UTC months that [since, until) touches."""
    months = []
    month = month_of(since)
    last = month_of(until - timedelta(microseconds=1))
    while month <= last:
        months.append(month)
        year, number = int(month[:4]), int(month[5:])
        month = f"{year + number // 12}-{number % 12 + 1:02d}"
    return months


def _message_pk(kind: str, key: str) -> str:
    return f"MESSAGE#{kind}#{key}"


def _claim_shard(kind: str, key: str) -> str:
    return f"{UNFINISHED}{zlib.crc32(f'{kind}#{key}'.encode()) % CLAIM_SHARDS}"


def _claim_order(kind: str, key: str, claimed_at: str) -> str:
    """GSI2SK of an unsent claim: by claim time, a released one ('') before all others."""
    return f"{claimed_at}#{kind}#{key}"


def _audit_pk(account_number: str | None) -> str:
    return f"AUDIT#{account_number if account_number is not None else NO_ACCOUNT}"


def _mail_item(record: MailRecord) -> Item:
    return {
        "PK": f"MAIL#{record.account_number}",
        # Insertion order within one instant (a fixed clock, a burst of sends).
        "SK": f"{ts(record.at)}#{time.time_ns():020d}{secrets.token_hex(2)}",
        "kind": record.kind,
        "to": record.to,
        "subject": record.subject,
        "outcome": record.outcome,
        "detail": record.detail,
        "at": ts(record.at),
        "expires_at": epoch(record.at + timedelta(days=366)),
    }
