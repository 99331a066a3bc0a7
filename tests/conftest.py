"""Shared fixtures: a fixed clock, a real SQLite file, an outbox folder, the app."""

import hashlib
import json
import re
import shutil
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from portal import create_app
from portal.adapters import werkzeug_passwords
from portal.adapters.sqlite.store import SqliteStore
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import LineItem, Statement
from portal.services import staff_auth
from portal.services.context import Services
from portal.services.statements import import_statement
from tests.url_builders import reuse_compiled_url_builders

pytest_plugins = ["tests.stripe_fixtures"]

reuse_compiled_url_builders()

# Speed is measured in bench/, not here: a loaded CI machine must not fail a property test
# for being slow.
hypothesis_settings.register_profile("portal", deadline=None)
hypothesis_settings.load_profile("portal")

# Staff passwords are hashed with this in tests, not with scrypt (a tenth of a second each,
# for hundreds of staff users); tests marked real_password_hashing keep scrypt.
TEST_PASSWORD_METHOD = "pbkdf2:sha256:1000"
dummy_hash = staff_auth._dummy_hash

# 10:00 in New York on Saturday 2026-11-28.
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)


@pytest.hookimpl(tryfirst=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Under xdist, items that share a nodeid run once between them: refuse to start."""
    if not hasattr(session.config, "workerinput"):
        return
    counts = Counter(item.nodeid for item in session.items)
    shared = sorted(nodeid for nodeid, n in counts.items() if n > 1)
    if shared:
        raise pytest.UsageError(
            "these tests share a nodeid, so an xdist worker would run only one of each: "
            f"mark them @pytest.mark.serial: {shared}"
        )


@pytest.fixture(autouse=True)
def password_hashing(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch):
    if request.node.get_closest_marker("real_password_hashing") is None:
        monkeypatch.setattr(werkzeug_passwords, "METHOD", TEST_PASSWORD_METHOD)
    # The dummy hash an unknown username is checked against is kept for the process: made
    # again here, with the method of this test (some tests replace the function itself).
    dummy_hash.cache_clear()
    yield
    dummy_hash.cache_clear()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(NOW)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(tmp_path / "portal.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SMS_OUTBOX_DIR": str(tmp_path / "sms"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
        }
    )


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory) -> Path:
    """An SQLite file every migration has run on, made once per process."""
    path = tmp_path_factory.mktemp("migrated") / "portal.sqlite3"
    store = SqliteStore(path)
    store.migrate()
    store.close()
    assert not Path(f"{path}-wal").exists(), "the template's log was not checkpointed"
    return path


def copy_of_migrated(migrated: Path, target: Path) -> None:
    """`target` starts as a copy of the migrated file (the migrations, each committed, cost
    more than the copy); a file already there is left to the migration."""
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(migrated, target)


@pytest.fixture
def services(settings: Settings, clock: FixedClock, migrated_sqlite: Path) -> Services:
    if settings.store == "sqlite":
        copy_of_migrated(migrated_sqlite, Path(settings.sqlite_path))
    built = build_services(settings, clock=clock)
    built.store.migrate()  # nothing left to do on the copy
    return built


@pytest.fixture
def app(services: Services):
    app = create_app(services=services)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def outbox(settings: Settings) -> Path:
    return Path(settings.outbox_dir)


def line(line_id: str = "1", patient_id: str = "P1", owed: int = 3000, **overrides) -> LineItem:
    """A line item whose charge = insurance + adjustment + owed."""
    values = dict(
        line_id=line_id,
        patient_id=patient_id,
        service_date=date(2026, 10, 14),
        provider="Dr. Chen",
        code_system="CPT",
        code="99213",
        description="Office visit, established patient",
        diagnosis_codes=("J06.9",),
        charge_cents=12000 + 3500 + owed,
        insurance_paid_cents=12000,
        adjustment_cents=3500,
        patient_responsibility_cents=owed,
    )
    values.update(overrides)
    return LineItem(**values)


def lopez_account(email: str = "maria@example.com") -> Account:
    return Account(
        account_number="100234",
        guarantor=Guarantor("Maria", "Lopez", date(1984, 3, 12), email=email),
        patients=(
            Patient("P1", "Ana", "Lopez", date(2015, 6, 2)),
            Patient("P2", "José", "Núñez-Lopez", date(2018, 1, 9)),
        ),
    )


def statement(
    statement_id: str = "S-2026-000123",
    owed: tuple[int, ...] = (3000,),
    statement_date: date = date(2026, 11, 1),
    due_date: date = date(2026, 11, 30),
    account_number: str = "100234",
) -> Statement:
    return Statement(
        statement_id=statement_id,
        account_number=account_number,
        statement_date=statement_date,
        due_date=due_date,
        lines=tuple(
            line(str(i + 1), owed=o, service_date=statement_date - timedelta(days=18))
            for i, o in enumerate(owed)
        ),
    )


@pytest.fixture
def lopez(services: Services) -> Account:
    """Account 100234 with two statements: $30.00 (older, past due) and $45.50 + $20.00."""
    account = lopez_account()
    # Set-up, not news for the patient: no "your statement is ready" e-mails.
    import_statement(
        services,
        account,
        statement("S-2026-000100", (3000,), date(2026, 9, 1), date(2026, 9, 30)),
        notify=False,
    )
    import_statement(services, account, statement("S-2026-000123", (4550, 2000)), notify=False)
    return account


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


@pytest.fixture(scope="session")
def moto_endpoint():
    """moto's server over HTTP for the whole run, with boto3 pointed at it."""
    from tests.aws import aws_environment, environment, moto_server

    with moto_server() as endpoint, environment(aws_environment(endpoint)):
        yield endpoint


def first_fingerprint(st: Statement, kept_line_fields: tuple[str, ...] = ()) -> str:
    """The fingerprint as statements stored before the later fields (a statement's version, a
    line's description_es and claim_id) were made; `kept_line_fields` of those stay in."""
    content = {**vars(st), "lines": [dict(vars(line)) for line in st.lines]}
    del content["version"]
    for line in content["lines"]:
        for name in {"description_es", "claim_id"} - set(kept_line_fields):
            del line[name]
    return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
