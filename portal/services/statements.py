"""Bringing statements into the portal: checked first, then stored all or nothing."""

import logging
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from portal.domain.accounts import Account
from portal.domain.statements import Statement, statement_errors
from portal.ports.claims import Claim
from portal.ports.ledger import ImportOutcome, ImportResult, StatementImport
from portal.services.context import Services
from portal.services.notices import (
    STATEMENT_CLAIM,
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
    announced, as `import_statement` does.

    The notice's claim is written with the statement, held by this import: no other
    sender takes it before it goes stale, and a crash before the e-mail leaves it to the
    sweep. Each e-mail is marked sent right after it goes, so a crash repeats at most the
    one being sent."""
    now = services.clock.now()
    items = [
        StatementImport(account, statement, _held(account, statement, notify, now))
        for account, statement in checked
    ]
    results = services.store.import_statements(items, now) if items else []
    if notify:
        for item, result in zip(items, results, strict=True):
            if result.outcome is ImportOutcome.IMPORTED:
                _announce(services, item, result)
    return [r.outcome for r in results]


def _held(account: Account, statement: Statement, notify: bool, now: datetime) -> Claim | None:
    claim = statement_notice_claim(account, statement) if notify else None
    return None if claim is None else replace(claim, claimed_at=now)


def _announce(services: Services, item: StatementImport, result: ImportResult) -> None:
    account, statement = item.account, item.statement
    if item.notice is None:
        log.info("account %s: no e-mail address, no statement notice", account.account_number)
        return
    try:
        message = statement_notice(
            services,
            account,
            statement,
            max(result.balance_cents, 0),
            account_due_cents=result.account_due_cents,
        )
        assert message is not None  # a notice claim is made only for an address
        send_claimed(
            services, STATEMENT_CLAIM, statement.statement_id, message, account.account_number
        )
    except Exception:
        log.exception("statement %s: the notice could not be sent", statement.statement_id)
