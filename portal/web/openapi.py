"""The OpenAPI 3 description of the JSON API, served at `GET /api/v1/openapi.json`.

Built once at import as a Python dict (so it ships in the Lambda zip like any module). The
request schema says what `POST /api/v1/statements` imports; the checks themselves live in
portal/services/imports.py and portal/domain/statements.py, and tests/integration/
test_api_fuzz.py drives the API with requests generated from this document to keep the two
in step. Every response body is described exactly (`additionalProperties: false`).
"""

import json

from portal.services.imports import MAX_JSON_DEPTH, MAX_JSON_INTEGER, TEXT_LIMIT, TEXT_LIMITS

OPENAPI_VERSION = "3.0.3"
DOCUMENT_PATH = "/api/v1/openapi.json"
MAX_BODY_MB = 5  # MAX_CONTENT_LENGTH in portal/app.py
# Limits of POST /api/v1/statements (portal/web/api.py applies them).
MAX_STATEMENTS = 1000  # statements in one request
MAX_ERRORS_SHOWN = 20  # problems listed for one rejected statement (then one "more" entry)
MAX_TEXT = 300  # characters of a statement id, field or message in an answer

_DATE_PATTERN = "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_CPT_OR_HCPCS = "^([0-9]{4}[0-9FTU]|[A-V][0-9]{4})$"
_ICD10_CM = "^[A-Z][0-9][0-9A-Z](\\.?[0-9A-Z]{1,4})?$"


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _text(description: str, max_length: int = TEXT_LIMIT) -> dict:
    """A required text field: surrounding spaces are trimmed and it may not be blank."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": max_length,
        "pattern": "\\S",
        "description": description,
    }


def _optional_text(description: str) -> dict:
    return {"type": "string", "nullable": True, "maxLength": TEXT_LIMIT, "description": description}


def _date(description: str) -> dict:
    return {
        "type": "string",
        "format": "date",
        "pattern": _DATE_PATTERN,
        "description": description + " (YYYY-MM-DD).",
        "example": "2026-11-01",
    }


def _cents(description: str) -> dict:
    return {
        "type": "integer",
        "minimum": 0,
        "maximum": MAX_JSON_INTEGER,
        "description": description + " in whole cents (1234 is $12.34).",
    }


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
    "guarantor": {
        "first_name": "Maria",
        "last_name": "Lopez",
        "date_of_birth": "1984-03-12",
        "email": "maria@example.com",
        "phone": "+15555550123",
        "preferred_language": "en",
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
    "Statement": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "statement_id",
            "account_number",
            "statement_date",
            "due_date",
            "guarantor",
            "patients",
            "lines",
        ],
        "properties": {
            "statement_id": _text(
                "The statement number; the same id again with the same "
                "content is `unchanged`, with other content rejected.",
                TEXT_LIMITS["statement_id"],
            ),
            "account_number": _text(
                "The guarantor account; an existing account only for the "
                "same guarantor (name ignoring case and accents, and "
                "date of birth).",
                TEXT_LIMITS["account_number"],
            ),
            "statement_date": _date("The statement date"),
            "due_date": _date("On or after the statement date"),
            "guarantor": _ref("Guarantor"),
            "patients": {
                "type": "array",
                "items": _ref("Patient"),
                "description": "Patients the lines are for, unless already on the account; "
                "patient ids unique.",
            },
            "lines": {
                "type": "array",
                "minItems": 1,
                "items": _ref("LineItem"),
                "description": "At least one line; line ids unique in the statement.",
            },
        },
        "description": (
            "Imported whole or not at all. A statement that breaks a rule is listed in "
            "`rejected` of the 200 answer with every (field, message) problem; the other "
            "statements of the request still import."
        ),
        "example": STATEMENT_EXAMPLE,
    },
    "Guarantor": {
        "type": "object",
        "additionalProperties": False,
        "required": ["first_name", "last_name", "date_of_birth"],
        "properties": {
            "first_name": _text("The guarantor's first name."),
            "last_name": _text("The guarantor's last name."),
            "date_of_birth": _date("The guarantor's date of birth"),
            "email": _optional_text(
                "One address like name@example.com (no display name, spaces or control "
                "characters), where statement notices and receipts go; empty for none."
            ),
            "phone": _optional_text("A phone number, e.g. +15555550123; empty for none."),
            "preferred_language": _optional_text("A language tag; empty means `en`."),
        },
    },
    "Patient": {
        "type": "object",
        "additionalProperties": False,
        "required": ["patient_id", "first_name", "last_name", "date_of_birth"],
        "properties": {
            "patient_id": _text("The patient's id on this account.", TEXT_LIMITS["patient_id"]),
            "first_name": _text("The patient's first name."),
            "last_name": _text("The patient's last name."),
            "date_of_birth": _date("The patient's date of birth"),
        },
    },
    "LineItem": {
        "type": "object",
        "additionalProperties": False,
        "required": [
            "line_id",
            "patient_id",
            "service_date",
            "provider",
            "code_system",
            "code",
            "description",
            "diagnosis_codes",
            "charge_cents",
            "insurance_paid_cents",
            "adjustment_cents",
            "patient_responsibility_cents",
        ],
        "properties": {
            "line_id": _text("Unique within the statement.", TEXT_LIMITS["line_id"]),
            "patient_id": _text(
                "A patient of this statement or already on the account.", TEXT_LIMITS["patient_id"]
            ),
            "service_date": _date("On or before the statement date"),
            "provider": _text("Who gave the service."),
            "code_system": {"type": "string", "enum": ["CPT", "HCPCS"]},
            "code": {
                "type": "string",
                "pattern": _CPT_OR_HCPCS,
                "description": "CPT: 4 digits then a digit, F, T or U (99213, 0001F); "
                "HCPCS Level II: a letter A-V then 4 digits (J1100).",
            },
            "description": _text(
                "The plain-language description of the service.", TEXT_LIMITS["description"]
            ),
            "diagnosis_codes": {
                "type": "array",
                "items": {
                    "type": "string",
                    "pattern": _ICD10_CM,
                    "description": "ICD-10-CM (J06.9, E11.65, S52.521A); ICD-9 is refused.",
                },
            },
            "charge_cents": _cents(
                "insurance_paid_cents + adjustment_cents + patient_responsibility_cents,"
            ),
            "insurance_paid_cents": _cents("What insurance paid,"),
            "adjustment_cents": _cents("The contractual adjustment,"),
            "patient_responsibility_cents": _cents("What is left for the patient,"),
        },
    },
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
}

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

DOCUMENT_JSON: str = json.dumps(DOCUMENT, indent=1, sort_keys=False)
