"""Hashing staff passwords (salted and slow on purpose)."""

from typing import Protocol


class PasswordHasher(Protocol):
    def __hash__(self) -> int: ...  # services cache the dummy hash per hasher

    def hash(self, password: str) -> str:
        """A salted hash that records its own method and cost."""
        ...

    def matches(self, stored_hash: str, password: str) -> bool:
        """Whether `password` is the one `stored_hash` was made from, whatever its method."""
        ...
