"""The ledger port: accounts, statements, payments and their entries, read as a book and
committed at the version read."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from portal.domain.account_book import (
    AccountBook,
    Change,
    KeyKind,
)
from portal.domain.accounts import Account
from portal.domain.ledger import LedgerEntry
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.ports.claims import Claim, ClaimMark


class ImportOutcome(StrEnum):
    IMPORTED = "imported"
    UNCHANGED = "unchanged"
    CONFLICT = "conflict"
    CORRECTED = "corrected"  # a higher version of a statement replaced the one stored


@dataclass(frozen=True)
class StatementImport:
    """One statement of a batch: the account as it is to be saved with it, the statement,
    and its notice claim (see `Store.import_statement`)."""

    account: Account
    statement: Statement
    notice: "Claim | None" = None
    # A correction (a higher version) takes its own due date, so reminders count from it;
    # else it keeps the due date of the statement it replaces (reminders keep their stage).
    new_due_date: bool = False


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
    # SES reported the guarantor's e-mail address as undeliverable (read with the records).
    email_undeliverable: bool = False


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
class CommitResult:
    outcome: CommitOutcome
    key: tuple[KeyKind, str] | None = None  # when TAKEN: which key, and its owner
    owner: str | None = None


COMMITTED = CommitResult(CommitOutcome.COMMITTED)


STALE = CommitResult(CommitOutcome.STALE)


class Ledger(Protocol):
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

    def statement_versions(self, statement_id: str) -> list[Statement]:
        """The versions of a statement that corrections replaced, oldest first (the current
        one is `get_statement`'s)."""

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
