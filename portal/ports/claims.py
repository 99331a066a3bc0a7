"""The claims port: work done once, claimed before, completed after, and finished by the
sweep if its holder dies."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from portal.domain.staff import AuditEntry, MailRecord


@dataclass(frozen=True)
class ClaimMark:
    """A message claim written in the same write as a commit. `done`: marked sent by the
    commit itself (a gateway event whose posting this is); otherwise held by the caller
    from the commit's time, with its payload (a receipt to send next), so a crash before
    the caller finishes it leaves it unfinished, for the next attempt or the sweep.
    `stale_before`: the mark takes the claim as `Store.claim` would: another holder's
    claim, unsent, not released and made at or after this, refuses the commit (CLAIMED);
    None writes it whatever holds it."""

    kind: str
    key: str
    payload: str = ""
    done: bool = False
    stale_before: datetime | None = None


@dataclass(frozen=True)
class Claim:
    """A claim never marked sent: what the sweep of unfinished claims works through."""

    kind: str
    key: str
    claimed_at: datetime | None  # None once released (its holder gave it up)
    payload: str


class Claims(Protocol):
    def claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        stale_before: datetime | None = None,
        payload: str = "",
    ) -> bool:
        """Claim the one send of (kind, key); False when it was claimed before, unless that
        claim was never marked sent and was either released or made before `stale_before`
        (its holder died). `payload` is what is needed to finish the claim (the sweep reads
        it); an empty payload keeps the one the claim had."""

    def complete_claim(
        self,
        kind: str,
        key: str,
        at: datetime,
        mail: MailRecord | None = None,
        audit: AuditEntry | None = None,
    ) -> None:
        """Close the claim; `mail` (its mail-log line) and `audit` (the staff action it
        finishes) are kept in the same write, so a crash keeps both or neither."""

    def claim_many(
        self, claims: Sequence["Claim"], at: datetime, stale_before: datetime
    ) -> set[tuple[str, str]]:
        """`claim` for each of several (kind, key, payload) in one write, as `claim` with
        `stale_before` would; the (kind, key) of those claimed now."""

    def complete_claims(
        self, claims: Sequence[tuple[str, str]], at: datetime, mail: Sequence[MailRecord] = ()
    ) -> None:
        """`complete_claim` for several claims, with their mail-log lines, in one write."""

    def claim_completed(self, kind: str, key: str) -> bool:
        """True once (kind, key) is marked sent (a claim alone is not)."""

    def release_claim(self, kind: str, key: str) -> None:
        """Give up an unsent claim (the send failed): it stays unfinished, with its payload,
        and any later claim (or the sweep) takes it over at once."""

    def drop_claim(self, kind: str, key: str) -> None:
        """Close an unsent claim that has nothing left to do (a reminder no longer due): it
        is deleted, so a later claim of the same (kind, key) starts afresh."""

    def unfinished_claims(self, before: datetime, limit: int = 500) -> list["Claim"]:
        """Claims never marked sent that were released or made before `before`, oldest
        (released first) first, at most `limit`."""
