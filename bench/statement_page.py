"""Render time of a patient's statement page on SQLite and on DynamoDB, against a bare Flask route.

Builds each store the way the tests do (Settings.from_env, build_services, store.migrate):
SQLite as a file in a temporary folder, DynamoDB as a fresh table in moto's server, which
this script starts on 127.0.0.1 and speaks to over HTTP as boto3 speaks to AWS. Into each it
imports the same account (Lopez, 100234: three statements of three or four line items for
two patients) with portal.services.statements.import_statement at a fixed clock, signs the
guarantor in through Quick Pay (POST /pay with the form's CSRF token), and then times, in
this process, with the Flask test client:
  GET /statements/<id>   on the SQLite app and on the DynamoDB app (--requests each, 300)
  GET /ping              a one-line Flask app returning "ok": the baseline (--requests, 300)
Each is warmed up first (--warmup unrecorded requests each, 20). The recorded requests go in
rounds of one of each, the order rotating per round, so drift in machine load affects all
three alike. Each time runs from the request to the whole body being read.
For DynamoDB it also counts the calls botocore makes per page (before-call.dynamodb).

    .venv/bin/python bench/statement_page.py [--requests N] [--warmup N]
"""

import argparse
import logging
import math
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask

from portal import create_app
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import LineItem, Statement
from portal.services.context import Services
from portal.services.statements import import_statement

ROOT = Path(__file__).resolve().parent.parent
NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 10:00 in New York
SECRET = "bench-secret-key-0123456789abcdef"
QUICK_PAY = {"account_number": "100234", "last_name": "Lopez", "date_of_birth": "1984-03-12"}
TIMED_STATEMENT = "S-2026-000123"  # the newest, four line items
SHOWS = "Office visit, established patient, moderate complexity"
HEADER = """\
Statement page render time, in-process (Flask test client, a signed-in patient), against a
bare Flask route measured in the same run and process. GET /statements/<id> on the SQLite
store (a temporary file) and on the DynamoDB store (moto's server on 127.0.0.1 over HTTP,
so the DynamoDB figures are moto's, not AWS's); GET /ping on a one-line Flask app is the
baseline. Times run from the request to the whole body read; requests rotate per round."""

# (patient, service date, provider, code, description, diagnosis codes,
#  charge, insurance paid, adjustment) in cents; the patient owes the rest.
STATEMENTS = {
    ("S-2026-000087", date(2026, 8, 1), date(2026, 8, 31)): (
        ("P1", date(2026, 7, 9), "Dr. Alice Chen, MD", "99392",
         "Preventive visit, established patient, age 1-4", ("Z00.129",), 21000, 16800, 0),
        ("P1", date(2026, 7, 9), "Dr. Alice Chen, MD", "90686",
         "Flu vaccine, preservative free", ("Z23",), 4500, 3600, 0),
        ("P1", date(2026, 7, 9), "Priya Natarajan, NP", "90471",
         "Vaccine administration, first injection", ("Z23",), 2800, 2240, 0),
    ),
    ("S-2026-000100", date(2026, 9, 1), date(2026, 9, 30)): (
        ("P2", date(2026, 8, 14), "Dr. Marcus Webb, DO", "99213",
         "Office visit, established patient, low complexity", ("J06.9",), 18500, 12950, 2220),
        ("P2", date(2026, 8, 14), "Dr. Marcus Webb, DO", "85025",
         "Complete blood count (CBC) with differential", ("R53.83",), 3900, 0, 0),
        ("P1", date(2026, 8, 20), "Dr. Alice Chen, MD", "99213",
         "Office visit, established patient, low complexity", ("J06.9",), 18500, 9250, 3700),
    ),
    (TIMED_STATEMENT, date(2026, 11, 1), date(2026, 11, 30)): (
        ("P2", date(2026, 10, 14), "Dr. Elena Sokolova, MD", "99214",
         SHOWS, ("E11.65", "I10"), 26500, 18550, 3180),
        ("P2", date(2026, 10, 14), "Dr. Elena Sokolova, MD", "83036",
         "Hemoglobin A1c test", ("E11.65",), 4400, 3080, 0),
        ("P2", date(2026, 10, 14), "Dr. Elena Sokolova, MD", "80053",
         "Comprehensive metabolic panel", ("E78.5",), 5800, 4060, 696),
        ("P1", date(2026, 10, 21), "Priya Natarajan, NP", "99213",
         "Office visit, established patient, low complexity", ("J06.9",), 18500, 0, 0),
    ),
}  # fmt: skip


def lopez_account() -> Account:
    return Account(
        account_number="100234",
        guarantor=Guarantor("Maria", "Lopez", date(1984, 3, 12), email="maria@example.com"),
        patients=(
            Patient("P1", "Ana", "Lopez", date(2015, 6, 2)),
            Patient("P2", "José", "Núñez-Lopez", date(2018, 1, 9)),
        ),
    )


def statements(account: Account) -> list[Statement]:
    built = []
    for (statement_id, statement_date, due_date), lines in STATEMENTS.items():
        items = []
        for n, (patient, served, provider, code, text, dx, charge, paid, adjusted) in enumerate(
            lines, start=1
        ):
            items.append(
                LineItem(
                    line_id=str(n),
                    patient_id=patient,
                    service_date=served,
                    provider=provider,
                    code_system="CPT",
                    code=code,
                    description=text,
                    diagnosis_codes=dx,
                    charge_cents=charge,
                    insurance_paid_cents=paid,
                    adjustment_cents=adjusted,
                    patient_responsibility_cents=charge - paid - adjusted,
                )
            )
        built.append(
            Statement(statement_id, account.account_number, statement_date, due_date, tuple(items))
        )
    return built


def build_app(env: dict[str, str]):
    """Settings, services and app as the tests build them, with the account imported."""
    services: Services = build_services(Settings.from_env(env), clock=FixedClock(NOW))
    services.store.migrate()
    account = lopez_account()
    for st in statements(account):
        import_statement(services, account, st)
    return create_app(services=services), services


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html)
    if not match:
        sys.exit("no CSRF token on the Quick Pay page")
    return match.group(1)


def sign_in(client, store: str) -> None:
    """Quick Pay as the guarantor, like tests/integration/conftest.py sign_in."""
    page = client.get("/pay").get_data(as_text=True)
    response = client.post("/pay", data={**QUICK_PAY, "csrf_token": csrf_token(page)})
    if response.status_code != 303 or not response.headers["Location"].endswith("/account"):
        sys.exit(f"{store}: sign-in answered {response.status_code}")


def timed_get(client, path: str, shows: str) -> tuple[int, int]:
    """(nanoseconds, body bytes) for one GET, the body read whole."""
    start = time.perf_counter_ns()
    response = client.get(path)
    body = response.get_data()
    elapsed = time.perf_counter_ns() - start
    if response.status_code != 200 or shows.encode() not in body:
        sys.exit(f"GET {path} answered {response.status_code} without {shows!r}")
    return elapsed, len(body)


def percentile(values: list[int], p: float) -> int:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests each (300)")
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded requests each (20)")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0:
        parser.error("--requests must be at least 1 and --warmup at least 0")

    sys.path.insert(0, str(ROOT))  # tests/ is not installed; its moto helper is reused
    try:
        from tests.aws import aws_environment, environment, moto_server
    except ImportError as exc:
        sys.exit(f"{exc}: moto is a dev dependency; run `make install-dev` first")
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's server logs every request

    print(HEADER)
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(
        f"{args.requests} timed requests each after {args.warmup} warm-up;"
        f" statement {TIMED_STATEMENT} of account 100234; fixed clock {NOW:%Y-%m-%d %H:%M} UTC"
    )

    ping = Flask("bench_ping")
    ping.get("/ping")(lambda: "ok")

    with (
        tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp,
        moto_server() as endpoint,
        environment(aws_environment(endpoint)),
    ):
        folder = Path(tmp)
        common = {
            "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
            "PORTAL_SECRET_KEY": SECRET,
            "PORTAL_BASE_URL": "http://portal.test",
        }
        sqlite_app, _ = build_app({**common, "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3")})
        dynamo_app, dynamo = build_app(
            {
                **common,
                "PORTAL_STORE": "dynamodb",
                "PORTAL_DYNAMODB_TABLE": f"bench-{uuid.uuid4().hex[:12]}",
            }
        )
        calls: list[str] = []
        dynamo.store.db.client.meta.events.register(
            "before-call.dynamodb", lambda model, **kwargs: calls.append(model.name)
        )

        page = f"/statements/{TIMED_STATEMENT}"
        clients = {"ping": ping.test_client()}
        for name, app in (("sqlite", sqlite_app), ("dynamodb", dynamo_app)):
            clients[name] = app.test_client()
            sign_in(clients[name], name)
        targets = {
            "ping": ("/ping", "ok"),
            "sqlite": (page, SHOWS),
            "dynamodb": (page, SHOWS),
        }
        names = list(targets)
        sizes = {}
        for name in names:
            for _ in range(args.warmup):
                timed_get(clients[name], *targets[name])
            sizes[name] = timed_get(clients[name], *targets[name])[1]

        times: dict[str, list[int]] = {name: [] for name in names}
        per_page: list[int] = []
        which: Counter[str] = Counter()
        for i in range(args.requests):
            for name in names[i % 3 :] + names[: i % 3]:
                calls.clear()
                times[name].append(timed_get(clients[name], *targets[name])[0])
                if name == "dynamodb":
                    per_page.append(len(calls))
                    which.update(calls)

    print()
    header = f"{'request':<34} {'p50 ms':>8} {'p99 ms':>8} {'p50/base':>9} {'p99/base':>9}"
    print(f"{header} {'KiB':>6}")
    base50, base99 = percentile(times["ping"], 50), percentile(times["ping"], 99)
    labels = {
        "ping": "baseline: GET /ping (bare Flask)",
        "sqlite": "SQLite: GET /statements/<id>",
        "dynamodb": "DynamoDB: GET /statements/<id>",
    }
    for name in names:
        p50, p99 = percentile(times[name], 50), percentile(times[name], 99)
        print(
            f"{labels[name]:<34} {p50 / 1e6:>8.3f} {p99 / 1e6:>8.3f}"
            f" {p50 / base50:>8.1f}x {p99 / base99:>8.1f}x {sizes[name] / 1024:>6.1f}"
        )
    spread = f"{min(per_page)}-{max(per_page)}" if min(per_page) != max(per_page) else ""
    mix = ", ".join(f"{op} {n / len(per_page):g}" for op, n in sorted(which.items()))
    print()
    print(
        f"DynamoDB calls per statement page: {statistics.fmean(per_page):g}"
        f"{f' (range {spread})' if spread else ''}: {mix}"
    )
    sqlite50, dynamo50 = percentile(times["sqlite"], 50), percentile(times["dynamodb"], 50)
    print(f"DynamoDB (moto over HTTP) / SQLite p50: {dynamo50 / sqlite50:.1f}x")


if __name__ == "__main__":
    main()
