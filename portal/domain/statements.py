"""Statements and their line items, as the practice sends them."""

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import date

from portal.domain.codes import diagnosis_code_error, procedure_code_error

# A claim's patient control number as X12 carries it (CLP01, at most 38 characters): letters,
# digits and . _ / - only, so it never holds an X12 delimiter.
CLAIM_ID = re.compile("[A-Za-z0-9][A-Za-z0-9._/-]{0,37}")
CLAIM_ID_RULE = (
    "A claim id is 1 to 38 letters, digits, '.', '_', '/' or '-', starting with a letter or digit."
)


@dataclass(frozen=True)
class LineItem:
    line_id: str
    patient_id: str
    service_date: date
    provider: str
    code_system: str
    code: str
    description: str
    diagnosis_codes: tuple[str, ...]
    charge_cents: int
    insurance_paid_cents: int
    adjustment_cents: int
    patient_responsibility_cents: int
    description_es: str = ""  # the practice's Spanish description; empty when it sent none
    claim_id: str = ""  # the insurance claim's patient control number (835 CLP01); "" for none


@dataclass(frozen=True)
class Statement:
    statement_id: str
    account_number: str
    statement_date: date
    due_date: date
    lines: tuple[LineItem, ...] = field(default_factory=tuple)
    # A corrected statement (a re-bill) comes again with the same id and a higher version.
    version: int = 1

    @property
    def total_cents(self) -> int:
        """What the patient owes on this statement when it was issued."""
        return sum(line.patient_responsibility_cents for line in self.lines)

    @property
    def charges_cents(self) -> int:
        return sum(line.charge_cents for line in self.lines)

    @property
    def insurance_paid_cents(self) -> int:
        return sum(line.insurance_paid_cents for line in self.lines)

    @property
    def adjustments_cents(self) -> int:
        return sum(line.adjustment_cents for line in self.lines)

    def fingerprint(self) -> str:
        """A digest of the content, so re-importing the same statement can be told apart."""
        # The same text as json.dumps(dataclasses.asdict(self), ...), which fingerprints
        # already stored were made from, without asdict's deep copy (a third of an import).
        content = {**vars(self), "lines": [_line_content(line) for line in self.lines]}
        del content["version"]  # the content, whichever version carries it
        payload = json.dumps(content, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()


def _line_content(line: LineItem) -> dict:
    """A line's fields as fingerprinted: an empty description_es or claim_id is left out, so
    statements stored before they existed keep their fingerprint."""
    content = vars(line)
    if not line.description_es or not line.claim_id:
        content = {k: v for k, v in content.items() if v or k not in LATER_FIELDS}
    return content


LATER_FIELDS = frozenset({"description_es", "claim_id"})  # optional fields added since


def statement_errors(statement: Statement, patient_ids: set[str]) -> list[tuple[str, str]]:
    """Every problem with a statement, as (field, message) pairs; empty when it is sound."""
    errors: list[tuple[str, str]] = []
    if not statement.statement_id.strip():
        errors.append(("statement_id", "The statement id is required."))
    if statement.due_date < statement.statement_date:
        errors.append(("due_date", "The due date is before the statement date."))
    if not statement.lines:
        errors.append(("lines", "A statement needs at least one line item."))
    seen: set[str] = set()
    for i, line in enumerate(statement.lines):
        where = f"lines[{i}]"
        if line.line_id in seen:
            errors.append((f"{where}.line_id", f"Line id {line.line_id!r} appears twice."))
        seen.add(line.line_id)
        if line.patient_id not in patient_ids:
            errors.append(
                (f"{where}.patient_id", f"No patient {line.patient_id!r} on the account.")
            )
        if line.service_date > statement.statement_date:
            errors.append(
                (f"{where}.service_date", "The service date is after the statement date.")
            )
        if line.claim_id and not CLAIM_ID.fullmatch(line.claim_id):
            errors.append((f"{where}.claim_id", CLAIM_ID_RULE))
        problem = procedure_code_error(line.code_system, line.code)
        if problem:
            errors.append((f"{where}.code", problem))
        for j, dx in enumerate(line.diagnosis_codes):
            problem = diagnosis_code_error(dx)
            if problem:
                errors.append((f"{where}.diagnosis_codes[{j}]", problem))
        amounts = {
            "charge_cents": line.charge_cents,
            "insurance_paid_cents": line.insurance_paid_cents,
            "adjustment_cents": line.adjustment_cents,
            "patient_responsibility_cents": line.patient_responsibility_cents,
        }
        for name, value in amounts.items():
            if value < 0:
                errors.append((f"{where}.{name}", "The amount cannot be negative."))
        paid_and_owed = (
            line.insurance_paid_cents + line.adjustment_cents + line.patient_responsibility_cents
        )
        if line.charge_cents != paid_and_owed:
            errors.append(
                (
                    f"{where}.charge_cents",
                    "The charge must equal insurance paid + adjustment + patient responsibility.",
                )
            )
    return errors
