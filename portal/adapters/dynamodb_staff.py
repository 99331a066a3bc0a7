"""The staff side of DynamoDbStore: lookup throttling, browser sessions, messages sent once,
staff users, the audit log, notes and the escalation queue (design: docs/dynamodb.md)."""

import secrets
import time
import zlib
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from itertools import islice
from typing import Any

from portal.adapters.dynamodb_table import (
    Item,
    Table,
    epoch,
    key_condition,
    parse_day,
    parse_required_ts,
    parse_ts,
    seq,
    ts,
)
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
from portal.ports.store import Claim, ClaimMark

DAY = timedelta(days=1)
NO_ACCOUNT = "-"
# Unsent claims are listed under GSI2PK UNFINISHED#0..7, so no one partition takes every
# claim's writes; the daily sweep reads the eight.
UNFINISHED = "UNFINISHED#"
CLAIM_SHARDS = 8  # the audit partition of entries about no account (sign-ins, searches)


class StaffRecords:
    """Store operations of the staff console and the sign-in machinery; DynamoDbStore
    mixes them in and provides `db`."""

    db: Table

    # -- lookup throttling -------------------------------------------------------------

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

    # -- browser sessions --------------------------------------------------------------

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
        # TTL removes the item in its own time (up to days late): the time is checked here.
        item = self.db.get(_session_pk(session_id), "WEBSESSION")
        if item is None or item["expires_at"] <= epoch(now):
            return None
        return item["subject"]

    def end_web_session(self, session_id: str) -> None:
        self.db.delete(_session_pk(session_id), "WEBSESSION")

    # -- mail log ----------------------------------------------------------------------

    def record_mail(self, record: MailRecord) -> None:
        self.db.put(_mail_item(record))

    def mail_log(self, account_number: str, limit: int = 50) -> list[MailRecord]:
        items = self.db.query(
            **key_condition("PK", f"MAIL#{account_number}"),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [
            MailRecord(
                account_number,
                i["kind"],
                i["to"],
                i["subject"],
                i["outcome"],
                parse_required_ts(i["at"]),
                i.get("detail", ""),
            )
            for i in islice(items, limit)
        ]

    # -- messages ----------------------------------------------------------------------

    def claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        stale_before: datetime | None = None,
        payload: str = "",
    ) -> bool:
        update = _claim_update(kind, key, at, stale_before, payload)
        return (
            self.db.update(
                update["Key"]["PK"],
                "MESSAGE",
                update["UpdateExpression"],
                ConditionExpression=update["ConditionExpression"],
                ExpressionAttributeNames=update["ExpressionAttributeNames"],
                ExpressionAttributeValues=update["ExpressionAttributeValues"],
            )
            is not None
        )

    def complete_claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        mail: MailRecord | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        mark = _mark_sent(kind, key, at)
        records = [] if mail is None else [_mail_item(mail)]
        if audit is not None:
            records.append(self._audit_item(audit))
        if not records:
            self.db.update(
                mark["Key"]["PK"],
                "MESSAGE",
                mark["UpdateExpression"],
                ConditionExpression=mark["ConditionExpression"],
                ExpressionAttributeValues=mark["ExpressionAttributeValues"],
            )
            return
        # One write: a crash between the records and the mark would leave the work done
        # but unmarked (done again) or marked but missing from the log.
        self.db.transact([{"Update": mark}, *({"Put": {"Item": r}} for r in records)])

    def claim_many(
        self, claims: Sequence[Claim], at: datetime, stale_before: datetime
    ) -> set[tuple[str, str]]:
        updates = [
            {"Update": _claim_update(c.kind, c.key, at, stale_before, c.payload)} for c in claims
        ]
        if claims and len(claims) <= 100 and self.db.transact(updates) is None:
            return {(c.kind, c.key) for c in claims}
        # One of them was claimed before (a run the same day): each on its own.
        return {
            (c.kind, c.key)
            for c in claims
            if self.claim(c.kind, c.key, at, stale_before, c.payload)
        }

    def complete_claims(
        self, claims: Sequence[tuple[str, str]], at: datetime, mail: Sequence[MailRecord] = ()
    ) -> None:
        writes: list[Item] = [{"Update": {**_mark_sent(kind, key, at)}} for kind, key in claims] + [
            {"Put": {"Item": _mail_item(record)}} for record in mail
        ]
        for start in range(0, len(writes), 100):
            self.db.transact(writes[start : start + 100])

    def claim_completed(self, kind: str, key: str) -> bool:
        item = self.db.get(_message_pk(kind, key), "MESSAGE")
        return bool(item and item.get("sent_at"))

    def release_claim(self, kind: str, key: str) -> None:
        self.db.update(
            _message_pk(kind, key),
            "MESSAGE",
            "SET GSI2SK = :order REMOVE claimed_at",
            ConditionExpression="attribute_exists(PK) AND attribute_not_exists(sent_at)",
            ExpressionAttributeValues={":order": _claim_order(kind, key, "")},
        )

    def drop_claim(self, kind: str, key: str) -> None:
        self.db.delete(_message_pk(kind, key), "MESSAGE", condition="attribute_not_exists(sent_at)")

    def unfinished_claims(self, before: datetime, limit: int = 500) -> list[Claim]:
        found: list[Item] = []
        for shard in range(CLAIM_SHARDS):
            items = self.db.query(
                IndexName="GSI2",
                **key_condition("GSI2PK", f"{UNFINISHED}{shard}", "GSI2SK", "<", ts(before)),
            )
            found += islice(items, limit)
        found.sort(key=lambda i: i["GSI2SK"])
        return [
            Claim(i["kind"], i["key"], parse_ts(i.get("claimed_at")), i.get("payload", ""))
            for i in found[:limit]
        ]

    # -- staff users -------------------------------------------------------------------

    def create_staff_user(self, user: StaffUser) -> bool:
        return self.db.put(_staff_item(user), condition="attribute_not_exists(PK)")

    def get_staff_user(self, username: str) -> StaffUser | None:
        item = self.db.get(_staff_pk(username), "STAFF")
        return _staff_user(item) if item else None

    def staff_users(self) -> list[StaffUser]:
        found = self.db.query(IndexName="GSI2", **key_condition("GSI2PK", "STAFF"))
        return [_staff_user(i) for i in found]

    def set_staff_password(self, username: str, password_hash: str) -> StaffUser:
        item = self.db.update(
            _staff_pk(username),
            "STAFF",
            "SET password_hash = :hash ADD session_epoch :one",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":hash": password_hash, ":one": 1},
        )
        if item is None:
            raise KeyError(username)
        return _staff_user(item)

    def end_staff_sessions(self, username: str) -> None:
        self.db.update(
            _staff_pk(username),
            "STAFF",
            "ADD session_epoch :one",
            ConditionExpression="attribute_exists(PK)",
            ExpressionAttributeValues={":one": 1},
        )

    def use_totp_step(self, username: str, step: int) -> bool:
        item = self.db.update(
            _staff_pk(username),
            "STAFF",
            "SET totp_last_step = :step",
            ConditionExpression="attribute_exists(PK) AND totp_last_step < :step",
            ExpressionAttributeValues={":step": step},
        )
        return item is not None

    # -- audit log ---------------------------------------------------------------------

    def append_audit(self, entry: AuditEntry) -> None:
        self.db.put(self._audit_item(entry))

    def _audit_item(self, entry: AuditEntry) -> Item:
        entry_id = seq(self.db.next_number("audit"))
        return {
            "PK": _audit_pk(entry.account_number),
            "SK": entry_id,
            "GSI1PK": f"ACTOR#{entry.actor}",
            "GSI1SK": entry_id,
            "GSI2PK": "AUDIT",
            "GSI2SK": entry_id,
            "at": ts(entry.at),
            "actor": entry.actor,
            "action": entry.action.value,
            "subject": entry.subject,
            "address": entry.address,
        }

    def audit_entries(
        self, account_number: str | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        if limit < 1:
            return []
        query: dict[str, Any] = {"ScanIndexForward": False}
        if account_number is not None:
            query.update(key_condition("PK", _audit_pk(account_number)))
            if actor is not None:
                query["FilterExpression"] = "actor = :actor"
                query["ExpressionAttributeValues"][":actor"] = actor
        elif actor is not None:
            query["IndexName"] = "GSI1"
            query.update(key_condition("GSI1PK", f"ACTOR#{actor}"))
        else:
            query["IndexName"] = "GSI2"
            query.update(key_condition("GSI2PK", "AUDIT"))
        if "FilterExpression" not in query:
            # Limit counts items read before filtering, so only an unfiltered page can
            # stop at `limit`; a filtered one reads whole pages until enough match.
            query["Limit"] = limit
        return [_audit_entry(i) for i in islice(self.db.query(**query), limit)]

    # -- notes -------------------------------------------------------------------------

    def add_note(self, note: Note) -> None:
        self.db.put(
            {
                "PK": f"NOTES#{note.account_number}",
                "SK": seq(self.db.next_number("note")),
                "author": note.author,
                "text": note.text,
                "promise_to_pay_on": _day(note.promise_to_pay_on),
                "created_at": ts(note.created_at),
            }
        )

    def notes(self, account_number: str) -> list[Note]:
        found = self.db.query(
            **key_condition("PK", f"NOTES#{account_number}"),
            ScanIndexForward=False,
        )
        return [_note(i) for i in found]

    # -- escalation queue --------------------------------------------------------------

    def open_escalation(self, item: Escalation) -> Escalation | None:
        escalation_id = self.db.next_number("escalation")
        order = f"{ts(item.opened_at)}#{seq(escalation_id)}"  # oldest first, then by id
        stored = {
            "PK": _escalation_pk(escalation_id),
            "SK": "ESCALATION",
            "GSI1PK": f"ESCALATIONS#{item.account_number}",
            "GSI1SK": order,
            "GSI2PK": "QUEUE",
            "GSI2SK": order,
            "GSI3PK": "ESCALATIONS",
            "GSI3SK": order,
            "key": item.key,
            "account_number": item.account_number,
            "kind": item.kind.value,
            "reason": item.reason,
            "opened_at": ts(item.opened_at),
            "opened_by": item.opened_by,
            "owner": item.owner,
            "promise_to_pay_on": _day(item.promise_to_pay_on),
        }
        refused = self.db.transact(
            [
                {"Put": {"Item": stored}},
                {
                    "Put": {
                        "Item": {
                            "PK": _open_key_pk(item.key),
                            "SK": "OPEN",
                            "escalation_id": escalation_id,
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
        if refused:
            return None  # an item with this key is open; the number stays unused
        return _escalation(stored)

    def get_escalation(self, escalation_id: int) -> Escalation | None:
        item = self.db.get(_escalation_pk(escalation_id), "ESCALATION")
        return _escalation(item) if item else None

    def escalations(
        self,
        open_only: bool = True,
        owner: str | None = None,
        account_number: str | None = None,
    ) -> list[Escalation]:
        if account_number is not None:
            index, partition = "GSI1", f"ESCALATIONS#{account_number}"
        elif open_only:
            index, partition = "GSI2", "QUEUE"
        else:
            index, partition = "GSI3", "ESCALATIONS"
        found = self.db.query(IndexName=index, **key_condition(f"{index}PK", partition))
        return [
            e
            for e in map(_escalation, found)
            if (e.is_open or not open_only) and (owner is None or e.owner == owner)
        ]

    def update_escalation(
        self, escalation_id: int, owner: str, promise_to_pay_on: date | None
    ) -> Escalation:
        item = self.db.update(
            _escalation_pk(escalation_id),
            "ESCALATION",
            "SET #owner = :owner, promise_to_pay_on = :promise",
            ConditionExpression="attribute_exists(PK) AND attribute_not_exists(resolved_at)",
            ExpressionAttributeNames={"#owner": "owner"},
            ExpressionAttributeValues={
                ":owner": owner,
                ":promise": _day(promise_to_pay_on),
            },
        )
        return _escalation(item) if item else self._existing_escalation(escalation_id)

    def resolve_escalation(
        self, escalation_id: int, resolved_by: str, resolution: str, at: datetime
    ) -> Escalation:
        pk = _escalation_pk(escalation_id)
        item = self.db.get(pk, "ESCALATION")
        if item is None:
            raise KeyError(escalation_id)
        if "resolved_at" in item:
            return _escalation(item)
        changes = {"resolved_at": ts(at), "resolved_by": resolved_by, "resolution": resolution}
        refused = self.db.transact(
            [
                {
                    "Update": {
                        "Key": {"PK": pk, "SK": "ESCALATION"},
                        # Without the queue keys the item leaves GSI2 (the open queue).
                        "UpdateExpression": "SET resolved_at = :resolved_at,"
                        " resolved_by = :resolved_by, resolution = :resolution"
                        " REMOVE GSI2PK, GSI2SK",
                        "ConditionExpression": "attribute_not_exists(resolved_at)",
                        "ExpressionAttributeValues": {f":{k}": v for k, v in changes.items()},
                    }
                },
                {"Delete": {"Key": {"PK": _open_key_pk(item["key"]), "SK": "OPEN"}}},
            ]
        )
        if refused:  # resolved by someone else meanwhile: theirs stands
            return self._existing_escalation(escalation_id)
        return _escalation({**item, **changes})

    def _existing_escalation(self, escalation_id: int) -> Escalation:
        found = self.get_escalation(escalation_id)
        if found is None:
            raise KeyError(escalation_id)
        return found


# -- keys ------------------------------------------------------------------------------


def _lookup_pk(key: str) -> str:
    return f"LOOKUP#{key}"


def _session_pk(session_id: str) -> str:
    return f"WEBSESSION#{session_id}"


def _message_pk(kind: str, key: str) -> str:
    return f"MESSAGE#{kind}#{key}"


def released_claim_item(claim: Claim) -> Item:
    """A claim nobody holds yet, listed for the sweep: the first attempt takes it over. One
    with `claimed_at` is held from then on, as `claim` leaves it."""
    held = ts(claim.claimed_at) if claim.claimed_at else ""
    return {
        "PK": _message_pk(claim.kind, claim.key),
        "SK": "MESSAGE",
        "kind": claim.kind,
        "key": claim.key,
        "payload": claim.payload,
        "GSI2PK": _claim_shard(claim.kind, claim.key),
        "GSI2SK": _claim_order(claim.kind, claim.key, held),
        **({"claimed_at": held} if held else {}),
    }


def _claim_update(
    kind: str, key: str, at: datetime, stale_before: datetime | None, payload: str
) -> Item:
    """The claim's conditional upsert (UpdateItem arguments, as a transaction's Update)."""
    # Unsent claims are listed in GSI2 (sharded) for the sweep; a released claim has no
    # claimed_at, so any claim takes it over.
    free = "attribute_not_exists(PK) OR (attribute_not_exists(sent_at) AND"
    values: dict[str, Any] = {
        ":at": ts(at),
        ":kind": kind,
        ":key": key,
        ":shard": _claim_shard(kind, key),
        ":order": _claim_order(kind, key, ts(at)),
        ":payload": payload,
    }
    if stale_before is None:
        condition = f"{free} attribute_not_exists(claimed_at))"
    else:
        condition = f"{free} (attribute_not_exists(claimed_at) OR claimed_at < :stale))"
        values[":stale"] = ts(stale_before)
    keep = ":payload" if payload else "if_not_exists(#payload, :payload)"
    return {
        "Key": {"PK": _message_pk(kind, key), "SK": "MESSAGE"},
        "UpdateExpression": "SET claimed_at = :at, #kind = :kind, #key = :key,"
        f" GSI2PK = :shard, GSI2SK = :order, #payload = {keep}",
        "ConditionExpression": condition,
        "ExpressionAttributeNames": {"#kind": "kind", "#key": "key", "#payload": "payload"},
        "ExpressionAttributeValues": values,
    }


def _mark_sent(kind: str, key: str, at: datetime) -> Item:
    """Mark a claim sent (an Update): out of the list of unfinished claims."""
    return {
        "Key": {"PK": _message_pk(kind, key), "SK": "MESSAGE"},
        "UpdateExpression": "SET sent_at = :at REMOVE GSI2PK, GSI2SK",
        "ConditionExpression": "attribute_exists(PK)",  # no claim, nothing to mark
        "ExpressionAttributeValues": {":at": ts(at)},
    }


def claim_mark_update(mark: ClaimMark, at: datetime) -> Item:
    """A claim written with a commit (TransactWriteItems Update): marked sent at `at`
    (a sent_at written before is kept), or held from `at` and listed for the sweep; with
    `stale_before`, on condition that no other live holder has it."""
    values: Item = {":at": ts(at), ":kind": mark.kind, ":key": mark.key, ":payload": mark.payload}
    expression = "SET claimed_at = :at, #kind = :kind, #key = :key, #payload = :payload"
    if mark.done:
        expression += ", sent_at = if_not_exists(sent_at, :at) REMOVE GSI2PK, GSI2SK"
    else:
        expression += ", GSI2PK = :shard, GSI2SK = :order"
        values[":shard"] = _claim_shard(mark.kind, mark.key)
        values[":order"] = _claim_order(mark.kind, mark.key, ts(at))
    update: Item = {
        "Key": {"PK": _message_pk(mark.kind, mark.key), "SK": "MESSAGE"},
        "UpdateExpression": expression,
        "ExpressionAttributeNames": {"#kind": "kind", "#key": "key", "#payload": "payload"},
        "ExpressionAttributeValues": values,
    }
    if mark.stale_before is not None:
        update["ConditionExpression"] = (
            "attribute_not_exists(PK) OR attribute_exists(sent_at)"
            " OR attribute_not_exists(claimed_at) OR claimed_at < :stale"
        )
        values[":stale"] = ts(mark.stale_before)
    return {"Update": update}


def _claim_shard(kind: str, key: str) -> str:
    return f"{UNFINISHED}{zlib.crc32(f'{kind}#{key}'.encode()) % CLAIM_SHARDS}"


def _claim_order(kind: str, key: str, claimed_at: str) -> str:
    """GSI2SK of an unsent claim: by claim time, a released one ('') before all others."""
    return f"{claimed_at}#{kind}#{key}"


def _staff_pk(username: str) -> str:
    return f"STAFF#{username}"


def _audit_pk(account_number: str | None) -> str:
    return f"AUDIT#{account_number if account_number is not None else NO_ACCOUNT}"


def _escalation_pk(escalation_id: int) -> str:
    return f"ESCALATION#{seq(escalation_id)}"


def _open_key_pk(key: str) -> str:
    return f"ESCALATION_KEY#{key}"


# -- item mapping ----------------------------------------------------------------------


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _staff_item(user: StaffUser) -> Item:
    return {
        "PK": _staff_pk(user.username),
        "SK": "STAFF",
        "GSI2PK": "STAFF",
        "GSI2SK": user.username,
        "role": user.role.value,
        "password_hash": user.password_hash,
        "totp_secret": user.totp_secret,
        "created_at": ts(user.created_at),
        "session_epoch": user.session_epoch,
        "totp_last_step": user.totp_last_step,
    }


def _staff_user(item: Item) -> StaffUser:
    return StaffUser(
        username=item["GSI2SK"],
        role=Role(item["role"]),
        password_hash=item["password_hash"],
        totp_secret=item["totp_secret"],
        created_at=parse_required_ts(item["created_at"]),
        session_epoch=item["session_epoch"],
        totp_last_step=item["totp_last_step"],
    )


def _audit_entry(item: Item) -> AuditEntry:
    account_number = item["PK"].removeprefix("AUDIT#")
    return AuditEntry(
        entry_id=int(item["SK"]),
        at=parse_required_ts(item["at"]),
        actor=item["actor"],
        action=AuditAction(item["action"]),
        account_number=None if account_number == NO_ACCOUNT else account_number,
        subject=item["subject"],
        address=item["address"],
    )


def _note(item: Item) -> Note:
    return Note(
        note_id=int(item["SK"]),
        account_number=item["PK"].removeprefix("NOTES#"),
        author=item["author"],
        text=item["text"],
        promise_to_pay_on=parse_day(item["promise_to_pay_on"]),
        created_at=parse_required_ts(item["created_at"]),
    )


def _escalation(item: Item) -> Escalation:
    return Escalation(
        escalation_id=int(item["PK"].removeprefix("ESCALATION#")),
        key=item["key"],
        account_number=item["account_number"],
        kind=EscalationKind(item["kind"]),
        reason=item["reason"],
        opened_at=parse_required_ts(item["opened_at"]),
        opened_by=item["opened_by"],
        owner=item["owner"],
        promise_to_pay_on=parse_day(item["promise_to_pay_on"]),
        resolved_at=parse_ts(item.get("resolved_at")),
        resolved_by=item.get("resolved_by", ""),
        resolution=item.get("resolution", ""),
    )


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
