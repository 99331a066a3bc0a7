"""The JSON API through the test client: bearer keys, statement imports, account reads."""

import copy
import json

import pytest

from portal.domain.staff import AuditAction
from portal.ports.store import StoreError
from portal.services.api_keys import create_api_key, revoke_api_key
from portal.services.imports import import_records
from portal.services.staff_actions import post_manual_payment
from tests.integration.staff_helpers import audit_since, last_audit_id

STATEMENT = {
    "statement_id": "S-2026-000900",
    "account_number": "100900",
    "statement_date": "2026-11-01",
    "due_date": "2026-11-30",
    "guarantor": {
        "first_name": "Rosa",
        "last_name": "Diaz",
        "date_of_birth": "1980-02-03",
        "email": "rosa@example.com",
        "phone": "+15555550123",
        "preferred_language": "en",
    },
    "patients": [
        {
            "patient_id": "P1",
            "first_name": "Rosa",
            "last_name": "Diaz",
            "date_of_birth": "1980-02-03",
        }
    ],
    "lines": [
        {
            "line_id": "1",
            "patient_id": "P1",
            "service_date": "2026-10-14",
            "provider": "Dr. Chen",
            "code_system": "CPT",
            "code": "99213",
            "description": "Office visit, established patient",
            "diagnosis_codes": ["J06.9"],
            "charge_cents": 18500,
            "insurance_paid_cents": 12000,
            "adjustment_cents": 3500,
            "patient_responsibility_cents": 3000,
        }
    ],
}


@pytest.fixture
def key(services) -> str:
    return create_api_key(services, "ehr", actor="test").key


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


def post_statements(client, key: str, statements: list):
    return client.post("/api/v1/statements", json={"statements": statements}, headers=auth(key))


# -- keys ------------------------------------------------------------------------------------


def assert_unauthorized(response):
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert response.is_json and "error" in response.get_json()


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer pbp_not-a-key"},
        {"Authorization": "Bearer "},
        {"Authorization": "Basic ZWhyOnNlY3JldA=="},
    ],
    ids=["missing", "wrong", "empty", "basic"],
)
def test_a_missing_or_wrong_key_is_refused(client, services, lopez, key, headers):
    assert_unauthorized(client.get("/api/v1/accounts/100234", headers=headers))
    assert_unauthorized(
        client.post("/api/v1/statements", json={"statements": [STATEMENT]}, headers=headers)
    )
    assert services.store.get_account("100900") is None


def test_the_key_is_checked_exactly(client, lopez, key):
    assert_unauthorized(client.get("/api/v1/accounts/100234", headers=auth(key[:-1])))
    assert_unauthorized(client.get("/api/v1/accounts/100234", headers=auth(key + "x")))
    assert client.get("/api/v1/accounts/100234", headers=auth(key)).status_code == 200


def test_a_revoked_key_stops_working_at_once(client, services, lopez, key):
    assert client.get("/api/v1/accounts/100234", headers=auth(key)).status_code == 200

    assert revoke_api_key(services, "ehr", actor="root")

    assert_unauthorized(client.get("/api/v1/accounts/100234", headers=auth(key)))
    assert_unauthorized(post_statements(client, key, [STATEMENT]))


def test_the_health_check_needs_no_key(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


# -- importing statements -------------------------------------------------------------------


def test_a_valid_import_then_the_same_again_is_unchanged(client, services, key):
    since = last_audit_id(services)

    first = post_statements(client, key, [STATEMENT])  # no CSRF token: the API is exempt
    second = post_statements(client, key, [STATEMENT])

    assert first.status_code == second.status_code == 200
    assert first.get_json() == {"imported": 1, "unchanged": 0, "rejected": []}
    assert second.get_json() == {"imported": 0, "unchanged": 1, "rejected": []}
    assert services.store.get_statement("S-2026-000900").total_cents == 3000
    imports = [e for e in audit_since(services, since) if e.action is AuditAction.IMPORT_STATEMENTS]
    assert len(imports) == 2
    assert {e.actor for e in imports} == {"api:ehr"}


def test_a_bad_statement_is_rejected_with_its_errors_and_the_others_import(client, services, key):
    bad = copy.deepcopy(STATEMENT)
    bad["statement_id"] = "S-2026-000901"
    bad["lines"][0]["charge_cents"] = "185.00"
    bad["due_date"] = "30/11/2026"
    good = copy.deepcopy(STATEMENT)

    response = post_statements(client, key, [bad, good])

    assert response.status_code == 200
    body = response.get_json()
    assert body["imported"] == 1 and body["unchanged"] == 0
    (rejected,) = body["rejected"]
    assert rejected["statement_id"] == "S-2026-000901"
    assert rejected["errors"], rejected
    for problem in rejected["errors"]:
        assert set(problem) == {"field", "message"}
        assert isinstance(problem["field"], str) and isinstance(problem["message"], str)
    fields = {p["field"] for p in rejected["errors"]}
    assert {"lines[0].charge_cents", "due_date"} <= fields
    assert services.store.get_statement("S-2026-000901") is None


def test_the_same_id_with_other_content_is_rejected(client, services, key):
    post_statements(client, key, [STATEMENT])
    changed = copy.deepcopy(STATEMENT)
    changed["lines"][0]["patient_responsibility_cents"] = 2000
    changed["lines"][0]["charge_cents"] = 17500

    body = post_statements(client, key, [changed]).get_json()

    assert body["imported"] == body["unchanged"] == 0
    assert [r["statement_id"] for r in body["rejected"]] == ["S-2026-000900"]
    assert services.store.get_statement("S-2026-000900").total_cents == 3000


def test_malformed_json_is_400(client, services, key):
    for body in (b'{"statements": [', b"[1, 2]", b'{"statements": 5}'):
        response = client.post(
            "/api/v1/statements", data=body, content_type="application/json", headers=auth(key)
        )
        assert response.status_code == 400, body
        assert response.is_json and response.get_json()["error"]


def test_a_body_that_is_not_json_is_415(client, key):
    response = client.post(
        "/api/v1/statements",
        data=json.dumps({"statements": [STATEMENT]}),
        content_type="text/plain",
        headers=auth(key),
    )
    form = client.post("/api/v1/statements", data={"statements": "x"}, headers=auth(key))

    bad_bytes = client.post(
        "/api/v1/statements",
        data=b"statements=%FF",
        content_type="application/x-www-form-urlencoded",
        headers=auth(key),
    )

    assert response.status_code == form.status_code == bad_bytes.status_code == 415
    for answer in (response, form, bad_bytes):
        assert answer.is_json and answer.get_json()["error"]


def test_a_body_over_5_mb_is_413_json(client, services, key):
    body = b'{"statements": [], "padding": "' + b"x" * (5 * 1024 * 1024) + b'"}'

    response = client.post(
        "/api/v1/statements", data=body, content_type="application/json", headers=auth(key)
    )

    assert response.status_code == 413
    assert response.is_json and "5 MB" in response.get_json()["error"]


# -- reading an account ----------------------------------------------------------------------


def test_the_account_read_shows_balances_statements_and_payments(client, services, lopez, key):
    paid = post_manual_payment(
        services, "setup", "100234", "cash", "5.00", "", "a" * 32, "127.0.0.1"
    ).payment
    since = last_audit_id(services)

    response = client.get("/api/v1/accounts/100234", headers=auth(key))

    assert response.status_code == 200
    body = response.get_json()
    assert body["account_number"] == "100234"
    assert body["balance_cents"] == 3000 + 4550 + 2000 - 500
    assert body["statements"] == [
        {
            "statement_id": "S-2026-000100",
            "statement_date": "2026-09-01",
            "due_date": "2026-09-30",
            "total_cents": 3000,
            "balance_cents": 2500,
            "status": "past due",
        },
        {
            "statement_id": "S-2026-000123",
            "statement_date": "2026-11-01",
            "due_date": "2026-11-30",
            "total_cents": 6550,
            "balance_cents": 6550,
            "status": "due",
        },
    ]
    assert body["payments"] == [
        {
            "payment_id": paid.payment_id,
            "amount_cents": 500,
            "status": "succeeded",
            "method": "cash",
            "created_at": "2026-11-28T15:00:00+00:00",
            "posted_at": "2026-11-28T15:00:00+00:00",
            "refunded_cents": 0,
        }
    ]
    (entry,) = audit_since(services, since)
    assert (entry.actor, entry.action, entry.account_number) == (
        "api:ehr",
        AuditAction.VIEW_ACCOUNT,
        "100234",
    )


def test_an_unknown_account_is_404_json(client, services, key):
    since = last_audit_id(services)

    response = client.get("/api/v1/accounts/999999", headers=auth(key))

    assert response.status_code == 404
    assert response.is_json and response.get_json()["error"]
    assert audit_since(services, since) == []


# -- hostile input (found by tests/integration/test_api_fuzz.py) ----------------------------


def post_raw(client, key: str, body: bytes):
    return client.post(
        "/api/v1/statements", data=body, content_type="application/json", headers=auth(key)
    )


def with_line(**values) -> bytes:
    statement = copy.deepcopy(STATEMENT)
    statement["lines"][0].update(values)
    return json.dumps({"statements": [statement]}).encode()


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested more than 16 levels"),
        (b'{"statements": [' + b"[" * 20 + b"]" * 20 + b"]}", "nested more than 16 levels"),
        (b'{"statements": [' + b"9" * 5000 + b"]}", "too large"),
        (
            with_line(charge_cents=10**20 + 15500, patient_responsibility_cents=10**20),
            "lines[0].patient_responsibility_cents",
        ),
        (json.dumps({"statements": [{**STATEMENT, "statement_id": "S-\ud800"}]}).encode(), "half"),
        (b'{"statements": [], "\\udfff": 1}', "surrogate"),
        (b'{"statements": [NaN]}', "NaN is not a JSON number"),
        (b'{"statements": [{"charge_cents": -Infinity}]}', "-Infinity is not a JSON number"),
        (b'{"statements": ["\xff\xfe"]}', "not UTF-8"),
        (b"null", '"statements" list'),
        (b'"statements"', '"statements" list'),
        (b'{"statements": [' + b",".join([b"1"] * 1001) + b"]}", "at most 1000 statements"),
    ],
    ids=[
        "very-deep",
        "17-deep",
        "5000-digits",
        "over-max-cents",
        "lone-surrogate",
        "surrogate-key",
        "nan",
        "infinity",
        "not-utf8",
        "null",
        "a-string",
        "1001-statements",
    ],
)
def test_a_body_that_cannot_be_read_is_400_naming_the_problem_and_stores_nothing(
    client, services, key, body, named
):
    since = last_audit_id(services)

    response = post_raw(client, key, body)

    assert response.status_code == 400
    assert response.is_json and named in response.get_json()["error"]
    assert services.store.get_statement("S-2026-000900") is None
    assert services.store.get_account("100900") is None
    assert audit_since(services, since) == []


def test_amounts_up_to_the_largest_integer_import(client, services, key):
    top = 99_999_999_999

    response = post_raw(
        client, key, with_line(charge_cents=top, insurance_paid_cents=top - 3000 - 3500)
    )

    assert response.get_json() == {"imported": 1, "unchanged": 0, "rejected": []}
    assert services.store.get_statement("S-2026-000900").charges_cents == top


def test_a_rejection_lists_its_first_20_problems_and_cuts_long_texts(client, services, key):
    statement = copy.deepcopy(STATEMENT)
    statement["statement_id"] = "S-" + "9" * 5000
    twin = {**STATEMENT["patients"][0], "patient_id": "P" * 5000}
    statement["patients"] = [twin, twin]  # "appears twice" repeats the id
    statement["lines"] = [1] * 2000  # 2000 "Must be an object."

    body = post_statements(client, key, [statement]).get_json()

    (rejected,) = body["rejected"]
    assert len(rejected["statement_id"]) == 300 and rejected["statement_id"].endswith("\u2026")
    assert len(rejected["errors"]) == 21
    assert rejected["errors"][0] == {
        "field": "statement_id",
        "message": "Too long: at most 64 characters.",
    }
    (twice,) = [e for e in rejected["errors"] if e["message"].startswith("Patient id 'PPP")]
    assert len(twice["message"]) == 300 and twice["message"].endswith("\u2026")
    assert rejected["errors"][-1]["field"] == "statement"
    assert rejected["errors"][-1]["message"].startswith("1984 more problems are not listed")


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/api/v1/nothing", 404),
        ("get", "/api/v1/accounts/a%2Fb", 404),
        ("get", "/api/v1/accounts/", 404),
        ("get", "/api/v1/statements", 405),
        ("delete", "/api/v1/accounts/100234", 405),
        ("post", "/healthz", 405),
        ("put", "/api/v1/openapi.json", 405),
    ],
)
def test_unknown_api_paths_and_methods_answer_json(client, key, method, path, status):
    response = getattr(client, method)(path, headers=auth(key))

    assert response.status_code == status
    assert response.is_json and response.get_json()["error"]
    if status == 405:
        assert "GET" in response.headers["Allow"] or "POST" in response.headers["Allow"]


def test_other_paths_keep_their_html_404(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_the_openapi_document_is_public_json(client):
    response = client.get("/api/v1/openapi.json")

    assert response.status_code == 200
    assert response.is_json
    document = response.get_json()
    assert document["openapi"].startswith("3.")
    assert "/api/v1/statements" in document["paths"]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"


def test_a_store_that_does_not_answer_is_503_json(client, services, key, monkeypatch):
    def down(*args, **kwargs):
        raise StoreError("unreachable")

    monkeypatch.setattr(services.store, "account_records", down)

    response = client.get("/api/v1/accounts/100234", headers=auth(key))

    assert response.status_code == 503
    assert response.is_json and "try again" in response.get_json()["error"]


def test_an_unexpected_error_is_500_json(app, client, key, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr("portal.web.api.account_view", broken)
    app.config["TESTING"] = False  # answer as in production instead of raising in the test

    response = client.get("/api/v1/accounts/100234", headers=auth(key))

    assert response.status_code == 500
    assert response.is_json and "boom" not in response.get_json()["error"]


# -- money events for the practice system ----------------------------------------------------


def test_money_events_page_by_cursor_and_each_read_is_audited(client, services, lopez, key):
    first = client.get("/api/v1/payments", headers=auth(key))
    assert first.status_code == 200
    assert first.get_json()["events"] == []
    start = first.get_json()["next"]
    post_manual_payment(services, "setup", "100234", "cash", "5.00", "", "a" * 32, "127.0.0.1")
    post_manual_payment(services, "setup", "100234", "check", "7.00", "81", "b" * 32, "127.0.0.1")
    since = last_audit_id(services)

    page = client.get(f"/api/v1/payments?since={start}&limit=1", headers=auth(key)).get_json()
    rest = client.get(f"/api/v1/payments?since={page['next']}", headers=auth(key)).get_json()
    again = client.get(f"/api/v1/payments?since={rest['next']}", headers=auth(key)).get_json()

    (cash,) = page["events"]
    (check,) = rest["events"]
    assert set(cash) == {
        "event_id",
        "kind",
        "account_number",
        "statement_id",
        "amount_cents",
        "method",
        "reference",
        "occurred_at",
    }
    assert (cash["kind"], cash["account_number"], cash["amount_cents"], cash["method"]) == (
        "payment",
        "100234",
        -500,
        "cash",
    )
    assert cash["statement_id"] == "S-2026-000100"
    assert cash["occurred_at"] == "2026-11-28T15:00:00+00:00"
    assert (check["method"], check["amount_cents"]) == ("check", -700)
    assert cash["event_id"] != check["event_id"]
    assert again == {"events": [], "next": rest["next"]}
    reads = audit_since(services, since)
    assert [(e.actor, e.action) for e in reads] == [("api:ehr", AuditAction.VIEW_MONEY_EVENTS)] * 3


@pytest.mark.parametrize(
    "query",
    ["since=nonsense", "since=m1-00000000000001", "since=%00", "limit=0", "limit=501", "limit=x"],
)
def test_a_cursor_or_limit_the_portal_did_not_give_is_400(client, key, query):
    response = client.get(f"/api/v1/payments?{query}", headers=auth(key))

    assert response.status_code == 400
    assert response.get_json()["error"].split(":")[0] in ("since", "limit")


def test_money_events_need_a_key(client):
    assert_unauthorized(client.get("/api/v1/payments"))


def test_a_remittance_posting_reaches_the_feed_with_its_posting_reference(client, services, key):
    from portal.services.remittances import import_remittances
    from tests.remittances import GOOD, HERE, corpus_text

    records = json.loads((HERE / "statements.json").read_text())["statements"]
    assert import_records(services, records, "tester").imported == len(records)
    start = client.get("/api/v1/payments", headers=auth(key)).get_json()["next"]

    import_remittances(services, corpus_text(GOOD / "01_paid_in_full.835"), "tester")
    page = client.get(f"/api/v1/payments?since={start}", headers=auth(key)).get_json()

    paid = [e for e in page["events"] if e["kind"] == "remittance"]
    assert paid and sum(e["amount_cents"] for e in paid) == -15000
    assert all(e["reference"] and "#" in e["reference"] for e in paid)
    assert {e["method"] for e in paid} == {None}
