"""The statement import format, described once.

`STATEMENT` and the shapes it holds (guarantor, patients, line items) name every field of a
statement as JSON carries it, with its kind, whether it is required, its limits, its CSV
column and what it means. The import's checks (portal/services/imports.py) read statements
by this table, and the OpenAPI document (portal/web/openapi.py) describes them from it, so a
field or a limit changed here changes both. The rules across fields (the due date after the
statement date, a charge equal to what was paid and owed, a code valid for its code system,
unique ids) are in portal/domain/statements.py and portal/domain/codes.py.
"""

from dataclasses import dataclass
from enum import Enum

from portal.domain.codes import CODE_SYSTEMS, CPT_PATTERN, HCPCS_PATTERN, ICD10_PATTERN
from portal.domain.statements import CLAIM_ID

# Room for any real value; ids also become store keys, which have size limits (DynamoDB).
TEXT_LIMIT = 200
# Amounts in cents up to $999,999,999.99: tens of thousands of such lines still sum well
# inside the 64-bit integers SQLite and DynamoDB keep.
MAX_CENTS = 99_999_999_999
DATE_PATTERN = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
MAX_VERSION = 999_999
PROCEDURE_CODE_PATTERN = f"(?:{CPT_PATTERN}|{HCPCS_PATTERN})"


class Kind(Enum):
    TEXT = "text"  # trimmed; no control or text-direction characters
    EMAIL = "email"  # one plain address (its own checks)
    DATE = "date"  # YYYY-MM-DD
    CENTS = "cents"  # a whole number of cents, not negative
    VERSION = "version"  # a whole number from 1 (CSV: its digits); absent or empty is 1
    OBJECT = "object"  # the fields of `shape`
    LIST = "list"  # of `shape` objects, or of `item` values


@dataclass(frozen=True)
class Field:
    name: str
    kind: Kind
    description: str = ""
    required: bool = True
    max_length: int | None = None  # characters, after trimming
    multiline: bool = False  # TEXT: line breaks allowed
    choices: tuple[str, ...] = ()  # the only values allowed
    pattern: str | None = None  # what a value looks like (a regular expression)
    maximum: int | None = None  # CENTS
    min_items: int = 0  # LIST
    shape: "Shape | None" = None  # OBJECT, or a LIST of objects
    item: "Field | None" = None  # a LIST of values
    default: str = ""  # what an empty optional TEXT stands for
    csv: str | None = None  # the CSV column, when CSV carries the field
    csv_optional: bool = False  # the CSV column may be left out of the file altogether


@dataclass(frozen=True)
class Shape:
    """An object of the format: its OpenAPI schema name and its fields, in order."""

    name: str
    fields: tuple[Field, ...]
    description: str = ""

    def field(self, name: str) -> Field:
        return next(f for f in self.fields if f.name == name)


def _text(name: str, description: str, max_length: int = TEXT_LIMIT, **extra) -> Field:
    return Field(name, Kind.TEXT, description, max_length=max_length, **extra)


def _optional(name: str, description: str, **extra) -> Field:
    return Field(name, Kind.TEXT, description, required=False, max_length=TEXT_LIMIT, **extra)


def _date(name: str, description: str, **extra) -> Field:
    return Field(name, Kind.DATE, description, pattern=DATE_PATTERN, **extra)


def _cents(name: str, description: str, csv: str) -> Field:
    return Field(name, Kind.CENTS, description, maximum=MAX_CENTS, csv=csv)


SMS_CONSENT = Shape(
    "SmsConsent",
    (
        _optional(
            "phone",
            "The mobile number agreed to, e.g. +15555550123; empty: the guarantor's phone.",
        ),
        _text(
            "given_at",
            "When the guarantor agreed to billing texts: an ISO 8601 time with its offset "
            "(2026-10-14T09:30:00-04:00, or Z for UTC), or a date (taken as 00:00 UTC).",
            64,
            csv="sms_consent_at",
            csv_optional=True,
        ),
        _text(
            "source",
            "How the consent was given (e.g. intake form, front desk), kept with it.",
            100,
            csv="sms_consent_source",
            csv_optional=True,
        ),
    ),
    description=(
        "The guarantor's consent to billing texts at a mobile number (issue 22): without "
        "one, no text is sent. A consent older than the account's, or than a STOP the "
        "number texted since, changes nothing."
    ),
)

GUARANTOR = Shape(
    "Guarantor",
    (
        _text("first_name", "The guarantor's first name.", csv="guarantor_first_name"),
        _text("last_name", "The guarantor's last name.", csv="guarantor_last_name"),
        _date("date_of_birth", "The guarantor's date of birth", csv="guarantor_date_of_birth"),
        Field(
            "email",
            Kind.EMAIL,
            "One address like name@example.com (no display name, spaces or control "
            "characters), where statement notices and receipts go; empty for none.",
            required=False,
            max_length=TEXT_LIMIT,
            csv="guarantor_email",
        ),
        _optional(
            "phone", "A phone number, e.g. +15555550123; empty for none.", csv="guarantor_phone"
        ),
        _optional("preferred_language", "A language tag; empty means `en`.", default="en"),
        Field("sms_consent", Kind.OBJECT, required=False, shape=SMS_CONSENT),
    ),
)

PATIENT = Shape(
    "Patient",
    (
        _text("patient_id", "The patient's id on this account.", 64, csv="patient_id"),
        _text("first_name", "The patient's first name.", csv="patient_first_name"),
        _text("last_name", "The patient's last name.", csv="patient_last_name"),
        _date("date_of_birth", "The patient's date of birth", csv="patient_date_of_birth"),
    ),
)

LINE_ITEM = Shape(
    "LineItem",
    (
        _text("line_id", "Unique within the statement.", 64, csv="line_id"),
        # In CSV a line's patient is the row's patient_id column (read with the patient).
        _text("patient_id", "A patient of this statement or already on the account.", 64),
        _date("service_date", "On or before the statement date", csv="service_date"),
        _text("provider", "Who gave the service.", csv="provider"),
        _text("code_system", "", choices=CODE_SYSTEMS, csv="code_system"),
        _text(
            "code",
            "CPT: 4 digits then a digit, F, T or U (99213, 0001F); "
            "HCPCS Level II: a letter A-V then 4 digits (J1100).",
            pattern=PROCEDURE_CODE_PATTERN,
            csv="code",
        ),
        _text(
            "description",
            "The plain-language description of the service.",
            500,
            multiline=True,
            csv="description",
        ),
        Field(
            "description_es",
            Kind.TEXT,
            "The description in Spanish, shown to patients who read Spanish; empty shows the "
            "English description, marked as English.",
            required=False,
            max_length=500,
            multiline=True,
            csv="description_es",
            csv_optional=True,
        ),
        Field(
            "claim_id",
            Kind.TEXT,
            "The insurance claim this line was billed on: the patient control number the "
            "practice sent on the claim (CLP01 in the insurer's 835 remittance), so a "
            "remittance posts to this line; empty for none.",
            required=False,
            max_length=38,
            pattern=CLAIM_ID.pattern,
            csv="claim_id",
            csv_optional=True,
        ),
        Field(
            "diagnosis_codes",
            Kind.LIST,
            item=Field(
                "diagnosis_code",
                Kind.TEXT,
                "ICD-10-CM (J06.9, E11.65, S52.521A); ICD-9 is refused.",
                pattern=ICD10_PATTERN,
            ),
            csv="diagnosis_codes",  # separated by ";"
        ),
        _cents(
            "charge_cents",
            "insurance_paid_cents + adjustment_cents + patient_responsibility_cents,",
            csv="charge",
        ),
        _cents("insurance_paid_cents", "What insurance paid,", csv="insurance_paid"),
        _cents("adjustment_cents", "The contractual adjustment,", csv="adjustment"),
        _cents(
            "patient_responsibility_cents",
            "What is left for the patient,",
            csv="patient_responsibility",
        ),
    ),
)

STATEMENT = Shape(
    "Statement",
    (
        _text(
            "statement_id",
            "The statement number; the same id again with the same content is `unchanged`, "
            "with other content rejected.",
            64,
            csv="statement_id",
        ),
        _text(
            "account_number",
            "The guarantor account; an existing account only for the same guarantor (name "
            "ignoring case and accents, and date of birth).",
            32,
            csv="account_number",
        ),
        _date("statement_date", "The statement date", csv="statement_date"),
        _date("due_date", "On or after the statement date", csv="due_date"),
        Field(
            "version",
            Kind.VERSION,
            "1 unless the statement corrects one imported before (a re-bill): the same id "
            "with a higher version and other content replaces it (payments stay applied); "
            "a lower or equal version with other content is rejected.",
            required=False,
            maximum=MAX_VERSION,
            csv="version",
            csv_optional=True,
        ),
        Field("guarantor", Kind.OBJECT, shape=GUARANTOR),
        Field(
            "patients",
            Kind.LIST,
            "Patients the lines are for, unless already on the account; patient ids unique.",
            shape=PATIENT,
        ),
        Field(
            "lines",
            Kind.LIST,
            "At least one line; line ids unique in the statement.",
            min_items=1,
            shape=LINE_ITEM,
        ),
    ),
    description=(
        "Imported whole or not at all. A statement that breaks a rule is listed in "
        "`rejected` of the 200 answer with every (field, message) problem; the other "
        "statements of the request still import."
    ),
)

SHAPES = (STATEMENT, GUARANTOR, SMS_CONSENT, PATIENT, LINE_ITEM)


def csv_columns(optional: bool = False) -> tuple[str, ...]:
    """The CSV header: the columns of the statement's fields, then of those of the shapes it
    holds (guarantor, patient, line item), in the table's order. Those a file may leave out
    are listed only with `optional`, and then only they."""
    columns: list[str] = []

    def add(shape: Shape) -> None:
        for f in shape.fields:
            if f.csv and f.csv_optional == optional:
                columns.append(f.csv)
            if f.shape is not None:
                add(f.shape)

    add(STATEMENT)
    return tuple(columns)
