"""A line's claim id (issue 20): `claim_id` in the JSON and CSV import formats (the CSV
column may be left out), kept on both stores, and fingerprinted so that statements stored
before it existed still import as `unchanged`."""

import copy
import io

import pytest

from portal.domain.statements import Statement
from portal.services.imports import CSV_COLUMNS, import_records, iter_csv
from tests.conftest import first_fingerprint, statement
from tests.integration.test_import import S, csv_bytes, csv_rows, good


def with_claim(record: dict, claim_id: str = "C-100234-01") -> dict:
    record = copy.deepcopy(record)
    record["lines"][0]["claim_id"] = claim_id
    return record


def test_json_keeps_the_claim_id_and_an_absent_one_is_empty(services):
    summary = import_records(services, [with_claim(good())], "tester")

    assert (summary.imported, summary.rejected) == (1, [])
    lines = services.store.get_statement(S).lines
    assert [line.claim_id for line in lines] == ["C-100234-01", ""]


def test_a_csv_with_the_column_imports_it_and_one_without_it_still_imports(services):
    rows = csv_rows()
    rows[1]["claim_id"] = "CLM.77/2"
    with_column = csv_bytes(rows, (*CSV_COLUMNS, "claim_id"))
    without = csv_bytes(csv_rows())

    assert "claim_id" not in next(iter_csv(io.BytesIO(without)))["lines"][0]
    summary = import_records(services, iter_csv(io.BytesIO(with_column)), "tester")

    assert (summary.imported, summary.rejected) == (1, [])
    lines = services.store.get_statement(S).lines
    assert [line.claim_id for line in lines] == ["", "CLM.77/2"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("C" * 39, "Too long: at most 38 characters."),
        ("C-1*2", "A claim id is 1 to 38 letters"),
        ("-C1", "A claim id is 1 to 38 letters"),
        ("C 1", "A claim id is 1 to 38 letters"),
        (12, "Must be text."),
    ],
)
def test_a_bad_claim_id_is_refused_naming_the_field(services, value, message):
    record = good()
    record["lines"][1]["claim_id"] = value

    summary = import_records(services, [record], "tester")

    assert summary.imported == 0
    [(field, text)] = summary.rejected[0].errors
    assert field == "lines[1].claim_id"
    assert text.startswith(message)
    assert services.store.get_statement(S) is None


def test_adding_a_claim_id_later_is_other_content(services):
    import_records(services, [good()], "tester")

    again = import_records(services, [good()], "tester")
    changed = import_records(services, [with_claim(good())], "tester")

    assert (again.unchanged, again.rejected) == (1, [])
    assert changed.imported == 0 and changed.rejected[0].statement_id == S


def test_a_statement_without_a_claim_id_keeps_the_fingerprint_it_was_stored_with():
    st = statement("S-1", (3000, 4550))
    assert st.fingerprint() == first_fingerprint(st)


def test_a_spanish_description_without_a_claim_id_keeps_its_fingerprint():
    st = statement("S-1", (3000, 4550))
    spanish = Statement(
        **{
            **vars(st),
            "lines": tuple(
                type(line)(**{**vars(line), "description_es": "Consulta"}) for line in st.lines
            ),
        }
    )
    assert spanish.fingerprint() == first_fingerprint(spanish, ("description_es",))
