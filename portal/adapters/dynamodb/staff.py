"""The DynamoDB store's staff port: staff users, audit log, notes, escalations, mail log."""

from collections.abc import Iterable, Sequence
from datetime import date, datetime
from itertools import islice
from typing import Any

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.records import NO_ACCOUNT, _audit_pk, _mail_item
from portal.adapters.dynamodb.shards import (
    AUDIT,
    ESCALATIONS,
    QUEUE,
    fan_out,
    merged,
    shard_key,
    shard_keys,
)
from portal.adapters.dynamodb.table import (
    Item,
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


class DynamoDbStaff(DynamoDbTable):
    """The Staff port on DynamoDB."""

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

    def append_audit(self, entry: AuditEntry) -> None:
        self.db.put(self._audit_item(entry))

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
            # Every shard's newest `limit`, merged newest first (the ids are one sequence).
            def shard(key: str) -> Iterable[Item]:
                found = self.db.query(
                    IndexName="GSI2",
                    ScanIndexForward=False,
                    Limit=limit,
                    **key_condition("GSI2PK", key),
                )
                return islice(found, limit)

            parts = fan_out(shard, shard_keys(AUDIT, self.shards))
            return [_audit_entry(i) for i in merged(parts, "GSI2SK", newest_first=True)[:limit]]
        if "FilterExpression" not in query:
            # Limit counts items read before filtering, so only an unfiltered page can
            # stop at `limit`; a filtered one reads whole pages until enough match.
            query["Limit"] = limit
        return [_audit_entry(i) for i in islice(self.db.query(**query), limit)]

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

    def open_escalation(
        self, item: Escalation, audit: AuditEntry | None = None
    ) -> Escalation | None:
        escalation_id = self.db.next_number("escalation")
        order = f"{ts(item.opened_at)}#{seq(escalation_id)}"  # oldest first, then by id
        stored = {
            "PK": _escalation_pk(escalation_id),
            "SK": "ESCALATION",
            "GSI1PK": f"ESCALATIONS#{item.account_number}",
            "GSI1SK": order,
            "GSI2PK": shard_key(QUEUE, item.account_number, self.shards),
            "GSI2SK": order,
            "GSI3PK": shard_key(ESCALATIONS, item.account_number, self.shards),
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
                *([{"Put": {"Item": self._audit_item(audit)}}] if audit else []),
            ]
        )
        if refused:
            return None  # an item with this key is open; the number stays unused
        return _escalation(stored)

    def open_escalations(
        self, items: Sequence[tuple[Escalation, AuditEntry | None]]
    ) -> list[Escalation | None]:
        # Each on its own: one transaction of several would be refused whole for one key
        # that is still open.
        return [self.open_escalation(item, audit) for item, audit in items]

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
            index, partitions = "GSI1", [f"ESCALATIONS#{account_number}"]
        elif open_only:
            index, partitions = "GSI2", shard_keys(QUEUE, self.shards)
        else:
            index, partitions = "GSI3", shard_keys(ESCALATIONS, self.shards)

        def shard(key: str) -> Iterable[Item]:
            return self.db.query(IndexName=index, **key_condition(f"{index}PK", key))

        found = merged(fan_out(shard, partitions), f"{index}SK")
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


def _staff_pk(username: str) -> str:
    return f"STAFF#{username}"


def _escalation_pk(escalation_id: int) -> str:
    return f"ESCALATION#{seq(escalation_id)}"


def _open_key_pk(key: str) -> str:
    return f"ESCALATION_KEY#{key}"


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
