"""The DynamoDB store's reports port: the practice's figures: aging, ledger totals,
receivable."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.items import entry_from, pending_entries
from portal.adapters.dynamodb.records import PENDING, _months
from portal.adapters.dynamodb.shards import RECEIVABLE, TOTALS, fan_out, shard_keys
from portal.adapters.dynamodb.table import (
    Item,
    key_condition,
    month_of,
    ts,
)
from portal.domain.ledger import EntryKind, LedgerEntry, balances
from portal.ports.reports import OpenBalance


class DynamoDbReports(DynamoDbTable):
    """The Reports port on DynamoDB."""

    def open_balances(self, as_of: datetime) -> list[OpenBalance]:
        stamp = ts(as_of)

        def shard(key: str) -> list[Item]:
            return [
                *self.db.query(
                    IndexName="GSI2",
                    **key_condition("GSI2PK", key, "GSI2SK", "begins_with", "OPEN#"),
                ),
                *self.db.query(
                    IndexName="GSI2",
                    **key_condition(
                        "GSI2PK", key, "GSI2SK", "between", f"SETTLED#{stamp}", "SETTLED#~"
                    ),
                ),
            ]

        accounts = [i for part in fan_out(shard, shard_keys(RECEIVABLE, self.shards)) for i in part]
        found = []
        for item in accounts:
            name = f"{item['first_name']} {item['last_name']}"
            number = item["account_number"]
            if item.get("last_entry_at", "") < stamp:
                open_now = item.get("open_statements", {})
                found += [
                    OpenBalance(
                        number, name, sid, date.fromisoformat(s["due_date"]), s["balance_cents"]
                    )
                    for sid, s in open_now.items()
                ]
                continue
            # Entries came after `as_of`: work the balances out as they stood then.
            part = self._partition(number)
            then = balances(e for e in part.entries if e.posted_at < as_of).by_statement
            found += [
                OpenBalance(number, name, s.statement_id, s.due_date, then[s.statement_id])
                for s in part.statements
                if then.get(s.statement_id, 0) > 0
            ]
        return sorted(found, key=lambda b: (b.account_number, b.due_date, b.statement_id))

    def ledger_totals(self, since: datetime, until: datetime) -> dict[EntryKind, int]:
        totals: dict[EntryKind, int] = defaultdict(int)
        whole = self._month_totals("between", month_of(since), month_of(until))
        waiting: list[LedgerEntry] | None = None
        for month in _months(since, until):
            start, end = _month_bounds(month)
            if since <= start and end <= until:
                for kind, cents in _kinds(whole.get(month, {})).items():
                    totals[kind] += cents
            else:
                if waiting is None:
                    waiting = self._waiting_entries()
                for entry in self._entries_in(month, max(since, start), min(until, end), waiting):
                    totals[entry.kind] += entry.amount_cents
        return dict(totals)

    def receivable_at(self, at: datetime) -> int:
        month = month_of(at)
        before = sum(sum(_kinds(item).values()) for item in self._month_totals("<", month).values())
        start, _ = _month_bounds(month)
        entries = self._entries_in(month, start, at, self._waiting_entries())
        return before + sum(e.amount_cents for e in entries)

    def _month_totals(self, operator: str, *months: str) -> dict[str, Item]:
        """The month totals items of the months asked for, each shard's added up."""

        def shard(key: str) -> Iterable[Item]:
            return self.db.query(**key_condition("PK", key, "SK", operator, *months))

        whole: dict[str, Item] = {}
        for part in fan_out(shard, shard_keys(TOTALS, self.shards)):
            for item in part:
                into = whole.setdefault(item["SK"], {"SK": item["SK"]})
                for kind, cents in _kinds(item).items():
                    into[kind.value] = into.get(kind.value, 0) + cents
        return whole

    def _waiting_entries(self) -> list[LedgerEntry]:
        """Entries still waiting on account items (a large change not yet fully moved)."""
        return [
            entry
            for item in self.db.query(IndexName="GSI3", **key_condition("GSI3PK", PENDING))
            for entry in pending_entries(item)
        ]

    def _entries_in(
        self, month: str, since: datetime, until: datetime, waiting: list[LedgerEntry]
    ) -> list[LedgerEntry]:
        """Entries posted in [since, until), all within one UTC month: their items from
        GSI3, and those still waiting on an account item (each entry counted once)."""
        found = {
            (e.account_number, e.entry_id): e
            for e in map(
                entry_from,
                self.db.query(
                    IndexName="GSI3",
                    **key_condition(
                        "GSI3PK", f"LEDGER#{month}", "GSI3SK", "between", ts(since), ts(until)
                    ),
                ),
            )
        }
        for entry in waiting:
            if since <= entry.posted_at < until:
                found.setdefault((entry.account_number, entry.entry_id), entry)
        return list(found.values())


def _kinds(item: Item) -> dict[EntryKind, int]:
    values = {kind.value for kind in EntryKind}
    return {EntryKind(k): v for k, v in item.items() if k in values}


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    year, number = int(month[:4]), int(month[5:])
    start = datetime(year, number, 1, tzinfo=UTC)
    end = datetime(year + number // 12, number % 12 + 1, 1, tzinfo=UTC)
    return start, end
