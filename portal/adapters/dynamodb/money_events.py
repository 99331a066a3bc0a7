"""The DynamoDB store's money events.

A money change's transaction puts its events, as one item, in a queue partition (no
number yet: numbering there would make every account's writes race for one counter). The
queue is sharded by account over PORTAL_DYNAMODB_SHARDS keys (`MONEYQ`, `MONEYQ#1` ...), so
it holds money changes to no partition's limit (docs/dynamodb.md, "Hot keys"). A reader
numbers what is queued before it reads: it reads the oldest of every shard at once, and one
transaction moves the oldest queued items to the events partition under the next numbers of
a counter, on condition the counter is still what it read and each queued item is still
there, so two numbering at once never give a number twice or an item two numbers. Numbers
are dense (each one is used), so a reader that sees a gap (an item of a transaction not yet
visible to its query) stops before it: an event is never numbered below a position a
reader has already passed. The events partition and the counter stay one each: the order
of the feed is theirs (their cap is in docs/dynamodb.md)."""

import time
from collections.abc import Iterable
from itertools import islice

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.shards import fan_out, merged, shard_key, shard_keys
from portal.adapters.dynamodb.table import Item, key_condition, seq
from portal.domain.money_events import MoneyEvent
from portal.ports.money_events import EventPage

QUEUE_PK = "MONEYQ"
EVENTS_PK = "MONEYEVENTS"
COUNTER_KEY = ("COUNTER", "money_events")
BATCH = 40  # queued items numbered per transaction (the counter and two writes each)
ROUNDS = 25  # numbering transactions per read, at most


class DynamoDbMoneyEvents(DynamoDbTable):
    """The MoneyEvents port on DynamoDB."""

    def money_events(self, after: int, limit: int) -> EventPage:
        self.number_events()
        events: list[MoneyEvent] = []
        position = after
        found = self.db.query(
            Limit=max(1, min(limit, 100)), **key_condition("PK", EVENTS_PK, "SK", ">", seq(after))
        )
        for item in found:
            number = int(item["SK"])
            if number != position + 1:
                break  # not visible yet: the next read finds it
            batch = [MoneyEvent.from_json(e) for e in item["events"]]
            if events and len(events) + len(batch) > limit:
                break
            events += batch
            position = number
            if len(events) >= limit:
                break
        return EventPage(tuple(events), position)

    def number_events(self) -> int:
        """Number what is queued, oldest first; how many queued items were numbered."""

        def shard(key: str) -> Iterable[Item]:
            return islice(self.db.query(Limit=BATCH, **key_condition("PK", key)), BATCH)

        numbered = 0
        for _ in range(ROUNDS):
            oldest = merged(fan_out(shard, shard_keys(QUEUE_PK, self.shards)), "SK")[:BATCH]
            if not oldest:
                break
            queued = _by_account_version(oldest)
            counter = self.db.get(*COUNTER_KEY)
            last = int(counter["value"]) if counter else 0
            actions: list[Item] = [_counter_update(last, last + len(queued))]
            for number, item in enumerate(queued, start=last + 1):
                actions.append(
                    {
                        "Put": {
                            "Item": {"PK": EVENTS_PK, "SK": seq(number), "events": item["events"]},
                            "ConditionExpression": "attribute_not_exists(PK)",
                        }
                    }
                )
                actions.append(
                    {
                        "Delete": {
                            "Key": {"PK": item["PK"], "SK": item["SK"]},
                            "ConditionExpression": "attribute_exists(PK)",
                        }
                    }
                )
            if self.db.transact(actions) is None:
                numbered += len(queued)
        return numbered


def _by_account_version(items: list[Item]) -> list[Item]:
    slots: dict[str, list[int]] = {}
    for index, item in enumerate(items):
        slots.setdefault(item["account_number"], []).append(index)
    ordered = list(items)
    for indexes in slots.values():
        mine = sorted((items[i] for i in indexes), key=lambda i: int(i["version"]))
        for index, item in zip(indexes, mine, strict=True):
            ordered[index] = item
    return ordered


def _counter_update(last: int, new: int) -> Item:
    pk, sk = COUNTER_KEY
    condition = "#value = :last" if last else "attribute_not_exists(PK)"
    values = {":new": new, **({":last": last} if last else {})}
    return {
        "Update": {
            "Key": {"PK": pk, "SK": sk},
            "UpdateExpression": "SET #value = :new",
            "ConditionExpression": condition,
            "ExpressionAttributeNames": {"#value": "value"},
            "ExpressionAttributeValues": values,
        }
    }


def queue_put(events: list[MoneyEvent], version: int, shards: int = 1) -> list[Item]:
    """The transaction write that queues a change's events (none when it has none), on the
    account's shard, keyed by the time of the write; `version`: the account's version the
    change is committed on."""
    if not events:
        return []
    item = {
        "PK": shard_key(QUEUE_PK, events[0].account_number, shards),
        "SK": f"{time.time_ns():020d}#{events[0].event_id}",
        "account_number": events[0].account_number,
        "version": version,
        "events": [e.to_json() for e in events],
    }
    return [{"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}}]
