"""The DynamoDB store's access port: the look-up throttle and patients' browser sessions."""

import secrets
from datetime import datetime, timedelta

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.table import Table, epoch, key_condition, parse_ts, ts

DAY = timedelta(days=1)


class DynamoDbAccess(DynamoDbTable):
    """The Access port on DynamoDB."""

    def record_lookup_failure(self, key: str, at: datetime, since: datetime) -> int:
        pk = _lookup_pk(key)
        # The random suffix keeps attempts made in the same microsecond apart.
        sk = f"FAIL#{ts(at)}#{secrets.token_hex(8)}"
        self.db.put({"PK": pk, "SK": sk, "expires_at": epoch(at + DAY)})
        # Attempts and locks a day old are gone, as in SqliteStore, whenever TTL gets to
        # them: the range starts a day ago at the earliest, and runs on to the lock item
        # (`LOCK` sorts after `FAIL#...`) to drop it here once it is a day stale.
        stale = ts(at - DAY)
        found = self.db.query(
            **key_condition("PK", pk, "SK", "between", f"FAIL#{max(ts(since), stale)}", "LOCK"),
            ProjectionExpression="SK, locked_until",
        )
        attempts = 0
        for item in found:
            if item["SK"] != "LOCK":
                attempts += 1
            elif item["locked_until"] < stale:
                self.db.delete(
                    pk,
                    "LOCK",
                    condition="locked_until < :stale",
                    ExpressionAttributeValues={":stale": stale},
                )
        return attempts

    def lock_lookups(self, key: str, until: datetime) -> None:
        # A failed condition means a later lock stands already: it is kept.
        self.db.update(
            _lookup_pk(key),
            "LOCK",
            "SET locked_until = :until, expires_at = :expires",
            ConditionExpression="attribute_not_exists(locked_until) OR locked_until < :until",
            ExpressionAttributeValues={":until": ts(until), ":expires": epoch(until)},
        )

    def lookup_locked_until(self, key: str, now: datetime) -> datetime | None:
        item = self.db.get(_lookup_pk(key), "LOCK")
        until = parse_ts(item["locked_until"]) if item else None
        return until if until is not None and until > now else None

    def forget_lookup_failure(self, key: str, at: datetime) -> None:
        pk = _lookup_pk(key)
        found = self.db.query(
            **key_condition("PK", pk, "SK", "begins_with", f"FAIL#{ts(at)}#"),
            Limit=1,
        )
        attempt = next(found, None)
        if attempt is not None:
            self.db.delete(pk, attempt["SK"])

    def clear_lookup_failures(self, key: str) -> None:
        attempts = self.db.query(
            **key_condition("PK", _lookup_pk(key), "SK", "begins_with", "FAIL#"),
            ProjectionExpression="PK, SK",
        )
        self.db.delete_many([(i["PK"], i["SK"]) for i in attempts])

    def open_web_session(self, session_id: str, subject: str, at: datetime) -> None:
        self.db.put(
            {
                "PK": _session_pk(session_id),
                "SK": "WEBSESSION",
                "subject": subject,
                "opened_at": ts(at),
                "expires_at": epoch(at + DAY),
            }
        )

    def web_session_subject(self, session_id: str, now: datetime) -> str | None:
        return session_subject(self.db, session_id, now)

    def end_web_session(self, session_id: str) -> None:
        self.db.delete(_session_pk(session_id), "WEBSESSION")


def _lookup_pk(key: str) -> str:
    return f"LOOKUP#{key}"


def _session_pk(session_id: str) -> str:
    return f"WEBSESSION#{session_id}"


def session_subject(db: Table, session_id: str, now: datetime) -> str | None:
    """Who a browser session belongs to while it lasts (the patient pages read it with
    their account in `DynamoDbLedger.patient_page`)."""
    # TTL removes the item in its own time (up to days late): the time is checked here.
    item = db.get(_session_pk(session_id), "WEBSESSION")
    if item is None or item["expires_at"] <= epoch(now):
        return None
    return item["subject"]
