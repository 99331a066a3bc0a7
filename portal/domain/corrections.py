"""Corrected statements: the practice re-bills a statement (same id, higher version). The
lines are replaced through ledger entries that move the statement's balance from the old
lines to the new (the ledger is never edited); payments already applied stay applied;
money paid beyond what the corrected statement asks becomes credit, and credit goes to
what is still open."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from portal.domain.ledger import EntryKind, LedgerEntry, apply_credit, balances
from portal.domain.statements import LineItem, Statement


def is_correction(stored_version: int, statement: Statement) -> bool:
    """Whether other content under a stored statement's id is a correction (a higher
    version) rather than a conflict (a lower or equal one)."""
    return statement.version > stored_version


def as_stored(old: Statement, new: Statement, new_due_date: bool) -> Statement:
    """The correction as kept: with the replaced statement's due date unless the practice
    restarts reminders from the corrected one (or the old date would come before the new
    statement date)."""
    if new_due_date or old.due_date < new.statement_date:
        return new
    return replace(new, due_date=old.due_date)


def correction_entries(
    old: Statement,
    new: Statement,
    entries: Sequence[LedgerEntry],
    statements: Sequence[Statement],
    at: datetime,
) -> list[LedgerEntry]:
    """What replacing `old` by `new` posts, given the account's ledger and its statements
    (with `new` among them in place of `old`)."""
    account, statement_id = new.account_number, new.statement_id
    memo = f"Corrected statement {statement_id} (version {new.version})"
    moves: list[LedgerEntry] = []
    for kind, sign, before, after in (
        (EntryKind.CHARGE, 1, old.charges_cents, new.charges_cents),
        (EntryKind.INSURANCE_PAYMENT, -1, old.insurance_paid_cents, new.insurance_paid_cents),
        (EntryKind.ADJUSTMENT, -1, old.adjustments_cents, new.adjustments_cents),
    ):
        if after != before:
            moves.append(
                LedgerEntry(account, kind, sign * (after - before), at, statement_id, memo=memo)
            )
    overpaid = -balances([*entries, *moves]).by_statement.get(statement_id, 0)
    if overpaid > 0:
        credit = f"Paid beyond corrected statement {statement_id} (credit)"
        moves += [
            LedgerEntry(account, EntryKind.TRANSFER, overpaid, at, statement_id, memo=credit),
            LedgerEntry(account, EntryKind.TRANSFER, -overpaid, at, None, memo=credit),
        ]
    moves += apply_credit(account, [*entries, *moves], statements, at)
    return moves


def transfers(moves: Sequence[LedgerEntry]) -> list[LedgerEntry]:
    """The entries of a correction that move money (money events), not the lines' own."""
    return [m for m in moves if m.kind is EntryKind.TRANSFER]


@dataclass(frozen=True)
class LineChange:
    """A line a correction added (no `before`), removed (no `after`) or changed."""

    line_id: str
    before: LineItem | None
    after: LineItem | None


def line_changes(old: Statement, new: Statement) -> list[LineChange]:
    """What a correction changed, line by line (by line id), in the new statement's order,
    the removed lines last."""
    before = {line.line_id: line for line in old.lines}
    after = {line.line_id: line for line in new.lines}
    changes = [
        LineChange(line.line_id, before.get(line.line_id), line)
        for line in new.lines
        if before.get(line.line_id) != line
    ]
    changes += [
        LineChange(line.line_id, line, None) for line in old.lines if line.line_id not in after
    ]
    return changes


@dataclass(frozen=True)
class Correction:
    """A corrected statement as a person is shown it: the version it replaced, the line
    changes they may see, and whether they see the whole statement (its totals)."""

    previous: Statement
    changes: list[LineChange]
    whole: bool
