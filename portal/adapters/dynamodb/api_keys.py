"""The DynamoDB store's api keys port: keys for the statement import API."""

from datetime import datetime

from portal.adapters.dynamodb.database import DynamoDbTable
from portal.adapters.dynamodb.table import (
    Item,
    key_condition,
    parse_required_ts,
    parse_ts,
    ts,
)
from portal.domain.api_keys import ApiKey

KEY_SK = "APIKEY"

NAME_SK = "APIKEYNAME"


class DynamoDbApiKeys(DynamoDbTable):
    """The ApiKeys port on DynamoDB."""

    def create_api_key(self, key: ApiKey) -> bool:
        item: Item = {
            "PK": _key_pk(key.key_hash),
            "SK": KEY_SK,
            "GSI2PK": "APIKEYS",
            "GSI2SK": key.name,
            "name": key.name,
            "key_hash": key.key_hash,
            "last_four": key.last_four,
            "created_at": ts(key.created_at),
        }
        if key.revoked_at is not None:
            item["revoked_at"] = ts(key.revoked_at)
        refused = self.db.transact(
            [
                {
                    "Put": {
                        "Item": {"PK": _name_pk(key.name), "SK": NAME_SK, "key_hash": key.key_hash},
                        "ConditionExpression": "attribute_not_exists(PK)",
                    }
                },
                {"Put": {"Item": item, "ConditionExpression": "attribute_not_exists(PK)"}},
            ]
        )
        return refused is None

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        item = self.db.get(_key_pk(key_hash), KEY_SK)
        return _api_key(item) if item else None

    def api_keys(self) -> list[ApiKey]:
        found = self.db.query(IndexName="GSI2", **key_condition("GSI2PK", "APIKEYS"))
        return [_api_key(i) for i in found]

    def revoke_api_key(self, name: str, at: datetime) -> bool:
        pointer = self.db.get(_name_pk(name), NAME_SK)
        if pointer is None:
            return False
        item = self.db.update(
            _key_pk(pointer["key_hash"]),
            KEY_SK,
            "SET revoked_at = :at",
            ConditionExpression="attribute_exists(PK) AND attribute_not_exists(revoked_at)",
            ExpressionAttributeValues={":at": ts(at)},
        )
        return item is not None


def _key_pk(key_hash: str) -> str:
    return f"APIKEY#{key_hash}"


def _name_pk(name: str) -> str:
    return f"APIKEYNAME#{name}"


def _api_key(item: Item) -> ApiKey:
    return ApiKey(
        name=item["name"],
        key_hash=item["key_hash"],
        last_four=item["last_four"],
        created_at=parse_required_ts(item["created_at"]),
        revoked_at=parse_ts(item.get("revoked_at")),
    )
