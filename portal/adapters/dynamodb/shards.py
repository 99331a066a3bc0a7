"""The shared items spread over N partition keys (PORTAL_DYNAMODB_SHARDS; docs/dynamodb.md,
"Hot keys"): the receivables index, the staff queue and every escalation, the audit index
and the month totals. An item's shard is a hash of its own key (an account number, an
audit entry's id), so each writer touches one shard and readers read every shard and merge.

Shard 0 is the key as it was before sharding (`RECEIVABLE`, then `RECEIVABLE#1` ...), so a
table written unsharded reads the same with any count, and raising the count later only
adds shards that readers then read too. Lowering it hides the items of the dropped shards
from readers until they are rewritten (docs/dynamodb.md says how to lower it).

The shards are read at once, each on a thread of a pool that ends with the read: nothing
outlives the request. Each thread runs in a copy of the caller's context, so its store
calls count into the caller's tally (portal/ports/store_calls.py), and queries through
boto3's low-level client (Table.query), which is thread-safe; its resources are not."""

import contextvars
import heapq
import zlib
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")

RECEIVABLE = "RECEIVABLE"  # GSI2PK of every account item, by account
TOTALS = "LEDGER_TOTALS"  # PK of the month totals, by the account whose entries they add
QUEUE = "QUEUE"  # GSI2PK of an open escalation, by account
ESCALATIONS = "ESCALATIONS"  # GSI3PK of every escalation, by account
AUDIT = "AUDIT"  # GSI2PK of every audit entry, by its id

MAX_SHARDS = 64
PARALLEL_READS = 8  # threads a fanned-out read uses at most


def shard_key(base: str, key: str, shards: int) -> str:
    """The partition key of the item whose own key is `key`."""
    number = zlib.crc32(key.encode()) % shards if shards > 1 else 0
    return base if number == 0 else f"{base}#{number}"


def shard_keys(base: str, shards: int) -> list[str]:
    return [base] + [f"{base}#{number}" for number in range(1, shards)]


def fan_out(read: Callable[[str], Iterable[T]], keys: list[str]) -> list[list[T]]:
    """`read` of each key, all at once; the results in the order of `keys`."""
    if len(keys) == 1:
        return [list(read(keys[0]))]

    def whole(key: str) -> list[T]:
        return list(read(key))

    with ThreadPoolExecutor(max_workers=min(len(keys), PARALLEL_READS)) as pool:
        futures = [pool.submit(contextvars.copy_context().run, whole, key) for key in keys]
        return [future.result() for future in futures]


def merged(parts: list[list[Any]], sort_key: str, newest_first: bool = False) -> list[Any]:
    """Items of every shard in one order, each shard's items already in that order."""
    if len(parts) == 1:
        return parts[0]
    return list(heapq.merge(*parts, key=lambda item: item[sort_key], reverse=newest_first))
