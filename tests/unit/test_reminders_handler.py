"""functions.reminders.handler, the scheduled Lambda: services built once per container, the
four counts returned as ints, one JSON log line per run."""

import json
import os
from datetime import date, timedelta
from pathlib import Path

import pytest

import functions.reminders
import portal.bootstrap
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import Statement
from portal.services.statements import import_statement
from tests.conftest import NOW, line

TODAY = date(2026, 11, 28)  # NOW is 10:00 in New York, after the 08:00 send hour
COUNTS = {"sent", "skipped", "failed", "escalated"}


@pytest.fixture
def lambda_env(tmp_path: Path, monkeypatch) -> dict[str, str]:
    """A temporary SQLite store and outbox, and no container's services left over."""
    for name in list(os.environ):
        if name.startswith(("PORTAL_", "STRIPE_")) or name == "AWS_LAMBDA_FUNCTION_NAME":
            monkeypatch.delenv(name)
    values = {
        "PORTAL_SQLITE_PATH": str(tmp_path / "lambda.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "handler-test-secret-key-0123456789",
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(functions.reminders, "_container", None)
    return values


@pytest.fixture
def builds(lambda_env, monkeypatch) -> list[object]:
    """Every build_services call the handler makes, each at the fixed clock."""
    calls: list[object] = []
    real = portal.bootstrap.build_services

    def counting(settings, clock=None):
        calls.append(settings)
        return real(settings, clock=FixedClock(NOW))

    monkeypatch.setattr(portal.bootstrap, "build_services", counting)
    return calls


@pytest.fixture
def due_accounts(lambda_env) -> None:
    """One account at its first reminder and one past the final notice."""
    services = build_services(Settings.from_env(), clock=FixedClock(NOW))
    services.store.migrate()
    for number, days in (("600015", 15), ("600090", 90)):
        due = TODAY - timedelta(days=days)
        account = Account(
            number,
            Guarantor("Pat", "Due", date(1970, 1, 2), email="p@example.com"),
            (Patient("P1", "Pat", "Due", date(1970, 1, 2)),),
        )
        statement = Statement(
            f"S-{number}",
            number,
            due - timedelta(days=30),
            due,
            (line("1", owed=5000, service_date=due - timedelta(days=45)),),
        )
        import_statement(services, account, statement, notify=False)


def json_lines(captured: str) -> list[dict]:
    return [json.loads(text) for text in captured.splitlines() if text.startswith("{")]


def test_services_are_built_once_per_container(builds, due_accounts):
    first = functions.reminders.handler({"source": "aws.events"}, None)
    second = functions.reminders.handler({"source": "aws.events"}, None)

    assert len(builds) == 1
    assert first == {"sent": 1, "skipped": 0, "failed": 0, "escalated": 1}
    assert second == {"sent": 0, "skipped": 2, "failed": 0, "escalated": 0}


def test_it_returns_the_four_counts_as_ints(builds, due_accounts):
    counts = functions.reminders.handler({}, None)

    assert set(counts) == COUNTS
    assert all(type(value) is int for value in counts.values())
    json.dumps(counts)  # what Lambda serializes as the result


def test_each_run_prints_one_json_line_for_the_job(builds, due_accounts, capsys):
    counts = functions.reminders.handler({}, None)
    first = capsys.readouterr().out
    again = functions.reminders.handler({}, None)
    second = capsys.readouterr().out

    assert len(json_lines(first)) == len(json_lines(second)) == 1
    swept = {"swept": 0, "unfinished": 0}  # the sweep of unfinished claims found none
    assert json_lines(first) == [{"job": "reminders", **counts, **swept}]
    assert json_lines(second) == [{"job": "reminders", **again, **swept}]
    assert first.count("\n") == 1 and first.startswith("{")


def test_a_new_container_builds_its_own_services(builds, due_accounts, monkeypatch):
    functions.reminders.handler({}, None)
    monkeypatch.setattr(functions.reminders, "_container", None)  # a cold start
    functions.reminders.handler({}, None)

    assert len(builds) == 2


def test_nothing_is_sent_before_the_morning_send_hour(lambda_env, due_accounts, monkeypatch):
    early = NOW.replace(hour=12, minute=30)  # 07:30 in New York
    real = portal.bootstrap.build_services
    monkeypatch.setattr(
        portal.bootstrap,
        "build_services",
        lambda settings, clock=None: real(settings, clock=FixedClock(early)),
    )

    counts = functions.reminders.handler({}, None)

    assert counts == dict.fromkeys(COUNTS, 0)
    assert not list(Path(lambda_env["PORTAL_OUTBOX_DIR"]).glob("*.eml"))
