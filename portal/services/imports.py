"""Importing statements in bulk (JSON or CSV): one service for the `portal import` command,
the staff upload page and `POST /api/v1/statements`.

Every statement is checked, then stored all or nothing (a batch of them in one write of the
store, see `import_statements`); a bad statement is rejected with (field, message) pairs
and the others still import. The fields, their kinds and limits and the CSV columns are
read from the format's table
(portal/domain/import_format.py), which the OpenAPI document is made from too. CSV is
streamed: rows are read one at a time and a statement is handed on as soon as its last row
is read, so memory does not grow with the size of the file.

Encoding: CSV and JSON files must be UTF-8 (a byte-order mark is fine). A file that is not
is refused with the first offending line and a hint to save it as UTF-8: a Latin-1 or
Windows-1252 file cannot be told apart from other 8-bit encodings without guessing, and a
wrong guess would put a wrong name on a bill.
"""

import csv
import hashlib
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time
from typing import NoReturn

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.corrections import is_correction
from portal.domain.import_format import (
    DATE_PATTERN,
    GUARANTOR,
    LINE_ITEM,
    MAX_CENTS,
    PATIENT,
    STATEMENT,
    Field,
    Kind,
    Shape,
    csv_columns,
)
from portal.domain.names import name_key
from portal.domain.phones import normalize_phone
from portal.domain.staff import AuditAction
from portal.domain.statements import LineItem, Statement, statement_errors
from portal.domain.text import HIDDEN_CHARACTER, has_hidden_characters
from portal.domain.texting import SmsConsent
from portal.ports.ledger import ImportOutcome
from portal.services.audit import audit
from portal.services.context import Services
from portal.services.statements import CONFLICT, Notice, send_notices, store_statements
from portal.services.texting import imported_consent, record_imported_consent

Errors = list[tuple[str, str]]

CSV_COLUMNS = csv_columns()
OPTIONAL_CSV_COLUMNS = csv_columns(optional=True)
ABSENT = sys.maxsize  # the index of an optional column the file leaves out: read as empty
UTF8_HINT = "save the file as UTF-8 (in Excel: CSV UTF-8) and import it again"
REQUIRED = "This field is required."
TEXT = "Must be text."
CENTS = "Give the amount in whole cents as an integer, for example 1234 for $12.34."
NEGATIVE = "The amount cannot be negative."
# Never the value itself: a date of birth is health information, and errors are printed.
NOT_A_DATE = "Not a date: use YYYY-MM-DD, e.g. 2026-11-01."
# A JSON statements document may nest this deep (it needs 6 levels) and hold integers up to
# the largest amount in cents, anywhere in it.
MAX_JSON_DEPTH = 16
MAX_JSON_INTEGER = MAX_CENTS
_ISO_DATE = re.compile(DATE_PATTERN)
_DOLLARS = re.compile(r"[0-9]+\.[0-9]{2}")


class ImportFileError(ValueError):
    """The file as a whole cannot be read (not JSON, not UTF-8, a CSV column missing)."""


@dataclass(frozen=True)
class Rejection:
    statement_id: str
    errors: Errors

    def to_json(self) -> dict:
        return {
            "statement_id": self.statement_id,
            "errors": [{"field": f, "message": m} for f, m in self.errors],
        }


@dataclass
class ImportSummary:
    imported: int = 0
    unchanged: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    dry_run: bool = False
    # The notices of the statements imported, until they are sent (see import_records).
    notices: list[Notice] = field(default_factory=list, repr=False, compare=False)

    @property
    def line(self) -> str:
        return f"imported={self.imported} unchanged={self.unchanged} rejected={len(self.rejected)}"

    def to_json(self) -> dict:
        return {
            "imported": self.imported,
            "unchanged": self.unchanged,
            "rejected": [r.to_json() for r in self.rejected],
        }


class CsvStatement(dict):
    """A statement read from CSV rows: the JSON shape, plus the problems only CSV can have
    (an amount that is not dollars and cents, a row with the wrong number of fields...)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.problems: Errors = []
        self.first_cells: list[str] | None = None  # its own cells on its first row


class _BadRow(dict):
    """The place of a CSV row that could not be read, so later rows keep their index."""


# -- JSON ------------------------------------------------------------------------------------


def parse_json(data: bytes) -> list[dict]:
    """The statements of a `{"statements": [...]}` document. ImportFileError for anything
    that is not a readable one: not UTF-8, not strict JSON (NaN, Infinity), nested deeper
    than MAX_JSON_DEPTH, an integer beyond MAX_JSON_INTEGER, text that is half of a UTF-16
    surrogate pair (it cannot be stored or sent as UTF-8)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(f"Line {line} is not UTF-8 text: {UTF8_HINT}.") from None
    try:
        document = json.loads(text, parse_constant=_json_constant)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"The file is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}."
        ) from None
    except ImportFileError:
        raise
    except ValueError:  # an integer of thousands of digits
        raise ImportFileError(f"A number in the JSON is too large: {_AMOUNTS}.") from None
    except RecursionError:
        raise ImportFileError(_TOO_DEEP) from None
    if not isinstance(document, dict) or not isinstance(document.get("statements"), list):
        raise ImportFileError('The JSON must be an object with a "statements" list.')
    _check_json(document, surrogates=_SURROGATE_ESCAPE.search(text) is not None)
    return document["statements"]


_TOO_DEEP = f"The JSON is nested more than {MAX_JSON_DEPTH} levels deep."
_AMOUNTS = f"amounts are whole cents up to {MAX_JSON_INTEGER}"
# UTF-8 text holds no surrogates; only these escapes can make one (alone, or in a pair).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _json_constant(name: str) -> NoReturn:
    raise ImportFileError(f"The file is not valid JSON: {name} is not a JSON number.")


def _check_json(document: dict, surrogates: bool) -> None:
    """Depth and integers (and, when the text has surrogate escapes, strings) of a parsed
    document, without recursion: it may be deep, and a 5 MB list must not be slow."""
    stack: list[tuple[dict | list, int]] = [(document, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise ImportFileError(_TOO_DEEP)
        for item in value.values() if type(value) is dict else value:
            kind = type(item)
            if kind is dict or kind is list:
                if item:
                    stack.append((item, depth + 1))
            elif kind is int and _too_large(item):
                digits = str(item)
                shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
                place = _place(document, _too_large)
                raise ImportFileError(f"The number {shown} at {place} is too large: {_AMOUNTS}.")
    if surrogates:
        place = _place(document, lambda v: isinstance(v, str) and not _is_utf8(v))
        if place is not None:
            raise ImportFileError(
                f"The JSON text at {place} has a \\u escape for half of a UTF-16 surrogate "
                "pair (\\ud800-\\udfff) on its own: that is not text."
            )


def _place(document: object, bad: Callable[[object], bool]) -> str | None:
    """Where the first value (or object key) for which `bad` is true is, e.g.
    `statements[0].lines[2].charge_cents`; None when there is none."""
    stack: list[tuple[object, str]] = [(document, "")]
    while stack:
        value, where = stack.pop()
        if isinstance(value, dict):
            items = list(value.items())
        elif isinstance(value, list):
            items = list(enumerate(value))
        else:
            continue
        for key, item in reversed(items):
            place = f"{where}[{key}]" if isinstance(key, int) else f"{where}.{key}".lstrip(".")
            if bad(key) or bad(item):
                return ascii(place)
            stack.append((item, place))
    return None


def _too_large(value: object) -> bool:
    return type(value) is int and not -MAX_JSON_INTEGER <= value <= MAX_JSON_INTEGER


def _is_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# -- CSV -------------------------------------------------------------------------------------


def utf8_problem(lines: Iterable[bytes]) -> str | None:
    """The first line that is not UTF-8, as a message (one streaming pass), else None."""
    for number, raw in enumerate(lines, 1):
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            return f"Line {number} is not UTF-8 text: {UTF8_HINT}."
    return None


def _decoded(lines: Iterable[bytes | str]) -> Iterator[str]:
    for number, raw in enumerate(lines, 1):
        if isinstance(raw, str):
            yield raw.removeprefix("\ufeff") if number == 1 else raw
            continue
        try:
            yield raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError:
            raise ImportFileError(f"Line {number} is not UTF-8 text: {UTF8_HINT}.") from None


class _SeenIds:
    """Statement ids already read, in a fixed 1 MiB (a Bloom filter, 7 probes): the memory
    does not grow with the file. The chance of a false "seen" is below one in a million up to
    about 100,000 statements in one file."""

    BITS = 8 * 1024 * 1024
    PROBES = 7

    def __init__(self) -> None:
        self._bits = bytearray(self.BITS // 8)

    def _positions(self, key: str) -> Iterator[int]:
        digest = hashlib.blake2b(key.encode(), digest_size=8 * self.PROBES).digest()
        for i in range(self.PROBES):
            yield int.from_bytes(digest[8 * i : 8 * i + 8], "big") % self.BITS

    def add(self, key: str) -> bool:
        """Remember the key; True when it was (very probably) there already."""
        seen = True
        for pos in self._positions(key):
            byte, bit = divmod(pos, 8)
            if not self._bits[byte] >> bit & 1:
                seen = False
                self._bits[byte] |= 1 << bit
        return seen


def iter_csv(lines: Iterable[bytes | str]) -> Iterator[CsvStatement]:
    """Statements (the JSON shape) from CSV lines (bytes, a BOM and CRLF are fine); the
    rows of one statement must be next to each other."""
    reader = csv.reader(_decoded(lines))
    header = next(reader, None)
    if header is None:
        raise ImportFileError("The file is empty: the first line must name the columns.")
    header = [name.strip() for name in header]
    missing = [name for name in CSV_COLUMNS if name not in header]
    if missing:
        raise ImportFileError(f"The CSV has no column {', '.join(missing)} (line 1).")
    index = {name: header.index(name) for name in CSV_COLUMNS}
    for name in OPTIONAL_CSV_COLUMNS:
        index[name] = header.index(name) if name in header else ABSENT
    columns = _Columns.of(index, len(header))
    id_column = columns.statement_id
    seen = _SeenIds()
    current: CsvStatement | None = None
    for row in reader:
        number = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        statement_id = row[id_column].strip() if id_column < len(row) else ""
        if current is None or statement_id != current["statement_id"]:
            if current is not None:
                yield current
            current = _new_csv_statement(row, columns)
            if seen.add(statement_id):
                current.problems.append(
                    (
                        "statement_id",
                        f"CSV line {number}: rows of statement {statement_id!r} appear again "
                        "after other statements; keep the rows of a statement together.",
                    )
                )
        _add_csv_row(current, row, columns, number)
    if current is not None:
        yield current


# (field name, column index, a list separated by ";")
_TextColumns = tuple[tuple[str, int, bool], ...]


def _text_columns(shape: Shape, index: dict[str, int]) -> _TextColumns:
    """The fields of a shape that CSV carries as text (amounts are read on their own)."""
    return tuple(
        (f.name, index[f.csv], f.item is not None)
        for f in shape.fields
        if f.csv is not None and f.kind is not Kind.CENTS
    )


@dataclass(frozen=True)
class _Columns:
    """Where each field is in a row, worked out once from the header."""

    width: int
    statement_id: int
    statement: _TextColumns
    guarantor: _TextColumns
    patient: _TextColumns
    line: _TextColumns
    cents: tuple[tuple[Field, int], ...]
    same_on_every_row: tuple[int, ...]  # the statement's and the guarantor's columns
    consent: tuple[int, int]  # sms_consent_at, sms_consent_source (ABSENT: left out)

    @classmethod
    def of(cls, index: dict[str, int], width: int) -> "_Columns":
        statement = _text_columns(STATEMENT, index)
        guarantor = _text_columns(GUARANTOR, index)
        return cls(
            width,
            index["statement_id"],
            statement,
            guarantor,
            _text_columns(PATIENT, index),
            _text_columns(LINE_ITEM, index),
            tuple(
                (f, index[f.csv])
                for f in LINE_ITEM.fields
                if f.kind is Kind.CENTS and f.csv is not None
            ),
            tuple(i for _, i, _ in statement + guarantor if i != ABSENT),
            (index["sms_consent_at"], index["sms_consent_source"]),
        )


def _csv_fields(row: list[str], columns: _TextColumns) -> dict:
    """The fields in the JSON shape: diagnosis codes are separated by ";"."""
    size = len(row)
    values: dict = {}
    for name, i, listed in columns:
        if i == ABSENT:  # an optional column the file leaves out: as JSON leaving out the key
            continue
        text = row[i].strip() if i < size else ""
        values[name] = [c.strip() for c in text.split(";") if c.strip()] if listed else text
    return values


def _new_csv_statement(row: list[str], columns: _Columns) -> CsvStatement:
    guarantor = _csv_fields(row, columns.guarantor)
    at, source = (row[i].strip() if i < len(row) else "" for i in columns.consent)
    if at or source:
        guarantor["sms_consent"] = {"given_at": at, "source": source}
    statement = CsvStatement(
        **_csv_fields(row, columns.statement),
        guarantor=guarantor,
        patients=[],
        lines=[],
    )
    if len(row) == columns.width:
        statement.first_cells = [row[i] for i in columns.same_on_every_row]
    return statement


_SAME_ON_EVERY_ROW = ("account_number", "statement_date", "due_date")


def _add_csv_row(statement: CsvStatement, row: list[str], columns: _Columns, number: int) -> None:
    where = f"lines[{len(statement['lines'])}]"
    if len(row) != columns.width:
        statement.problems.append(
            (where, f"CSV line {number} has {len(row)} fields; the header has {columns.width}.")
        )
        statement["lines"].append(_BadRow())
        return
    # The statement's and guarantor's cells, as on its first row: compared as they are
    # (the usual case, exactly the same), and read again only when they differ.
    if [row[i] for i in columns.same_on_every_row] != statement.first_cells:
        first = _csv_fields(row, columns.statement)
        first["guarantor"] = _csv_fields(row, columns.guarantor)
        if "sms_consent" in statement["guarantor"]:  # read from the first row only
            first["guarantor"]["sms_consent"] = statement["guarantor"]["sms_consent"]
        for key in (*_SAME_ON_EVERY_ROW, "guarantor"):
            if first[key] != statement[key]:
                statement.problems.append(
                    (key, f"CSV line {number}: {key} differs from the statement's first row.")
                )
    patient = _csv_fields(row, columns.patient)
    known = next(
        (p for p in statement["patients"] if p["patient_id"] == patient["patient_id"]), None
    )
    if known is None:
        statement["patients"].append(patient)
    elif known != patient:
        statement.problems.append(
            (
                f"{where}.patient_id",
                f"CSV line {number}: patient {patient['patient_id']!r} has other details "
                "than on an earlier row.",
            )
        )
    line: dict = {**_csv_fields(row, columns.line), "patient_id": patient["patient_id"]}
    for f, i in columns.cents:
        text = row[i].strip()
        problem = _dollars_problem(text, f.maximum)
        if problem:
            statement.problems.append(
                (f"{where}.{f.name}", f"CSV line {number}, {f.csv} {text!r}: {problem}")
            )
            line[f.name] = 0
        else:
            line[f.name] = int(text.replace(".", ""))  # digits, a point, two digits: cents
    statement["lines"].append(line)


def _dollars_problem(text: str, maximum: int | None) -> str | None:
    if not text:
        return "Enter the amount in dollars with two decimals, for example 12.34."
    if text.startswith("-"):
        return NEGATIVE
    if not _DOLLARS.fullmatch(text):
        return "Enter the amount in dollars with two decimals, for example 12.34."
    if maximum is not None and int(text.replace(".", "")) > maximum:
        dollars, cents = divmod(maximum, 100)
        return f"The amount is too large: at most {dollars:,}.{cents:02d} dollars."
    return None


# -- checking a statement ------------------------------------------------------------------


def _text(obj: dict, f: Field, where: str, errors: Errors, plain: bool = True) -> str:
    """The field's text, trimmed; `plain` text (names, ids, providers, descriptions: shown in
    the console and on bills) may hold no control or text-direction characters (line breaks
    only in a `multiline` field)."""
    key = f.name
    value = obj.get(key, "")
    if value is None:
        value = ""
    if not isinstance(value, str):
        errors.append((where + key, TEXT))
        return ""
    value = value.strip()
    if f.required and not value:
        errors.append((where + key, REQUIRED))
    elif f.max_length is not None and len(value) > f.max_length:
        errors.append((where + key, f"Too long: at most {f.max_length} characters."))
    elif plain and has_hidden_characters(value, line_breaks=f.multiline):
        errors.append((where + key, HIDDEN_CHARACTER))
    return value or f.default


# One plain address, nothing around it: no spaces, commas, angle brackets, quotes or control
# characters, which could carry more recipients or mail headers ("a@b.com\r\nBcc: x@y.com").
_ADDRESS_PART = r"[^\s@,;:<>()\[\]\"\\\x00-\x1f\x7f-\x9f]+"
_EMAIL = re.compile(rf"{_ADDRESS_PART}@{_ADDRESS_PART}\.{_ADDRESS_PART}")
_LINE_BREAK = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
EMAIL_LINE_BREAK = "An e-mail address cannot contain line breaks or other control characters."
EMAIL_SHAPE = "Give one e-mail address like name@example.com, with no other text."


def _email(obj: dict, f: Field, where: str, errors: Errors) -> str:
    value = _text(obj, f, where, errors, plain=False)
    if value and _LINE_BREAK.search(value):
        errors.append((where + f.name, EMAIL_LINE_BREAK))
    elif value and not _EMAIL.fullmatch(value):
        errors.append((where + f.name, EMAIL_SHAPE))
    return value


def _date(obj: dict, f: Field, where: str, errors: Errors) -> date:
    key = f.name
    value = obj.get(key)
    if value is None or value == "":
        errors.append((where + key, REQUIRED))
        return date.min
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    errors.append((where + key, NOT_A_DATE))
    return date.min


def _cents(obj: dict, f: Field, where: str, errors: Errors) -> int:
    key = f.name
    value = obj.get(key)
    if value is None:
        errors.append((where + key, REQUIRED))
    elif isinstance(value, bool) or not isinstance(value, int):
        errors.append((where + key, CENTS))
    elif value < 0:
        errors.append((where + key, NEGATIVE))
    elif f.maximum is not None and value > f.maximum:
        # A JSON file or a CSV amount this large is refused as it is read; this is for
        # records handed over as they are.
        errors.append((where + key, f"Too large: at most {f.maximum} cents."))
    else:
        return value
    return 0


def _version(obj: dict, f: Field, where: str, errors: Errors) -> int:
    """JSON: an integer; CSV: its digits. Absent (or an empty CSV cell): 1."""
    value = obj.get(f.name)
    if value is None or (value == "" and isinstance(obj, CsvStatement)):
        return 1
    if isinstance(obj, CsvStatement) and isinstance(value, str) and value.isascii():
        value = int(value) if value.isdigit() and len(value) <= 9 else value
    if isinstance(value, bool) or not isinstance(value, int):
        errors.append((where + f.name, "Must be a whole number (1 for a first statement)."))
    elif not 1 <= value <= (f.maximum or value):
        errors.append((where + f.name, f"Must be from 1 to {f.maximum}."))
    else:
        return value
    return 1


def _object(obj: dict, f: Field, where: str, errors: Errors) -> dict:
    """The values of an object's fields; placeholders (and its one problem) when it is
    missing or not an object."""
    assert f.shape is not None, f"{f.name} is an object field without a shape"
    value = obj.get(f.name)
    if value is None and not f.required:
        return None  # type: ignore[return-value]
    if value is None:
        errors.append((where + f.name, REQUIRED))
    elif not isinstance(value, dict):
        errors.append((where + f.name, "Must be an object."))
    else:
        return read_fields(value, f.shape, f"{where}{f.name}.", errors)
    return read_fields({}, f.shape, f"{where}{f.name}.", [])


def _list(obj: dict, f: Field, where: str, errors: Errors) -> list:
    """The items of a list field: for a list of objects, (index, values) of each object
    (an unreadable CSV row, already reported, is left out); else the values."""
    key = f.name
    value = obj.get(key)
    if value is None:
        errors.append((where + key, REQUIRED))
        return []
    if not isinstance(value, list):
        errors.append((where + key, "Must be a list."))
        return []
    items: list = []
    for i, item in enumerate(value):
        place = f"{where}{key}[{i}]"
        if f.shape is not None:
            if isinstance(item, _BadRow):
                continue
            if not isinstance(item, dict):
                errors.append((place, "Must be an object."))
                continue
            items.append((i, read_fields(item, f.shape, place + ".", errors)))
        elif not isinstance(item, str):
            errors.append((place, TEXT))
        else:
            items.append(item.strip())
    return items


_READERS: dict[Kind, Callable[[dict, Field, str, Errors], object]] = {
    Kind.TEXT: _text,
    Kind.EMAIL: _email,
    Kind.DATE: _date,
    Kind.CENTS: _cents,
    Kind.VERSION: _version,
    Kind.OBJECT: _object,
    Kind.LIST: _list,
}


def read_fields(obj: dict, shape: Shape, where: str, errors: Errors) -> dict:
    """Each field of the shape read from `obj` as the format table says, by name."""
    return {f.name: read(obj, f, where, errors) for f, read in _readers(shape)}


_SHAPE_READERS: dict[int, tuple[Shape, tuple]] = {}


def _readers(shape: Shape) -> tuple:
    """(field, reader) of each field of a shape, looked up once: hashing the Kind enum for
    every field of every statement was 3% of a CSV import."""
    known = _SHAPE_READERS.get(id(shape))
    if known is None or known[0] is not shape:
        known = (shape, tuple((f, _READERS[f.kind]) for f in shape.fields))
        _SHAPE_READERS[id(shape)] = known
    return known[1]


def _patients(items: list[tuple[int, dict]], errors: Errors) -> list[Patient]:
    patients: list[Patient] = []
    for i, fields in items:
        patient = Patient(**fields)
        if patient.patient_id and any(q.patient_id == patient.patient_id for q in patients):
            errors.append(
                (f"patients[{i}].patient_id", f"Patient id {patient.patient_id!r} appears twice.")
            )
        patients.append(patient)
    return patients


def read_statement(
    record: dict, errors: Errors
) -> tuple[Guarantor, list[Patient], Statement, SmsConsent | None]:
    """The guarantor, patients and statement of a record; problems go to `errors` (when
    there are any, the returned values are placeholders and must not be stored)."""
    values: dict = {}
    patients: list[Patient] = []
    for f in STATEMENT.fields:
        values[f.name] = _READERS[f.kind](record, f, "", errors)
        if f.name == "patients":  # reported before the lines' problems
            patients = _patients(values["patients"], errors)
    consent_fields = values["guarantor"].pop("sms_consent", None)
    guarantor = Guarantor(**values["guarantor"])
    consent = _consent(consent_fields, guarantor, values["account_number"], errors)
    lines = tuple(
        LineItem(**{**fields, "diagnosis_codes": tuple(fields["diagnosis_codes"])})
        for _, fields in values["lines"]
    )
    statement = Statement(
        statement_id=values["statement_id"],
        account_number=values["account_number"],
        statement_date=values["statement_date"],
        due_date=values["due_date"],
        lines=lines,
        version=values["version"],
    )
    return guarantor, patients, statement, consent


def _consent(
    fields: dict | None, guarantor: Guarantor, account_number: str, errors: Errors
) -> SmsConsent | None:
    """The guarantor's consent to texts (`guarantor.sms_consent`), checked."""
    if not fields:
        return None
    where = "guarantor.sms_consent."
    phone = normalize_phone(fields["phone"] or guarantor.phone)
    if not phone:
        field = "phone" if fields["phone"] else "phone (the guarantor's)"
        errors.append((where + field, "Must be a mobile number, e.g. +15555550123."))
    given_at = _instant(fields["given_at"])
    if given_at is None and fields["given_at"]:
        errors.append(
            (
                where + "given_at",
                "Must be a time with its offset (2026-10-14T09:30:00-04:00) or a date "
                "(YYYY-MM-DD).",
            )
        )
    if not phone or given_at is None:
        return None
    return imported_consent(account_number, phone, given_at, fields["source"])


def _instant(text: str) -> datetime | None:
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at.astimezone(UTC) if at.tzinfo is not None else None


def _same_person(a: Guarantor, b: Guarantor) -> bool:
    return (
        name_key(a.first_name) == name_key(b.first_name)
        and name_key(a.last_name) == name_key(b.last_name)
        and a.date_of_birth == b.date_of_birth
    )


def check_statement(
    services: Services, record: object
) -> tuple[str, Account | None, Statement | None, Errors]:
    """(statement id, account, statement, errors): every problem with one record."""
    statement_id, read, errors = _read_record(record)
    if read is None:
        return statement_id, None, None, errors
    account, statement = _checked(services.store.get_account(read[2].account_number), read, errors)
    return statement_id, account, statement, errors


_Read = tuple[Guarantor, list[Patient], Statement, SmsConsent | None]


def _read_record(record: object) -> tuple[str, _Read | None, Errors]:
    """(statement id, what the record says, errors): the checks that need no store; what it
    says is None when they found problems."""
    if not isinstance(record, dict):
        return "", None, [("statement", "Each statement must be a JSON object.")]
    errors: Errors = list(getattr(record, "problems", []))
    raw_id = record.get("statement_id")
    statement_id = raw_id.strip() if isinstance(raw_id, str) else ""
    read = read_statement(record, errors)
    return statement_id, None if errors else read, errors


def _checked(existing: Account | None, read: _Read, errors: Errors) -> tuple[Account, Statement]:
    """The account as it is to be saved with the statement, checked against the account as
    it stands (`existing`); problems go to `errors`."""
    guarantor, patients, statement, _ = read
    if existing is not None and not _same_person(existing.guarantor, guarantor):
        errors.append(
            (
                "account_number",
                f"Account {statement.account_number} belongs to another guarantor "
                "(a different name or date of birth).",
            )
        )
    listed = {p.patient_id for p in patients}
    kept = tuple(p for p in (existing.patients if existing else ()) if p.patient_id not in listed)
    account = Account(
        account_number=statement.account_number,
        guarantor=guarantor,
        patients=(*kept, *patients),
        reminders_opted_out_at=existing.reminders_opted_out_at if existing else None,
    )
    errors += statement_errors(statement, {p.patient_id for p in account.patients})
    return account, statement


# -- importing -------------------------------------------------------------------------------

# Statements stored in one write (one SQLite transaction): large enough that the commit is
# a small part of each statement's cost, small enough that other writers wait briefly.
IMPORT_BATCH = 200


def import_records(
    services: Services,
    records: Iterable[dict],
    actor: str,
    dry_run: bool = False,
    progress: Callable[[Iterable[dict]], Iterable[dict]] | None = None,
    *,
    notify: bool = True,
    address: str = "",
    batch_size: int = IMPORT_BATCH,
    send: bool = True,
) -> ImportSummary:
    """Check and import each statement on its own (all or nothing per statement); one
    audit entry for the whole call. `dry_run` checks everything and stores nothing.
    `progress` wraps the records (e.g. in a progress bar) and yields them on.

    Statements are stored `batch_size` at a time (see `import_statements`), checked as if
    one by one: against the accounts as the statements before them in the batch leave them.
    Their notices (`notify`) are claimed with them and sent once every statement is
    stored, so no write of the import waits on the mail server; `send=False` leaves them
    in `summary.notices` for the caller to send (`send_notices`), or for the sweep."""
    summary = ImportSummary(dry_run=dry_run)
    wrapped = progress(records) if progress else records
    if dry_run:
        for record in wrapped:
            _dry_run(services, record, summary)
    else:
        batch: list[object] = []
        for record in wrapped:
            batch.append(record)
            if len(batch) == batch_size:
                _import_batch(services, batch, summary, notify)
                batch = []
        _import_batch(services, batch, summary, notify)
    audit(
        services,
        actor,
        AuditAction.IMPORT_STATEMENTS,
        subject=("dry run: " if dry_run else "") + summary.line,
        address=address,
    )
    if send:
        send_notices(services, summary.notices)
        summary.notices = []
    return summary


def _dry_run(services: Services, record: object, summary: ImportSummary) -> None:
    statement_id, account, statement, errors = check_statement(services, record)
    if errors or account is None or statement is None:
        pass  # the errors say why (without errors, check_statement gives both)
    else:
        stored = services.store.get_statement(statement.statement_id)
        state = services.store.import_state((), (statement.statement_id,))
        if stored is None:
            summary.imported += 1
        elif state.fingerprints.get(statement.statement_id) == statement.fingerprint():
            summary.unchanged += 1
        elif is_correction(stored.version, statement):
            summary.imported += 1
        else:
            errors = [("statement_id", CONFLICT)]
    if errors:
        summary.rejected.append(Rejection(statement_id, errors))


def _import_batch(
    services: Services, records: list[object], summary: ImportSummary, notify: bool
) -> None:
    if not records:
        return
    reads = [_read_record(record) for record in records]
    sound = [read for _, read, _ in reads if read is not None]
    state = services.store.import_state(
        (r[2].account_number for r in sound), (r[2].statement_id for r in sound)
    )
    # The accounts as the statements before each one leave them: a statement that will be
    # imported (its id is new) saves its account, one unchanged or in conflict does not.
    accounts = dict(state.accounts)
    fingerprints = dict(state.fingerprints)
    checked: list[tuple[Account, Statement]] = []
    places: list[int | None] = []  # per record: its index in `checked`, None if rejected
    for _, read, errors in reads:
        if read is not None:
            number = read[2].account_number
            account, statement = _checked(accounts.get(number), read, errors)
            if not errors:
                places.append(len(checked))
                checked.append((account, statement))
                if statement.statement_id not in fingerprints:
                    fingerprints[statement.statement_id] = ""
                    accounts[number] = _as_stored(account)
                continue
        places.append(None)
    outcomes, notices = store_statements(services, checked, notify=notify)
    summary.notices += notices
    kept = (ImportOutcome.IMPORTED, ImportOutcome.UNCHANGED)
    for (_, read, _), place in zip(reads, places, strict=True):
        if place is not None and read is not None and read[3] and outcomes[place] in kept:
            record_imported_consent(services, read[3])
    for (statement_id, _, errors), place in zip(reads, places, strict=True):
        outcome = None if place is None else outcomes[place]
        if outcome in (ImportOutcome.IMPORTED, ImportOutcome.CORRECTED):
            summary.imported += 1
        elif outcome is ImportOutcome.UNCHANGED:
            summary.unchanged += 1
        elif outcome is ImportOutcome.CONFLICT:
            summary.rejected.append(Rejection(statement_id, [("statement_id", CONFLICT)]))
        else:
            summary.rejected.append(Rejection(statement_id, errors))


def _as_stored(account: Account) -> Account:
    """The account as the store gives it back once saved (patients by id)."""
    return replace(account, patients=tuple(sorted(account.patients, key=lambda p: p.patient_id)))
