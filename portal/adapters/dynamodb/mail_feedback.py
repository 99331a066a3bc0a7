"""The DynamoDB store's mail-feedback port: undeliverable addresses and SES events applied.

An undeliverable address is one item, `UNDELIVERABLE#<address>`, listed for staff through
`GSI2` `UNDELIVERABLE` (newest report first), with a marker `UNDELIVERABLE#<address>` in
the partition of each account whose mail went to it (so the patient's page, one Query of
the partition, reads it without another call); an applied SES event leaves a marker item
`MAILEVENT#<event id>` (TTL: 30 days) written in the same transaction as what it changes,
so a second delivery of the same event changes nothing."""

from collections.abc import Sequence
from datetime import datetime, timedelta
from itertools import islice

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.items import account_pk
from portal.adapters.dynamodb.records import _mail_item
from portal.adapters.dynamodb.table import Item, epoch, key_condition, parse_required_ts, ts
from portal.domain.staff import AuditEntry, MailRecord
from portal.ports.mail_feedback import UndeliverableAddress, normal_address
from portal.ports.store import StoreError

UNDELIVERABLE = "UNDELIVERABLE"
EVENT = "MAILEVENT"
# SNS retries a delivery for hours at most: an event id older than this is not seen again.
MAIL_EVENTS_KEPT = timedelta(days=30)


class DynamoDbMailFeedback(DynamoDbTable):
    """The MailFeedback port on DynamoDB."""

    def apply_mail_event(
        self,
        event_id: str,
        at: datetime,
        mail: Sequence[MailRecord] = (),
        undeliverable: Sequence[UndeliverableAddress] = (),
    ) -> bool:
        writes: list[Item] = [
            {
                "Put": {
                    "Item": {
                        "PK": f"{EVENT}#{event_id}",
                        "SK": EVENT,
                        "at": ts(at),
                        "expires_at": epoch(at + MAIL_EVENTS_KEPT),
                    },
                    "ConditionExpression": "attribute_not_exists(PK)",
                }
            },
            *({"Put": {"Item": _mail_item(record)}} for record in mail),
            *(_mark(report) for report in undeliverable),
            *(
                {"Put": {"Item": _marker(account, report.address)}}
                for report in undeliverable
                for account in report.accounts
            ),
        ]
        if len(writes) > 100:
            raise StoreError("an SES event names more recipients than one write holds")
        refused = self.db.transact(writes)
        return refused is None

    def undeliverable(self, address: str) -> UndeliverableAddress | None:
        item = self.db.get(_pk(address), UNDELIVERABLE)
        return _report(item) if item else None

    def undeliverable_addresses(self, limit: int = 1000) -> list[UndeliverableAddress]:
        found = self.db.query(
            IndexName="GSI2",
            **key_condition("GSI2PK", UNDELIVERABLE),
            ScanIndexForward=False,
            Limit=limit,
        )
        return [_report(i) for i in islice(found, limit)]

    def clear_undeliverable(self, address: str, audit: AuditEntry | None = None) -> bool:
        item = self.db.get(_pk(address), UNDELIVERABLE)
        if item is None:
            return False
        writes: list[Item] = [
            {
                "Delete": {
                    "Key": {"PK": _pk(address), "SK": UNDELIVERABLE},
                    "ConditionExpression": "attribute_exists(PK)",
                }
            },
            *(
                {"Delete": {"Key": _key(_marker(account, address))}}
                for account in item.get("accounts", ())
            ),
        ]
        if audit is not None:
            writes.append({"Put": {"Item": self._audit_item(audit)}})
        return self.db.transact(writes) is None


def _pk(address: str) -> str:
    return f"{UNDELIVERABLE}#{normal_address(address)}"


def _marker(account_number: str, address: str) -> Item:
    return {
        "PK": account_pk(account_number),
        "SK": f"{UNDELIVERABLE}#{normal_address(address)}",
        "address": normal_address(address),
    }


def _key(item: Item) -> Item:
    return {"PK": item["PK"], "SK": item["SK"]}


def _mark(report: UndeliverableAddress) -> Item:
    """An upsert: the first report's reason and time stay, the accounts add up."""
    address = normal_address(report.address)
    values: Item = {
        ":address": address,
        ":reason": report.reason,
        ":detail": report.detail,
        ":at": ts(report.at),
        ":list": UNDELIVERABLE,
        ":order": f"{ts(report.at)}#{address}",
    }
    expression = (
        "SET address = :address, reason = if_not_exists(reason, :reason),"
        " detail = if_not_exists(detail, :detail), #at = if_not_exists(#at, :at),"
        " GSI2PK = :list, GSI2SK = if_not_exists(GSI2SK, :order)"
    )
    if report.accounts:
        expression += " ADD accounts :accounts"
        values[":accounts"] = set(report.accounts)
    return {
        "Update": {
            "Key": {"PK": _pk(address), "SK": UNDELIVERABLE},
            "UpdateExpression": expression,
            "ExpressionAttributeNames": {"#at": "at"},
            "ExpressionAttributeValues": values,
        }
    }


def _report(item: Item) -> UndeliverableAddress:
    return UndeliverableAddress(
        address=item["address"],
        reason=item["reason"],
        detail=item.get("detail", ""),
        at=parse_required_ts(item["at"]),
        accounts=tuple(sorted(item.get("accounts", ()))),
    )
