"""The DynamoDB store's payout records port (docs/dynamodb.md): one item per payout,
`PAYOUT#<id>` / `PAYOUT`, in GSI1 under `PAYOUTS#<month of arrival>` (the report) and, while
not reconciled, in GSI2 under `PAYOUTS_UNRECONCILED` (the supervisors' count)."""

from dataclasses import replace
from datetime import date

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.table import Item, key_condition
from portal.adapters.payout_records import payout_data, payout_of
from portal.domain.payouts import PayoutRecord

SK = "PAYOUT"
UNRECONCILED = "PAYOUTS_UNRECONCILED"
KEYS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK")


class DynamoDbPayouts(DynamoDbTable):
    """The PayoutRecords port on DynamoDB."""

    def add_payout(self, record: PayoutRecord) -> bool:
        return self.db.put(_item(replace(record, version=0)), "attribute_not_exists(PK)")

    def get_payout(self, payout_id: str) -> PayoutRecord | None:
        item = self.db.get(_pk(payout_id), SK)
        return _record(item) if item else None

    def save_payout(self, record: PayoutRecord) -> PayoutRecord | None:
        written = replace(record, version=record.version + 1)
        return written if self.db.put_at_version(_item(written), record.version) else None

    def payouts_arriving(self, since: date, until: date) -> list[PayoutRecord]:
        found = map(_record, self.db.query_days("GSI1", "PAYOUTS", since, until))
        return sorted(found, key=_order)

    def unreconciled_payouts(self) -> list[PayoutRecord]:
        items = self.db.query(IndexName="GSI2", **key_condition("GSI2PK", UNRECONCILED))
        return sorted(map(_record, items), key=_order)


def _order(record: PayoutRecord) -> tuple[date, str]:
    return record.payout.arrival_date, record.payout_id


def _pk(payout_id: str) -> str:
    return f"PAYOUT#{payout_id}"


def _item(record: PayoutRecord) -> Item:
    arrival = record.payout.arrival_date
    item: Item = {
        "PK": _pk(record.payout_id),
        "SK": SK,
        "GSI1PK": f"PAYOUTS#{arrival:%Y-%m}",
        "GSI1SK": f"{arrival.isoformat()}#{record.payout_id}",
        **payout_data(record),
    }
    if not record.reconciled:
        item["GSI2PK"] = UNRECONCILED
        item["GSI2SK"] = f"{arrival.isoformat()}#{record.payout_id}"
    return item


def _record(item: Item) -> PayoutRecord:
    return payout_of({k: v for k, v in item.items() if k not in KEYS})
