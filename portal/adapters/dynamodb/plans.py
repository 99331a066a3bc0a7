"""The DynamoDB store's plans port: payment plans, one item each (docs/dynamodb.md).

A plan lives in its account's plans partition (`PLANS#<account>`), so an account's plans are
one strongly consistent Query; a pointer `PLAN#<plan_id>` names the account for a read by
id. While the plan has a next day it is in GSI2 under `PLANS_DUE` (the charge run's work
list); every plan is in GSI3 under `PLANS`, newest first (the staff list)."""

from dataclasses import replace
from datetime import date, timedelta
from itertools import islice

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.table import Item, key_condition
from portal.adapters.plan_records import plan_of, plan_record
from portal.domain.plans import Plan
from portal.ports.plans import plan_cursor

PLAN_SK = "PLAN"

DUE = "PLANS_DUE"  # GSI2PK of a plan while it has a next day

EVERY = "PLANS"  # GSI3PK of every plan

# What a plan item holds beside the plan itself.
KEYS = ("PK", "SK", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK")


class DynamoDbPlans(DynamoDbTable):
    """The Plans port on DynamoDB."""

    def add_plan(self, plan: Plan) -> bool:
        refused = self.db.transact(
            [
                {
                    "Put": {
                        "Item": {
                            "PK": _pointer_pk(plan.plan_id),
                            "SK": PLAN_SK,
                            "account_number": plan.account_number,
                        },
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {
                    "Put": {
                        "Item": _plan_item(plan),
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
            ]
        )
        return refused is None

    def get_plan(self, plan_id: str) -> Plan | None:
        pointer = self.db.get(_pointer_pk(plan_id), PLAN_SK)
        if pointer is None:
            return None
        item = self.db.get(_plans_pk(pointer["account_number"]), _plan_sk(plan_id))
        return _plan(item) if item else None

    def account_plans(self, account_number: str) -> list[Plan]:
        found = self.db.query(
            **key_condition("PK", _plans_pk(account_number), "SK", "begins_with", "PLAN#")
        )
        plans = [_plan(i) for i in found]
        return sorted(plans, key=plan_cursor, reverse=True)

    def save_plan(self, plan: Plan) -> Plan | None:
        written = replace(plan, version=plan.version + 1)
        return written if self.db.put_at_version(_plan_item(written), plan.version) else None

    def plans_due(self, on: date, limit: int = 500) -> list[Plan]:
        if limit < 1:
            return []
        # GSI2SK is `<next_on>#<plan_id>`: every plan due on or before `on` sorts before
        # the next day's date.
        after = (on + timedelta(days=1)).isoformat()
        found = self.db.query(
            IndexName="GSI2", Limit=limit, **key_condition("GSI2PK", DUE, "GSI2SK", "<", after)
        )
        return [_plan(i) for i in islice(found, limit)]

    def list_plans(self, limit: int = 100, before: str | None = None) -> list[Plan]:
        if limit < 1:
            return []
        keys = (
            key_condition("GSI3PK", EVERY)
            if before is None
            else key_condition("GSI3PK", EVERY, "GSI3SK", "<", before)
        )
        found = self.db.query(IndexName="GSI3", ScanIndexForward=False, Limit=limit, **keys)
        return [_plan(i) for i in islice(found, limit)]


def _pointer_pk(plan_id: str) -> str:
    return f"PLAN#{plan_id}"


def _plans_pk(account_number: str) -> str:
    return f"PLANS#{account_number}"


def _plan_sk(plan_id: str) -> str:
    return f"PLAN#{plan_id}"


def _plan_item(plan: Plan) -> Item:
    item: Item = {
        "PK": _plans_pk(plan.account_number),
        "SK": _plan_sk(plan.plan_id),
        "GSI3PK": EVERY,
        "GSI3SK": plan_cursor(plan),
        **plan_record(plan),
    }
    if plan.next_on is not None:
        item["GSI2PK"] = DUE
        item["GSI2SK"] = f"{plan.next_on.isoformat()}#{plan.plan_id}"
    return item


def _plan(item: Item) -> Plan:
    return plan_of({k: v for k, v in item.items() if k not in KEYS})
