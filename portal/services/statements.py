"""Bringing statements into the portal: checked first, then stored all or nothing."""

import logging

from portal.domain.accounts import Account
from portal.domain.statements import Statement, statement_errors
from portal.ports.store import ImportOutcome
from portal.services.context import Services
from portal.services.notices import send_statement_notice, statement_notice_claim

log = logging.getLogger(__name__)


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
    notice = statement_notice_claim(account, statement) if notify else None
    outcome = services.store.import_statement(account, statement, services.clock.now(), notice)
    if outcome is ImportOutcome.CONFLICT:
        raise StatementRejected(
            statement.statement_id,
            [("statement_id", "A different statement with this id was imported before.")],
        )
    if notify and outcome is ImportOutcome.IMPORTED:
        try:
            send_statement_notice(services, account, statement)
        except Exception:
            log.exception("statement %s: the notice could not be sent", statement.statement_id)
    return outcome
