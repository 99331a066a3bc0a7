"""The reminders port: who is owed a reminder, and who asked for none."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Protocol

from portal.domain.accounts import Account
from portal.domain.staff import AuditEntry, Escalation, MailRecord
from portal.ports.claims import Claim

ClaimKey = tuple[str, str]  # (kind, key)


@dataclass(frozen=True)
class DueAccount:
    """An account with something owed, from the index of such accounts."""

    account_number: str
    statement_id: str  # its oldest open statement (earliest due date)
    due_date: date  # when that statement fell due
    due_cents: int  # everything owed on the account's open statements
    # The account, when the index hands it over with the row (DynamoDB: the account item
    # is the index's item); None: read it.
    account: Account | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class ReminderBatch:
    """What the reminder run writes before it sends a batch: its claims, and for each claim
    taken now its opt-out token (a reminder's link) or its queue item (an escalation); with
    the marks and mail-log lines of the messages the batch before it sent."""

    claims: Sequence[Claim]
    tokens: Mapping[ClaimKey, tuple[str, str]] = field(default_factory=dict)  # account, new
    escalations: Mapping[ClaimKey, tuple[Escalation, AuditEntry]] = field(default_factory=dict)
    finished: Sequence[ClaimKey] = ()
    mail: Sequence[MailRecord] = ()


class Reminders(Protocol):
    def accounts_due(self, due_on_or_before: date) -> list[DueAccount]:
        """Accounts whose oldest open statement fell due on or before the date, read from an
        index of accounts that owe something (never every account); by due date."""

    def opt_out_of_reminders(self, account_number: str, at: datetime) -> bool:
        """Stop payment reminders for the account (receipts still go); False when it was
        opted out before. KeyError for an unknown account."""

    def opt_out_token(self, account_number: str, new_token: str) -> str:
        """The account's opt-out token: the one it was given before, else `new_token`, kept
        for it from now on (written once, so every e-mail carries the same link). KeyError
        for an unknown account."""

    def opt_out_tokens(self, new_tokens: dict[str, str]) -> dict[str, str]:
        """`opt_out_token` for several accounts in one write: account number -> its token
        (the one given before, else the new one); an unknown account is left out."""

    def claim_reminders(
        self, batch: ReminderBatch, at: datetime, stale_before: datetime
    ) -> tuple[set[ClaimKey], dict[str, str]]:
        """`complete_claims` of `batch.finished` (at `at`, with `batch.mail`), `claim_many` of
        its claims, and for those claimed now `opt_out_tokens` and `open_escalations`, in
        one write where the store can (SQLite; DynamoDB: in that order). The claims taken
        now and the tokens by account."""

    def account_of_opt_out_token(self, token: str) -> str | None:
        """The account an opt-out token was given to; None for a token never given."""
