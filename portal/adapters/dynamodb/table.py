"""The one DynamoDB table: its definition, and the few calls every part of the store uses.

Items go in and out as plain dicts of str, int, bool, list and dict: boto3's Decimal
stops here (see docs/dynamodb.md).
"""

import os
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from portal.ports import store_calls
from portal.ports.store import StoreError, StoreNotReady

INDEXES = ("GSI1", "GSI2", "GSI3")
TTL_ATTRIBUTE = "expires_at"
MAX_ATTEMPTS = 20

Item = dict[str, Any]


def table_definition(name: str) -> dict[str, Any]:
    """CreateTable arguments; infra/portal.yaml declares the same keys and indexes."""
    keys = ["PK", "SK"] + [f"{i}{part}" for i in INDEXES for part in ("PK", "SK")]
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": k, "AttributeType": "S"} for k in keys],
        "KeySchema": [
            {"AttributeName": "PK", "KeyType": "HASH"},
            {"AttributeName": "SK", "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": f"{index}PK", "KeyType": "HASH"},
                    {"AttributeName": f"{index}SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in INDEXES
        ],
    }


def plain(value: Any) -> Any:
    """boto3's Decimal to int (the table holds no fractions), recursively."""
    if isinstance(value, Decimal):
        return int(value)
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [plain(v) for v in value]
    return value


def ts(at: datetime) -> str:
    """UTC timestamps as fixed-width ISO text, so text order is time order."""
    if at.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def parse_ts(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def parse_required_ts(text: str) -> datetime:
    """A timestamp every item of its kind has (written by ts())."""
    return datetime.fromisoformat(text)


def parse_day(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


def month_of(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m")


def seq(number: int) -> str:
    return f"{number:012d}"


def epoch(at: datetime) -> int:
    return int(at.timestamp())


def key_condition(
    partition: str, value: str, sort: str | None = None, op: str = "", *bounds: str
) -> dict[str, Any]:
    """Query arguments for a key condition, as plain expression text and values.

    key_condition("PK", pk) is `PK = :pk`; with a sort key, op is "between" (two bounds),
    "begins_with" (one) or a comparison such as "<" (one). Plain text, so queries need
    neither boto3.dynamodb.conditions nor what it imports.
    """
    expression = f"{partition} = :pk"
    values = {":pk": value}
    if sort is not None:
        names = [f":sk{i}" for i in range(len(bounds))]
        values.update(zip(names, bounds, strict=True))
        if op == "between" and len(names) == 2:
            expression += f" AND {sort} BETWEEN {names[0]} AND {names[1]}"
        elif op == "begins_with" and len(names) == 1:
            expression += f" AND begins_with({sort}, {names[0]})"
        elif op in ("=", "<", "<=", ">", ">=") and len(names) == 1:
            expression += f" AND {sort} {op} {names[0]}"
        else:
            raise ValueError(f"unsupported sort key condition: {op} with {len(bounds)} values")
    return {"KeyConditionExpression": expression, "ExpressionAttributeValues": values}


class Table:
    """A boto3 Table resource with pagination, transactions and clear errors.

    boto3 is imported and the resource built on the first call, not at construction: a
    cold start that serves a page needing no data never pays for them, and a warm one
    reuses them.
    """

    def __init__(self, name: str, resource: Any = None):
        self.name = name
        self._resource = resource
        self._table: Any = None
        self._lock = threading.Lock()
        self._ready = False
        self._counted = False

    @property
    def resource(self) -> Any:
        if self._resource is None:
            with self._lock:
                if self._resource is None:
                    import boto3

                    self._resource = boto3.resource("dynamodb")
        if not self._counted:
            self._resource.meta.client.meta.events.register(
                "before-call.dynamodb", _count_call, unique_id="portal-store-calls"
            )
            self._counted = True
        return self._resource

    @property
    def client(self) -> Any:
        return self.resource.meta.client

    @property
    def table(self) -> Any:
        if self._table is None:
            self._table = self.resource.Table(self.name)
        return self._table

    # -- schema ------------------------------------------------------------------------

    def create_if_local(self) -> None:
        """Create the table on a local endpoint (moto); in AWS the stack owns it."""
        errors = self.client.exceptions
        try:
            self.client.describe_table(TableName=self.name)
        except errors.ResourceNotFoundException:
            if not os.environ.get("AWS_ENDPOINT_URL_DYNAMODB"):
                raise StoreNotReady(
                    f"DynamoDB table {self.name} does not exist: deploy infra/portal.yaml."
                ) from None
            self.client.create_table(**table_definition(self.name))
            self.client.get_waiter("table_exists").wait(TableName=self.name)
            self.client.update_time_to_live(
                TableName=self.name,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
            )
        self._ready = False

    def check_ready(self) -> None:
        if self._ready:
            return
        try:
            self.client.describe_table(TableName=self.name)
        except self.client.exceptions.ResourceNotFoundException:
            raise StoreNotReady(
                f"DynamoDB table {self.name} does not exist: run `portal migrate`."
            ) from None
        self._ready = True

    # -- reads -------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Item | None:
        found = self.table.get_item(Key={"PK": pk, "SK": sk}, ConsistentRead=True)
        item = found.get("Item")
        return plain(item) if item is not None else None

    def get_many(self, keys: list[tuple[str, str]]) -> list[Item]:
        """BatchGetItem in chunks of 100, retrying unprocessed keys."""
        found: list[Item] = []
        unique = list(dict.fromkeys(keys))
        for start in range(0, len(unique), 100):
            request = {
                self.name: {
                    "Keys": [{"PK": pk, "SK": sk} for pk, sk in unique[start : start + 100]],
                    "ConsistentRead": True,
                }
            }
            attempt = 0
            while request:
                answer = self.resource.batch_get_item(RequestItems=request)
                found += [plain(i) for i in answer["Responses"].get(self.name, [])]
                request = answer.get("UnprocessedKeys") or {}
                attempt = _pause(attempt) if request else attempt
        return found

    def query(self, **kwargs: Any) -> Iterator[Item]:
        """Every item a Query matches, following LastEvaluatedKey page after page.

        Queries go through the low-level client, not the Table resource: the sharded reads
        run on several threads at once (shards.fan_out), and boto3's clients are
        thread-safe where its resources are not. The client is the resource's own, so it
        takes and gives plain values just the same (boto3's DynamoDB handlers; their one
        shared piece, the builder of boto3.dynamodb.conditions objects, is never used)."""
        if "IndexName" not in kwargs:
            kwargs.setdefault("ConsistentRead", True)
        kwargs["TableName"] = self.name
        while True:
            page = self.client.query(**kwargs)
            for item in page.get("Items", []):
                yield plain(item)
            last = page.get("LastEvaluatedKey")
            if not last:
                return
            kwargs["ExclusiveStartKey"] = last

    def count(self, **kwargs: Any) -> int:
        kwargs.setdefault("ConsistentRead", True)
        kwargs["Select"] = "COUNT"
        kwargs["TableName"] = self.name
        total = 0
        while True:
            page = self.client.query(**kwargs)
            total += page["Count"]
            last = page.get("LastEvaluatedKey")
            if not last:
                return total
            kwargs["ExclusiveStartKey"] = last

    # -- writes ------------------------------------------------------------------------

    def put(self, item: Item, condition: str | None = None, **kwargs: Any) -> bool:
        """PutItem; False when the condition does not hold."""
        args: dict[str, Any] = {"Item": item, **kwargs}
        if condition:
            args["ConditionExpression"] = condition
        try:
            self.table.put_item(**args)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def query_days(self, index: str, prefix: str, since: date, until: date) -> list[Item]:
        """The items of a by-month index (`<index>PK` `<prefix>#YYYY-MM`, `<index>SK`
        starting with the day) whose day is from `since` to `until`."""
        found: list[Item] = []
        month = since.replace(day=1)
        while month <= until:
            found += self.query(
                IndexName=index,
                **key_condition(
                    f"{index}PK",
                    f"{prefix}#{month:%Y-%m}",
                    f"{index}SK",
                    "between",
                    since.isoformat(),
                    f"{until.isoformat()}$",
                ),
            )
            month = (month + timedelta(days=32)).replace(day=1)
        return found

    def put_at_version(self, item: Item, read: int) -> bool:
        """PutItem of a record's next version (`item` holds it); False when the stored
        record is no longer at version `read` (another writer saved it first)."""
        return self.put(
            item,
            "#version = :read",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":read": read},
        )

    def update(self, pk: str, sk: str, expression: str, **kwargs: Any) -> Item | None:
        """UpdateItem returning the new item; None when its condition does not hold."""
        try:
            answer = self.table.update_item(
                Key={"PK": pk, "SK": sk},
                UpdateExpression=expression,
                ReturnValues="ALL_NEW",
                **kwargs,
            )
        except self.client.exceptions.ConditionalCheckFailedException:
            return None
        return plain(answer.get("Attributes"))

    def delete(self, pk: str, sk: str, condition: str | None = None, **kwargs: Any) -> bool:
        args: dict[str, Any] = {"Key": {"PK": pk, "SK": sk}, **kwargs}
        if condition:
            args["ConditionExpression"] = condition
        try:
            self.table.delete_item(**args)
        except self.client.exceptions.ConditionalCheckFailedException:
            return False
        return True

    def delete_many(self, keys: list[tuple[str, str]]) -> None:
        with self.table.batch_writer() as batch:
            for pk, sk in dict.fromkeys(keys):
                batch.delete_item(Key={"PK": pk, "SK": sk})

    def next_number(self, counter: str) -> int:
        """The next number of a counter (audit entries, notes, escalations)."""
        item = self.update(
            "COUNTER",
            counter,
            "ADD #value :one",
            ExpressionAttributeNames={"#value": "value"},
            ExpressionAttributeValues={":one": 1},
        )
        assert item is not None
        return item["value"]

    def transact(self, actions: list[Item]) -> list[str] | None:
        """TransactWriteItems ({"Put": {...}}, {"Update": {...}}, ... with plain values).

        Returns None when it committed, or the cancellation codes, one per action
        ("None", "ConditionalCheckFailed", ...), when a condition failed. Conflicts with
        another transaction are retried here.
        """
        if len(actions) > 100:
            raise StoreError("a transaction holds at most 100 items")
        # The resource's client serializes plain values itself (boto3 registers that).
        low = []
        for action in actions:
            ((op, body),) = action.items()
            low.append({op: {"TableName": self.name, **body}})
        attempt = 0
        while True:
            try:
                self.client.transact_write_items(TransactItems=low)
                return None
            except self.client.exceptions.TransactionCanceledException as exc:
                codes = [r.get("Code", "None") for r in exc.response.get("CancellationReasons", [])]
                if "TransactionConflict" in codes or not codes:
                    attempt = _pause(attempt)
                    continue
                unexpected = set(codes) - {"None", "ConditionalCheckFailed"}
                if unexpected:
                    raise StoreError(f"DynamoDB refused the transaction: {exc}") from exc
                return codes
            except self.client.exceptions.TransactionConflictException:
                attempt = _pause(attempt)


def _count_call(**kwargs: Any) -> None:
    store_calls.count()


def _pause(attempt: int) -> int:
    if attempt + 1 >= MAX_ATTEMPTS:
        raise StoreError("DynamoDB kept refusing the write (too much contention); try again")
    time.sleep(random.uniform(0, min(0.5, 0.01 * 2**attempt)))
    return attempt + 1
