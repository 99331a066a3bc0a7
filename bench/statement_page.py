"""The patient's pages (statement and account) on SQLite and DynamoDB, against two baselines.

Builds each store the way the tests do (Settings.from_env, build_services, store.migrate):
SQLite as a file in a temporary folder, DynamoDB as a fresh table in moto's server, which
this script starts on 127.0.0.1 and speaks to over HTTP as boto3 speaks to AWS. Into each it
imports the same account (Lopez, 100234: three statements of three or four line items for
two patients) with portal.services.statements.import_statement at a fixed clock, signs the
guarantor in through Quick Pay (POST /pay with the form's CSRF token), and then times, in
this process, with the Flask test client:
  GET /statements/<id>   the statement page, on the SQLite app and on the DynamoDB app
  GET /account           the account page, on both
  GET /ping              a one-line Flask app returning "ok": the first baseline
  GET /rows              a bare Flask app rendering a Jinja page of 25 table rows (no
                         session, no store): the second baseline
--requests each (300), after --warmup unrecorded requests each (20). The recorded requests
go in rounds of one of each, the order rotating per round, so drift in machine load affects
all alike. Each time runs from the request to the whole body being read. Issue 15's goal:
each SQLite page's p50 at most 4x the Flask route's and at most 2x the Jinja page's. The
same ratios in the thread's CPU time follow: on a loaded machine a longer request is more
often switched out while it runs, which moves the wall-clock ratios more than the work.
For DynamoDB it also counts the calls botocore makes per page (before-call.dynamodb).

--profile N instead runs N requests of each SQLite page under cProfile (timed in the
thread's CPU time) and prints the top lines (by own time; BENCH_SORT=cumulative), with the
SQL statements and connections one request of each makes (sqlite3's trace callback).

    .venv/bin/python bench/statement_page.py [--requests N] [--warmup N] [--profile N]
"""

import argparse
import logging
import math
import os
import re
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

from flask import Flask, render_template
from jinja2 import DictLoader

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
The patient's statement and account pages, in-process (Flask test client, a signed-in
patient), against two baselines measured in the same run and process: GET /ping on a
one-line Flask app ("hello") and GET /rows, a bare Flask app rendering a Jinja page of 25
rows ("Jinja"). The pages on the SQLite store (a temporary file) and on the DynamoDB store
(moto's server on 127.0.0.1 over HTTP, so the DynamoDB figures are moto's, not AWS's).
Times run from the request to the whole body read; requests rotate per round."""

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


ROWS_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>{{ title }}</title></head>
<body>
<main>
<h1>{{ title }}</h1>
<table>
  <thead><tr><th>Date</th><th>Description</th><th>Code</th><th>Amount</th></tr></thead>
  <tbody>
  {% for row in rows %}
  <tr><td>{{ row.date }}</td><td>{{ row.description }}</td>
    <td>{{ row.code }}</td><td>{{ row.amount }}</td></tr>
  {% endfor %}
  </tbody>
</table>
</main>
</body>
</html>
"""


def baseline_apps() -> tuple[Flask, Flask]:
    """A one-line Flask route, and a bare Flask app rendering a Jinja page of 25 rows
    (autoescaped values; no session, no store, no form)."""
    ping = Flask("bench_ping")
    ping.get("/ping")(lambda: "ok")

    rows_app = Flask("bench_rows")
    rows_app.jinja_loader = DictLoader({"rows.html": ROWS_PAGE})
    rows = [
        {
            "date": f"Oct {n + 1}, 2026",
            "description": f"Office visit & follow-up <{n}>",
            "code": f"992{n:02d}",
            "amount": f"${n * 37 + 12}.50",
        }
        for n in range(25)
    ]
    rows_app.get("/rows")(lambda: render_template("rows.html", title="Rows", rows=rows))
    return ping, rows_app


def timed_get(client, path: str, shows: str) -> tuple[int, int, int]:
    """(nanoseconds, the thread's CPU nanoseconds, body bytes) for one GET, the body read
    whole."""
    start, cpu = time.perf_counter_ns(), time.thread_time_ns()
    response = client.get(path)
    body = response.get_data()
    elapsed, cpu = time.perf_counter_ns() - start, time.thread_time_ns() - cpu
    if response.status_code != 200 or shows.encode() not in body:
        sys.exit(f"GET {path} answered {response.status_code} without {shows!r}")
    return elapsed, cpu, len(body)


def percentile(values: list[int], p: float) -> int:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


PAGES = {
    "statement": (f"/statements/{TIMED_STATEMENT}", SHOWS),
    "account": ("/account", TIMED_STATEMENT),
}
GOAL_HELLO, GOAL_JINJA = 4.0, 2.0


def profile(requests: int) -> None:
    """cProfile of the SQLite pages, and the statements one request of each runs."""
    import cProfile
    import io
    import pstats
    import sqlite3

    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        folder = Path(tmp)
        app, _ = build_app(
            {
                "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
                "PORTAL_SECRET_KEY": SECRET,
                "PORTAL_BASE_URL": "http://portal.test",
                "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
            }
        )
        client = app.test_client()
        sign_in(client, "sqlite")
        statements: list[str] = []
        connections: list[sqlite3.Connection] = []
        connect = sqlite3.connect

        def traced_connect(*args, **kwargs):
            conn = connect(*args, **kwargs)
            conn.set_trace_callback(statements.append)
            connections.append(conn)
            return conn

        sqlite3.connect = traced_connect  # the store connects through the module's function
        app.extensions["portal"].store.close()  # its open connections: opened again, traced
        for name, (path, shows) in PAGES.items():
            timed_get(client, path, shows)  # the connection is opened here, then kept
            statements.clear()
            connections.clear()
            timed_get(client, path, shows)
            print(f"\n{name} page, one request: {len(connections)} connections opened,")
            print(f"{len(statements)} statements:")
            for text in statements:
                print("   ", " ".join(text.split())[:150])
        sqlite3.connect = connect
        for name, (path, shows) in PAGES.items():
            for _ in range(20):
                timed_get(client, path, shows)
            profiler = cProfile.Profile(time.thread_time_ns, 1e-9)
            profiler.enable()
            for _ in range(requests):
                timed_get(client, path, shows)
            profiler.disable()
            out = io.StringIO()
            stats = pstats.Stats(profiler, stream=out)
            stats.sort_stats(os.environ.get("BENCH_SORT", "tottime"))
            stats.print_stats(int(os.environ.get("BENCH_TOP", "15")))
            print(f"\n{name} page, {requests} requests under cProfile, by own time:")
            print("\n".join(line for line in out.getvalue().splitlines()[2:] if line.strip()))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=300, help="timed requests each (300)")
    parser.add_argument("--warmup", type=int, default=20, help="unrecorded requests each (20)")
    parser.add_argument("--profile", type=int, default=0, help="profile N requests instead")
    args = parser.parse_args(argv)
    if args.requests < 1 or args.warmup < 0 or args.profile < 0:
        parser.error("--requests must be at least 1, --warmup and --profile at least 0")
    if args.profile:
        profile(args.profile)
        return

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

    ping, rows_app = baseline_apps()
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

        clients = {"ping": ping.test_client(), "rows": rows_app.test_client()}
        targets = {"ping": ("ping", "/ping", "ok"), "rows": ("rows", "/rows", "<td>99224</td>")}
        for store, app in (("sqlite", sqlite_app), ("dynamodb", dynamo_app)):
            clients[store] = app.test_client()
            sign_in(clients[store], store)
            for page, (path, shows) in PAGES.items():
                targets[f"{store} {page}"] = (store, path, shows)
        names = list(targets)

        def get(name: str) -> tuple[int, int, int]:
            client, path, shows = targets[name]
            return timed_get(clients[client], path, shows)

        sizes = {}
        for name in names:
            for _ in range(args.warmup):
                get(name)
            sizes[name] = get(name)[2]

        times: dict[str, list[int]] = {name: [] for name in names}
        cpu_times: dict[str, list[int]] = {name: [] for name in names}
        per_page: dict[str, list[int]] = {page: [] for page in PAGES}
        which: dict[str, Counter[str]] = {page: Counter() for page in PAGES}
        for i in range(args.requests):
            turn = i % len(names)
            for name in names[turn:] + names[:turn]:
                calls.clear()
                elapsed, cpu, _ = get(name)
                times[name].append(elapsed)
                cpu_times[name].append(cpu)
                if name.startswith("dynamodb "):
                    page = name.removeprefix("dynamodb ")
                    per_page[page].append(len(calls))
                    which[page].update(calls)

    print()
    print(
        f"{'request':<36} {'p50 ms':>7} {'p99 ms':>7} {'p50/hello':>9} {'p50/Jinja':>9}"
        f" {'p99/hello':>9} {'KiB':>5}"
    )
    hello50, hello99 = percentile(times["ping"], 50), percentile(times["ping"], 99)
    jinja50 = percentile(times["rows"], 50)
    labels = {
        "ping": "baseline: GET /ping (bare Flask)",
        "rows": "baseline: GET /rows (Jinja, 25 rows)",
        "sqlite statement": "SQLite: GET /statements/<id>",
        "sqlite account": "SQLite: GET /account",
        "dynamodb statement": "DynamoDB: GET /statements/<id>",
        "dynamodb account": "DynamoDB: GET /account",
    }
    for name in sorted(names, key=list(labels).index):
        p50, p99 = percentile(times[name], 50), percentile(times[name], 99)
        print(
            f"{labels[name]:<36} {p50 / 1e6:>7.3f} {p99 / 1e6:>7.3f} {p50 / hello50:>8.1f}x"
            f" {p50 / jinja50:>8.1f}x {p99 / hello99:>8.1f}x {sizes[name] / 1024:>5.1f}"
        )
    print()
    for page in PAGES:
        p50 = percentile(times[f"sqlite {page}"], 50)
        met = p50 / hello50 <= GOAL_HELLO and p50 / jinja50 <= GOAL_JINJA
        print(
            f"issue 15, SQLite {page} page p50: {p50 / hello50:.1f}x hello (goal <="
            f" {GOAL_HELLO:g}x), {p50 / jinja50:.1f}x Jinja (goal <= {GOAL_JINJA:g}x):"
            f" {'met' if met else 'NOT met'}"
        )
    cpu_hello, cpu_jinja = percentile(cpu_times["ping"], 50), percentile(cpu_times["rows"], 50)
    for page in PAGES:
        cpu50 = percentile(cpu_times[f"sqlite {page}"], 50)
        print(
            f"  the same in CPU time (the thread's, p50; less moved by other processes on the"
            f" machine): {page} {cpu50 / cpu_hello:.1f}x hello, {cpu50 / cpu_jinja:.1f}x Jinja"
        )
    for page in PAGES:
        counts = per_page[page]
        spread = f" (range {min(counts)}-{max(counts)})" if min(counts) != max(counts) else ""
        mix = ", ".join(f"{op} {n / len(counts):g}" for op, n in sorted(which[page].items()))
        print(f"DynamoDB calls per {page} page: {statistics.fmean(counts):g}{spread}: {mix}")
    for page in PAGES:
        sqlite50 = percentile(times[f"sqlite {page}"], 50)
        dynamo50 = percentile(times[f"dynamodb {page}"], 50)
        print(f"DynamoDB (moto over HTTP) / SQLite p50, {page} page: {dynamo50 / sqlite50:.1f}x")


if __name__ == "__main__":
    main()
