"""`portal plans charge` and functions.plans.handler: the day's installments charged once
from the command line and from the scheduled Lambda, the summary as the last line (the four
counts as ints from the handler), a dry run that changes nothing, a bad --as-of refused."""

import json
import os
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

import functions.plans
import functions.reminders
from portal.bootstrap import build_services
from portal.cli import cli
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor
from portal.domain.plan_terms import text_digest
from portal.domain.statements import Statement
from portal.domain.viewers import Viewer
from portal.services.accounts import account_view
from portal.services.plans import agree, finish_method_setup, propose, start_method_setup
from tests.conftest import NOW, line

NUMBER = "620001"


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    for name in list(os.environ):
        if name.startswith(("PORTAL_", "STRIPE_")):
            monkeypatch.delenv(name)
    values = {
        "PORTAL_SQLITE_PATH": str(tmp_path / "plans.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "plans-cli-secret-key-0123456789",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(functions.reminders, "_container", None)
    services = build_services(Settings.from_env(values), clock=FixedClock(NOW))
    services.store.migrate()
    guarantor = Guarantor("Pat", "Planner", date(1980, 2, 2), email="pat@example.com")
    statement = Statement(
        f"S-{NUMBER}", NUMBER, date(2026, 11, 1), date(2026, 11, 30), (line("1", owed=20_000),)
    )
    services.store.import_statement(Account(NUMBER, guarantor), statement, NOW)
    viewer = Viewer.guarantor()
    proposal = propose(services, NUMBER, viewer, months="2", day="1")
    plan = agree(services, NUMBER, viewer, proposal, text_digest(proposal.text), "10.0.0.1")
    gateway = services.payments
    session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
    finish_method_setup(
        services,
        plan.plan_id,
        gateway.save_card(gateway.open_setup(session_id), "4242424242424242"),
    )
    return values


def charge(env, *args: str):
    return CliRunner().invoke(cli, ["plans", "charge", *args], env=env, catch_exceptions=False)


def due(env) -> int:
    return account_view(build_services(Settings.from_env(env)), NUMBER).due_cents


def test_the_cli_charges_the_days_installments_once(env):
    dry = charge(env, "--as-of", "2026-12-01", "--dry-run")
    assert dry.exit_code == 0
    assert dry.output.splitlines()[-1] == "charged=1 failed=0 skipped=0 defaulted=0"
    assert due(env) == 20_000

    first = charge(env, "--as-of", "2026-12-01")
    again = charge(env, "--as-of", "2026-12-01")
    assert first.output.splitlines()[-1] == "charged=1 failed=0 skipped=0 defaulted=0"
    assert again.output.splitlines()[-1] == "charged=0 failed=0 skipped=0 defaulted=0"
    assert due(env) == 10_000


def test_a_bad_as_of_is_refused_and_charges_nothing(env):
    result = CliRunner().invoke(cli, ["plans", "charge", "--as-of", "2026-13-01"], env=env)
    assert result.exit_code == 2 and "--as-of" in result.output
    assert due(env) == 20_000


def test_the_scheduled_function_returns_the_four_counts_and_logs_one_line(env, monkeypatch, capsys):
    services = functions.reminders.container_services()
    monkeypatch.setattr(services, "clock", FixedClock(NOW.replace(month=12, day=1, hour=17)))
    assert functions.plans.handler({}, None) == {
        "charged": 1,
        "failed": 0,
        "skipped": 0,
        "defaulted": 0,
    }
    logged = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert logged == {"job": "plans", "charged": 1, "failed": 0, "skipped": 0, "defaulted": 0}
    assert functions.plans.handler({}, None)["charged"] == 0
    assert due(env) == 10_000
