"""The DynamoDB store's outbound webhook deliveries: an item per delivery, in GSI2 under
`WEBHOOKS_DUE` (by next try) while pending and `WEBHOOKS_FAILED` once given up on, each
sharded by event id over PORTAL_DYNAMODB_SHARDS keys (every try rewrites the due key, and a
receiver down for a day sends every event to the failed key: docs/dynamodb.md, "Hot keys");
the position of the last event a delivery was made for on one item."""

from collections.abc import Iterable
from datetime import datetime
from itertools import islice

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.records import FAILED as CHECK_FAILED
from portal.adapters.dynamodb.records import TRANSACTION_ITEMS
from portal.adapters.dynamodb.shards import fan_out, merged, shard_key, shard_keys
from portal.adapters.dynamodb.table import (
    Item,
    key_condition,
    parse_required_ts,
    parse_ts,
    seq,
    ts,
)
from portal.domain.money_events import MoneyEvent
from portal.domain.outbound import Delivery, DeliveryState, new_delivery
from portal.ports.money_events import EventPage

POSITION_KEY = ("WEBHOOKS", "POSITION")
DUE = "WEBHOOKS_DUE"
FAILED = "WEBHOOKS_FAILED"


class DynamoDbDeliveries(DynamoDbTable):
    """The Deliveries port on DynamoDB."""

    def webhook_position(self) -> int:
        item = self.db.get(*POSITION_KEY)
        return int(item["position"]) if item else 0

    def add_deliveries(self, after: int, page: EventPage, at: datetime) -> bool:
        # Each put is refused when the delivery is there already, and the position moves only
        # from `after`: a run that stopped half way, or two at once, add each delivery once
        # and move the position once. A page is one transaction when it fits in one.
        puts = [
            _item(new_delivery(event, page.position, at, order), self.shards)
            for order, event in enumerate(page.events)
        ]
        move = _position_update(after, page.position)
        if len(puts) < TRANSACTION_ITEMS:
            absent = "attribute_not_exists(PK)"
            codes = self.db.transact(
                [*({"Put": {"Item": i, "ConditionExpression": absent}} for i in puts), move]
            )
            if codes is None:
                return True
            if codes[-1] == CHECK_FAILED:
                return False  # another run moved the position: what it added is the same
        for item in puts:  # some are there already (a run stopped half way): the rest
            self.db.put(item, "attribute_not_exists(PK)")
        update = {k: v for k, v in move["Update"].items() if k not in ("Key", "UpdateExpression")}
        return (
            self.db.update(*POSITION_KEY, move["Update"]["UpdateExpression"], **update) is not None
        )

    def due_deliveries(self, now: datetime, limit: int) -> list[Delivery]:
        def shard(key: str) -> Iterable[Item]:
            found = self.db.query(
                IndexName="GSI2", **key_condition("GSI2PK", key, "GSI2SK", "<=", f"{ts(now)}~")
            )
            return islice(found, limit)

        soonest = merged(fan_out(shard, shard_keys(DUE, self.shards)), "GSI2SK")[:limit]
        # The index lags the table: each is read again, and kept only if still due.
        found = [_delivery(i) for i in self.db.get_many([(i["PK"], i["SK"]) for i in soonest])]
        due = [d for d in found if d.state is DeliveryState.PENDING and d.next_at <= now]
        return sorted(due, key=lambda d: (d.position, d.order))

    def save_delivery(self, before: Delivery, after: Delivery) -> bool:
        return self.db.put(
            _item(after, self.shards),
            "attribute_exists(PK) AND #state = :state AND attempts = :attempts"
            " AND next_at = :next_at",
            ExpressionAttributeNames={"#state": "state"},
            ExpressionAttributeValues={
                ":state": before.state.value,
                ":attempts": before.attempts,
                ":next_at": ts(before.next_at),
            },
        )

    def failed_deliveries(self, limit: int = 200) -> list[Delivery]:
        def shard(key: str) -> Iterable[Item]:
            return islice(self.db.query(IndexName="GSI2", **key_condition("GSI2PK", key)), limit)

        found = merged(fan_out(shard, shard_keys(FAILED, self.shards)), "GSI2SK")
        return [_delivery(i) for i in found[:limit]]

    def get_delivery(self, event_id: str) -> Delivery | None:
        item = self.db.get(f"WEBHOOK#{event_id}", "WEBHOOK")
        return _delivery(item) if item else None


def _position_update(after: int, position: int) -> Item:
    pk, sk = POSITION_KEY
    return {
        "Update": {
            "Key": {"PK": pk, "SK": sk},
            "UpdateExpression": "SET #position = :position",
            "ConditionExpression": "#position = :after" if after else "attribute_not_exists(PK)",
            "ExpressionAttributeNames": {"#position": "position"},
            "ExpressionAttributeValues": {
                ":position": position,
                **({":after": after} if after else {}),
            },
        }
    }


def _item(d: Delivery, shards: int) -> Item:
    item: Item = {
        "PK": f"WEBHOOK#{d.event_id}",
        "SK": "WEBHOOK",
        "event": d.event.to_json(),
        "position": d.position,
        "order": d.order,
        "state": d.state.value,
        "attempts": d.attempts,
        "next_at": ts(d.next_at),
        "first_at": ts(d.first_at),
        "last_error": d.last_error,
    }
    if d.done_at is not None:
        item["done_at"] = ts(d.done_at)
    if d.state is DeliveryState.PENDING:
        item.update(
            GSI2PK=shard_key(DUE, d.event_id, shards), GSI2SK=f"{ts(d.next_at)}#{d.event_id}"
        )
    elif d.state is DeliveryState.FAILED:
        item.update(
            GSI2PK=shard_key(FAILED, d.event_id, shards),
            GSI2SK=f"{seq(d.position)}#{d.order:06d}#{d.event_id}",
        )
    return item


def _delivery(item: Item) -> Delivery:
    return Delivery(
        event=MoneyEvent.from_json(item["event"]),
        position=int(item["position"]),
        order=int(item.get("order", 0)),
        state=DeliveryState(item["state"]),
        first_at=parse_required_ts(item["first_at"]),
        next_at=parse_required_ts(item["next_at"]),
        attempts=int(item["attempts"]),
        last_error=item.get("last_error", ""),
        done_at=parse_ts(item.get("done_at")),
    )
