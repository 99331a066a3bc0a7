"""The DynamoDB store's remittances port (docs/dynamodb.md).

Statement lines by claim id: importing a statement writes, in its transaction, an index
item `CLAIM#<claim id>` / `LINE#<statement id>` for each claim id its lines carry (see
`claim_index_items`); the lines themselves are read from the statements. A remittance is
one item `REMITTANCE#<id>` / `REMITTANCE`: in GSI3 under `REMITTANCES#<month imported>`
(the report), in GSI1 under `REMITTANCES_PAID#<month paid>` (the deposits), and in GSI2
under `REMITTANCES_OPEN` while it has open work items (the associates' queue)."""

from collections.abc import Collection
from dataclasses import replace
from datetime import date, datetime

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.items import account_pk, statement_from
from portal.adapters.dynamodb.records import _months
from portal.adapters.dynamodb.table import Item, key_condition, month_of
from portal.adapters.plan_records import utc_text
from portal.adapters.remittance_records import remittance_of, remittance_record
from portal.domain.remittance_posting import ClaimLine, RemittanceRecord
from portal.domain.statements import Statement

SK = "REMITTANCE"
OPEN = "REMITTANCES_OPEN"
KEYS = ("PK", "SK", "GSI1PK", "GSI1SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")


def claim_index_items(statement: Statement) -> list[Item]:
    """The index items a statement's claim ids need, written with the statement."""
    return [
        {
            "PK": f"CLAIM#{claim_id}",
            "SK": f"LINE#{statement.statement_id}",
            "account_number": statement.account_number,
            "statement_id": statement.statement_id,
        }
        for claim_id in sorted({line.claim_id for line in statement.lines if line.claim_id})
    ]


class DynamoDbRemittances(DynamoDbTable):
    """The Remittances port on DynamoDB."""

    def claim_lines(self, claim_ids: Collection[str]) -> list[ClaimLine]:
        ids = set(claim_ids)
        places: set[tuple[str, str]] = set()
        for claim_id in sorted(ids):
            for item in self.db.query(**key_condition("PK", f"CLAIM#{claim_id}")):
                places.add((item["account_number"], item["statement_id"]))
        statements = [
            statement_from(item)
            for item in self.db.get_many(
                sorted((account_pk(a), f"STATEMENT#{s}") for a, s in places)
            )
        ]
        statements.sort(key=lambda s: (s.statement_date, s.statement_id))
        return [
            ClaimLine(s.account_number, s.statement_id, line)
            for s in statements
            for line in s.lines
            if line.claim_id in ids
        ]

    def add_remittance(self, record: RemittanceRecord) -> bool:
        return self.db.put(_item(replace(record, version=0)), "attribute_not_exists(PK)")

    def get_remittance(self, remittance_id: str) -> RemittanceRecord | None:
        item = self.db.get(_pk(remittance_id), SK)
        return _record(item) if item else None

    def save_remittance(self, record: RemittanceRecord) -> RemittanceRecord | None:
        written = replace(record, version=record.version + 1)
        return written if self.db.put_at_version(_item(written), record.version) else None

    def remittances_imported(self, since: datetime, until: datetime) -> list[RemittanceRecord]:
        found: list[RemittanceRecord] = []
        low, high = utc_text(since), utc_text(until)
        for month in _months(since, until):
            items = self.db.query(
                IndexName="GSI3",
                **key_condition("GSI3PK", f"REMITTANCES#{month}", "GSI3SK", "between", low, high),
            )
            found += [r for r in map(_record, items) if since <= r.imported_at < until]
        return sorted(found, key=lambda r: (r.imported_at, r.remittance_id))

    def remittances_paid(self, since: date, until: date) -> list[RemittanceRecord]:
        found = map(_record, self.db.query_days("GSI1", "REMITTANCES_PAID", since, until))
        return sorted(found, key=lambda r: (r.paid_on or since, r.remittance_id))

    def remittances_with_open_items(self) -> list[RemittanceRecord]:
        items = self.db.query(IndexName="GSI2", **key_condition("GSI2PK", OPEN))
        return [_record(i) for i in items]


def _pk(remittance_id: str) -> str:
    return f"REMITTANCE#{remittance_id}"


def _item(record: RemittanceRecord) -> Item:
    data = remittance_record(record)
    item: Item = {
        "PK": _pk(record.remittance_id),
        "SK": SK,
        "GSI3PK": f"REMITTANCES#{month_of(record.imported_at)}",
        "GSI3SK": f"{data['imported_at']}#{record.remittance_id}",
        **data,
    }
    if record.paid_on is not None:
        item["GSI1PK"] = f"REMITTANCES_PAID#{record.paid_on:%Y-%m}"
        item["GSI1SK"] = f"{record.paid_on.isoformat()}#{record.remittance_id}"
    if record.open_items:
        item["GSI2PK"] = OPEN
        item["GSI2SK"] = f"{data['imported_at']}#{record.remittance_id}"
    return item


def _record(item: Item) -> RemittanceRecord:
    return remittance_of({k: v for k, v in item.items() if k not in KEYS})
