"""The `portal` command: migrate, demo (idempotent, every aging bucket), bad settings."""

from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.adapters.outbox_sms import read_outbox
from portal.adapters.sqlite.schema import SCHEMA_VERSION
from portal.cli import cli
from portal.domain.aging import BUCKETS, aging
from portal.services.accounts import account_view
from portal.services.demo import (
    ACCOUNTS,
    DEMO_PHONE,
    EXAMPLES,
    TEXTS_ACCOUNT,
    NotLocal,
    load_demo,
)
from portal.services.lookup import find_account
from portal.services.reminders import run_reminders
from portal.services.staff_pay_links import send_pay_link
from portal.services.texting import active_consent, opt_out


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(tmp_path / "cli.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def test_migrate_is_safe_to_run_twice(env):
    first = run(env, "migrate")
    second = run(env, "migrate")
    assert first.exit_code == second.exit_code == 0
    assert f"schema version {SCHEMA_VERSION}" in second.output
    assert Path(env["PORTAL_SQLITE_PATH"]).exists()


def test_demo_loads_once_and_prints_three_lookups(env):
    run(env, "migrate")
    first = run(env, "demo")
    second = run(env, "demo")

    assert first.exit_code == 0, first.output
    assert f"{len(ACCOUNTS)} accounts" in first.output
    assert "0 already present" in first.output
    assert "0 statements imported" in second.output
    assert "0 payments posted" in second.output
    for account_number, last_name, date_of_birth, _ in EXAMPLES:
        line = f"Account number {account_number}  Last name {last_name}  "
        line += f"Date of birth {date_of_birth}"
        assert line in first.output


def test_demo_spreads_balances_over_every_aging_bucket_and_its_lookups_work(services):
    load_demo(services)

    views = [account_view(services, demo.number) for demo in ACCOUNTS]
    totals = aging(
        (
            (item.statement.due_date, item.balance_cents)
            for view in views
            for item in view.open_statements
        ),
        views[0].today,
    )
    assert all(totals[name] > 0 for name in BUCKETS), totals
    assert any(view.due_cents == 0 and view.payment_history for view in views)  # paid
    assert any(view.due_cents > 0 and view.payment_history for view in views)  # partly paid
    assert any(len(view.account.patients) >= 3 for view in views)  # a family

    for account_number, last_name, date_of_birth, _ in EXAMPLES:
        found = find_account(
            services, account_number, last_name, date.fromisoformat(date_of_birth), "127.0.0.1"
        )
        assert found == account_number


def test_demo_gives_one_looked_up_account_texts(services):
    """One demo account agreed to texts: `portal reminders` texts its reminder, staff can
    send it a pay link by text, and loading the demo again keeps a STOP."""
    load_demo(services)
    assert TEXTS_ACCOUNT in [example[0] for example in EXAMPLES]
    consents = [active_consent(services, demo.number) for demo in ACCOUNTS]
    assert [c.account_number for c in consents if c] == [TEXTS_ACCOUNT]
    assert consents[[d.number for d in ACCOUNTS].index(TEXTS_ACCOUNT)].phone == DEMO_PHONE

    run_reminders(services, as_of=services.clock.now())
    texts = read_outbox(services.settings.sms_outbox_dir)
    assert [(t["kind"], t["to"]) for t in texts] == [("reminder", DEMO_PHONE)]
    kinds = {m.kind for m in services.store.mail_log(TEXTS_ACCOUNT)}
    assert {"reminder", "text-reminder"} <= kinds
    assert send_pay_link(services, "associate", TEXTS_ACCOUNT, "text", "127.0.0.1") == DEMO_PHONE

    opt_out(services, TEXTS_ACCOUNT)
    load_demo(services)
    assert active_consent(services, TEXTS_ACCOUNT) is None


def test_bad_settings_stop_with_one_line_per_variable(env):
    result = CliRunner().invoke(
        cli,
        ["migrate"],
        env={**env, "PORTAL_STORE": "mongo", "PORTAL_TIMEZONE": "Mars/Base"},
    )
    assert result.exit_code == 2
    problems = [line for line in result.output.splitlines() if line.startswith("portal: ")]
    assert len(problems) == 2
    assert problems[0].startswith("portal: PORTAL_STORE:")
    assert problems[1].startswith("portal: PORTAL_TIMEZONE:")
    assert not Path(env["PORTAL_SQLITE_PATH"]).exists()


@pytest.mark.parametrize(
    "change",
    [
        {"payments": "stripe"},
        {"store": "dynamodb"},
        {"store": "dynamodb", "dynamodb_endpoint": "https://dynamodb.us-east-1.amazonaws.com"},
        {"store": "dynamodb", "dynamodb_endpoint": "http://10.0.0.5:8000"},
        {"in_lambda": True},
    ],
)
def test_demo_refuses_anything_but_a_local_store(services, change):
    elsewhere = replace(services, settings=replace(services.settings, **change))
    with pytest.raises(NotLocal, match="only on a local store"):
        load_demo(elsewhere)
    assert services.store.get_staff_user("admin") is None
