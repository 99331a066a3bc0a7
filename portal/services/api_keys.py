"""API keys: create one (shown once), check a presented key, list and revoke them."""

from dataclasses import dataclass

from portal.domain.api_keys import (
    ApiKey,
    check_key_name,
    hash_key,
    new_key,
    normalize_key_name,
)
from portal.domain.errors import InvalidInput
from portal.domain.staff import AuditAction
from portal.services.audit import audit
from portal.services.context import Services


@dataclass(frozen=True)
class NewApiKey:
    record: ApiKey
    key: str  # the key itself: shown once, never stored


def create_api_key(services: Services, name: str, actor: str, address: str = "") -> NewApiKey:
    """Make a key named `name`; InvalidInput for a bad or taken name."""
    name = normalize_key_name(name)
    check_key_name(name)
    key = new_key()
    record = ApiKey(
        name=name,
        key_hash=hash_key(key),
        last_four=key[-4:],
        created_at=services.clock.now(),
    )
    if not services.store.create_api_key(record):
        raise InvalidInput("name", f"An API key named {name!r} exists already.")
    audit(services, actor, AuditAction.CREATE_API_KEY, subject=name, address=address)
    return NewApiKey(record, key)


def authenticate(services: Services, key: str | None) -> ApiKey | None:
    """The active key presented, or None (missing, unknown or revoked)."""
    if not key:
        return None
    found = services.store.api_key_by_hash(hash_key(key))
    return found if found is not None and found.is_active else None


def revoke_api_key(services: Services, name: str, actor: str, address: str = "") -> bool:
    """Revoke the key at once; False when there is no such active key."""
    name = normalize_key_name(name)
    revoked = services.store.revoke_api_key(name, services.clock.now())
    if revoked:
        audit(services, actor, AuditAction.REVOKE_API_KEY, subject=name, address=address)
    return revoked
