"""Date options of the `portal` command: a day outside the range the portal can compute with is a
usage error naming the option and the range (exit 2), never a traceback."""

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.cli import cli

RANGE = "use a date from 1900-01-01 to 9998-12-31"


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """A demo store, shared: nothing here may change it."""
    tmp_path = tmp_path_factory.mktemp("dates")
    env = {
        "PORTAL_SQLITE_PATH": str(tmp_path / "dates.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }
    for args in (["migrate"], ["demo"]):
        result = CliRunner().invoke(cli, args, env=env, catch_exceptions=False)
        assert result.exit_code == 0, result.output
    return env


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)


def claims(env) -> int:
    with sqlite3.connect(env["PORTAL_SQLITE_PATH"]) as conn:
        return conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]


@pytest.mark.parametrize("day", ["0001-01-01", "0001-01-02", "1899-12-31", "9999-12-31"])
def test_a_day_out_of_range_is_a_usage_error(env, day):
    before = claims(env)

    result = run(env, "reminders", "--as-of", day)

    assert result.exit_code == 2, result.output
    (error,) = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert error == f"Error: Invalid value for '--as-of': {day} is out of range: {RANGE}."
    assert "Traceback" not in result.output
    assert claims(env) == before
    assert not list(Path(env["PORTAL_OUTBOX_DIR"]).glob("*.eml"))


@pytest.mark.parametrize("day", ["1900-01-01", "9998-12-31"])
def test_the_first_and_last_days_of_the_range_run(env, day):
    result = run(env, "reminders", "--as-of", day, "--dry-run")

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1].startswith("sent=0 ")


def test_the_installed_command_says_so_in_one_line_without_a_traceback(env):
    portal = Path(sys.executable).with_name("portal")
    before = claims(env)

    done = subprocess.run(
        [str(portal), "reminders", "--as-of", "0001-01-01"],
        env={**env, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        f"Error: Invalid value for '--as-of': 0001-01-01 is out of range: {RANGE}."
    )
    assert claims(env) == before
