"""Importing statements from JSON and CSV (`portal.services.imports`), the `portal import`
command and the staff upload page, on SQLite: every bad input is rejected with its exact
(statement id, field, message) and leaves the store as it was."""

import copy
import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import cli
from portal.domain.staff import AuditAction
from portal.services.imports import (
    CENTS,
    CSV_COLUMNS,
    NEGATIVE,
    REQUIRED,
    TEXT,
    ImportFileError,
    Rejection,
    import_records,
    iter_csv,
    parse_json,
)
from tests.integration.conftest import eml_files, read_eml
from tests.integration.staff_helpers import make_staff, staff_sign_in

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
DOLLARS = "Enter the amount in dollars with two decimals, for example 12.34."
CONFLICT = "A different statement with this id was imported before."
NOT_A_DATE = "Not a date: use YYYY-MM-DD, e.g. 2026-11-01."


def good() -> dict:
    return {
        "statement_id": "S-2026-004101",
        "account_number": "200411",
        "statement_date": "2026-11-01",
        "due_date": "2026-11-30",
        "guarantor": {
            "first_name": "Hannah",
            "last_name": "Whitfield",
            "date_of_birth": "1979-04-22",
            "email": "hannah@example.com",
            "phone": "+15555550141",
            "preferred_language": "en",
        },
        "patients": [
            {
                "patient_id": "P1",
                "first_name": "Hannah",
                "last_name": "Whitfield",
                "date_of_birth": "1979-04-22",
            }
        ],
        "lines": [
            {
                "line_id": "1",
                "patient_id": "P1",
                "service_date": "2026-10-06",
                "provider": "Dr. Chen",
                "code_system": "CPT",
                "code": "99214",
                "description": "Office visit, established patient",
                "diagnosis_codes": ["E11.65"],
                "charge_cents": 24500,
                "insurance_paid_cents": 16200,
                "adjustment_cents": 4300,
                "patient_responsibility_cents": 4000,
            },
            {
                "line_id": "2",
                "patient_id": "P1",
                "service_date": "2026-10-06",
                "provider": "Dr. Chen",
                "code_system": "HCPCS",
                "code": "J1100",
                "description": "Dexamethasone injection",
                "diagnosis_codes": ["J45.901"],
                "charge_cents": 3500,
                "insurance_paid_cents": 2000,
                "adjustment_cents": 500,
                "patient_responsibility_cents": 1000,
            },
        ],
    }


def changed(path: str, value) -> dict:
    """The good statement with one field set (value ... removes it)."""
    record = good()
    *parents, last = path.replace("[", ".").replace("]", "").split(".")
    target = record
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    key = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return record


def lopez_record(**overrides) -> dict:
    """A statement for the fixture's account 100234 (Maria Lopez, patients P1, P2)."""
    record = good()
    record.update(account_number="100234", **overrides)
    record["guarantor"] = {
        "first_name": "Maria",
        "last_name": "Lopez",
        "date_of_birth": "1984-03-12",
    }
    record["patients"] = []
    return record


S = "S-2026-004101"
CPT_BAD = "Not a CPT code (4 digits then a digit, F, T or U, e.g. 99213)."
BAD_JSON = [  # id, record, expected statement id, expected errors
    ("no statement_id", changed("statement_id", ...), "", [("statement_id", REQUIRED)]),
    ("statement_id a number", changed("statement_id", 123), "", [("statement_id", TEXT)]),
    ("blank statement_id", changed("statement_id", "  "), "", [("statement_id", REQUIRED)]),
    ("no account_number", changed("account_number", ...), S, [("account_number", REQUIRED)]),
    (
        "month 13",
        changed("statement_date", "2026-13-01"),
        S,
        [("statement_date", NOT_A_DATE)],
    ),
    (
        "US date",
        changed("statement_date", "11/01/2026"),
        S,
        [("statement_date", NOT_A_DATE)],
    ),
    (
        "basic ISO date",
        changed("statement_date", "20261101"),
        S,
        [("statement_date", NOT_A_DATE)],
    ),
    ("date a number", changed("due_date", 20261130), S, [("due_date", NOT_A_DATE)]),
    ("no due_date", changed("due_date", ...), S, [("due_date", REQUIRED)]),
    (
        "due before statement",
        changed("due_date", "2026-10-31"),
        S,
        [("due_date", "The due date is before the statement date.")],
    ),
    (
        "service after statement",
        changed("lines[1].service_date", "2026-11-02"),
        S,
        [("lines[1].service_date", "The service date is after the statement date.")],
    ),
    ("no guarantor", changed("guarantor", ...), S, [("guarantor", REQUIRED)]),
    ("guarantor text", changed("guarantor", "Hannah"), S, [("guarantor", "Must be an object.")]),
    (
        "no guarantor first name",
        changed("guarantor.first_name", ...),
        S,
        [("guarantor.first_name", REQUIRED)],
    ),
    (
        "empty guarantor last name",
        changed("guarantor.last_name", ""),
        S,
        [("guarantor.last_name", REQUIRED)],
    ),
    (
        "guarantor born on 30 February",
        changed("guarantor.date_of_birth", "1979-02-30"),
        S,
        [("guarantor.date_of_birth", NOT_A_DATE)],
    ),
    ("guarantor email a number", changed("guarantor.email", 5), S, [("guarantor.email", TEXT)]),
    ("patients not a list", changed("patients", {}), S, [("patients", "Must be a list.")]),
    (
        "patient without birth date",
        changed("patients[0].date_of_birth", ...),
        S,
        [("patients[0].date_of_birth", REQUIRED)],
    ),
    (
        "patient not an object",
        changed("patients[0]", "P1"),
        S,
        [("patients[0]", "Must be an object.")],
    ),
    ("no lines", changed("lines", []), S, [("lines", "A statement needs at least one line item.")]),
    ("lines missing", changed("lines", ...), S, [("lines", REQUIRED)]),
    ("line not an object", changed("lines[0]", 7), S, [("lines[0]", "Must be an object.")]),
    ("no line_id", changed("lines[0].line_id", ...), S, [("lines[0].line_id", REQUIRED)]),
    ("provider a number", changed("lines[0].provider", 3), S, [("lines[0].provider", TEXT)]),
    (
        "no description",
        changed("lines[1].description", ""),
        S,
        [("lines[1].description", REQUIRED)],
    ),
    ("short CPT", changed("lines[0].code", "9921"), S, [("lines[0].code", CPT_BAD)]),
    (
        "CPT letter",
        changed("lines[0].code", "99213X"),
        S,
        [("lines[0].code", CPT_BAD)],
    ),
    (
        "HCPCS W",
        changed("lines[1].code", "W1234"),
        S,
        [
            (
                "lines[1].code",
                "Not a HCPCS Level II code (a letter A-V then 4 digits, e.g. J1100).",
            )
        ],
    ),
    (
        "unknown code system",
        changed("lines[0].code_system", "ICD"),
        S,
        [("lines[0].code", "Unknown code system 'ICD': use CPT or HCPCS.")],
    ),
    (
        "ICD-9 diagnosis",
        changed("lines[0].diagnosis_codes", ["250.00"]),
        S,
        [
            (
                "lines[0].diagnosis_codes[0]",
                "Looks like an ICD-9 code; ICD-9 is retired, use ICD-10-CM.",
            )
        ],
    ),
    (
        "bad ICD-10",
        changed("lines[1].diagnosis_codes", ["J45.901", "J6"]),
        S,
        [
            (
                "lines[1].diagnosis_codes[1]",
                "Not an ICD-10-CM code (e.g. J06.9, E11.65, S52.521A).",
            )
        ],
    ),
    (
        "diagnosis codes text",
        changed("lines[0].diagnosis_codes", "E11.65"),
        S,
        [("lines[0].diagnosis_codes", "Must be a list.")],
    ),
    (
        "diagnosis code a number",
        changed("lines[0].diagnosis_codes", [250]),
        S,
        [("lines[0].diagnosis_codes[0]", TEXT)],
    ),
    (
        "charge a float",
        changed("lines[0].charge_cents", 24500.0),
        S,
        [("lines[0].charge_cents", CENTS)],
    ),
    (
        "charge a string",
        changed("lines[0].charge_cents", "24500"),
        S,
        [("lines[0].charge_cents", CENTS)],
    ),
    (
        "charge a boolean",
        changed("lines[0].charge_cents", True),
        S,
        [("lines[0].charge_cents", CENTS)],
    ),
    (
        "negative adjustment",
        changed("lines[0].adjustment_cents", -1),
        S,
        [("lines[0].adjustment_cents", NEGATIVE)],
    ),
    (
        "no patient responsibility",
        changed("lines[1].patient_responsibility_cents", ...),
        S,
        [("lines[1].patient_responsibility_cents", REQUIRED)],
    ),
    (
        "charge does not add up",
        changed("lines[0].charge_cents", 24501),
        S,
        [
            (
                "lines[0].charge_cents",
                "The charge must equal insurance paid + adjustment + patient responsibility.",
            )
        ],
    ),
    (
        "duplicate line id",
        changed("lines[1].line_id", "1"),
        S,
        [("lines[1].line_id", "Line id '1' appears twice.")],
    ),
    (
        "unknown patient",
        changed("lines[1].patient_id", "P9"),
        S,
        [("lines[1].patient_id", "No patient 'P9' on the account.")],
    ),
    (
        "duplicate patient id",
        changed("patients", [good()["patients"][0]] * 2),
        S,
        [("patients[1].patient_id", "Patient id 'P1' appears twice.")],
    ),
    (
        "account of another guarantor",
        changed("account_number", "100234"),
        S,
        [
            (
                "account_number",
                "Account 100234 belongs to another guarantor (a different name or date of birth).",
            )
        ],
    ),
    (
        "same name, other birth date",
        {
            **lopez_record(),
            "guarantor": {
                "first_name": "Maria",
                "last_name": "Lopez",
                "date_of_birth": "1984-03-13",
            },
        },
        S,
        [
            (
                "account_number",
                "Account 100234 belongs to another guarantor (a different name or date of birth).",
            )
        ],
    ),
    (
        "same id, other content",
        lopez_record(statement_id="S-2026-000123"),
        "S-2026-000123",
        [("statement_id", CONFLICT)],
    ),
    ("not an object", ["S-1"], "", [("statement", "Each statement must be a JSON object.")]),
    (
        "statement_id too long",
        changed("statement_id", "S" * 65),
        "S" * 65,
        [("statement_id", "Too long: at most 64 characters.")],
    ),
    (
        "account_number too long",
        changed("account_number", "1" * 33),
        S,
        [("account_number", "Too long: at most 32 characters.")],
    ),
    (
        "description too long",
        changed("lines[0].description", "x" * 501),
        S,
        [("lines[0].description", "Too long: at most 500 characters.")],
    ),
    (
        "last name too long",
        changed("guarantor.last_name", "W" * 201),
        S,
        [("guarantor.last_name", "Too long: at most 200 characters.")],
    ),
]


def snapshot(services) -> tuple:
    store = services.store
    return (
        store.account_records("200411"),
        store.account_records("200435"),
        store.account_records("100234"),
        store.get_statement(S),
        store.get_statement("S-2026-004201"),
        store.get_statement("S-2026-000123"),
        len(store.audit_entries(limit=1000)),
    )


@pytest.mark.parametrize(
    ("record", "statement_id", "errors"),
    [case[1:] for case in BAD_JSON],
    ids=[case[0] for case in BAD_JSON],
)
@pytest.mark.parametrize("dry_run", [False, True], ids=["import", "dry-run"])
def test_a_bad_statement_is_rejected_exactly_and_nothing_is_stored(
    services, lopez, record, statement_id, errors, dry_run
):
    before = snapshot(services)
    summary = import_records(services, [copy.deepcopy(record)], "tester", dry_run)
    assert summary.rejected == [Rejection(statement_id, errors)]
    assert (summary.imported, summary.unchanged) == (0, 0)
    assert snapshot(services)[:-1] == before[:-1]
    assert snapshot(services)[-1] == before[-1] + 1  # the one audit entry of the call


def test_the_corpus_is_large_enough():
    assert len(BAD_JSON) + len(BAD_CSV) + len(BAD_FILES) >= 40


# -- CSV -------------------------------------------------------------------------------------


def csv_rows() -> list[dict]:
    """The CSV rows of the good statement."""
    record = good()
    g = record["guarantor"]
    rows = []
    for item in record["lines"]:
        p = record["patients"][0]
        rows.append(
            {
                "statement_id": record["statement_id"],
                "account_number": record["account_number"],
                "statement_date": record["statement_date"],
                "due_date": record["due_date"],
                "guarantor_first_name": g["first_name"],
                "guarantor_last_name": g["last_name"],
                "guarantor_date_of_birth": g["date_of_birth"],
                "guarantor_email": g["email"],
                "guarantor_phone": g["phone"],
                "patient_id": p["patient_id"],
                "patient_first_name": p["first_name"],
                "patient_last_name": p["last_name"],
                "patient_date_of_birth": p["date_of_birth"],
                **{k: item[k] for k in ("line_id", "service_date", "provider", "code_system")},
                "code": item["code"],
                "description": item["description"],
                "diagnosis_codes": ";".join(item["diagnosis_codes"]),
                **{
                    column: f"{item[column + '_cents'] / 100:.2f}"
                    for column in (
                        "charge",
                        "insurance_paid",
                        "adjustment",
                        "patient_responsibility",
                    )
                },
            }
        )
    return rows


def csv_bytes(rows: list[dict], columns=CSV_COLUMNS, newline: str = "\n") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=newline)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([row.get(c, "") for c in columns] if isinstance(row, dict) else row)
    return out.getvalue().encode()


def csv_with(row: int, column: str, value: str) -> bytes:
    rows = csv_rows()
    rows[row][column] = value
    return csv_bytes(rows)


def short_row() -> bytes:
    rows = [[r[c] for c in CSV_COLUMNS] for r in csv_rows()]
    rows[1] = rows[1][:-1]
    return csv_bytes(rows)


BAD_CSV = [
    (
        "three decimals",
        csv_with(0, "charge", "12.345"),
        [("lines[0].charge_cents", f"CSV line 2, charge '12.345': {DOLLARS}")],
    ),
    (
        "exponent",
        csv_with(0, "insurance_paid", "1e3"),
        [("lines[0].insurance_paid_cents", f"CSV line 2, insurance_paid '1e3': {DOLLARS}")],
    ),
    (
        "negative dollars",
        csv_with(1, "adjustment", "-1.00"),
        [("lines[1].adjustment_cents", f"CSV line 3, adjustment '-1.00': {NEGATIVE}")],
    ),
    (
        "one decimal",
        csv_with(1, "charge", "35.0"),
        [("lines[1].charge_cents", f"CSV line 3, charge '35.0': {DOLLARS}")],
    ),
    (
        "dollar sign",
        csv_with(1, "charge", "$35.00"),
        [("lines[1].charge_cents", f"CSV line 3, charge '$35.00': {DOLLARS}")],
    ),
    (
        "empty amount",
        csv_with(0, "patient_responsibility", ""),
        [
            (
                "lines[0].patient_responsibility_cents",
                f"CSV line 2, patient_responsibility '': {DOLLARS}",
            )
        ],
    ),
    (
        "wrong number of fields",
        short_row(),
        [("lines[1]", "CSV line 3 has 23 fields; the header has 24.")],
    ),
    (
        "statement date differs between rows",
        csv_with(1, "statement_date", "2026-11-02"),
        [("statement_date", "CSV line 3: statement_date differs from the statement's first row.")],
    ),
    (
        "guarantor differs between rows",
        csv_with(1, "guarantor_last_name", "Whitfeld"),
        [("guarantor", "CSV line 3: guarantor differs from the statement's first row.")],
    ),
    (
        "patient details differ between rows",
        csv_with(1, "patient_date_of_birth", "1979-04-23"),
        [
            (
                "lines[1].patient_id",
                "CSV line 3: patient 'P1' has other details than on an earlier row.",
            )
        ],
    ),
    (
        "ICD-9 in CSV",
        csv_with(1, "diagnosis_codes", "J45.901;493.90"),
        [
            (
                "lines[1].diagnosis_codes[1]",
                "Looks like an ICD-9 code; ICD-9 is retired, use ICD-10-CM.",
            )
        ],
    ),
    (
        "CSV date in US format",
        csv_with(0, "service_date", "10/06/2026"),
        [("lines[0].service_date", NOT_A_DATE)],
    ),
    (
        "CSV without a guarantor birth date",
        csv_bytes([{**r, "guarantor_date_of_birth": ""} for r in csv_rows()]),
        [("guarantor.date_of_birth", REQUIRED)],
    ),
    (
        "amount beyond the largest",
        csv_with(0, "charge", "1000000000.00"),
        [
            (
                "lines[0].charge_cents",
                "CSV line 2, charge '1000000000.00': The amount is too large: "
                "at most 999,999,999.99 dollars.",
            )
        ],
    ),
]


@pytest.mark.parametrize(("data", "errors"), [c[1:] for c in BAD_CSV], ids=[c[0] for c in BAD_CSV])
def test_a_bad_csv_statement_is_rejected_exactly(services, lopez, data, errors):
    before = snapshot(services)
    summary = import_records(services, iter_csv(io.BytesIO(data)), "tester")
    assert summary.rejected == [Rejection(S, errors)]
    assert (summary.imported, summary.unchanged) == (0, 0)
    assert snapshot(services)[:-1] == before[:-1]


LATIN1 = csv_with(1, "guarantor_last_name", "Núñez").decode().encode("latin-1")
NOT_UTF8 = (
    "Line 3 is not UTF-8 text: save the file as UTF-8 (in Excel: CSV UTF-8) and import it again."
)
BAD_FILES = [  # id, file name, content, the one message
    (
        "malformed JSON",
        "s.json",
        b'{"statements": [',
        "The file is not valid JSON: Expecting value at line 1 column 17.",
    ),
    (
        "JSON trailing comma",
        "s.json",
        b'{"statements": [{}],}',
        "The file is not valid JSON: Expecting property name enclosed in double quotes "
        "at line 1 column 21.",
    ),
    ("JSON list", "s.json", b"[]", 'The JSON must be an object with a "statements" list.'),
    (
        "statements not a list",
        "s.json",
        b'{"statements": {}}',
        'The JSON must be an object with a "statements" list.',
    ),
    (
        "JSON not UTF-8",
        "s.json",
        '{"statements": [],\n "x": "Núñez"}'.encode("latin-1"),
        "Line 2 is not UTF-8 text: save the file as UTF-8 (in Excel: CSV UTF-8) and import it "
        "again.",
    ),
    (
        "CSV without a column",
        "s.csv",
        csv_bytes(csv_rows(), [c for c in CSV_COLUMNS if c != "diagnosis_codes"]),
        "The CSV has no column diagnosis_codes (line 1).",
    ),
    (
        "CSV without two columns",
        "s.csv",
        csv_bytes(csv_rows(), [c for c in CSV_COLUMNS if c not in ("charge", "code")]),
        "The CSV has no column code, charge (line 1).",
    ),
    ("empty CSV", "s.csv", b"", "The file is empty: the first line must name the columns."),
    ("CSV in Latin-1", "s.csv", LATIN1, NOT_UTF8),
]


def read_file(name: str, data: bytes) -> list:
    if name.endswith(".json"):
        return parse_json(data)
    return list(iter_csv(io.BytesIO(data)))


@pytest.mark.parametrize(
    ("name", "data", "message"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
def test_a_file_that_cannot_be_read_is_refused_by_the_cli_and_nothing_stored(
    app, services, lopez, tmp_path, name, data, message
):
    with pytest.raises(ImportFileError) as refused:
        read_file(name, data)
    assert str(refused.value) == message

    path = tmp_path / name
    path.write_bytes(data)
    before = snapshot(services)
    result = invoke(app, "import", str(path))
    assert result.exit_code == 2
    assert result.output.strip() == f"portal: {path}: {message}"
    assert snapshot(services) == before


def test_a_bom_crlf_and_quoted_commas_and_newlines_import_correctly(services):
    rows = csv_rows()
    rows[0]["description"] = 'Office visit, established patient, "moderate"'
    rows[1]["description"] = "Dexamethasone injection,\n4 mg"
    data = b"\xef\xbb\xbf" + csv_bytes(rows, newline="\r\n")
    assert data.count(b"\r\n") == 3
    summary = import_records(services, iter_csv(io.BytesIO(data)), "tester")
    assert (summary.imported, summary.rejected) == (1, [])
    stored = services.store.get_statement(S)
    assert stored.lines[0].description == 'Office visit, established patient, "moderate"'
    assert stored.lines[1].description == "Dexamethasone injection,\n4 mg"
    assert [line.charge_cents for line in stored.lines] == [24500, 3500]
    account = services.store.get_account("200411")
    assert account.guarantor.last_name == "Whitfield"


def test_csv_and_json_of_the_same_statement_are_the_same(services):
    csv_record = next(iter_csv(io.BytesIO(csv_bytes(csv_rows()))))
    expected = good()
    del expected["guarantor"]["preferred_language"]
    assert csv_record == expected
    import_records(services, [good()], "tester")
    again = import_records(services, [csv_record], "tester")
    assert (again.imported, again.unchanged, again.rejected) == (0, 1, [])


def test_a_reappearing_statement_id_is_rejected(services):
    other = [{**r, "statement_id": "S-2026-004102", "account_number": "200412"} for r in csv_rows()]
    first, second = csv_rows()
    data = csv_bytes([first, *other, second])
    summary = import_records(services, iter_csv(io.BytesIO(data)), "tester")
    assert summary.imported == 2
    assert summary.rejected == [
        Rejection(
            S,
            [
                (
                    "statement_id",
                    "CSV line 5: rows of statement 'S-2026-004101' appear again after other "
                    "statements; keep the rows of a statement together.",
                )
            ],
        )
    ]
    assert len(services.store.get_statement(S).lines) == 1  # the first part, as it was read


# -- good imports ------------------------------------------------------------------------------


def test_the_same_name_with_other_case_and_accents_is_the_same_guarantor(services, lopez):
    record = lopez_record(statement_id="S-2026-009999")
    record["guarantor"] = {
        "first_name": "MARÍA",
        "last_name": "lópez",
        "date_of_birth": "1984-03-12",
    }
    summary = import_records(services, [record], "tester")
    assert (summary.imported, summary.rejected) == (1, [])
    account = services.store.get_account("100234")
    assert {p.patient_id for p in account.patients} == {"P1", "P2"}  # kept
    assert services.store.get_statement("S-2026-009999").total_cents == 5000


@pytest.mark.parametrize("name", ["statements.json", "statements.csv"])
def test_the_examples_import_and_a_second_import_is_unchanged(services, name):
    data = (EXAMPLES / name).read_bytes()
    first = import_records(services, read_file(name, data), "tester")
    assert (first.imported, first.unchanged, first.rejected) == (2, 0, [])
    records_after_first = snapshot(services)[:-1]
    second = import_records(services, read_file(name, data), "tester")
    assert (second.imported, second.unchanged, second.rejected) == (0, 2, [])
    assert snapshot(services)[:-1] == records_after_first


def test_a_dry_run_counts_but_stores_nothing(services, lopez):
    before = snapshot(services)
    records = [good(), lopez_record(statement_id="S-2026-000123"), changed("statement_id", "S-2")]
    records[2]["account_number"] = "200499"
    summary = import_records(services, records, "tester", dry_run=True)
    assert (summary.imported, summary.unchanged) == (2, 0)
    assert summary.rejected == [Rejection("S-2026-000123", [("statement_id", CONFLICT)])]
    assert snapshot(services)[:-1] == before[:-1]


def test_one_audit_entry_per_import(services):
    import_records(services, [good(), changed("lines", [])], "carol", address="10.0.0.9")
    entries = services.store.audit_entries(limit=5)
    found = [(e.actor, e.action, e.subject, e.address) for e in entries]
    assert found == [
        ("carol", AuditAction.IMPORT_STATEMENTS, "imported=1 unchanged=0 rejected=1", "10.0.0.9")
    ]


def test_the_summary_as_the_api_answers_it(services):
    summary = import_records(services, [good(), changed("lines[0].code", "9921")], "api")
    summary.rejected[0] = Rejection("S-x", summary.rejected[0].errors)
    assert summary.to_json() == {
        "imported": 1,
        "unchanged": 0,
        "rejected": [
            {
                "statement_id": "S-x",
                "errors": [{"field": "lines[0].code", "message": CPT_BAD}],
            }
        ],
    }


# -- the command -------------------------------------------------------------------------------


def invoke(app, *args: str):
    with app.app_context():
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_cli_imports_prints_the_summary_and_exits_0(app, services):
    result = invoke(app, "import", str(EXAMPLES / "statements.csv"))
    assert result.exit_code == 0, result.output
    assert result.output == "2 imported, 0 unchanged, 0 rejected.\n"
    again = invoke(app, "import", str(EXAMPLES / "statements.csv"))
    assert (again.exit_code, again.output) == (0, "0 imported, 2 unchanged, 0 rejected.\n")
    entry = services.store.audit_entries(limit=1)[0]
    assert (entry.actor, entry.action) == ("cli", AuditAction.IMPORT_STATEMENTS)


def test_the_cli_lists_rejections_and_exits_1(app, services, tmp_path):
    path = tmp_path / "statements.json"
    bad = changed("lines[0].diagnosis_codes", ["250.00"])
    other = changed("statement_id", "S-2026-004102")
    other["account_number"] = "200412"
    path.write_text(json.dumps({"statements": [bad, other]}))
    result = invoke(app, "import", str(path))
    assert result.exit_code == 1
    assert result.output == (
        "1 imported, 0 unchanged, 1 rejected.\n"
        "Rejected S-2026-004101:\n"
        "  lines[0].diagnosis_codes[0]: Looks like an ICD-9 code; ICD-9 is retired, "
        "use ICD-10-CM.\n"
    )
    assert services.store.get_statement("S-2026-004102") is not None
    assert services.store.get_statement(S) is None


def test_the_cli_dry_run_stores_nothing(app, services):
    result = invoke(app, "import", "--dry-run", str(EXAMPLES / "statements.json"))
    assert (result.exit_code, result.output) == (
        0,
        "Dry run: 2 would import, 0 unchanged, 0 rejected.\n",
    )
    assert services.store.get_statement("S-2026-004101") is None


def test_the_cli_refuses_other_file_kinds(app, tmp_path):
    path = tmp_path / "statements.txt"
    path.write_text("hello")
    result = invoke(app, "import", str(path))
    assert result.exit_code == 2
    assert result.output == f"portal: {path}: give a .json or .csv file.\n"


# -- the upload page ---------------------------------------------------------------------------


def upload(client, name: str, data: bytes, dry_run: bool = False):
    page = client.get("/staff/import")
    assert page.status_code == 200
    from tests.conftest import csrf_token

    form = {"csrf_token": csrf_token(page.get_data(as_text=True)), "file": (io.BytesIO(data), name)}
    if dry_run:
        form["dry_run"] = "1"
    return client.post("/staff/import", data=form, content_type="multipart/form-data")


@pytest.fixture
def supervisor_client(client, services):
    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")
    return client


def test_a_supervisor_uploads_a_csv(supervisor_client, services):
    response = upload(
        supervisor_client, "statements.csv", (EXAMPLES / "statements.csv").read_bytes()
    )
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<span data-testid="imported">2</span>' in html
    assert services.store.get_statement("S-2026-004201") is not None
    entry = services.store.audit_entries(limit=1)[0]
    assert (entry.actor, entry.action, entry.subject) == (
        "sue",
        AuditAction.IMPORT_STATEMENTS,
        "imported=2 unchanged=0 rejected=0",
    )


def test_the_upload_page_shows_each_rejection(supervisor_client, services):
    data = json.dumps({"statements": [changed("lines[0].charge_cents", 24501)]}).encode()
    response = upload(supervisor_client, "s.json", data)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert '<span data-testid="rejected">1</span>' in html
    assert (
        '<tr class="rejection"><td>S-2026-004101</td><td class="code">lines[0].charge_cents</td>'
        "<td>The charge must equal insurance paid + adjustment + patient responsibility.</td></tr>"
    ) in html
    assert services.store.get_statement(S) is None


def test_the_upload_page_refuses_a_file_it_cannot_read(supervisor_client, services):
    response = upload(supervisor_client, "s.csv", LATIN1)
    assert response.status_code == 422
    assert NOT_UTF8 in response.get_data(as_text=True)
    assert upload(supervisor_client, "s.txt", b"x").status_code == 422
    assert services.store.get_statement(S) is None


def test_the_upload_page_dry_run(supervisor_client, services):
    response = upload(
        supervisor_client, "s.json", (EXAMPLES / "statements.json").read_bytes(), True
    )
    assert response.status_code == 200
    assert "would be imported" in response.get_data(as_text=True)
    assert services.store.get_statement("S-2026-004101") is None


def test_an_associate_cannot_open_the_upload_page(client, services):
    make_staff(services, "alice", "associate")
    staff_sign_in(client, services, "alice")
    assert client.get("/staff/import").status_code == 403
    assert "/staff/import" not in client.get("/staff/").get_data(as_text=True)


# -- statement notices: sent once every statement is stored ----------------------------------


def numbered(n: int) -> dict:
    record = copy.deepcopy(good())
    record["statement_id"] = f"S-2026-0050{n:02d}"
    record["account_number"] = f"2005{n:02d}"
    record["guarantor"]["email"] = f"g{n}@example.com"
    return record


def test_notices_go_once_every_statement_of_the_import_is_stored(services):
    """No write of the import waits on the mail server: with two statements a transaction,
    every statement is stored before the first notice goes."""
    records = [numbered(n) for n in range(5)]
    stored_at_send = []
    real = services.mailer

    class Watching:
        def send(self, message):
            stored_at_send.append(
                [services.store.get_statement(r["statement_id"]) is not None for r in records]
            )
            return real.send(message)

    watched = replace(services, mailer=Watching())
    summary = import_records(watched, records, "test", batch_size=2)
    assert summary.imported == 5 and not summary.notices
    assert stored_at_send == [[True] * 5] * 5


def test_notices_left_unsent_are_the_sweeps_at_once_and_sent_once(services, outbox):
    """An import that stops after storing (here: told not to send) leaves each notice's
    claim released, not held: the sweep at the same instant sends each one, once, and a
    sender that comes after it sends nothing."""
    from portal.services.statements import send_notices
    from portal.services.sweep import sweep_claims

    summary = import_records(services, [numbered(n) for n in range(3)], "test", send=False)
    assert len(summary.notices) == 3 and not eml_files(outbox)
    swept = sweep_claims(services, services.clock.now().date())
    assert swept.done == 3
    assert sorted(read_eml(p)["To"] for p in eml_files(outbox)) == [
        "g0@example.com",
        "g1@example.com",
        "g2@example.com",
    ]
    send_notices(services, summary.notices)
    assert len(eml_files(outbox)) == 3
