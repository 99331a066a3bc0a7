"""Fuzzing the JSON API with schemathesis, in-process through WSGI, from its own OpenAPI
document (GET /api/v1/openapi.json).

Each operation gets generated requests, valid and invalid (bodies, content types, path
parameters), with a working API key; every answer must be documented: no 5xx, a status code
the document lists, its content type and a body matching its schema. A refused import
stores nothing. The example counts are bounded and the generation is derandomized, so a run
is repeatable and takes well under two minutes.
"""

import copy
import json
import sqlite3

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from portal.services.api_keys import create_api_key
from portal.services.staff_actions import post_manual_payment
from portal.web.openapi import DOCUMENT, DOCUMENT_PATH

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    positive_data_acceptance,  # a request the document calls valid is not refused
    unsupported_method,  # 405 with Allow for a method the document does not list
]
FUZZ = settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    # The app, its SQLite file and the key are made once per operation, not per example.
    suppress_health_check=list(HealthCheck),
)

# An 835 file is text: sent as plain text is.
schemathesis.serializer.alias("application/edi-x12", "text/plain")
schema = schemathesis.openapi.from_dict(DOCUMENT)
IMPORT = schema["/api/v1/statements"]["POST"]


@pytest.fixture
def key(services) -> str:
    return create_api_key(services, "fuzz", actor="test").key


@pytest.fixture
def known_account(services, lopez) -> str:
    """Account 100234 (the documented example) with two statements and a cash payment."""
    post_manual_payment(services, "setup", "100234", "cash", "5.00", "", "b" * 32, "127.0.0.1")
    return lopez.account_number


def stored_statements(services) -> int:
    with sqlite3.connect(services.settings.sqlite_path) as conn:
        return conn.execute("SELECT COUNT(*) FROM statements").fetchone()[0]


# -- the document ----------------------------------------------------------------------------


def test_the_document_is_served_publicly_and_loads_as_openapi(app, client):
    response = client.get(DOCUMENT_PATH)  # no key

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == DOCUMENT
    assert DOCUMENT["openapi"].startswith("3.")
    loaded = schemathesis.openapi.from_wsgi(DOCUMENT_PATH, app)
    results = list(loaded.get_all_operations())
    # Each operation resolves (its $refs, parameters and schemas); schemathesis leaves the
    # document's own path out of what it tests when it loaded the schema from that path.
    operations = {(result.ok().method.upper(), result.ok().path) for result in results}
    assert operations == {
        ("GET", "/healthz"),
        ("POST", "/api/v1/statements"),
        ("POST", "/api/v1/remittances"),
        ("GET", "/api/v1/accounts/{account_number}"),
        ("GET", "/api/v1/payments"),
    }


def test_the_document_and_the_routes_name_the_same_api(app):
    """Every /api/ route (and /healthz) is documented, and every documented path is routed."""

    def openapi_path(rule: str) -> str:
        return rule.replace("<", "{").replace(">", "}")

    routed = {
        (openapi_path(rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/api/") or rule.rule == "/healthz"
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {
        (path, method)
        for path, operations in DOCUMENT["paths"].items()
        for method in operations
        if method in {"get", "post", "put", "patch", "delete"}
    }

    assert routed == documented


def test_every_operation_documents_its_errors_as_json():
    for path, operations in DOCUMENT["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            public = operation.get("security") == []
            assert public or {"401", "503"} <= set(responses), (method, path)
            for status, response in responses.items():
                assert set(response["content"]) == {"application/json"}, (method, path, status)


# -- the fuzzer ------------------------------------------------------------------------------


# One item per operation, all with one nodeid (pytest 9.2): an xdist worker would run one.
@pytest.mark.serial
@schema.parametrize()
@FUZZ
def test_every_generated_request_gets_a_documented_answer(case, app, services, key, known_account):
    before = stored_statements(services)
    # Any text is an 835 body by the schema; only a file that passes the X12 checks (which
    # no schema can say) is accepted: the others are refused with 422.
    x12 = case.path == "/api/v1/remittances"
    checks = [c for c in CHECKS if not (x12 and c is positive_data_acceptance)]

    response = case.call_and_validate(
        app=app, headers={"Authorization": f"Bearer {key}"}, checks=checks
    )

    if response.status_code >= 400:
        assert stored_statements(services) == before, "a refused request stored something"
    if case.method == "POST" and not x12 and response.status_code == 200:
        summary = response.json()
        assert stored_statements(services) == before + summary["imported"]


# -- hostile bodies --------------------------------------------------------------------------
# schemathesis builds bodies from the schema; these are the ones a parser meets in the wild:
# any JSON value, raw bytes, deep nesting, giant numbers, lone surrogate escapes, NaN, each
# put at every place of an otherwise valid statement.

PLACEHOLDER = "\x00hostile\x00"
VALID = {"statements": [DOCUMENT["components"]["schemas"]["Statement"]["example"]]}


def _places(value, path=()):
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _places(item, (*path, index))


def _with_fragment(path: tuple, fragment: str) -> bytes:
    document = copy.deepcopy(VALID)
    if not path:
        return fragment.encode("utf-8", "surrogatepass")
    parent = document
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = PLACEHOLDER
    text = json.dumps(document).replace(json.dumps(PLACEHOLDER), fragment)
    return text.encode("utf-8", "surrogatepass")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner),
    max_leaves=12,
)
fragments = st.one_of(
    json_values.map(lambda value: json.dumps(value)),  # NaN and Infinity included
    st.integers(min_value=12, max_value=6000).map(lambda n: "9" * n),
    st.integers(min_value=12, max_value=40).map(lambda n: "-" + "9" * n),
    st.integers(min_value=17, max_value=100_000).map(lambda n: "[" * n + "]" * n),
    st.integers(min_value=17, max_value=100_000).map(lambda n: '{"a":' * n + "1" + "}" * n),
    st.sampled_from(['"\\ud800"', '"x\\udfff"', '{"\\udbff": 1}', '"\\ud83d\\ude00"', "1e999"]),
)
bodies = st.one_of(
    st.tuples(st.sampled_from(list(_places(VALID))), fragments).map(lambda t: _with_fragment(*t)),
    st.binary(max_size=40),
    st.binary(max_size=40).map(lambda raw: b'{"statements": ["' + raw + b'"]}'),
)


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(body=bodies)
def test_hostile_bodies_get_a_documented_json_answer_and_a_refusal_stores_nothing(
    app, services, key, body
):
    client = app.test_client()
    before = stored_statements(services)

    response = client.post(
        "/api/v1/statements",
        data=body,
        content_type="application/json",
        headers={"Authorization": f"Bearer {key}"},
    )

    assert response.status_code in (200, 400), response.get_data()[:300]
    assert response.mimetype == "application/json"
    IMPORT.Case(body={}).validate_response(response, checks=CHECKS)
    stored = stored_statements(services) - before
    if response.status_code == 400:
        assert response.get_json()["error"]
        assert stored == 0
    else:
        assert stored == response.get_json()["imported"]
