"""Reading statement files: JSON documents, CSV rows grouped into statements, encodings."""

import io

import pytest

from portal.services.imports import (
    CSV_COLUMNS,
    ImportFileError,
    _SeenIds,
    iter_csv,
    parse_json,
    utf8_problem,
)

HEADER = ",".join(CSV_COLUMNS)


def row(statement_id: str, line_id: str, charge: str = "10.00", **cells: str) -> str:
    values = {
        "statement_id": statement_id,
        "account_number": "200500",
        "statement_date": "2026-11-01",
        "due_date": "2026-11-30",
        "guarantor_first_name": "Ann",
        "guarantor_last_name": "Lee",
        "guarantor_date_of_birth": "1970-01-02",
        "patient_id": "P1",
        "patient_first_name": "Ann",
        "patient_last_name": "Lee",
        "patient_date_of_birth": "1970-01-02",
        "line_id": line_id,
        "service_date": "2026-10-01",
        "provider": "Dr. Chen",
        "code_system": "CPT",
        "code": "99213",
        "description": "Visit",
        "diagnosis_codes": "J06.9; E11.65",
        "charge": charge,
        "insurance_paid": "6.00",
        "adjustment": "1.00",
        "patient_responsibility": "3.00",
        **cells,
    }
    return ",".join(values.get(c, "") for c in CSV_COLUMNS)


def test_parse_json_reads_the_statements_list_with_a_bom():
    assert parse_json(b'\xef\xbb\xbf{"statements": [{"statement_id": "S-1"}]}') == [
        {"statement_id": "S-1"}
    ]


@pytest.mark.parametrize("data", [b"", b"{", b"nul", b'{"statements": [1,]}'])
def test_parse_json_refuses_malformed_json(data):
    with pytest.raises(ImportFileError, match=r"^The file is not valid JSON: "):
        parse_json(data)


def test_rows_sharing_a_statement_id_form_one_statement():
    lines = [HEADER, row("S-1", "1"), row("S-1", "2", patient_id="P2"), row("S-2", "1")]
    statements = list(iter_csv(line + "\n" for line in lines))
    assert [s["statement_id"] for s in statements] == ["S-1", "S-2"]
    first = statements[0]
    assert [line["line_id"] for line in first["lines"]] == ["1", "2"]
    assert [p["patient_id"] for p in first["patients"]] == ["P1", "P2"]
    assert first["lines"][0]["diagnosis_codes"] == ["J06.9", "E11.65"]
    assert first["lines"][0]["charge_cents"] == 1000
    assert first["guarantor"] == {
        "first_name": "Ann",
        "last_name": "Lee",
        "date_of_birth": "1970-01-02",
        "email": "",
        "phone": "",
    }
    assert first.problems == []


def test_csv_is_streamed_one_statement_at_a_time():
    read = []

    def lines():
        for line in [HEADER, row("S-1", "1"), row("S-1", "2"), row("S-2", "1"), row("S-3", "1")]:
            read.append(line)
            yield (line + "\r\n").encode()

    statements = iter_csv(lines())
    assert next(statements)["statement_id"] == "S-1"
    assert len(read) == 4  # the header, S-1's two rows and the row that ended S-1
    assert next(statements)["statement_id"] == "S-2"
    assert len(read) == 5


def test_blank_rows_are_skipped_and_columns_may_come_in_any_order():
    columns = list(reversed(CSV_COLUMNS))
    original = row("S-1", "1").split(",")
    reordered = ",".join(reversed(original))
    statements = list(iter_csv([",".join(columns) + "\n", "\n", reordered + "\n", ",,,\n"]))
    assert len(statements) == 1
    assert statements[0]["lines"][0]["code"] == "99213"


def test_a_latin1_line_is_named_and_refused():
    data = [b"a,b\n", b"c,d\n", "N\u00fa\u00f1ez,x\n".encode("latin-1")]
    message = (
        "Line 3 is not UTF-8 text: save the file as UTF-8 (in Excel: CSV UTF-8) and import it "
        "again."
    )
    assert utf8_problem(data) == message
    with pytest.raises(ImportFileError) as refused:
        list(iter_csv([(HEADER + "\n").encode(), *data[1:]]))
    assert str(refused.value) == message
    assert utf8_problem(io.BytesIO("Núñez\n".encode())) is None


def test_seen_ids_remember_without_false_alarms():
    seen = _SeenIds()
    ids = [f"S-{n:07d}" for n in range(20_000)]
    assert not any(seen.add(i) for i in ids)
    assert all(seen.add(i) for i in ids[::997])
