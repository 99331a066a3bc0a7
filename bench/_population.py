"""What the benchmarks share: their stores, their accounts, and loading DynamoDB in bulk.

- `bench_folder()`: a temporary folder and moto's server on 127.0.0.1 (tests/aws.py), boto3
  pointed at it; `store_env()` and `build_store()` build a store in them the way the tests
  do (Settings.from_env, build_services at a fixed clock, store.migrate).
- `one_statement_account()`: an account (one guarantor, who is also the one patient) with a
  one-line statement owing a given amount.
- `MemoryStore` and `bulk_write()`: moto slows down as its table grows (every Query and
  TransactWriteItems walks the whole table), so a large population is not written through
  the store. `MemoryStore` is DynamoDbStore itself over a table kept in memory: its own
  import_statement, create_payment and post_payment compute every item (receivable fields,
  GSI keys, ledger month totals) as they would for the real table, and `bulk_write()`
  copies those items into it with BatchWriteItem (the month totals with one ADD each).
- `ApiCounter` (DynamoDB calls botocore makes, and the time inside them) and `percentile`.
"""

import copy
import logging
import math
import re
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.dynamodb.table import Item, Table
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import LineItem, Statement
from portal.ports.mail import OutgoingMessage
from portal.services.context import Services

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 11, 28)
SECRET = "bench-secret-key-0123456789abcdef"
LABELS = {"sqlite": "SQLite", "dynamodb": "DynamoDB"}


# -- stores --------------------------------------------------------------------------------


@contextmanager
def bench_folder() -> Iterator[Path]:
    """A temporary folder, and moto's server running with boto3 pointed at it."""
    sys.path.insert(0, str(ROOT))  # tests/ is not installed; its moto helper is reused
    try:
        from tests.aws import aws_environment, environment, moto_server
    except ImportError as exc:
        sys.exit(f"{exc}: moto is a dev dependency; run `make install-dev` first")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request
    logging.getLogger("portal").setLevel(logging.WARNING)
    with (
        tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp,
        moto_server() as endpoint,
        environment(aws_environment(endpoint)),
    ):
        yield Path(tmp)


def store_env(folder: Path, store: str, **extra: str) -> dict[str, str]:
    """The portal's environment for a store in `folder`: a SQLite file, or a fresh DynamoDB
    table; mail to the outbox folder outbox-<store>."""
    env = {
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_BASE_URL": "http://portal.test",
        "PORTAL_OUTBOX_DIR": str(folder / f"outbox-{store}"),
    }
    if store == "sqlite":
        env["PORTAL_SQLITE_PATH"] = str(folder / "portal.sqlite3")
    else:
        env["PORTAL_STORE"] = "dynamodb"
        env["PORTAL_DYNAMODB_TABLE"] = f"bench-{uuid.uuid4().hex[:12]}"
    return {**env, **extra}


def build_store(env: dict[str, str]) -> Services:
    """The services of `env` at the fixed clock (NOW), the store migrated."""
    services = build_services(Settings.from_env(env), clock=FixedClock(NOW))
    services.store.migrate()
    return services


# -- accounts ------------------------------------------------------------------------------


def one_statement_account(
    number: str,
    *,
    last_name: str,
    email: str,
    statement_id: str,
    statement_date: date,
    due_date: date,
    service_date: date,
    owed_cents: int,
) -> tuple[Account, Statement]:
    """Dana <last_name>, guarantor and only patient, and a statement of one office visit
    of which the patient owes `owed_cents` (insurance paid $120.00, adjusted $35.00)."""
    born = date(1980, 4, 1)
    guarantor = Guarantor("Dana", last_name, born, email=email)
    line = LineItem(
        line_id="1",
        patient_id="P1",
        service_date=service_date,
        provider="Dr. Chen",
        code_system="CPT",
        code="99213",
        description="Office visit, established patient",
        diagnosis_codes=("J06.9",),
        charge_cents=owed_cents + 15500,
        insurance_paid_cents=12000,
        adjustment_cents=3500,
        patient_responsibility_cents=owed_cents,
    )
    st = Statement(statement_id, number, statement_date, due_date, (line,))
    return Account(number, guarantor, (Patient("P1", "Dana", last_name, born),)), st


# -- DynamoDB in bulk ----------------------------------------------------------------------

_CONDITION = re.compile(r"attribute_(not_)?exists\((\w+)\)|(#?\w+) = (:\w+)")
_ACTIONS = ("SET", "ADD", "REMOVE", "DELETE")


class MemoryTable:
    """Stands in for DynamoDbStore.db (portal/adapters/dynamodb/table.Table): items kept in
    memory, with what the store's writes use of the real table. get, get_many; query on the
    partition key (no index); update and transact (Put, Update with one SET or ADD clause, Delete,
    ConditionCheck), each condition clauses joined by AND of attribute_exists(a),
    attribute_not_exists(a) or a = :v, checked first, and nothing written unless every one holds."""

    name = "memory"

    def __init__(self) -> None:
        self._partitions: dict[str, dict[str, Item]] = {}

    def items(self) -> list[Item]:
        return [item for part in self._partitions.values() for item in part.values()]

    def _item(self, key: Item) -> Item | None:
        return self._partitions.get(key["PK"], {}).get(key["SK"])

    def get(self, pk: str, sk: str) -> Item | None:
        return copy.deepcopy(self._item({"PK": pk, "SK": sk}))

    def get_many(self, keys: list[tuple[str, str]]) -> list[Item]:
        found = (self._item({"PK": pk, "SK": sk}) for pk, sk in dict.fromkeys(keys))
        return [copy.deepcopy(item) for item in found if item is not None]

    def query(self, **kwargs: Any) -> Iterator[Item]:
        condition = kwargs.pop("KeyConditionExpression")
        values = kwargs.pop("ExpressionAttributeValues")
        if condition != "PK = :pk" or kwargs:
            raise NotImplementedError(f"MemoryTable queries a partition only, not {condition}")
        part = self._partitions.get(values[":pk"], {})
        return iter([copy.deepcopy(part[sk]) for sk in sorted(part)])

    def update(self, pk: str, sk: str, expression: str, **kwargs: Any) -> Item | None:
        codes = self.transact(
            [{"Update": {"Key": {"PK": pk, "SK": sk}, "UpdateExpression": expression, **kwargs}}]
        )
        return None if codes else self.get(pk, sk)

    def transact(self, actions: list[Item]) -> list[str] | None:
        codes = []
        for action in actions:
            ((_, body),) = action.items()
            key = body.get("Key") or body["Item"]
            holds = _holds(self._item(key), body)
            codes.append("None" if holds else "ConditionalCheckFailed")
        if "ConditionalCheckFailed" in codes:
            return codes
        for action in actions:
            ((op, body),) = action.items()
            if op == "Put":
                item = copy.deepcopy(body["Item"])
                self._partitions.setdefault(item["PK"], {})[item["SK"]] = item
            elif op == "Update":
                key = body["Key"]
                part = self._partitions.setdefault(key["PK"], {})
                item = part.setdefault(key["SK"], {"PK": key["PK"], "SK": key["SK"]})
                _apply(item, body)
            elif op == "Delete":
                self._partitions.get(body["Key"]["PK"], {}).pop(body["Key"]["SK"], None)
            elif op != "ConditionCheck":
                raise NotImplementedError(op)
        return None


def _holds(item: Item | None, body: Item) -> bool:
    condition = body.get("ConditionExpression")
    if not condition:
        return True
    return all(_clause_holds(item, body, clause) for clause in condition.split(" AND "))


def _clause_holds(item: Item | None, body: Item, clause: str) -> bool:
    match = _CONDITION.fullmatch(clause.strip())
    if match is None:
        raise NotImplementedError(f"MemoryTable cannot check {clause!r}")
    negated, attribute, name, value = match.groups()
    if attribute:
        exists = item is not None and attribute in item
        return not exists if negated else exists
    name = body.get("ExpressionAttributeNames", {}).get(name, name)
    return item is not None and item.get(name) == body["ExpressionAttributeValues"][value]


def _apply(item: Item, body: Item) -> None:
    """One `SET a = :x, #b = :y` or `ADD #k0 :v0, ...` clause, onto the item."""
    action, _, rest = body["UpdateExpression"].strip().partition(" ")
    if action not in ("SET", "ADD") or set(rest.split()) & set(_ACTIONS):
        raise NotImplementedError(f"MemoryTable cannot apply {body['UpdateExpression']!r}")
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    for clause in rest.split(","):
        words = clause.split()
        name, value = names.get(words[0], words[0]), values[words[-1]]
        item[name] = value if action == "SET" else item.get(name, 0) + value


class MemoryStore(DynamoDbStore):
    """DynamoDbStore's own code over a MemoryTable: the items it would write, unsent."""

    def __init__(self, shards: int = 1) -> None:
        self.db = MemoryTable()
        self.shards = shards


@dataclass(frozen=True)
class BulkWrite:
    puts: int  # items written with BatchWriteItem
    batch_calls: int  # BatchWriteItem calls
    month_totals: int  # LEDGER_TOTALS month items, added to with one UpdateItem each
    seconds: float


def bulk_write(table: Table, items: Iterable[Item]) -> BulkWrite:
    """The items into the table with BatchWriteItem; the LEDGER_TOTALS month items are added
    to what the table holds (ADD, as the store's transactions add to them)."""
    calls: Counter[str] = Counter()

    def count(model: Any, **kwargs: Any) -> None:
        calls[model.name] += 1

    started = time.perf_counter()
    puts = 0
    totals: list[Item] = []
    table.client.meta.events.register("before-call.dynamodb", count)
    try:
        with table.table.batch_writer() as batch:
            for item in items:
                if item["PK"].startswith("LEDGER_TOTALS"):
                    totals.append(item)
                else:
                    batch.put_item(Item=item)
                    puts += 1
        for item in totals:
            kinds = {k: v for k, v in item.items() if k not in ("PK", "SK")}
            table.update(
                item["PK"],
                item["SK"],
                "ADD " + ", ".join(f"#k{i} :v{i}" for i in range(len(kinds))),
                ExpressionAttributeNames={f"#k{i}": k for i, k in enumerate(kinds)},
                ExpressionAttributeValues={f":v{i}": v for i, v in enumerate(kinds.values())},
            )
    finally:
        table.client.meta.events.unregister("before-call.dynamodb", count)
    return BulkWrite(
        puts=puts,
        batch_calls=calls["BatchWriteItem"],
        month_totals=len(totals),
        seconds=time.perf_counter() - started,
    )


# -- measuring -----------------------------------------------------------------------------


class ApiCounter:
    """Every DynamoDB call botocore makes, and the time spent inside each kind."""

    def __init__(self, client: Any):
        self.calls: Counter[str] = Counter()
        self.inside: Counter[str] = Counter()  # nanoseconds by operation
        self._start = 0
        client.meta.events.register("before-call.dynamodb", self._before)
        client.meta.events.register("after-call.dynamodb", self._after)

    def reset(self) -> None:
        """Start counting afresh (the counters given out so far keep their values)."""
        self.calls = Counter()
        self.inside = Counter()

    def _before(self, model: Any, **kwargs: Any) -> None:
        self.calls[model.name] += 1
        self._start = time.perf_counter_ns()

    def _after(self, model: Any, **kwargs: Any) -> None:
        self.inside[model.name] += time.perf_counter_ns() - self._start


def percentile(values: list, p: float):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


class CountingMailer:
    """A Mailer that sends nothing and counts what it was given, by kind; given the
    sender, it keeps each message's size as it would be sent too (building its bytes)."""

    def __init__(self, sender: str | None = None):
        self.sent: Counter[str] = Counter()
        self.sender = sender
        self.sizes: list[int] = []

    def send(self, message: OutgoingMessage) -> str:
        self.sent[message.kind] += 1
        if self.sender is not None:
            self.sizes.append(len(message.to_bytes(self.sender)))
        return f"counted-{sum(self.sent.values())}"


class CountingStore:
    """The store, with every method call counted by name."""

    def __init__(self, inner: Any):
        self._inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._inner, name)
        if not callable(value):
            return value

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return value(*args, **kwargs)

        return counted
