"""The statement import format is described once (portal/domain/import_format.py): the
import's checks and the OpenAPI document served at /api/v1/openapi.json both follow that
table, so each limit the document states is the limit the import applies, field by field."""

import copy
import dataclasses
import io
import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.domain.codes import CODE_SYSTEMS
from portal.domain.import_format import (
    GUARANTOR,
    MAX_CENTS,
    PATIENT,
    SHAPES,
    STATEMENT,
    Kind,
    Shape,
)
from portal.services.api_keys import create_api_key
from portal.services.imports import (
    CSV_COLUMNS,
    NOT_A_DATE,
    OPTIONAL_CSV_COLUMNS,
    REQUIRED,
    import_records,
    iter_csv,
    read_fields,
)
from portal.web.api_limits import MAX_BODY_BYTES, MAX_BODY_MB, MAX_STATEMENTS
from portal.web.openapi import DOCUMENT, DOCUMENT_PATH, shape_schema

EXAMPLE = DOCUMENT["components"]["schemas"]["Statement"]["example"]
FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)


def walk(shape: Shape, prefix: str = "", schema: str | None = None):
    """(place as a rejection names it, field, name of the OpenAPI schema holding it) for
    every field of the format, nested ones included; a list's first element stands for all."""
    for f in shape.fields:
        place = prefix + f.name
        yield place, f, schema or shape.name
        if f.kind is Kind.OBJECT:
            yield from walk(f.shape, place + ".")
        elif f.shape is not None:
            yield from walk(f.shape, place + "[0].")
        elif f.item is not None:
            yield f"{place}[0]", f.item, None


PLACES = list(walk(STATEMENT))
MEMBERS = [(p, f, s) for p, f, s in PLACES if s is not None]
TEXTS = [(p, f, s) for p, f, s in PLACES if f.kind in (Kind.TEXT, Kind.EMAIL) and f.max_length]


def with_value(place: str, value) -> dict:
    """The document's example statement with the value at `place` (`...` removes it)."""
    record = copy.deepcopy(EXAMPLE)
    *parents, last = re.sub(r"\[(\d+)\]", r".\1", place).split(".")
    target = record
    for step in parents:
        target = target[int(step)] if step.isdigit() else target[step]
    key = int(last) if last.isdigit() else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return record


def problems(services, record: dict) -> list[tuple[str, str]]:
    """What the import says about one statement (a dry run: nothing is stored)."""
    summary = import_records(services, [record], "test", dry_run=True)
    return [error for rejection in summary.rejected for error in rejection.errors]


@pytest.fixture
def served(client) -> dict:
    """The OpenAPI document as the API serves it."""
    response = client.get(DOCUMENT_PATH)
    assert response.status_code == 200
    return response.get_json()


def property_schema(document: dict, place: str, owner: str | None) -> dict:
    """The schema the document gives the field at `place`."""
    if owner is None:  # an element of a list of values: the list's `items`
        list_place = place.removesuffix("[0]")
        list_owner = next(s for p, _, s in PLACES if p == list_place)
        return property_schema(document, list_place, list_owner)["items"]
    return document["components"]["schemas"][owner]["properties"][place.rsplit(".", 1)[-1]]


# -- the table and the document --------------------------------------------------------------


def test_the_table_keeps_the_contracts_field_names_and_csv_columns():
    """INTERFACES.md names these; the table may not rename or drop one."""
    names = {shape.name: [f.name for f in shape.fields] for shape in SHAPES}

    assert names == {
        "Statement": [
            "statement_id",
            "account_number",
            "statement_date",
            "due_date",
            "version",
            "guarantor",
            "patients",
            "lines",
        ],
        "Guarantor": [
            "first_name",
            "last_name",
            "date_of_birth",
            "email",
            "phone",
            "preferred_language",
            "sms_consent",
        ],
        "SmsConsent": ["phone", "given_at", "source"],
        "Patient": ["patient_id", "first_name", "last_name", "date_of_birth"],
        "LineItem": [
            "line_id",
            "patient_id",
            "service_date",
            "provider",
            "code_system",
            "code",
            "description",
            "description_es",
            "claim_id",
            "diagnosis_codes",
            "charge_cents",
            "insurance_paid_cents",
            "adjustment_cents",
            "patient_responsibility_cents",
        ],
    }
    assert CSV_COLUMNS == (
        "statement_id",
        "account_number",
        "statement_date",
        "due_date",
        "guarantor_first_name",
        "guarantor_last_name",
        "guarantor_date_of_birth",
        "guarantor_email",
        "guarantor_phone",
        "patient_id",
        "patient_first_name",
        "patient_last_name",
        "patient_date_of_birth",
        "line_id",
        "service_date",
        "provider",
        "code_system",
        "code",
        "description",
        "diagnosis_codes",
        "charge",
        "insurance_paid",
        "adjustment",
        "patient_responsibility",
    )
    assert OPTIONAL_CSV_COLUMNS == (
        "version",
        "sms_consent_at",
        "sms_consent_source",
        "description_es",
        "claim_id",
    )


def test_the_served_statement_schemas_list_exactly_the_tables_fields_with_their_limits(served):
    schemas = served["components"]["schemas"]

    for shape in SHAPES:
        schema = schemas[shape.name]
        assert schema["additionalProperties"] is False, shape.name
        assert list(schema["properties"]) == [f.name for f in shape.fields], shape.name
        assert schema["required"] == [f.name for f in shape.fields if f.required], shape.name
    for place, f, owner in PLACES:
        got = property_schema(served, place, owner)
        if f.kind in (Kind.TEXT, Kind.EMAIL):
            assert got["type"] == "string", place
            assert got.get("maxLength") == f.max_length, place
            assert got.get("nullable", False) is (not f.required), place
            assert got.get("enum") == (list(f.choices) if f.choices else None), place
            if f.pattern:
                assert got["pattern"] == f"^{f.pattern}$", place
        elif f.kind is Kind.DATE:
            assert (got["type"], got["format"]) == ("string", "date"), place
            assert got["pattern"] == f"^{f.pattern}$", place
        elif f.kind is Kind.CENTS:
            assert got["type"] == "integer", place
            assert (got["minimum"], got["maximum"]) == (0, f.maximum), place
        elif f.kind is Kind.VERSION:
            assert got["type"] == "integer", place
            assert (got["minimum"], got["maximum"], got["default"]) == (1, f.maximum, 1), place
        elif f.kind is Kind.OBJECT:
            assert got == {"$ref": f"#/components/schemas/{f.shape.name}"}, place
        else:
            assert got["type"] == "array", place
            assert got.get("minItems", 0) == f.min_items, place
            if f.shape is not None:
                assert got["items"] == {"$ref": f"#/components/schemas/{f.shape.name}"}, place


def test_the_example_statement_of_the_document_imports(services):
    assert problems(services, EXAMPLE) == []


# -- each limit: refused by the import, stated by the document -------------------------------


@pytest.mark.parametrize(("place", "f", "owner"), TEXTS, ids=[p for p, _, _ in TEXTS])
def test_a_text_one_character_over_its_limit_is_refused_naming_the_field(
    services, served, place, f, owner
):
    limit = property_schema(served, place, owner)["maxLength"]
    too_long = (place, f"Too long: at most {limit} characters.")

    assert limit == f.max_length
    assert too_long in problems(services, with_value(place, "x" * (limit + 1)))
    assert not [e for e in problems(services, with_value(place, "x" * limit)) if e == too_long]


@FAST
@given(data=st.data())
def test_the_import_refuses_a_text_as_too_long_exactly_when_the_document_does(
    services, served, data
):
    place, _, owner = data.draw(st.sampled_from(TEXTS))
    limit = property_schema(served, place, owner)["maxLength"]
    length = data.draw(st.integers(min_value=1, max_value=limit + 50))
    letter = data.draw(st.sampled_from(string.ascii_letters + string.digits))

    errors = problems(services, with_value(place, letter * length))

    assert ((place, f"Too long: at most {limit} characters.") in errors) is (length > limit)


@pytest.mark.parametrize(("place", "f", "owner"), MEMBERS, ids=[p for p, _, _ in MEMBERS])
def test_a_missing_field_is_refused_exactly_when_the_document_requires_it(
    services, served, place, f, owner
):
    schema = served["components"]["schemas"][owner]
    name = place.rsplit(".", 1)[-1]

    errors = problems(services, with_value(place, ...))

    assert (name in schema["required"]) is f.required
    assert ((place, REQUIRED) in errors) is f.required
    if not f.required:
        assert not [e for e in errors if e[0] == place]


def test_an_amount_over_the_largest_is_refused_everywhere_and_the_document_says_so(
    services, served, client
):
    cents = [(p, f, s) for p, f, s in PLACES if f.kind is Kind.CENTS]
    key = create_api_key(services, "format", actor="test").key
    assert {property_schema(served, p, s)["maximum"] for p, _, s in cents} == {MAX_CENTS}
    for place, f, _ in cents:
        over = f.maximum + 1

        assert (place, f"Too large: at most {f.maximum} cents.") in problems(
            services, with_value(place, over)
        )
        response = client.post(
            "/api/v1/statements",
            json={"statements": [with_value(place, over)]},
            headers={"Authorization": f"Bearer {key}"},
        )
        assert response.status_code == 400
        assert f"'statements[0].{place}'" in response.get_json()["error"]
        assert str(f.maximum) in response.get_json()["error"]
        at_most = problems(services, with_value(place, f.maximum))
        assert not [e for e in at_most if e[0] == place and e[1].startswith("Too large")]


def test_a_csv_amount_over_the_largest_is_refused_naming_the_field():
    f = STATEMENT.field("lines").shape.field("charge_cents")
    dollars, cents = divmod(f.maximum + 1, 100)
    row = {column: "" for column in CSV_COLUMNS}
    row.update(statement_id="S-1", charge=f"{dollars}.{cents:02d}")
    text = ",".join(CSV_COLUMNS) + "\n" + ",".join(row[c] for c in CSV_COLUMNS) + "\n"

    (statement,) = iter_csv(io.BytesIO(text.encode()))

    (problem,) = [p for p in statement.problems if p[0] == "lines[0].charge_cents"]
    assert "The amount is too large: at most 999,999,999.99 dollars." in problem[1]


def test_only_the_documented_code_systems_are_taken(services, served):
    schema = served["components"]["schemas"]["LineItem"]["properties"]["code_system"]
    codes = {"CPT": "99213", "HCPCS": "J1100"}

    assert (
        tuple(schema["enum"])
        == CODE_SYSTEMS
        == STATEMENT.field("lines").shape.field("code_system").choices
    )
    for system in schema["enum"]:
        record = with_value("lines[0].code_system", system)
        record["lines"][0]["code"] = codes[system]
        assert problems(services, record) == []
    assert problems(services, with_value("lines[0].code_system", "ICD")) == [
        ("lines[0].code", "Unknown code system 'ICD': use CPT or HCPCS.")
    ]


def test_a_statement_without_lines_is_refused_as_the_document_says(services, served):
    schema = served["components"]["schemas"]["Statement"]["properties"]["lines"]

    assert schema["minItems"] == 1
    assert problems(services, with_value("lines", [])) == [
        ("lines", "A statement needs at least one line item.")
    ]


@FAST
@given(text=st.text(alphabet="0123456789ABEJSVZ.-", max_size=9))
def test_a_diagnosis_code_is_taken_exactly_when_the_documents_pattern_matches(
    services, served, text
):
    place = "lines[0].diagnosis_codes[0]"
    pattern = property_schema(served, place, None)["pattern"]

    errors = [e for e in problems(services, with_value(place, text)) if e[0] == place]

    assert (errors == []) is (re.search(pattern, text) is not None)


@FAST
@given(text=st.text(alphabet="0123456789-", max_size=12))
def test_a_date_the_documents_pattern_refuses_is_refused(services, served, text):
    place = "guarantor.date_of_birth"
    pattern = property_schema(served, place, "Guarantor")["pattern"]

    errors = problems(services, with_value(place, text))

    if re.search(pattern, text) is None:
        assert (place, REQUIRED if text == "" else NOT_A_DATE) in errors


def test_a_limit_changed_in_the_table_changes_the_check_and_the_schema():
    """Both sides read the table: a shorter patient id shows in the schema made from it and
    in what the import refuses."""
    short = dataclasses.replace(PATIENT.field("patient_id"), max_length=10)
    patient = Shape("Patient", (short, *PATIENT.fields[1:]))
    record = {"patient_id": "P" * 11, "first_name": "A", "last_name": "B"}
    record["date_of_birth"] = "2001-02-03"
    errors: list = []

    read_fields(record, patient, "patients[0].", errors)

    assert shape_schema(patient)["properties"]["patient_id"]["maxLength"] == 10
    assert errors == [("patients[0].patient_id", "Too long: at most 10 characters.")]
    assert shape_schema(PATIENT)["properties"]["patient_id"]["maxLength"] == 64


def test_an_optional_text_left_empty_takes_the_tables_default():
    errors: list = []
    values = read_fields(
        {"first_name": "A", "last_name": "B", "date_of_birth": "2001-02-03"},
        GUARANTOR,
        "guarantor.",
        errors,
    )

    assert errors == []
    assert values["preferred_language"] == GUARANTOR.field("preferred_language").default == "en"


# -- the API's own limits --------------------------------------------------------------------


def test_the_documented_request_limits_are_the_ones_the_api_applies(app, client, services):
    key = create_api_key(services, "limits", actor="test").key
    headers = {"Authorization": f"Bearer {key}"}
    post = DOCUMENT["paths"]["/api/v1/statements"]["post"]
    body_schema = DOCUMENT["components"]["schemas"]["StatementImport"]

    assert body_schema["properties"]["statements"]["maxItems"] == MAX_STATEMENTS
    assert f"{MAX_BODY_MB} MB" in post["responses"]["413"]["description"]
    too_many = client.post(
        "/api/v1/statements", json={"statements": [1] * (MAX_STATEMENTS + 1)}, headers=headers
    )
    assert too_many.status_code == 400
    assert f"at most {MAX_STATEMENTS} statements" in too_many.get_json()["error"]
    # The API keeps its own body limit even when the rest of the app would take more.
    app.config["MAX_CONTENT_LENGTH"] = 4 * MAX_BODY_BYTES
    body = b'{"statements": [], "padding": "' + b"x" * MAX_BODY_BYTES + b'"}'
    too_big = client.post(
        "/api/v1/statements", data=body, content_type="application/json", headers=headers
    )
    assert too_big.status_code == 413
    assert too_big.get_json() == {"error": f"The body is over {MAX_BODY_MB} MB."}
