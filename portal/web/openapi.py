"""The OpenAPI 3 description of the JSON API, served at `GET /api/v1/openapi.json`.

Built once at import as a Python dict (so it ships in the Lambda zip like any module). The
schemas of a statement (Statement, Guarantor, Patient, LineItem) are made from the format's
table in portal/domain/import_format.py, which the import's checks read too; the API's own
limits come from portal/web/api_limits.py. tests/integration/test_api_fuzz.py drives the
API with requests generated from this document to keep the two in step. Every response body
is described exactly (`additionalProperties: false`).
"""

import functools
import json
from typing import Any

from portal.domain.import_format import SHAPES, STATEMENT, Field, Kind, Shape
from portal.domain.money_events import EVENT_KINDS
from portal.services.imports import MAX_JSON_DEPTH, MAX_JSON_INTEGER
from portal.services.money_events import CURSOR_PATTERN, DEFAULT_LIMIT, MAX_LIMIT
from portal.web.api_limits import MAX_BODY_MB, MAX_ERRORS_SHOWN, MAX_STATEMENTS, MAX_TEXT

OPENAPI_VERSION = "3.0.3"
DOCUMENT_PATH = "/api/v1/openapi.json"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


# -- the statement format, from its table (portal/domain/import_format.py) ------------------


def _text(f: Field) -> dict:
    """A text field: trimmed, then at most `max_length` characters; a required one may not be
    blank, an optional one may be null or empty."""
    schema: dict = {"type": "string"}
    if f.choices:
        schema["enum"] = list(f.choices)
    elif f.required:
        schema["minLength"] = 1
    if f.max_length is not None:
        schema["maxLength"] = f.max_length
    if f.pattern:
        schema["pattern"] = f"^{f.pattern}$"
    elif f.required and not f.choices:
        schema["pattern"] = "\\S"
    if not f.required:
        schema["nullable"] = True
    if f.description:
        schema["description"] = f.description
    return schema


def _property(f: Field) -> dict:
    if f.kind in (Kind.TEXT, Kind.EMAIL):
        return _text(f)
    if f.kind is Kind.DATE:
        return {
            "type": "string",
            "format": "date",
            "pattern": f"^{f.pattern}$",
            "description": f.description + " (YYYY-MM-DD).",
            "example": "2026-11-01",
        }
    if f.kind is Kind.VERSION:
        return {
            "type": "integer",
            "minimum": 1,
            "maximum": f.maximum,
            "default": 1,
            "description": f.description,
        }
    if f.kind is Kind.CENTS:
        return {
            "type": "integer",
            "minimum": 0,
            "maximum": f.maximum,
            "description": f.description + " in whole cents (1234 is $12.34).",
        }
    if f.kind is Kind.OBJECT:
        assert f.shape is not None, f"{f.name} is an object field without a shape"
        return _ref(f.shape.name)
    assert f.shape is not None or f.item is not None, f"{f.name} is a list of nothing"
    items = _ref(f.shape.name) if f.shape else _property(f.item) if f.item else {}
    schema: dict[str, Any] = {"type": "array", "items": items}
    if f.min_items:
        schema["minItems"] = f.min_items
    if f.description:
        schema["description"] = f.description
    return schema


def shape_schema(shape: Shape) -> dict:
    """The request schema of one object of the statement format: its fields, no others."""
    schema = {
        "type": "object",
        "additionalProperties": False,
        "required": [f.name for f in shape.fields if f.required],
        "properties": {f.name: _property(f) for f in shape.fields},
    }
    if shape.description:
        schema["description"] = shape.description
    return schema


# -- the answers ------------------------------------------------------------------------------


def _object(properties: dict, required: tuple[str, ...] | None = None, **extra) -> dict:
    """A response object: exactly these properties, all of them present."""
    return {
        "type": "object",
        "required": list(required if required is not None else properties),
        "properties": properties,
        "additionalProperties": False,
        **extra,
    }


def _json(schema: dict, description: str, **headers: dict) -> dict:
    response: dict = {
        "description": description,
        "content": {"application/json": {"schema": schema}},
    }
    if headers:
        response["headers"] = headers
    return response


def _error(description: str, **headers: dict) -> dict:
    return _json(_ref("Error"), description, **headers)


UNAUTHORIZED = _error(
    "The key is missing, unknown or revoked.",
    **{
        "WWW-Authenticate": {
            "description": 'Always `Bearer realm="portal"`.',
            "required": True,
            "schema": {"type": "string", "pattern": "^Bearer"},
        }
    },
)
STORE_UNAVAILABLE = _error("The store did not answer; try again later.")
INTERNAL_ERROR = _error("An unexpected error; nothing was changed by the failed request.")

STATEMENT_EXAMPLE = {
    "statement_id": "S-2026-000123",
    "account_number": "100234",
    "statement_date": "2026-11-01",
    "due_date": "2026-11-30",
    "version": 1,
    "guarantor": {
        "first_name": "Maria",
        "last_name": "Lopez",
        "date_of_birth": "1984-03-12",
        "email": "maria@example.com",
        "phone": "+15555550123",
        "preferred_language": "en",
        "sms_consent": {
            "phone": "+15555550123",
            "given_at": "2026-10-14T09:30:00-04:00",
            "source": "intake form",
        },
    },
    "patients": [
        {
            "patient_id": "P1",
            "first_name": "Ana",
            "last_name": "Lopez",
            "date_of_birth": "2015-06-02",
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
            "description_es": "Consulta en el consultorio, paciente establecido",
            "claim_id": "C-100234-01",
            "diagnosis_codes": ["J06.9"],
            "charge_cents": 18500,
            "insurance_paid_cents": 12000,
            "adjustment_cents": 3500,
            "patient_responsibility_cents": 3000,
        }
    ],
}

SCHEMAS: dict = {
    "Error": _object(
        {"error": {"type": "string", "minLength": 1, "description": "What is wrong."}},
        example={"error": "A valid API key is needed: send Authorization: Bearer <key>."},
    ),
    "Health": _object(
        {"status": {"type": "string", "enum": ["ok", "unavailable"]}},
    ),
    "OpenApiDocument": {
        "type": "object",
        "required": ["openapi", "info", "paths"],
        "properties": {
            "openapi": {"type": "string"},
            "info": {"type": "object"},
            "paths": {"type": "object"},
        },
        "description": "This document.",
    },
    "StatementImport": {
        "type": "object",
        "additionalProperties": False,
        "required": ["statements"],
        "properties": {
            "statements": {
                "type": "array",
                "maxItems": MAX_STATEMENTS,
                "items": _ref("Statement"),
                "description": "Each statement is checked and imported on its own; at most "
                f"{MAX_STATEMENTS} in one request.",
            }
        },
        "description": (
            f"UTF-8 JSON (a byte-order mark is fine), at most {MAX_BODY_MB} MB, nested at "
            f"most {MAX_JSON_DEPTH} levels deep, with no integer above {MAX_JSON_INTEGER} "
            "(anywhere in the document) and no lone UTF-16 surrogate escape; otherwise the "
            "whole request is refused (400, 413) and nothing is stored. Members this document "
            "does not name are not part of the format (today they are ignored)."
        ),
        "example": {"statements": [STATEMENT_EXAMPLE]},
    },
    **{shape.name: shape_schema(shape) for shape in SHAPES},
    "RemittanceSummary": _object(
        {
            "refused": {"type": "boolean"},
            "errors": {
                "type": "array",
                "maxItems": MAX_ERRORS_SHOWN,
                "items": _object(
                    {
                        "segment": {"type": "integer", "minimum": 1},
                        "segment_id": {"type": "string"},
                        "message": {"type": "string", "maxLength": MAX_TEXT},
                    }
                ),
                "description": "Why the file was refused (the segment's number in the file, "
                f"ISA being 1), at most {MAX_ERRORS_SHOWN}; empty when it was not.",
            },
            "transactions": {"type": "array", "items": _ref("RemittanceTransaction")},
        },
        example={"refused": False, "errors": [], "transactions": []},
    ),
    "RemittanceTransaction": _object(
        {
            "remittance_id": {"type": "string", "description": "Payer id and trace number."},
            "payer_name": {"type": "string"},
            "trace_number": {"type": "string", "description": "The check or EFT number."},
            "method": {"type": "string", "description": "BPR04: CHK, ACH, FWT, BOP, NON."},
            "amount_cents": {"type": "integer"},
            "outcome": {"type": "string", "enum": ["imported", "unchanged", "checked"]},
            "claims": {"type": "integer", "minimum": 0},
            "posted_cents": {"type": "integer"},
            "unmatched_cents": {"type": "integer"},
            "provider_adjusted_cents": {"type": "integer"},
            "work_items": {"type": "integer", "minimum": 0},
        }
    ),
    "ImportSummary": _object(
        {
            "imported": {"type": "integer", "minimum": 0},
            "unchanged": {"type": "integer", "minimum": 0},
            "rejected": {"type": "array", "items": _ref("Rejection")},
        },
        example={"imported": 1, "unchanged": 0, "rejected": []},
    ),
    "Rejection": _object(
        {
            "statement_id": {
                "type": "string",
                "maxLength": MAX_TEXT,
                "description": f"As sent (trimmed, cut to {MAX_TEXT} characters); empty when "
                "it was missing or not text.",
            },
            "errors": {
                "type": "array",
                "minItems": 1,
                "maxItems": MAX_ERRORS_SHOWN + 1,
                "items": _ref("FieldError"),
                "description": f"The first {MAX_ERRORS_SHOWN} problems; when there are more, "
                "a last entry with field `statement` says how many more.",
            },
        }
    ),
    "FieldError": _object(
        {
            "field": {
                "type": "string",
                "maxLength": MAX_TEXT,
                "description": "Where, e.g. `lines[0].code` or `guarantor.date_of_birth`.",
            },
            "message": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_TEXT,
                "description": f"What is wrong (cut to {MAX_TEXT} characters).",
            },
        }
    ),
    "Account": _object(
        {
            "account_number": {"type": "string"},
            "balance_cents": {
                "type": "integer",
                "description": "What is owed in cents; negative when the account is in credit.",
            },
            "statements": {
                "type": "array",
                "items": _ref("AccountStatement"),
                "description": "Oldest first.",
            },
            "payments": {
                "type": "array",
                "items": _ref("AccountPayment"),
                "description": "Newest first.",
            },
        }
    ),
    "AccountStatement": _object(
        {
            "statement_id": {"type": "string"},
            "statement_date": {"type": "string", "format": "date"},
            "due_date": {"type": "string", "format": "date"},
            "total_cents": {"type": "integer", "minimum": 0},
            "balance_cents": {"type": "integer"},
            "status": {"type": "string", "enum": ["due", "past due", "paid"]},
        }
    ),
    "AccountPayment": _object(
        {
            "payment_id": {"type": "string"},
            "amount_cents": {"type": "integer"},
            "status": {
                "type": "string",
                "enum": [
                    "pending",
                    "processing",
                    "succeeded",
                    "failed",
                    "canceled",
                    "refunded",
                    "disputed",
                    "reversed",
                ],
            },
            "method": {
                "type": "string",
                "description": "`card` (online), `check`, `cash` or `card_desk`.",
            },
            "created_at": {"type": "string", "format": "date-time"},
            "posted_at": {"type": "string", "format": "date-time", "nullable": True},
            "refunded_cents": {"type": "integer", "minimum": 0},
        }
    ),
    "MoneyEvents": _object(
        {
            "events": {
                "type": "array",
                "items": _ref("MoneyEvent"),
                "description": "In the order the portal committed them; empty when nothing is new.",
            },
            "next": {
                "type": "string",
                "pattern": CURSOR_PATTERN,
                "description": "The cursor to send as `since` next time (the same one when "
                "nothing is new).",
            },
        },
        example={
            "events": [
                {
                    "event_id": "ev_5f2c8a1e9b7d3c4a6e0f1b2d",
                    "kind": "payment",
                    "account_number": "100234",
                    "statement_id": "S-2026-000123",
                    "amount_cents": -3000,
                    "method": "card",
                    "reference": "pi_3Q0example",
                    "occurred_at": "2026-11-28T15:00:00+00:00",
                }
            ],
            "next": "m1000000000000001",
        },
    ),
    "MoneyEvent": _object(
        {
            "event_id": {
                "type": "string",
                "minLength": 1,
                "description": "Stable and unique: post each event once by it.",
            },
            "kind": {"type": "string", "enum": list(EVENT_KINDS)},
            "account_number": {"type": "string"},
            "statement_id": {
                "type": "string",
                "nullable": True,
                "description": "The statement the money moved on; null for the account's "
                "credit (money received beyond what was owed).",
            },
            "amount_cents": {
                "type": "integer",
                "description": "As the ledger posts it: positive raises what the guarantor "
                "owes (a refund), negative lowers it (a payment, adjustment, write-off).",
            },
            "method": {
                "type": "string",
                "nullable": True,
                "description": "The payment's method (`card`, `check`, `cash`, `card_desk`, "
                "a plan's saved method); null when no payment is involved.",
            },
            "reference": {
                "type": "string",
                "nullable": True,
                "description": "The processor's reference: the payment's, or the refund's "
                "id for a refund; for a remittance posting `<remittance id>#<claim>#<line>`; "
                "null when there is none.",
            },
            "occurred_at": {"type": "string", "format": "date-time"},
        }
    ),
}
SCHEMAS[STATEMENT.name]["example"] = STATEMENT_EXAMPLE

PATHS: dict = {
    "/healthz": {
        "get": {
            "operationId": "health",
            "summary": "Whether the portal and its store answer",
            "security": [],
            "responses": {
                "200": _json(_ref("Health"), 'The store answers: `{"status": "ok"}`.'),
                "503": _json(
                    _ref("Health"), 'The store does not answer: `{"status": "unavailable"}`.'
                ),
                "500": INTERNAL_ERROR,
            },
        }
    },
    DOCUMENT_PATH: {
        "get": {
            "operationId": "openapi",
            "summary": "This OpenAPI document",
            "security": [],
            "responses": {
                "200": _json(_ref("OpenApiDocument"), "The document."),
                "500": INTERNAL_ERROR,
            },
        }
    },
    "/api/v1/statements": {
        "post": {
            "operationId": "importStatements",
            "summary": "Import statements",
            "description": (
                "Each statement is checked and imported all or nothing; the others go on. "
                "Audited as `api:<key name>`."
            ),
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("StatementImport")}},
            },
            "responses": {
                "200": _json(
                    _ref("ImportSummary"),
                    "How many statements were imported or already there unchanged, and "
                    "each rejected statement with its problems.",
                ),
                "400": _error(
                    "The body is not a readable statements document (not UTF-8, not JSON, "
                    'not an object with a "statements" list, nested too deeply, a number '
                    f"too large, a lone surrogate, over {MAX_STATEMENTS} statements); nothing "
                    "was stored."
                ),
                "401": UNAUTHORIZED,
                "413": _error(f"The body is over {MAX_BODY_MB} MB; nothing was stored."),
                "415": _error("The body is not `application/json`; nothing was stored."),
                "500": INTERNAL_ERROR,
                "503": STORE_UNAVAILABLE,
            },
        }
    },
    "/api/v1/payments": {
        "get": {
            "operationId": "listMoneyEvents",
            "summary": "Every money event after a cursor, in order",
            "description": (
                "Payments, plan installments, refunds, reversals, adjustments, write-offs, "
                "credit transfers and remittance postings, one per ledger entry, in the order "
                "they were committed. Start without `since`, then send each answer's `next`: "
                "an event committed later never comes before a cursor already given, so "
                "nothing is missed or repeated. Each read is audited as `api:<key name>`."
            ),
            "parameters": [
                {
                    "name": "since",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "string", "pattern": CURSOR_PATTERN},
                    "description": "The `next` of the last answer (opaque: send it as it "
                    "came); none to start from the first event.",
                },
                {
                    "name": "limit",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                    "description": f"About this many events at most (default {DEFAULT_LIMIT}); "
                    "a store that keeps one change's events together may give more.",
                },
            ],
            "responses": {
                "200": _json(_ref("MoneyEvents"), "The events after the cursor."),
                "400": _error("`since` is not a cursor the portal gave, or `limit` is bad."),
                "401": UNAUTHORIZED,
                "500": INTERNAL_ERROR,
                "503": STORE_UNAVAILABLE,
            },
        }
    },
    "/api/v1/remittances": {
        "post": {
            "operationId": "importRemittances",
            "summary": "Import an insurance remittance (X12 835)",
            "description": (
                "The file is checked whole (envelopes, counts, segments, codes, balancing); "
                "a file that fails is refused and nothing is posted. Each payment (payer and "
                "trace number) is posted once however often it is sent. Audited as "
                "`api:<key name>`."
            ),
            "requestBody": {
                "required": True,
                "content": {
                    "application/edi-x12": {
                        "schema": {"type": "string", "description": "The 835 file as text."}
                    }
                },
            },
            "responses": {
                "200": _json(_ref("RemittanceSummary"), "What each payment posted."),
                "401": UNAUTHORIZED,
                "413": _error(f"The body is over {MAX_BODY_MB} MB; nothing was posted."),
                "415": _error("The body is not `application/edi-x12`; nothing was posted."),
                "422": _json(
                    _ref("RemittanceSummary"),
                    "The file was refused: `errors` names each segment and rule; nothing "
                    "was posted.",
                ),
                "500": INTERNAL_ERROR,
                "503": STORE_UNAVAILABLE,
            },
        }
    },
    "/api/v1/accounts/{account_number}": {
        "get": {
            "operationId": "getAccount",
            "summary": "An account's balance, statements and payments",
            "description": "Each read is audited as `api:<key name>`.",
            "parameters": [
                {
                    "name": "account_number",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "minLength": 1},
                    "example": "100234",
                }
            ],
            "responses": {
                "200": _json(_ref("Account"), "The account."),
                "401": UNAUTHORIZED,
                "404": _error("No account with this number."),
                "500": INTERNAL_ERROR,
                "503": STORE_UNAVAILABLE,
            },
        }
    },
}

DOCUMENT: dict = {
    "openapi": OPENAPI_VERSION,
    "info": {
        "title": "Patient billing portal API",
        "version": "1",
        "description": (
            "For practice-management systems and clearinghouses. Every request except "
            "`/healthz` and this document carries an API key made with `portal api-keys "
            "create NAME` as `Authorization: Bearer pbp_...`. Every answer, errors too, "
            "is JSON; an unknown path under `/api/` is 404 and a method a path does not "
            'take is 405 (with `Allow`), both as `{"error": "..."}`.'
        ),
    },
    "security": [{"bearerAuth": []}],
    "paths": PATHS,
    "components": {
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "An API key from `portal api-keys create NAME` (pbp_...).",
            }
        },
        "schemas": SCHEMAS,
    },
}


@functools.cache
def document_json() -> str:
    """The document as served, written out on its first request rather than at import."""
    return json.dumps(DOCUMENT, indent=1, sort_keys=False)
