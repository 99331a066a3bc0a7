"""The API keys port: keys for the statement import API."""

from datetime import datetime
from typing import Protocol

from portal.domain.api_keys import ApiKey


class ApiKeys(Protocol):
    def create_api_key(self, key: ApiKey) -> bool:
        """Add an API key (its hash, never the key); False (and nothing changed) when the
        name is taken."""

    def api_key_by_hash(self, key_hash: str) -> ApiKey | None:
        """The key with this hash, revoked or not."""

    def api_keys(self) -> list[ApiKey]:
        """Every API key, revoked ones too, by name."""

    def revoke_api_key(self, name: str, at: datetime) -> bool:
        """Revoke the key from `at` on; False when there is no such key or it was revoked
        before (the first revocation time is kept)."""
