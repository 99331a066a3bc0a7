"""The DynamoDB numbering of money events, on its own: a read stops before a number it
cannot see yet (so a cursor never passes it), and readers numbering at once never give a
number twice nor number a queued item twice; and the webhook deliveries made of a page of
them."""

import dataclasses
import uuid
from datetime import timedelta

import pytest

from portal.adapters.dynamodb.deliveries import _item
from portal.adapters.dynamodb.money_events import COUNTER_KEY, EVENTS_PK, QUEUE_PK, queue_put
from portal.adapters.dynamodb.shards import shard_key, shard_keys
from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.dynamodb.table import key_condition, seq
from portal.domain.money_events import MoneyEvent, new_event_id
from portal.domain.outbound import new_delivery
from portal.ports.money_events import EventPage
from tests.conftest import NOW
from tests.contract.test_store_contract import run_together


@pytest.fixture
def table(request, moto_endpoint) -> DynamoDbStore:
    store = DynamoDbStore(f"events-{uuid.uuid4().hex[:12]}")
    store.migrate()
    request.addfinalizer(lambda: store.db.client.delete_table(TableName=store.db.name))
    return store


def event(cents: int) -> MoneyEvent:
    return MoneyEvent(new_event_id(), "payment", "100234", "S-1", -cents, "card", "pi_x", NOW)


def numbered(store: DynamoDbStore, number: int, cents: int) -> None:
    store.db.put({"PK": EVENTS_PK, "SK": seq(number), "events": [event(cents).to_json()]})


def test_a_read_stops_before_a_number_it_cannot_see(table: DynamoDbStore):
    numbered(table, 2, 200)  # number 1 was given, its item is not visible yet
    table.db.put({"PK": COUNTER_KEY[0], "SK": COUNTER_KEY[1], "value": 2})

    early = table.money_events(0, 10)
    numbered(table, 1, 100)
    later = table.money_events(early.position, 10)

    assert (early.events, early.position) == ((), 0)
    assert [e.amount_cents for e in later.events] == [-100, -200]
    assert later.position == 2


def test_readers_numbering_at_once_give_each_number_once(table: DynamoDbStore):
    for n in range(60):
        (put,) = queue_put([event(n + 1)], n)
        table.db.put(put["Put"]["Item"])
    others = [DynamoDbStore(table.db.name) for _ in range(3)]

    counts = run_together([o.number_events for o in others])

    items = list(
        table.db.query(
            KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": EVENTS_PK}
        )
    )
    assert sum(counts) == 60  # type: ignore[arg-type]
    assert [int(i["SK"]) for i in items] == list(range(1, 61))
    amounts = sorted(-e["amount_cents"] for i in items for e in i["events"])
    assert amounts == list(range(1, 61))
    assert (
        list(
            table.db.query(
                KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": QUEUE_PK}
            )
        )
        == []
    )
    assert table.db.get(*COUNTER_KEY)["value"] == 60


def test_a_sharded_queue_is_numbered_whole_once_each_oldest_first_by_account_version(
    moto_endpoint, request
):
    """Twelve accounts' changes queued over 4 shards (`MONEYQ`, `MONEYQ#1` ...), each
    account's in the order of its versions though two were written with a clock behind;
    three readers numbering at once number every item once, densely, and each account's
    changes in the order of its versions."""
    store = DynamoDbStore(f"events-{uuid.uuid4().hex[:12]}", shards=4)
    store.migrate()
    request.addfinalizer(lambda: store.db.client.delete_table(TableName=store.db.name))
    accounts = [f"{300000 + n}" for n in range(12)]
    written = 0
    for version in range(1, 6):
        for account in accounts:
            one = dataclasses.replace(event(written + 1), account_number=account)
            (put,) = queue_put([one], version, shards=4)
            item = put["Put"]["Item"]
            if account == accounts[0] and version == 3:  # a writer whose clock is behind
                item["SK"] = f"{int(item['SK'][:20]) - 10**10:020d}{item['SK'][20:]}"
            store.db.put(item)
            written += 1
    assert {shard_key(QUEUE_PK, a, 4) for a in accounts} == set(shard_keys(QUEUE_PK, 4))
    others = [DynamoDbStore(store.db.name, shards=4) for _ in range(3)]

    counts = run_together([o.number_events for o in others])

    items = list(store.db.query(**key_condition("PK", EVENTS_PK)))
    assert sum(counts) == written  # type: ignore[arg-type]
    assert [int(i["SK"]) for i in items] == list(range(1, written + 1))
    numbered = [e for i in items for e in i["events"]]
    assert sorted(-e["amount_cents"] for e in numbered) == list(range(1, written + 1))
    for account in accounts:
        mine = [-e["amount_cents"] for e in numbered if e["account_number"] == account]
        assert mine == sorted(mine), f"{account}'s changes out of version order: {mine}"
    for key in shard_keys(QUEUE_PK, 4):
        assert list(store.db.query(**key_condition("PK", key))) == []
    page = store.money_events(0, written)
    assert (len(page.events), page.position) == (written, written)


def test_deliveries_of_a_page_are_added_in_one_transaction_or_one_by_one_when_some_are_there(
    table: DynamoDbStore,
):
    """A page's deliveries and the position move in one TransactWriteItems; when a run of
    the older code stopped half way (one delivery there, the position not moved), the rest
    are added one by one, the one there is left as it was, and the position moves once."""
    events = [event(n) for n in (1, 2, 3)]
    calls: list[str] = []
    table.db.client.meta.events.register(
        "before-call.dynamodb", lambda model, **kwargs: calls.append(model.name)
    )
    first = EventPage(tuple(events[:2]), 2)
    assert table.add_deliveries(0, first, NOW)
    assert calls == ["TransactWriteItems"]
    assert table.add_deliveries(0, first, NOW) is False  # the position moved: nothing added

    there = new_delivery(events[2], 3, NOW - timedelta(hours=1))
    table.db.put(_item(there, table.shards))
    calls.clear()
    assert table.add_deliveries(2, EventPage((events[2], event(4)), 3), NOW)
    assert calls[0] == "TransactWriteItems" and calls[-1] == "UpdateItem"
    assert table.get_delivery(events[2].event_id).first_at == NOW - timedelta(hours=1)
    assert table.webhook_position() == 3
    assert len(table.due_deliveries(NOW, 10)) == 4
