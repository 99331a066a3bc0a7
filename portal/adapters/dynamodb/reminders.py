"""The DynamoDB store's reminders port: accounts due a reminder and opt-outs."""

from collections.abc import Iterable
from datetime import date, datetime

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.items import account_from, account_pk
from portal.adapters.dynamodb.records import FAILED, TRANSACTION_ITEMS
from portal.adapters.dynamodb.shards import RECEIVABLE, fan_out, merged, shard_keys
from portal.adapters.dynamodb.table import Item, key_condition, ts
from portal.ports.reminders import DueAccount
from portal.ports.store import StoreError


class DynamoDbReminders(DynamoDbTable):
    """The Reminders port on DynamoDB."""

    def accounts_due(self, due_on_or_before: date) -> list[DueAccount]:
        last = f"OPEN#{due_on_or_before.isoformat()}#~"

        def shard(key: str) -> Iterable[Item]:
            return self.db.query(
                IndexName="GSI2", **key_condition("GSI2PK", key, "GSI2SK", "between", "OPEN#", last)
            )

        parts = fan_out(shard, shard_keys(RECEIVABLE, self.shards))
        found = []
        for item in merged(parts, "GSI2SK"):
            open_now = item.get("open_statements", {})
            if not open_now:
                continue
            statement_id, oldest = min(
                open_now.items(), key=lambda pair: (pair[1]["due_date"], pair[0])
            )
            found.append(
                DueAccount(
                    item["account_number"],
                    statement_id,
                    date.fromisoformat(oldest["due_date"]),
                    sum(s["balance_cents"] for s in open_now.values()),
                    account=account_from(item),
                )
            )
        return found

    def opt_out_of_reminders(self, account_number: str, at: datetime) -> bool:
        # The version goes up too: a money change racing this one re-reads the account
        # instead of writing back an item without the opt-out.
        updated = self.db.update(
            account_pk(account_number),
            "ACCOUNT",
            "SET reminders_opted_out_at = :at ADD #version :one",
            ConditionExpression="attribute_exists(PK)"
            " AND attribute_not_exists(reminders_opted_out_at)",
            ExpressionAttributeNames={"#version": "version"},
            ExpressionAttributeValues={":at": ts(at), ":one": 1},
        )
        if updated is not None:
            return True
        if self.db.get(account_pk(account_number), "ACCOUNT") is None:
            raise KeyError(account_number)
        return False

    def opt_out_token(self, account_number: str, new_token: str) -> str:
        key = {"PK": account_pk(account_number), "SK": "ACCOUNT"}
        for _ in range(2):
            account = self.db.get(key["PK"], key["SK"])
            if account is None:
                raise KeyError(account_number)
            if account.get("opt_out_token"):
                return account["opt_out_token"]
            codes = self.db.transact(_new_token_writes(account_number, new_token))
            if codes is None:
                return new_token
            if codes[0] == FAILED:  # the new token was another account's: vanishingly unlikely
                raise StoreError("that opt-out token is taken; try again")
        raise StoreError("the account kept changing while its opt-out token was written")

    def opt_out_tokens(self, new_tokens: dict[str, str]) -> dict[str, str]:
        items = self.db.get_many([(account_pk(n), "ACCOUNT") for n in new_tokens])
        found = {i["account_number"]: i.get("opt_out_token", "") for i in items}
        tokens = {n: t for n, t in found.items() if t}
        fresh = [n for n, t in found.items() if not t]
        writes: list[Item] = []
        for number in fresh:
            writes += _new_token_writes(number, new_tokens[number])
        if writes and len(writes) <= TRANSACTION_ITEMS and self.db.transact(writes) is None:
            return {**tokens, **{n: new_tokens[n] for n in fresh}}
        # Too many, or one was given a token meanwhile: each on its own.
        return {**tokens, **{n: self.opt_out_token(n, new_tokens[n]) for n in fresh}}

    def account_of_opt_out_token(self, token: str) -> str | None:
        return self._account_of("OPTOUT", token)


def _new_token_writes(account_number: str, token: str) -> list[Item]:
    """An account's opt-out token, written once: its pointer and the account item (whose
    version goes up, so a money change racing this one re-reads the account instead of
    writing back an item without the token)."""
    pointer = {"PK": f"OPTOUT#{token}", "SK": "OPTOUT", "account_number": account_number}
    return [
        {"Put": {"Item": pointer, "ConditionExpression": "attribute_not_exists(PK)"}},
        {
            "Update": {
                "Key": {"PK": account_pk(account_number), "SK": "ACCOUNT"},
                "UpdateExpression": "SET opt_out_token = :token ADD #version :one",
                "ConditionExpression": "attribute_exists(PK)"
                " AND attribute_not_exists(opt_out_token)",
                "ExpressionAttributeNames": {"#version": "version"},
                "ExpressionAttributeValues": {":token": token, ":one": 1},
            }
        },
    ]
