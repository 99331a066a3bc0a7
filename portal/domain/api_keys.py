"""API keys for the JSON API: a random secret shown once, kept only as its hash."""

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from portal.domain.errors import InvalidInput

KEY_PREFIX = "pbp_"
_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")


@dataclass(frozen=True)
class ApiKey:
    """A key as stored: never the key itself, only its hash and last four characters."""

    name: str
    key_hash: str
    last_four: str
    created_at: datetime
    revoked_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


def new_key() -> str:
    """A fresh key: the prefix (so leaked keys are easy to spot) and 256 random bits."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """SHA-256 of the key, hex. A fast unsalted hash is enough here (unlike for passwords):
    the key is 256 bits from `secrets`, so there is nothing to guess or look up in a
    dictionary, and a plain digest lets the store find a key by its hash in one read."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def normalize_key_name(text: str) -> str:
    return (text or "").strip().lower()


def check_key_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise InvalidInput(
            "name",
            "Use 1-64 characters: lower-case letters, digits, dot, dash or underscore, "
            "starting with a letter or digit.",
        )
