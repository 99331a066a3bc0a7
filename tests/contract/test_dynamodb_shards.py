"""The shared DynamoDB items sharded over PORTAL_DYNAMODB_SHARDS keys (docs/dynamodb.md,
"Hot keys"), on moto's server: the writes spread over the shards, every read answers as the
unsharded table does (the same items, the same order), a table written before sharding (or
with fewer shards) reads whole after the count is raised, and the fanned-out reads count
their calls into the request's tally and leave no thread behind. The reads go through the
thread-safe low-level client, never the Table resource, and many at once answer alike."""

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import pytest

from portal.adapters.dynamodb.shards import shard_key, shard_keys
from portal.adapters.dynamodb.store import DynamoDbStore
from portal.domain.accounts import Account, Guarantor
from portal.domain.staff import AuditAction, AuditEntry, Escalation, EscalationKind
from portal.domain.statements import Statement
from portal.ports import store_calls
from tests.conftest import NOW, line

NUMBERS = [f"{800000 + n}" for n in range(24)]
TODAY = date(2026, 11, 28)


@pytest.fixture
def table(moto_endpoint):
    name = f"shards-{uuid.uuid4().hex[:12]}"
    store = DynamoDbStore(name)
    store.migrate()
    yield name
    store.db.client.delete_table(TableName=name)


def write(store: DynamoDbStore, numbers: list[str]) -> None:
    """An account with a statement (past due by its position), an audit entry and an open
    escalation for each number."""
    for number in numbers:
        n = NUMBERS.index(number)
        due = TODAY - timedelta(days=n)
        account = Account(number, Guarantor("Sam", f"Shard{number}", date(1970, 1, 1)))
        statement = Statement(
            f"S-{number}", number, due - timedelta(days=30), due, (line("1", owed=1000 + n),)
        )
        store.import_statement(account, statement, NOW - timedelta(days=40, minutes=n))
        at = NOW - timedelta(minutes=len(NUMBERS) - n)
        store.append_audit(AuditEntry(at, "clerk", AuditAction.VIEW_ACCOUNT, number))
        store.open_escalation(
            Escalation(f"reminder:{number}", number, EscalationKind.REMINDER, "late", at, "system")
        )


def reads(store: DynamoDbStore) -> dict:
    """What every reader of a sharded item answers."""
    since, until = NOW - timedelta(days=90), NOW + timedelta(days=1)
    return {
        "due": [(d.account_number, d.statement_id, d.due_cents) for d in store.accounts_due(TODAY)],
        "open": store.open_balances(NOW),
        "totals": store.ledger_totals(since, until),
        "receivable": store.receivable_at(NOW),
        "audit": [(e.account_number, e.at) for e in store.audit_entries(limit=10)],
        "audit all": [e.account_number for e in store.audit_entries(limit=1000)],
        "queue": [e.account_number for e in store.escalations()],
        "every escalation": [e.account_number for e in store.escalations(open_only=False)],
    }


def test_writes_spread_over_the_shards_and_reads_answer_as_unsharded(moto_endpoint):
    stores = {}
    for shards in (1, 4):
        name = f"shards-{shards}-{uuid.uuid4().hex[:8]}"
        stores[shards] = DynamoDbStore(name, shards=shards)
        stores[shards].migrate()
        write(stores[shards], NUMBERS)
    try:
        sharded = stores[4]
        receivable = Counter(sharded.db.get(f"ACCOUNT#{n}", "ACCOUNT")["GSI2PK"] for n in NUMBERS)
        assert set(receivable) == set(shard_keys("RECEIVABLE", 4))
        assert all(receivable[k] >= 2 for k in receivable), receivable
        totals = [k for k in shard_keys("LEDGER_TOTALS", 4) if list(sharded.db.query(
            KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": k}
        ))]  # fmt: skip
        assert len(totals) == 4

        assert reads(sharded) == reads(stores[1])
        answered = reads(sharded)
        assert len(answered["due"]) == len(NUMBERS)
        assert answered["audit"] == sorted(answered["audit"], key=lambda e: e[1], reverse=True)
        assert answered["audit all"] == list(reversed(NUMBERS))
        assert answered["queue"] == NUMBERS  # oldest first
    finally:
        for store in stores.values():
            store.db.client.delete_table(TableName=store.db.name)


def test_shard_zero_is_the_unsharded_key():
    assert shard_keys("AUDIT", 1) == ["AUDIT"]
    assert shard_keys("AUDIT", 3) == ["AUDIT", "AUDIT#1", "AUDIT#2"]
    assert {shard_key("RECEIVABLE", n, 1) for n in NUMBERS} == {"RECEIVABLE"}
    assert {shard_key("RECEIVABLE", n, 8) for n in NUMBERS} <= set(shard_keys("RECEIVABLE", 8))
    with pytest.raises(ValueError, match="1 to 64"):
        DynamoDbStore("any", shards=0)


@pytest.mark.parametrize(("before", "after"), [(1, 4), (4, 8), (1, 8)])
def test_a_table_written_with_fewer_shards_reads_whole_after_raising_the_count(
    table, before, after
):
    old, new = NUMBERS[:12], NUMBERS[12:]
    write(DynamoDbStore(table, shards=before), old)
    raised = DynamoDbStore(table, shards=after)
    assert reads(raised) == reads(DynamoDbStore(table, shards=before))

    write(raised, new)  # new items on the new shards, the old ones where they were
    answered = reads(raised)
    assert [d[0] for d in answered["due"]] == list(reversed(NUMBERS))  # oldest due first
    assert answered["queue"] == NUMBERS and answered["audit all"] == list(reversed(NUMBERS))
    assert sum(answered["totals"].values()) == sum(1000 + n for n in range(len(NUMBERS)))
    # An old account's item keeps its key until its next change (then it moves to its
    # new shard): read once either way.
    kept = raised.db.get(f"ACCOUNT#{old[5]}", "ACCOUNT")
    assert kept["GSI2PK"] == shard_key("RECEIVABLE", old[5], before)


def test_a_fanned_out_read_counts_its_calls_and_leaves_no_thread(table):
    store = DynamoDbStore(table, shards=8)
    write(store, NUMBERS[:4])
    store_calls.begin()
    store.accounts_due(TODAY)
    assert store_calls.current() == 8  # one query a shard, each counted from its thread
    # (moto's server in this process has threads of its own: the pool's are named so.)
    assert not [t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor")]


class _NoResource:
    """A Table resource that fails any use: boto3's resources are not thread-safe."""

    def __getattr__(self, name):
        raise AssertionError(f"a read used the Table resource ({name})")


def test_fanned_out_reads_use_the_client_not_the_resource_and_agree_when_run_at_once(table):
    store = DynamoDbStore(table, shards=8)
    write(store, NUMBERS)
    alone = reads(store)
    store.db._table = _NoResource()
    assert reads(store) == alone
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: reads(store), range(6)))
    assert all(answer == alone for answer in answers)
