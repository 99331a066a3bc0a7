"""The DynamoDB store's cases port: patients' questions and assistance requests, one item
each (docs/dynamodb.md).

A case lives in its account's cases partition (`CASES#<account>`), so an account's cases
are one strongly consistent Query; a pointer `CASE#<case_id>` names the account for a read
by id. Every case is in GSI2 under `CASES_HOLDING`: an open one as `OPEN#<due_on>#<id>`
(the staff queue, by due date), a resolved one as `SHUT#<resolved_at>#<id>` (the reminder
run reads only those resolved lately); and in GSI3 under `CASES#<month opened>` (the
report)."""

from dataclasses import replace
from datetime import UTC, datetime

from portal.adapters.case_records import case_of, case_record
from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.table import Item, key_condition, month_of
from portal.adapters.plan_records import utc_text
from portal.domain.cases import Case
from portal.domain.staff import AuditEntry

CASE_SK = "CASE"
HOLDING = "CASES_HOLDING"  # GSI2PK of every case
KEYS = ("PK", "SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")


class DynamoDbCases(DynamoDbTable):
    """The Cases port on DynamoDB."""

    def add_case(self, case: Case) -> bool:
        refused = self.db.transact(
            [
                {
                    "Put": {
                        "Item": {
                            "PK": _pointer_pk(case.case_id),
                            "SK": CASE_SK,
                            "account_number": case.account_number,
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Put": {
                        "Item": _case_item(case),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
        return refused is None

    def get_case(self, case_id: str) -> Case | None:
        pointer = self.db.get(_pointer_pk(case_id), CASE_SK)
        if pointer is None:
            return None
        item = self.db.get(_cases_pk(pointer["account_number"]), _case_sk(case_id))
        return _case(item) if item else None

    def account_cases(self, account_number: str) -> list[Case]:
        found = self.db.query(
            **key_condition("PK", _cases_pk(account_number), "SK", "begins_with", "CASE#")
        )
        return sorted((_case(i) for i in found), key=_newest_first, reverse=True)

    def save_case(self, case: Case, audit: AuditEntry | None = None) -> Case | None:
        written = replace(case, version=case.version + 1)
        names, values = {"#version": "version"}, {":read": case.version}
        if audit is None:
            saved = self.db.put(
                _case_item(written),
                "#version = :read",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
            return written if saved else None
        refused = self.db.transact(
            [
                {
                    "Put": {
                        "Item": _case_item(written),
                        "ConditionExpression": "#version = :read",
                        "ExpressionAttributeNames": names,
                        "ExpressionAttributeValues": values,
                    }
                },
                {"Put": {"Item": self._audit_item(audit)}},
            ]
        )
        return written if refused is None else None

    def open_cases(self) -> list[Case]:
        found = self.db.query(
            IndexName="GSI2", **key_condition("GSI2PK", HOLDING, "GSI2SK", "begins_with", "OPEN#")
        )
        return [_case(i) for i in found]

    def holding_cases(self, resolved_since: datetime) -> list[Case]:
        resolved = self.db.query(
            IndexName="GSI2",
            **key_condition(
                "GSI2PK", HOLDING, "GSI2SK", "between", f"SHUT#{utc_text(resolved_since)}", "SHUT$"
            ),
        )
        found = self.open_cases() + [_case(i) for i in resolved]
        return sorted(found, key=lambda c: c.case_id)

    def cases_opened(self, since: datetime, until: datetime) -> list[Case]:
        found: list[Case] = []
        low, high = utc_text(since), utc_text(until)
        for month in _months(since, until):
            items = self.db.query(
                IndexName="GSI3",
                **key_condition("GSI3PK", f"CASES#{month}", "GSI3SK", "between", low, high),
            )
            found += [c for c in map(_case, items) if since <= c.opened_at < until]
        return sorted(found, key=lambda c: (c.opened_at, c.case_id))


def _months(since: datetime, until: datetime) -> list[str]:
    months = []
    year, month = since.astimezone(UTC).year, since.astimezone(UTC).month
    last = month_of(until)
    while f"{year:04d}-{month:02d}" <= last:
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def _newest_first(case: Case) -> tuple[str, str]:
    return (utc_text(case.opened_at), case.case_id)


def _pointer_pk(case_id: str) -> str:
    return f"CASE#{case_id}"


def _cases_pk(account_number: str) -> str:
    return f"CASES#{account_number}"


def _case_sk(case_id: str) -> str:
    return f"CASE#{case_id}"


def _case_item(case: Case) -> Item:
    record = case_record(case)
    if case.resolved_at is None:
        position = f"OPEN#{record['due_on']}#{case.case_id}"
    else:
        position = f"SHUT#{record['resolved_at']}#{case.case_id}"
    return {
        "PK": _cases_pk(case.account_number),
        "SK": _case_sk(case.case_id),
        "GSI2PK": HOLDING,
        "GSI2SK": position,
        "GSI3PK": f"CASES#{month_of(case.opened_at)}",
        "GSI3SK": f"{record['opened_at']}#{case.case_id}",
        **record,
    }


def _case(item: Item) -> Case:
    return case_of({k: v for k, v in item.items() if k not in KEYS})
