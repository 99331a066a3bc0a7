"""The DynamoDB store's claims port: claims of work done once, and the unfinished ones for
the sweep."""

from collections.abc import Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.records import (
    CLAIM_SHARDS,
    UNFINISHED,
    _claim_order,
    _claim_shard,
    _mail_item,
    _message_pk,
)
from portal.adapters.dynamodb.table import Item, key_condition, parse_ts, ts
from portal.domain.staff import AuditEntry, MailRecord
from portal.ports.claims import Claim


class DynamoDbClaims(DynamoDbTable):
    """The Claims port on DynamoDB."""

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
