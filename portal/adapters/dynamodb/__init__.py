"""The dynamodb store, one module per port."""

from portal.adapters.dynamodb.store import DynamoDbStore

__all__ = ["DynamoDbStore"]
