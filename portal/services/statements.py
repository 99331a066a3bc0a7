"""Bringing statements into the portal: checked first, then stored all or nothing."""

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from portal.domain.accounts import Account
from portal.domain.statements import Statement, statement_errors
from portal.ports.ledger import ImportOutcome, ImportResult, StatementImport
from portal.services.claims import stale_before
from portal.services.context import Services
from portal.services.mail_feedback import undeliverable_set
from portal.services.notices import (
    STATEMENT_CLAIM,
    notice_key,
    send_claimed,
    statement_notice,
    statement_notice_claim,
)

log = logging.getLogger(__name__)

CONFLICT = "A different statement with this id was imported before."


class StatementRejected(ValueError):
    def __init__(self, statement_id: str, errors: list[tuple[str, str]]):
        super().__init__(f"statement {statement_id}: " + "; ".join(f"{f}: {m}" for f, m in errors))
        self.statement_id = statement_id
        self.errors = errors


def import_statement(
    services: Services, account: Account, statement: Statement, *, notify: bool = True
) -> ImportOutcome:
    """Store a statement for the account; the same content twice is `unchanged`. A newly
    imported statement is announced to the guarantor by e-mail (once per statement, unless
    `notify` is False); the import stands whatever happens to that e-mail."""
    errors = statement_errors(statement, {p.patient_id for p in account.patients})
    if statement.account_number != account.account_number:
        errors.append(("account_number", "The statement is for another account."))
    if errors:
        raise StatementRejected(statement.statement_id, errors)
    outcome = import_statements(services, [(account, statement)], notify=notify)[0]
    if outcome is ImportOutcome.CONFLICT:
        raise StatementRejected(statement.statement_id, [("statement_id", CONFLICT)])
    return outcome


def import_statements(
    services: Services, checked: Sequence[tuple[Account, Statement]], *, notify: bool = True
) -> list[ImportOutcome]:
    """Store checked statements (each for its own account, as `import_statement` checks)
    in one write of the store, each all or nothing on its own; the outcome of each, in
    order (CONFLICT for the caller to report). Then each newly imported statement is
    announced, as `import_statement` does."""
    outcomes, notices = store_statements(services, checked, notify=notify)
    send_notices(services, notices)
    return outcomes


@dataclass(frozen=True)
class Notice:
    """A newly imported statement whose notice is to be sent, with the balances the import
    left (so sending reads nothing again)."""

    item: StatementImport
    result: ImportResult


def store_statements(
    services: Services, checked: Sequence[tuple[Account, Statement]], *, notify: bool = True
) -> tuple[list[ImportOutcome], list[Notice]]:
    """`import_statements` without the sending: the outcomes, and the notices to send.

    Each notice's claim is written with its statement, released: whoever takes it first
    sends it (`send_notices` right after, or the sweep when this process dies first)."""
    now = services.clock.now()
    restart = services.settings.corrections_restart_reminders
    items = [
        StatementImport(
            account,
            statement,
            statement_notice_claim(account, statement) if notify else None,
            new_due_date=restart,
        )
        for account, statement in checked
    ]
    results = services.store.import_statements(items, now) if items else []
    notices = [
        Notice(item, result)
        for item, result in zip(items, results, strict=True)
        if result.outcome in (ImportOutcome.IMPORTED, ImportOutcome.CORRECTED)
    ]
    return [r.outcome for r in results], notices


# Notice claims taken in one write; each is marked sent (with its mail-log line) right after
# it goes, so a crash repeats at most the one being sent.
NOTICE_BATCH = 25


def send_notices(services: Services, notices: Sequence[Notice]) -> None:
    """Send the notices of statements just imported, each once: one the sweep (or another
    sender) took first is left to it."""
    store = services.store
    for start in range(0, len(notices), NOTICE_BATCH):
        batch = notices[start : start + NOTICE_BATCH]
        for notice in batch:
            if notice.item.notice is None:
                number = notice.item.account.account_number
                log.info("account %s: no e-mail address, no statement notice", number)
        claims = [n.item.notice for n in batch if n.item.notice is not None]
        if not claims:
            continue
        now = services.clock.now()
        try:
            taken = store.claim_many(claims, now, stale_before(now))
        except Exception:
            log.exception("%d statement notices not claimed: the sweep sends them", len(claims))
            continue
        undeliverable = _undeliverable(services) if taken else None
        for notice in batch:
            claim = notice.item.notice
            if claim is not None and (claim.kind, claim.key) in taken:
                _announce(services, notice.item, notice.result, undeliverable)


def _undeliverable(services: Services) -> frozenset[str] | None:
    """The addresses SES reported as taking no mail, read once for a batch of notices;
    None (each send looks its address up) when they cannot be read."""
    try:
        return undeliverable_set(services)
    except Exception:
        log.exception("the undeliverable addresses could not be read")
        return None


def _announce(
    services: Services,
    item: StatementImport,
    result: ImportResult,
    undeliverable: Collection[str] | None = None,
) -> None:
    account, statement = item.account, item.statement
    try:
        message = statement_notice(
            services,
            account,
            statement,
            max(result.balance_cents, 0),
            account_due_cents=result.account_due_cents,
        )
        assert message is not None  # a notice claim is made only for an address
    except Exception:
        # Given up at once: the sweep (or a later sender) takes it over.
        log.exception("statement %s: the notice could not be written", statement.statement_id)
        services.store.release_claim(STATEMENT_CLAIM, notice_key(statement))
        return
    try:
        send_claimed(
            services,
            STATEMENT_CLAIM,
            notice_key(statement),
            message,
            account.account_number,
            undeliverable,
        )
    except Exception:
        log.exception("statement %s: the notice could not be sent", statement.statement_id)
