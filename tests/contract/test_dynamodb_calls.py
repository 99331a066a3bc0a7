"""The DynamoDB calls behind the patient's pages and the statement import (with its
notices): no Scan, and no more than docs/dynamodb.md states (a change that adds a call to
these must update the design first)."""

import dataclasses
import re
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.config import Settings
from portal.services.imports import import_records
from portal.services.reminders import run_reminders
from portal.services.statements import import_statement
from tests.conftest import lopez_account, statement
from tests.integration.conftest import sign_in
from tests.integration.test_stripe_webhooks import completed, deliver, open_payment
from tests.stripe_fixtures import WEBHOOK_SECRET

DOC = Path(__file__).resolve().parents[2] / "docs" / "dynamodb.md"


def documented_calls(page: str) -> int:
    """The number the design states for a page, from its 'calls per page' table."""
    match = re.search(rf"^\| {page} page \| (\d+) \|", DOC.read_text(), re.MULTILINE)
    assert match, f"docs/dynamodb.md states no call count for the {page} page"
    return int(match.group(1))


class CallLog:
    def __init__(self, client):
        self.calls: list[str] = []
        client.meta.events.register("before-call.dynamodb", self.record)

    def record(self, model, **kwargs):
        self.calls.append(model.name)

    def during(self, action) -> list[str]:
        self.calls.clear()
        action()
        return list(self.calls)


@pytest.fixture
def dynamo_app(moto_endpoint, tmp_path, clock):
    settings = Settings.from_env(
        {
            "PORTAL_STORE": "dynamodb",
            "PORTAL_DYNAMODB_TABLE": f"calls-{uuid.uuid4().hex[:12]}",
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
        }
    )
    services = build_services(settings, clock=clock)
    services.store.migrate()
    account = lopez_account()
    import_statement(services, account, statement("S-2026-000100", (3000,)))
    import_statement(services, account, statement("S-2026-000123", (4550, 2000)))
    app = create_app(services=services)
    app.config["TESTING"] = True
    app.config["SERVICES_FOR_TEST"] = services
    return app, CallLog(services.store.db.client)


@pytest.mark.parametrize(
    ("page", "path", "shows"),
    [
        ("account", "/account", "S-2026-000123"),
        ("statement", "/statements/S-2026-000123", "Office visit, established patient"),
    ],
)
def test_page_calls_stay_within_the_design_and_never_scan(dynamo_app, page, path, shows):
    app, log = dynamo_app
    client = app.test_client()
    sign_in(client)

    responses = []
    calls = log.during(lambda: responses.append(client.get(path)))

    assert responses[0].status_code == 200
    assert shows in responses[0].get_data(as_text=True)
    assert "Scan" not in calls, calls
    assert len(calls) == documented_calls(page), calls


def documented_path_calls(path: str) -> int:
    """The number the design states for a write path, from its 'calls per path' table."""
    match = re.search(rf"^\| {path} \| (\d+) \|", DOC.read_text(), re.MULTILINE)
    assert match, f"docs/dynamodb.md states no call count for {path}"
    return int(match.group(1))


@pytest.fixture
def stripe_dynamo_app(moto_endpoint, tmp_path, clock):
    settings = Settings.from_env(
        {
            "PORTAL_STORE": "dynamodb",
            "PORTAL_DYNAMODB_TABLE": f"calls-{uuid.uuid4().hex[:12]}",
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
            "PORTAL_PAYMENTS": "stripe",
            "STRIPE_SECRET_KEY": "sk_test_never_called",
            "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "STRIPE_API_BASE": "http://127.0.0.1:9",  # a webhook needs no API call
        }
    )
    services = build_services(settings, clock=clock)
    services.store.migrate()
    import_statement(services, lopez_account(), statement("S-2026-000123", (4550, 2000)))
    for payment_id in ("pay_calls_1", "pay_calls_2"):
        open_payment(services, payment_id, 4000)
    app = create_app(services=services)
    app.config["TESTING"] = True
    return app, services, CallLog(services.store.db.client)


def test_a_paid_webhook_event_stays_within_the_design(stripe_dynamo_app):
    """Posting a paid event with its receipt: the calls docs/dynamodb.md states, and one
    receipt in the mail log; an added call fails here."""
    app, services, log = stripe_dynamo_app
    client = app.test_client()
    deliver(client, completed("pay_calls_1", event_id="evt_calls_warm"))  # clients built

    answers = []
    calls = log.during(
        lambda: answers.append(deliver(client, completed("pay_calls_2", event_id="evt_calls")))
    )

    assert answers[0].status_code == 200, answers[0].get_data(as_text=True)
    assert answers[0].get_json() == {"status": "processed"}
    assert services.store.get_payment("pay_calls_2").posted_at is not None
    assert services.store.claim_completed("receipt", "pay_calls_2")
    assert "Scan" not in calls, calls
    assert len(calls) == documented_path_calls("a paid webhook event"), calls


def test_the_reminder_run_stays_within_the_design(dynamo_app, clock):
    """Two accounts due their first reminder, in one batch: the run's calls, and each due
    account's, as docs/dynamodb.md states them; an added call fails here."""
    app, log = dynamo_app
    services = app.config["SERVICES_FOR_TEST"]
    due = date(2026, 11, 28) - timedelta(days=15)
    for number in ("200001", "200002"):
        account = dataclasses.replace(lopez_account(), account_number=number)
        owed = statement(f"S-{number}", (3000,), due - timedelta(30), due, number)
        import_statement(services, account, owed, notify=False)

    summaries = []
    calls = log.during(lambda: summaries.append(run_reminders(services, clock.now())))

    assert summaries[0].sent == 2, summaries[0]
    assert "Scan" not in calls, calls
    per_run = documented_path_calls("the reminder run, per run")
    per_batch = documented_path_calls("the reminder run, per batch of 25")
    each = documented_path_calls("the reminder run, per due account")
    assert len(calls) == per_run + per_batch + 2 * each, calls


# -- importing statements with their notices ---------------------------------------------


def documented_import_calls(row: str) -> int:
    """A number from the design's 'Calls of an import' table."""
    match = re.search(rf"^\| {re.escape(row)} \| (\d+) \|", DOC.read_text(), re.MULTILINE)
    assert match, f"docs/dynamodb.md states no import call count for {row!r}"
    return int(match.group(1))


def import_record(statement_id: str, account_number: str, last_name: str) -> dict:
    return {
        "statement_id": statement_id,
        "account_number": account_number,
        "statement_date": "2026-11-01",
        "due_date": "2026-11-30",
        "guarantor": {
            "first_name": "Maria",
            "last_name": last_name,
            "date_of_birth": "1984-03-12",
            "email": f"{account_number}@example.com",
        },
        "patients": [
            {
                "patient_id": "P1",
                "first_name": "Ana",
                "last_name": last_name,
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


def test_import_with_notices_makes_the_documented_calls(dynamo_app):
    """Three statements of new accounts, two more of accounts that exist (one of them
    imported earlier in the same file), and the whole file again: every call botocore
    makes, against the design's table."""
    app, log = dynamo_app
    services = app.extensions["portal"]
    new = [import_record(f"S-NEW-{n}", f"70000{n}", "Lopez") for n in range(3)]
    existing = [
        import_record("S-OLD-1", "100234", "Lopez"),  # the fixture's account
        import_record("S-OLD-2", "700000", "Lopez"),  # new in this file, just above
    ]
    records = new + existing

    calls = log.during(lambda: import_records(services, records, "calls"))

    per_batch = documented_import_calls("import, per batch (up to 200 statements)")
    per_new = documented_import_calls("a statement of a new account, with its notice")
    per_existing = documented_import_calls("a statement of an existing account, with its notice")
    audit = documented_import_calls("the import's audit entry")
    taken = documented_import_calls("the import's notices, per 25")
    assert "Scan" not in calls, calls
    assert len(calls) == per_batch + 3 * per_new + 2 * per_existing + audit + taken, calls
    sent = [c for c in calls if c == "TransactWriteItems"]
    # each statement, its notice marked sent, and the notices' claims taken
    assert len(sent) == 2 * len(records) + 1, calls

    again = log.during(lambda: import_records(services, records, "calls"))

    unchanged = documented_import_calls("the same statements again")
    assert len(again) == per_batch + len(records) * unchanged + audit, again
