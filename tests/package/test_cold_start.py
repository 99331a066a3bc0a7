"""A production cold start (DynamoDB, Stripe, SES) builds the app without boto3 or Stripe
clients: each client is built on its adapter's first call and reused while warm."""

import contextlib
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from portal.bootstrap import build_services
from portal.config import Settings
from portal.ports.payments import GatewayError

ROOT = Path(__file__).resolve().parents[2]
SDKS = ("boto3", "botocore", "s3transfer", "stripe")


def production_env(tmp_path: Path, table: str, stripe_base: str) -> dict[str, str]:
    return {
        "PORTAL_STORE": "dynamodb",
        "PORTAL_DYNAMODB_TABLE": table,
        "PORTAL_PAYMENTS": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_cold_start",
        "STRIPE_WEBHOOK_SECRET": "whsec_cold_start",
        "STRIPE_API_BASE": stripe_base,
        "PORTAL_MAIL": "ses",
        "PORTAL_MAIL_FROM": "billing@example.org",
        "PORTAL_SMS": "sns",
        "PORTAL_SECRET_KEY": "cold-start-" + "s" * 32,
        "PORTAL_SQLITE_PATH": str(tmp_path / "unused.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
    }


def test_importing_the_app_with_production_settings_loads_no_sdk(tmp_path: Path) -> None:
    """`portal.wsgi` (Zappa's app_function) builds the app; boto3 and stripe wait."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STRIPE_"))}
    env.update(production_env(tmp_path, "cold-start", "http://127.0.0.1:9"))
    env.update(AWS_DEFAULT_REGION="us-east-1", PYTHONDONTWRITEBYTECODE="1")
    probe = (
        "import json, sys\nimport portal.wsgi\n"
        f"print(json.dumps([m for m in {SDKS!r} if m in sys.modules]))"
    )
    run = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout) == [], f"imported while building the app: {run.stdout}"


def test_clients_are_built_on_first_use_and_reused(
    tmp_path: Path, moto_endpoint: str, stub
) -> None:
    table = f"cold-start-{uuid.uuid4().hex[:8]}"
    settings = Settings.from_env(production_env(tmp_path, table, stub.base))
    services = build_services(settings)
    store, payments, mailer = services.store, services.payments, services.mailer

    assert store.db._resource is None, "the DynamoDB resource was built before any call"
    assert payments._stripe_client is None, "the Stripe client was built before any call"
    assert mailer._client is None, "the SES client was built before any send"

    store.migrate()  # the first store call (moto's DynamoDB over HTTP)
    resource = store.db._resource
    assert resource is not None
    store.ping()
    assert store.get_account("100234") is None
    assert store.db.resource is resource, "a warm store built a second resource"
    assert payments._stripe_client is None and mailer._client is None

    with contextlib.suppress(GatewayError):  # the first Stripe call (the stub over HTTP)
        payments.list_refunds("pi_unknown")
    client = payments._stripe_client
    assert client is not None
    with contextlib.suppress(GatewayError):
        payments.list_refunds("pi_unknown")
    assert payments._stripe_client is client, "a warm gateway built a second client"
    assert mailer._client is None
    store.db.client.delete_table(TableName=table)
