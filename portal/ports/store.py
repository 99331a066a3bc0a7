"""The Store port: the operations the use cases need, whatever holds the records."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Protocol

from portal.domain.account_book import (  # noqa: F401 (ReferenceAlreadyPosted: its old home)
    AccountBook,
    Change,
    KeyKind,
    ReferenceAlreadyPosted,
)
from portal.domain.accounts import Account
from portal.domain.api_keys import ApiKey
from portal.domain.ledger import EntryKind, LedgerEntry
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import AuditEntry, Escalation, MailRecord, Note, StaffUser
from portal.domain.statements import Statement


class StoreError(RuntimeError):
    """The store cannot do what was asked (not set up, unreachable)."""


class StoreNotReady(StoreError):
    """The schema is missing or older than the code: run `portal migrate`."""


class ImportOutcome(StrEnum):
    IMPORTED = "imported"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"


@dataclass(frozen=True)
class StatementImport:
    """One statement of a batch: the account as it is to be saved with it, the statement,
    and its notice claim (see `Store.import_statement`)."""

    account: Account
    statement: Statement
    notice: "Claim | None" = None


@dataclass(frozen=True)
class ImportResult:
    """What importing one statement did; the balances are right after it, when IMPORTED."""

    outcome: ImportOutcome
    balance_cents: int = 0  # the statement's balance
    account_due_cents: int = 0  # what the account owes on its open statements


@dataclass(frozen=True)
class ImportState:
    """What a batch of statements is checked against, read at once."""

    accounts: dict[str, Account]  # the accounts that exist, by number
    fingerprints: dict[str, str]  # the statements imported already, by id


@dataclass(frozen=True)
class AccountRecords:
    """Everything the account page needs, read together."""

    account: Account
    statements: tuple[Statement, ...]
    entries: tuple[LedgerEntry, ...]
    payments: tuple[Payment, ...]


@dataclass(frozen=True)
class PatientPage:
    """What a signed-in patient's page reads, in one read: whom the browser session is for,
    and the account's records as that page shows them (see Store.patient_page)."""

    subject: str | None  # as web_session_subject: None once the session ended or expired
    records: AccountRecords | None  # None for an unknown account, or when subject is None


@dataclass(frozen=True)
class PostingResult:
    """What posting a gateway payment did: `posted` is False when it was already posted."""

    payment: Payment
    posted: bool
    entries: tuple[LedgerEntry, ...] = ()
    book: AccountBook | None = None  # when posted: the account's book with the posting in it
    receipt_unsent: bool = False  # posted now, and its receipt could not be sent (yet)

    @property
    def message(self) -> str:
        if self.posted:
            return f"Posted payment {self.payment.payment_id}."
        return f"Payment {self.payment.payment_id} was already posted; nothing changed."


class CommitOutcome(StrEnum):
    COMMITTED = "committed"
    STALE = "stale"  # the account (or payment) changed since the book was read
    TAKEN = "taken"  # a unique key of the change belongs to a payment already
    CLAIMED = "claimed"  # a claim to be marked done is held by another live holder


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
class CommitResult:
    outcome: CommitOutcome
    key: tuple[KeyKind, str] | None = None  # when TAKEN: which key, and its owner
    owner: str | None = None


COMMITTED = CommitResult(CommitOutcome.COMMITTED)
STALE = CommitResult(CommitOutcome.STALE)


@dataclass(frozen=True)
class OpenBalance:
    """A statement's balance as of a moment, for the aging report."""

    account_number: str
    guarantor_name: str
    statement_id: str
    due_date: date
    balance_cents: int


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
class Claim:
    """A claim never marked sent: what the sweep of unfinished claims works through."""

    kind: str
    key: str
    claimed_at: datetime | None  # None once released (its holder gave it up)
    payload: str


class Store(Protocol):
    def migrate(self) -> int:
        """Create or upgrade the schema; return the schema version now in place."""

    def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    def import_statement(
        self, account: Account, statement: Statement, at: datetime, notice: Claim | None = None
    ) -> ImportOutcome:
        """Add the statement (and account, patients) with its ledger entries, all or nothing.

        `notice`: a message claim written in the same write (the statement's "ready"
        e-mail), released, or held from `notice.claimed_at` on, so a crash right after the
        import leaves it to the sweep."""

    def import_statements(
        self, items: Sequence[StatementImport], at: datetime
    ) -> list[ImportResult]:
        """Each item as `import_statement` does it, in order, in as few writes as the store
        can: each statement all or nothing on its own. An item that fails with an error
        leaves nothing of itself; the items before it stay imported, the ones after it are
        not tried, and the error is raised."""

    def import_state(
        self, account_numbers: Iterable[str], statement_ids: Iterable[str]
    ) -> ImportState:
        """The accounts and imported statements (their fingerprints) among those named."""

    def get_account(self, account_number: str) -> Account | None: ...

    def load_book(
        self, account_number: str, keys: Iterable[tuple[KeyKind, str]] = ()
    ) -> AccountBook:
        """The account's book at its current version (an empty book at version 0 for an
        unknown account), with the account itself and the owners of the unique `keys`
        asked about that are taken (read after the ledger, so a key taken meanwhile is
        never missed)."""

    def commit(self, change: Change, marks: Sequence["ClaimMark"] = ()) -> "CommitResult":
        """Write the change (entries, the payment's fields, its keys) all or nothing, only
        if the account is still at `change.version` and the payment as it was read: else
        STALE; TAKEN (with the owner) when one of its keys belongs to a payment already.
        `marks`: message claims written in the same write (see ClaimMark): CLAIMED when
        one is held by another; a claim marked sent before is left as it is."""

    def account_records(self, account_number: str) -> AccountRecords | None: ...

    def patient_page(
        self, session_id: str, now: datetime, account_number: str, statement_id: str | None = None
    ) -> PatientPage:
        """In one read: whom the browser session is for (as web_session_subject) and, while
        it lasts, the account's records as its page shows them. The account page (no
        `statement_id`): every statement without its lines, the ledger and the payments. A
        statement page: only that statement, with its lines (none when it is not the
        account's), and the ledger, without payments."""

    def get_statement(self, statement_id: str) -> Statement | None: ...

    def create_payment(self, payment: Payment) -> bool:
        """Record a new payment; False (and nothing changed) when its id exists already."""

    def get_payment(self, payment_id: str) -> Payment | None: ...

    def attach_checkout(self, payment_id: str, session_id: str) -> None: ...

    def close_payment(
        self, payment_id: str, status: PaymentStatus, message: str, at: datetime
    ) -> Payment:
        """Move an open (pending or processing) payment to processing, failed or canceled; a
        posted or closed payment is left as it is."""

    def payment_by_reference(self, reference: str) -> Payment | None:
        """The payment posted with this gateway reference."""

    def set_dispute(self, payment_id: str, disputed: bool) -> Payment:
        """Mark a succeeded payment disputed, or a disputed one succeeded again; any other
        status is left as it is."""

    def record_lookup_failure(self, key: str, at: datetime, since: datetime) -> int:
        """Record a failed lookup; return how many the key has had from `since` on (at least
        this one and every earlier one; concurrent failures may see each other). Attempts
        over a day old are not counted."""

    def lock_lookups(self, key: str, until: datetime) -> None: ...

    def lookup_locked_until(self, key: str, now: datetime) -> datetime | None: ...

    def clear_lookup_failures(self, key: str) -> None: ...

    def forget_lookup_failure(self, key: str, at: datetime) -> None:
        """Take back one attempt recorded at `at` (it turned out to succeed)."""

    def open_web_session(self, session_id: str, subject: str, at: datetime) -> None:
        """Record a signed-in browser session (sessions opened over a day ago are dropped)."""

    def web_session_subject(self, session_id: str, now: datetime) -> str | None:
        """Whom the session is for, or None once it has ended or was opened a day before
        `now`."""

    def end_web_session(self, session_id: str) -> None: ...

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

    # -- staff ---------------------------------------------------------------------------

    def create_staff_user(self, user: StaffUser) -> bool:
        """Add a staff user; False (and nothing changed) when the username is taken."""

    def get_staff_user(self, username: str) -> StaffUser | None: ...

    def staff_users(self) -> list[StaffUser]:
        """Every staff user, by username."""

    def set_staff_password(self, username: str, password_hash: str) -> StaffUser:
        """Replace the password and raise the session epoch, ending every older session."""

    def end_staff_sessions(self, username: str) -> None:
        """Raise the session epoch: every session of the user ends."""

    def use_totp_step(self, username: str, step: int) -> bool:
        """Record a TOTP time step as used; False when it (or a later one) was used before."""

    def append_audit(self, entry: AuditEntry) -> None: ...

    def audit_entries(
        self, account_number: str | None = None, actor: str | None = None, limit: int = 200
    ) -> list[AuditEntry]:
        """Newest first, optionally for one account or one actor."""

    def add_note(self, note: Note) -> None: ...

    def notes(self, account_number: str) -> list[Note]:
        """Newest first."""

    def search_accounts(self, query: str, limit: int = 25) -> list[Account]:
        """Accounts by account number, statement id, payment id, or a guarantor's or
        patient's name (last name, or first and last; case, accents and spaces ignored)."""

    def list_payments(
        self,
        since: datetime,
        until: datetime,
        status: PaymentStatus | None = None,
        method: str | None = None,
    ) -> list[Payment]:
        """Payments posted (or, if never posted, created) in [since, until), oldest first."""

    # -- escalation queue ------------------------------------------------------------------

    def open_escalation(self, item: Escalation) -> Escalation | None:
        """Open the item; None (and nothing changed) when one with its key is still open."""

    def get_escalation(self, escalation_id: int) -> Escalation | None: ...

    def escalations(
        self,
        open_only: bool = True,
        owner: str | None = None,
        account_number: str | None = None,
    ) -> list[Escalation]:
        """Oldest first."""

    def update_escalation(
        self, escalation_id: int, owner: str, promise_to_pay_on: date | None
    ) -> Escalation:
        """Set the owner and promise-to-pay date of an open item (a resolved one is kept)."""

    def resolve_escalation(
        self, escalation_id: int, resolved_by: str, resolution: str, at: datetime
    ) -> Escalation:
        """Close the item once; resolving it again changes nothing."""

    def record_mail(self, record: MailRecord) -> None:
        """Keep what was sent or tried on an account, for staff (kept a year)."""

    def mail_log(self, account_number: str, limit: int = 50) -> list[MailRecord]:
        """Newest first."""

    # -- reminders -----------------------------------------------------------------------

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

    def account_of_opt_out_token(self, token: str) -> str | None:
        """The account an opt-out token was given to; None for a token never given."""

    # -- reports -------------------------------------------------------------------------

    def open_balances(self, as_of: datetime) -> list[OpenBalance]:
        """Every statement with a positive balance from entries posted before `as_of`."""

    def ledger_totals(self, since: datetime, until: datetime) -> dict[EntryKind, int]:
        """The sum of entries of each kind posted in [since, until)."""

    def receivable_at(self, at: datetime) -> int:
        """The sum of every entry posted before `at`: what all guarantors owed then."""

    # -- API keys ------------------------------------------------------------------------

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
