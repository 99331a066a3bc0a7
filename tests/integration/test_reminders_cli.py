"""`portal reminders`: the day's reminders from the command line, each once, with the summary
as the last line; a dry run that changes nothing; a bad --as-of refused by click."""

import sqlite3
from datetime import UTC, date, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from click.testing import CliRunner

from portal.bootstrap import build_services
from portal.cli import cli
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import Statement
from portal.services.statements import import_statement
from tests.conftest import line

AS_OF = date(2026, 11, 28)
# Account number -> (days past due of its one statement, cents owed, guarantor e-mail).
PLAN = {
    "500010": (10, 5000, "g10@example.com"),  # not due yet: not even read
    "500015": (15, 5000, "g15@example.com"),  # first reminder
    "500020": (20, 5000, ""),  # due, but no address: skipped
    "500030": (30, 5000, "g30@example.com"),  # second reminder
    "500060": (60, 5000, "g60@example.com"),  # final notice
    "500090": (90, 5000, "g90@example.com"),  # escalation to the billing inbox
    "500100": (100, 400, "g100@example.com"),  # under the $5.00 minimum: skipped
}
FIRST_RUN = "sent=3 skipped=2 failed=0 escalated=1"
# What the imported statements hold that no e-mail may carry.
GUARANTOR_BIRTH = date(1962, 7, 19)
PATIENT_BIRTH = date(2011, 2, 23)
CODE, DIAGNOSIS = "99214", "E11.65"
DESCRIPTION = "Office visit, established patient, moderate complexity"
PROVIDER = "Dr. Elena Sokolova, MD"
HEALTH_DETAILS = (
    CODE,
    DIAGNOSIS,
    DESCRIPTION,
    PROVIDER,
    *(
        text
        for born in (GUARANTOR_BIRTH, PATIENT_BIRTH)
        for text in (born.isoformat(), born.strftime("%m/%d/%Y"), born.strftime("%B %-d, %Y"))
    ),
)


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(tmp_path / "reminders.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
        "PORTAL_BILLING_INBOX": "billing-office@example.org",
    }


@pytest.fixture
def outbox(env) -> Path:
    return Path(env["PORTAL_OUTBOX_DIR"])


@pytest.fixture
def accounts(env) -> None:
    """The PLAN's accounts in the SQLite file, imported without statement notices."""
    imported_at = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
    services = build_services(Settings.from_env(env), clock=FixedClock(imported_at))
    services.store.migrate()
    for number, (days, cents, email) in PLAN.items():
        due = AS_OF - timedelta(days=days)
        account = Account(
            number,
            Guarantor("Pat", f"Due{number}", GUARANTOR_BIRTH, email=email),
            (Patient("P1", "Sam", f"Due{number}", PATIENT_BIRTH),),
        )
        item = line(
            "1",
            owed=cents,
            service_date=due - timedelta(days=45),
            provider=PROVIDER,
            code=CODE,
            description=DESCRIPTION,
            diagnosis_codes=(DIAGNOSIS,),
        )
        st = Statement(f"S-{number}", number, due - timedelta(days=30), due, (item,))
        import_statement(services, account, st, notify=False)


def run(env: dict[str, str], *args: str):
    return CliRunner().invoke(cli, ["reminders", *args], env=env, catch_exceptions=False)


def last_line(output: str) -> str:
    return output.rstrip("\n").splitlines()[-1]


def messages(outbox: Path) -> list:
    return [
        message_from_bytes(path.read_bytes(), policy=policy.default)
        for path in sorted(outbox.glob("*.eml"))
    ]


def kinds(outbox: Path) -> list[tuple[str, str]]:
    return sorted((m["X-Portal-Message-Kind"], m["To"]) for m in messages(outbox))


def claims(env) -> list[tuple]:
    with sqlite3.connect(env["PORTAL_SQLITE_PATH"]) as conn:
        return conn.execute("SELECT kind, key, sent_at FROM messages").fetchall()


def escalations(env) -> list[tuple]:
    with sqlite3.connect(env["PORTAL_SQLITE_PATH"]) as conn:
        return conn.execute("SELECT account_number, kind FROM escalations").fetchall()


EXPECTED_MAIL = [
    ("escalation", "billing-office@example.org"),
    ("final-notice", "g60@example.com"),
    ("reminder", "g15@example.com"),
    ("reminder", "g30@example.com"),
]


def test_a_run_sends_what_is_due_and_ends_with_the_summary_line(env, accounts, outbox):
    result = run(env, "--as-of", AS_OF.isoformat())

    assert result.exit_code == 0, result.output
    assert last_line(result.output) == FIRST_RUN
    assert kinds(outbox) == EXPECTED_MAIL
    assert escalations(env) == [("500090", "reminder")]
    assert len(claims(env)) == 4 and all(sent_at for _, _, sent_at in claims(env))


def test_running_again_the_same_day_sends_nothing_more(env, accounts, outbox):
    first = run(env, "--as-of", AS_OF.isoformat())
    second = run(env, "--as-of", AS_OF.isoformat())

    assert last_line(first.output) == FIRST_RUN
    assert second.exit_code == 0, second.output
    assert last_line(second.output) == "sent=0 skipped=6 failed=0 escalated=0"
    assert kinds(outbox) == EXPECTED_MAIL
    assert len(escalations(env)) == 1


def test_a_dry_run_sends_nothing_and_claims_nothing(env, accounts, outbox):
    dry = run(env, "--as-of", AS_OF.isoformat(), "--dry-run")

    assert dry.exit_code == 0, dry.output
    assert "nothing was sent" in dry.output
    assert last_line(dry.output) == FIRST_RUN  # what a real run would do
    assert kinds(outbox) == []
    assert claims(env) == [] and escalations(env) == []

    real = run(env, "--as-of", AS_OF.isoformat())
    assert last_line(real.output) == FIRST_RUN
    assert kinds(outbox) == EXPECTED_MAIL


def test_the_next_stage_goes_out_on_its_day(env, accounts, outbox):
    run(env, "--as-of", AS_OF.isoformat())
    later = run(env, "--as-of", (AS_OF + timedelta(days=15)).isoformat())

    # 10 -> 25 days: first reminder; 15 -> 30: second reminder; 20 -> 35: still no address;
    # 30 -> 45, 60 -> 75, 90 -> 105: their stage went out already; 100 -> 115: under the minimum.
    assert last_line(later.output) == "sent=2 skipped=5 failed=0 escalated=0"
    assert kinds(outbox).count(("reminder", "g10@example.com")) == 1
    assert kinds(outbox).count(("reminder", "g15@example.com")) == 2


@pytest.mark.parametrize("bad", ["2026-13-01", "28/11/2026", "tomorrow", "2026-11-28T08:00"])
def test_a_bad_as_of_is_refused_by_click(env, accounts, outbox, bad):
    result = run(env, "--as-of", bad)

    assert result.exit_code == 2
    assert "Invalid value for '--as-of'" in result.output
    assert bad in result.output and "%Y-%m-%d" in result.output
    assert kinds(outbox) == [] and claims(env) == []


def test_no_message_carries_a_birth_date_code_or_line_description(env, accounts, outbox):
    run(env, "--as-of", AS_OF.isoformat())
    run(env, "--as-of", (AS_OF + timedelta(days=40)).isoformat())

    found = messages(outbox)
    assert len(found) >= 5
    for message in found:
        parts = [f"{name}: {value}" for name, value in message.items()]
        parts += [
            part.get_content() for part in message.walk() if part.get_content_maintype() == "text"
        ]
        text = "\n".join(parts)
        for detail in HEALTH_DETAILS:
            assert detail not in text, (message["X-Portal-Message-Kind"], detail)
