"""A line's Spanish description (issue 18): `description_es` in the JSON and CSV import
formats (the CSV column may be left out), kept on both stores, and fingerprinted so that
statements stored before it existed still import as `unchanged`."""

import copy
import io

import pytest

from portal.services.imports import CSV_COLUMNS, import_records, iter_csv
from tests.conftest import first_fingerprint, statement
from tests.integration.test_import import S, csv_bytes, csv_rows, good

SPANISH = "Consulta en el consultorio, paciente establecido"


def with_spanish(record: dict) -> dict:
    record = copy.deepcopy(record)
    record["lines"][0]["description_es"] = SPANISH
    return record


def test_json_keeps_the_spanish_description_and_an_empty_one_is_none(services):
    summary = import_records(services, [with_spanish(good())], "tester")

    assert (summary.imported, summary.rejected) == (1, [])
    lines = services.store.get_statement(S).lines
    assert [line.description_es for line in lines] == [SPANISH, ""]
    assert lines[0].description == "Office visit, established patient"


def test_a_csv_with_the_column_imports_it_and_one_without_it_still_imports(services):
    rows = csv_rows()
    rows[1]["description_es"] = "Inyección de dexametasona"
    with_column = csv_bytes(rows, (*CSV_COLUMNS, "description_es"))
    without = csv_bytes(csv_rows())

    assert next(iter_csv(io.BytesIO(without)))["lines"][0].keys() == good()["lines"][0].keys()
    summary = import_records(services, iter_csv(io.BytesIO(with_column)), "tester")

    assert (summary.imported, summary.rejected) == (1, [])
    lines = services.store.get_statement(S).lines
    assert [line.description_es for line in lines] == ["", "Inyección de dexametasona"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 501, "Too long: at most 500 characters."),
        ("Consulta\u202e", "Contains a control character"),
        (12, "Must be text."),
    ],
)
def test_a_bad_spanish_description_is_refused_naming_the_field(services, value, message):
    record = good()
    record["lines"][1]["description_es"] = value

    summary = import_records(services, [record], "tester")

    assert summary.imported == 0
    [(field, text)] = summary.rejected[0].errors
    assert field == "lines[1].description_es"
    assert text.startswith(message)
    assert services.store.get_statement(S) is None


def test_adding_a_spanish_description_later_is_other_content(services):
    import_records(services, [good()], "tester")

    again = import_records(services, [good()], "tester")
    changed = import_records(services, [with_spanish(good())], "tester")

    assert (again.unchanged, again.rejected) == (1, [])
    assert changed.imported == 0 and changed.rejected[0].statement_id == S


def test_a_statement_without_spanish_keeps_the_fingerprint_it_was_stored_with():
    st = statement("S-1", (3000, 4550))
    assert st.fingerprint() == first_fingerprint(st)
