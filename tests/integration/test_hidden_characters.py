"""Names and other text shown in the console cannot carry control or text-direction characters
(`portal import`, POST /api/v1/statements), and CSV exports guard a cell that would start a
formula once a spreadsheet reads its full-width signs as plain ones."""

import copy
import csv
import io
import json
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import cli
from portal.services.api_keys import create_api_key
from tests.integration.staff_helpers import (
    DESK_ADDRESS,
    make_staff,
    staff_sign_in,
    submit_password,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
HIDDEN = (
    "Contains a control character or a text-direction mark (such as NUL, a tab, a line break "
    "or U+202E): remove it."
)
STATEMENT = {
    "statement_id": "S-2026-007001",
    "account_number": "700100",
    "statement_date": "2026-11-01",
    "due_date": "2026-11-30",
    "guarantor": {
        "first_name": "Hannah",
        "last_name": "Whitfield",
        "date_of_birth": "1979-04-22",
        "email": "hannah@example.com",
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
        }
    ],
}
FIELDS = {
    "guarantor.first_name": ("guarantor", "first_name"),
    "guarantor.last_name": ("guarantor", "last_name"),
    "patients[0].first_name": ("patients", 0, "first_name"),
    "patients[0].last_name": ("patients", 0, "last_name"),
    "lines[0].provider": ("lines", 0, "provider"),
    "lines[0].description": ("lines", 0, "description"),
}
CHARACTERS = {
    "NUL": "\x00",
    "ESC": "\x1b",
    "TAB": "\t",
    "LF": "\n",
    "DEL": "\x7f",
    "NEL (C1)": "\x85",
    "RLO": "\u202e",
    "LRE": "\u202a",
    "RLI": "\u2067",
    "PDI": "\u2069",
    "RLM": "\u200f",
    "LRM": "\u200e",
    "ALM": "\u061c",
    "LINE SEPARATOR": "\u2028",
}
# Every field with NUL and RLO; every character in one field.
CASES = [(field, character) for field in FIELDS for character in ("\x00", "\u202e")] + [
    ("guarantor.last_name", character) for character in CHARACTERS.values()
]
# The spoofed text itself; none of it may come back in an answer.
SPOOF = "Smi{}htfield"


def with_value(path: tuple, value: str, number: int = 0) -> dict:
    """The statement (as statement S-2026-70NNNN of account 70NNNN) with one field set."""
    record = copy.deepcopy(STATEMENT)
    record["statement_id"] = f"S-2026-{700000 + number}"
    record["account_number"] = str(700000 + number)
    target = record
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    return record


def spoofed() -> list[dict]:
    """One statement per case, each with one hidden character in one field."""
    return [
        with_value(FIELDS[field], SPOOF.format(character), number)
        for number, (field, character) in enumerate(CASES, 1)
    ]


def invoke(app, *args: str):
    with app.app_context():
        return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_the_import_command_refuses_hidden_characters(app, services, tmp_path):
    path = tmp_path / "statements.json"
    path.write_text(json.dumps({"statements": [*spoofed(), good_one()]}))

    result = invoke(app, "import", str(path))

    assert result.exit_code == 1, result.output
    expected = [f"1 imported, 0 unchanged, {len(CASES)} rejected."]
    for number, (field, _) in enumerate(CASES, 1):
        expected += [f"Rejected S-2026-{700000 + number}:", f"  {field}: {HIDDEN}"]
    assert result.output.splitlines() == expected
    assert "Smi" not in result.output
    for number in range(1, len(CASES) + 1):
        assert services.store.get_account(str(700000 + number)) is None
    assert services.store.get_statement("S-2026-700000") is not None


def good_one() -> dict:
    record = copy.deepcopy(STATEMENT)
    record.update(statement_id="S-2026-700000", account_number="700000")
    return record


def test_a_csv_import_refuses_a_text_direction_mark_in_a_name(app, services, tmp_path):
    rows = list(csv.reader(io.StringIO((EXAMPLES / "statements.csv").read_text())))
    header = rows[0]
    last = header.index("patient_last_name")
    for row in rows[1:]:
        if row[0] == "S-2026-004201" and row[header.index("patient_id")] == "P2":
            row[last] = "Os\u202eie"
    path = tmp_path / "statements.csv"
    with path.open("w", newline="") as out:
        csv.writer(out).writerows(rows)

    result = invoke(app, "import", str(path))

    assert result.exit_code == 1, result.output
    assert f"Rejected S-2026-004201:\n  patients[1].last_name: {HIDDEN}\n" in result.output
    assert "\u202e" not in result.output and "eiO" not in result.output
    assert services.store.get_statement("S-2026-004201") is None
    assert services.store.get_statement("S-2026-004202") is not None  # the other one imports


@pytest.fixture
def key(services) -> str:
    return create_api_key(services, "ehr", actor="test").key


def post(client, key: str, statements: list[dict]):
    return client.post(
        "/api/v1/statements",
        json={"statements": statements},
        headers={"Authorization": f"Bearer {key}"},
    )


def test_the_api_refuses_hidden_characters_without_repeating_them(client, services, key):
    response = post(client, key, [*spoofed(), good_one()])

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.get_json() == {
        "imported": 1,
        "unchanged": 0,
        "rejected": [
            {
                "statement_id": f"S-2026-{700000 + number}",
                "errors": [{"field": field, "message": HIDDEN}],
            }
            for number, (field, _) in enumerate(CASES, 1)
        ],
    }
    assert "Smi" not in response.get_data(as_text=True)
    for number in range(1, len(CASES) + 1):
        assert services.store.get_account(str(700000 + number)) is None


REAL_NAMES = ["Núñez-O'Neil", "Zoë van der Berg", "محمد", "שרה", "李 小龙", "Anne\u2011Marie"]


def test_real_names_in_any_script_still_import(client, services, key):
    records = []
    for number, name in enumerate(REAL_NAMES, 1):
        record = with_value(("guarantor", "last_name"), name, number)
        record["patients"][0]["last_name"] = name
        records.append(record)

    response = post(client, key, records)

    assert response.get_json() == {"imported": len(REAL_NAMES), "unchanged": 0, "rejected": []}
    for number, name in enumerate(REAL_NAMES, 1):
        assert services.store.get_account(str(700000 + number)).guarantor.last_name == name


# -- CSV exports -------------------------------------------------------------------------------

FORMULAS = [
    '\uff1dHYPERLINK("http://x.example")',  # full-width =
    "\uff0b1+1",  # full-width +
    "\uff0d1+1",  # full-width -
    "\uff20SUM(1)",  # full-width @
    "\ufe66HYPERLINK(1)",  # small equals sign
    ' =HYPERLINK("http://x.example")',
    "\u3000=1+1",  # ideographic space, then =
]


def starts_a_formula(cell: str) -> bool:
    lead = unicodedata.normalize("NFKC", cell).lstrip(" ")[:1]
    return lead in ("=", "+", "@", "\t", "\r", "\n") or (
        lead == "-" and not cell.lstrip("-").replace(".", "").isdigit()
    )


@pytest.fixture
def admin(app, services):
    make_staff(services, "ada", "admin")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = DESK_ADDRESS
    staff_sign_in(client, services, "ada")
    return client


def csv_cells(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def no_formula_in(rows: list[list[str]]) -> None:
    for cell in (c for r in rows[1:] for c in r):
        assert cell.startswith("'") or not starts_a_formula(cell), cell


def test_the_aging_csv_guards_full_width_formulas_in_imported_names(client, admin, services, key):
    records = []
    for number, name in enumerate(FORMULAS, 1):
        record = with_value(("guarantor", "first_name"), name, number)
        record["patients"][0]["first_name"] = name
        records.append(record)
    imported = post(client, key, records).get_json()
    assert imported["imported"] == len(FORMULAS), imported

    rows = csv_cells(admin.get("/staff/reports/aging", query_string={"format": "csv"}))

    guarantors = {row[0]: row[1] for row in rows[1:]}
    for number, name in enumerate(FORMULAS, 1):
        assert guarantors[str(700000 + number)] == f"'{name.strip()} Whitfield"
    no_formula_in(rows)


def test_the_audit_csv_guards_full_width_formulas_typed_as_a_username(app, admin, services):
    stranger = app.test_client()
    for typed in FORMULAS:
        submit_password(stranger, typed, "whatever")

    rows = csv_cells(admin.get("/staff/audit", query_string={"format": "csv"}))

    actors = [row[1].removeprefix("'") for row in rows[1:]]
    for typed in FORMULAS:  # logged as typed, trimmed and in lower case
        assert typed.strip().lower() in actors, (typed, actors)
    no_formula_in(rows)
