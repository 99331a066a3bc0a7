"""The three ways in for an 835 file (issue 20): `portal remittances import FILE
[--dry-run]`, `POST /api/v1/remittances` (application/edi-x12) and the supervisors' upload
page, all through one service: the same summary, a refused file posts nothing, and every
import is audited."""

import csv
import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.cli import cli
from portal.domain.ledger import balances
from portal.domain.staff import AuditAction
from portal.services.api_keys import create_api_key
from portal.services.imports import import_records
from tests.integration.conftest import token_from
from tests.integration.staff_helpers import (
    audit_since,
    last_audit_id,
    make_staff,
    staff_sign_in,
    text,
)
from tests.remittances import BAD, GOOD, HERE, corpus_text, expected_refusals

PAID = GOOD / "01_paid_in_full.835"


@pytest.fixture
def statements(services):
    records = json.loads((HERE / "statements.json").read_text())["statements"]
    assert import_records(services, records, "tester").imported == len(records)


def owed(services, account: str = "300100") -> dict:
    return balances(services.store.load_book(account).entries).by_statement


@pytest.fixture
def cli_env(settings, services, statements) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(settings.sqlite_path),
        "PORTAL_OUTBOX_DIR": str(settings.outbox_dir),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }


def run(env, *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def as_file(tmp_path: Path, path: Path) -> str:
    out = tmp_path / path.name
    out.write_text(corpus_text(path))
    return str(out)


def test_the_command_posts_and_prints_a_line_per_payment(cli_env, services, tmp_path):
    result = run(cli_env, "remittances", "import", as_file(tmp_path, PAID))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "1512345678-EFT-1001 ACME HEALTH PLAN ACH EFT-1001 $150.00: imported, 1 claims, "
        "posted $150.00, unmatched $0.00, provider adjustments $0.00, 0 work items",
        "imported=1 unchanged=0 refused=0",
    ]
    assert owed(services) == {"S-R-100": 0}
    again = run(cli_env, "remittances", "import", as_file(tmp_path, PAID))
    assert again.output.splitlines()[-1] == "imported=0 unchanged=1 refused=0"


def test_a_dry_run_posts_nothing(cli_env, services, tmp_path):
    result = run(cli_env, "remittances", "import", "--dry-run", as_file(tmp_path, PAID))

    assert result.exit_code == 0
    assert result.output.startswith("Dry run: nothing was posted.\n")
    assert "checked" in result.output
    assert owed(services) == {"S-R-100": 18500}


def test_a_refused_file_exits_1_naming_each_segment(cli_env, services, tmp_path):
    result = run(cli_env, "remittances", "import", as_file(tmp_path, BAD / "se_count.835"))

    assert result.exit_code == 1
    assert result.output.splitlines() == [
        "Refused: nothing was posted.",
        "Segment 18 (SE): SE count of 15 for SE02=0001 is wrong. I count 16",
    ]
    assert owed(services) == {"S-R-100": 18500}


def test_a_file_that_is_not_text_is_refused(cli_env, tmp_path):
    binary = tmp_path / "scan.835"
    binary.write_bytes(b"ISA\xff\xfe")

    result = run(cli_env, "remittances", "import", str(binary))

    assert result.exit_code == 1
    assert "Segment 1 (ISA): not an X12 text file (byte 4)" in result.output


@pytest.fixture
def key(services) -> str:
    return create_api_key(services, "clearinghouse", actor="test").key


def send(client, key: str, body: str, mimetype: str = "application/edi-x12"):
    return client.post(
        "/api/v1/remittances",
        data=body.encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": mimetype},
    )


def test_the_api_posts_and_answers_with_the_summary(client, services, statements, key):
    before = last_audit_id(services)

    response = send(client, key, corpus_text(PAID))

    assert response.status_code == 200
    body = response.get_json()
    assert body["refused"] is False and body["errors"] == []
    [t] = body["transactions"]
    assert (t["remittance_id"], t["outcome"], t["posted_cents"]) == (
        "1512345678-EFT-1001",
        "imported",
        15000,
    )
    assert owed(services) == {"S-R-100": 0}
    [entry] = [
        e for e in audit_since(services, before) if e.action is AuditAction.IMPORT_REMITTANCE
    ]
    assert entry.actor == "api:clearinghouse" and entry.subject == "1512345678-EFT-1001"


def test_the_api_refuses_a_bad_file_with_422_and_posts_nothing(client, services, statements, key):
    response = send(client, key, corpus_text(BAD / "payment_unbalanced.835"))

    assert response.status_code == 422
    body = response.get_json()
    assert body["refused"] is True and body["transactions"] == []
    assert body["errors"] == [
        {
            "segment": 4,
            "segment_id": "BPR",
            "message": "the payment of $140.00 is not the claims' payments ($150.00) less "
            "the provider adjustments ($0.00): $150.00",
        }
    ]
    assert owed(services) == {"S-R-100": 18500}


def test_the_api_wants_a_key_and_the_x12_media_type(client, statements, key):
    assert send(client, "wrong", corpus_text(PAID)).status_code == 401
    assert send(client, key, corpus_text(PAID), "text/plain").status_code == 415


# -- the billing console ------------------------------------------------------------------


@pytest.fixture
def supervisor(client, services, statements):
    make_staff(services, "sam", "supervisor")
    staff_sign_in(client, services, "sam")
    return client


def upload(client, path: Path, dry_run: bool = False):
    token = token_from(client, "/staff/remittances/import")
    data = {"csrf_token": token, "file": (io.BytesIO(corpus_text(path).encode()), path.name)}
    if dry_run:
        data["dry_run"] = "1"
    return client.post("/staff/remittances/import", data=data, content_type="multipart/form-data")


def test_a_supervisor_uploads_a_file_and_sees_each_payment(supervisor, services):
    before = last_audit_id(services)

    page = upload(supervisor, GOOD / "07_several_claims_and_transactions.835")

    assert page.status_code == 200
    rows = [
        text(r)
        for r in re.findall(r'<tr class="transaction">.*?</tr>', page.get_data(as_text=True), re.S)
    ]
    assert len(rows) == 2 and "EFT-7007" in rows[0] and "CHK-7008" in rows[1]
    assert owed(services, "300800") == {"S-R-800": 0}
    [entry] = [
        e for e in audit_since(services, before) if e.action is AuditAction.IMPORT_REMITTANCE
    ]
    assert entry.actor == "sam"


def test_a_refused_upload_lists_each_segment_and_posts_nothing(supervisor, services):
    page = upload(supervisor, BAD / "claim_unbalanced.835")

    assert page.status_code == 422
    refusals = [
        text(r)
        for r in re.findall(r'<li class="refusal">.*?</li>', page.get_data(as_text=True), re.S)
    ]
    assert refusals == expected_refusals(BAD / "claim_unbalanced.835")
    assert owed(services) == {"S-R-100": 18500}


def test_an_associate_cannot_upload(client, services, statements):
    make_staff(services, "ann", "associate")
    staff_sign_in(client, services, "ann")

    assert client.get("/staff/remittances/import").status_code == 403


def test_the_report_lists_each_payment_and_downloads_as_csv(supervisor, services):
    upload(supervisor, GOOD / "06_provider_adjustments.835")

    page = supervisor.get("/staff/remittances")
    csv_file = supervisor.get("/staff/remittances?format=csv")

    assert page.status_code == 200
    assert 'data-testid="remittance-1512345678-EFT-6006"' in page.get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(csv_file.get_data(as_text=True))))
    assert rows[0][:5] == ["imported_at", "file", "payer_id", "payer", "trace_number"]
    assert rows[1][1:] == [
        "ACMEHEALTH-000000107",
        "1512345678",
        "ACME HEALTH PLAN",
        "EFT-6006",
        "ACH",
        "2026-12-01",
        "52.35",
        "1",
        "90.00",
        "0.00",
        "37.65",
        "2",
        "yes",
    ]


def test_work_items_are_listed_and_resolved_with_a_note(supervisor, services):
    upload(supervisor, GOOD / "03_denied.835")
    board = supervisor.get("/staff/").get_data(as_text=True)
    assert re.search(r'data-testid="remittance-items">1<', board)

    page = supervisor.get("/staff/remittances/work")
    html = page.get_data(as_text=True)
    assert "Denied" in html and "CO-50" in html and "N115" in html
    codes = [
        text(li) for li in re.findall(r"<li>.*?</li>", html.split('class="codes small"')[1], re.S)
    ]
    assert codes == [
        "CO-50: Not medically necessary in the payer's judgment",
        "N115: Decided by a local coverage determination (LCD)",
    ]
    token = token_from(supervisor, "/staff/remittances/work")
    done = supervisor.post(
        "/staff/remittances/work/1512345678-EOB-3003/1512345678-EOB-3003%231",
        data={"csrf_token": token, "note": "appeal sent"},
    )

    assert done.status_code == 303
    assert "No open work items." in supervisor.get("/staff/remittances/work").get_data(as_text=True)
    kept = services.store.get_remittance("1512345678-EOB-3003")
    assert kept is not None and kept.items[0].note == "appeal sent"


def test_the_deposit_report_lists_insurance_checks_and_efts(supervisor, services):
    upload(supervisor, GOOD / "07_several_claims_and_transactions.835")

    page = supervisor.get("/staff/reports/deposits?from=2026-11-25&to=2026-12-02")

    rows = [
        text(r)
        for r in re.findall(
            r'<tr class="insurance-deposit">.*?</tr>', page.get_data(as_text=True), re.S
        )
    ]
    assert len(rows) == 2
    assert "ACME HEALTH PLAN" in rows[0] and "EFT-7007" in rows[0] and "$102.00" in rows[0]
    assert "CHK CHK-7008" in rows[1] and "$100.00" in rows[1]


def test_the_example_remittance_pays_the_example_statements_claim(services, settings):
    env = {
        "PORTAL_SQLITE_PATH": str(settings.sqlite_path),
        "PORTAL_OUTBOX_DIR": str(settings.outbox_dir),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }
    examples = Path(__file__).resolve().parents[2] / "examples"
    assert run(env, "import", str(examples / "statements.json")).exit_code == 0

    result = run(env, "remittances", "import", str(examples / "remittance.835"))

    assert result.exit_code == 0, result.output
    assert "posted $48.00, unmatched $0.00" in result.output
    assert owed(services, "200411") == {"S-2026-004101": 1000}


@settings(
    max_examples=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: ("ISA" + t).encode()))
def test_any_body_gets_a_json_answer_and_a_refusal_posts_nothing(app, key, body):
    client = app.test_client()

    response = send_bytes(client, key, body)

    assert response.status_code == 422, response.get_data()[:200]
    answer = response.get_json()
    assert answer["refused"] is True and answer["errors"] and answer["transactions"] == []


def send_bytes(client, key: str, body: bytes):
    return client.post(
        "/api/v1/remittances",
        data=body,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/edi-x12"},
    )
