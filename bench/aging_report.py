"""Render time of the staff aging report against an account page, on a 5,000-account store.

Builds a throwaway SQLite store through the real store operations (statements imported
with SqliteStore.import_statement, card payments created and posted) at a fixed clock,
then, in this process, signs in as a staff user through the real sign-in pages (password,
then the TOTP code) and times requests with the Flask test client:
  GET /staff/reports/aging            (--runs times, default 20)
  GET /staff/accounts/<number>        (--account-runs times, default 200, random accounts)
The two kinds of request are shuffled together (seeded) so drift in machine load affects
both alike; one unrecorded warm-up request of each comes first (template compilation).

    .venv/bin/python bench/aging_report.py [--accounts N] [--runs N] [--account-runs N]
"""

import argparse
import math
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from portal import create_app
from portal.bootstrap import Services, build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.payments import Payment, PaymentStatus
from portal.services.demo import random_statement
from portal.services.staff_auth import add_staff_user, current_code

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 10:00 in New York
TODAY = date(2026, 11, 28)
FIRST = ("Ana", "Ben", "Chloé", "Dev", "Eun-ji", "Femi", "Greta", "Hiro", "Ines", "Jonah")
LAST = ("Alvarez", "Brown", "Chen", "Dubois", "Ekwueme", "Fischer", "García", "Hall", "Ito")
STAFF_USER, STAFF_PASSWORD = "bench", "bench-password-long-enough"


def make_settings(folder: Path) -> Settings:
    return Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
            "PORTAL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
        }
    )


def make_account(i: int, rng: random.Random) -> Account:
    last = rng.choice(LAST)
    born = date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28))
    guarantor = Guarantor(rng.choice(FIRST), last, born, email=f"g{i}@example.com")
    patients = [Patient("P1", guarantor.first_name, last, born)]
    for n in range(rng.randint(0, 2)):
        child = date(rng.randint(2008, 2022), rng.randint(1, 12), rng.randint(1, 28))
        patients.append(Patient(f"P{n + 2}", rng.choice(FIRST), last, child))
    return Account(f"{600000 + i}", guarantor, tuple(patients))


def make_statement(account: Account, seq: int, days_past_due: int, rng: random.Random):
    due = TODAY - timedelta(days=days_past_due)
    statement_id = f"S-{account.account_number}-{seq:02d}"
    return random_statement(account, statement_id, due - timedelta(days=30), due, rng)


def build(services: Services, clock: FixedClock, accounts: int, seed: int) -> dict[str, int]:
    """Accounts with 1-3 statements spread over every aging bucket, and some payments;
    each statement is imported on its statement date, payments a few days later."""
    rng = random.Random(seed)
    store = services.store
    counts = {"accounts": accounts, "statements": 0, "payments": 0}
    events = []  # (at, kind, payload): replayed in time order, the clock only moves forward
    for i in range(accounts):
        account = make_account(i, rng)
        ages = sorted((rng.randint(-25, 200) for _ in range(rng.randint(1, 3))), reverse=True)
        for seq, days in enumerate(ages, start=1):
            st = make_statement(account, seq, days, rng)
            at = datetime.combine(st.statement_date, datetime.min.time(), UTC) + timedelta(
                hours=14, seconds=i
            )
            events.append((at, "statement", (account, st)))
        for n in range(rng.choice((0, 0, 1, 1, 2))):
            at = NOW - timedelta(days=rng.randint(0, 150), seconds=i)
            events.append((at, "payment", (account.account_number, n, rng.randint(500, 25000))))
    events.sort(key=lambda e: (e[0], e[1]))
    for at, kind, payload in events:
        if at > clock.now():
            clock.advance(microseconds=(at - clock.now()) // timedelta(microseconds=1))
        if kind == "statement":
            account, st = payload
            store.import_statement(account, st, clock.now())
            counts["statements"] += 1
        elif store.get_account(payload[0]) is not None:
            number, n, cents = payload
            payment_id = f"pay_bench{number}{n}"
            store.create_payment(
                Payment(
                    payment_id=payment_id,
                    account_number=number,
                    amount_cents=cents,
                    status=PaymentStatus.PENDING,
                    method="card",
                    gateway="sandbox",
                    created_at=clock.now(),
                )
            )
            store.post_payment(payment_id, f"sbx_{payment_id}", cents, clock.now())
            counts["payments"] += 1
    clock.advance(microseconds=(NOW - clock.now()) // timedelta(microseconds=1))
    return counts


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html)
    if not match:
        sys.exit("no CSRF token on the sign-in page")
    return match.group(1)


def sign_in(client, services: Services) -> None:
    """Password, then the code the user's authenticator app would show now."""
    page = client.get("/staff/login").get_data(as_text=True)
    data = {"username": STAFF_USER, "password": STAFF_PASSWORD, "csrf_token": csrf_token(page)}
    response = client.post("/staff/login", data=data)
    if response.status_code != 303:
        sys.exit(f"sign-in (password) answered {response.status_code}")
    page = client.get("/staff/login/code").get_data(as_text=True)
    user = services.store.get_staff_user(STAFF_USER)
    code = current_code(user, services)
    response = client.post("/staff/login/code", data={"code": code, "csrf_token": csrf_token(page)})
    if response.status_code != 303 or not response.headers["Location"].endswith("/staff/"):
        sys.exit(f"sign-in (code) answered {response.status_code}")


def timed_get(client, path: str) -> tuple[float, int]:
    start = time.perf_counter()
    response = client.get(path)
    body = response.get_data()
    elapsed = time.perf_counter() - start
    if response.status_code != 200:
        sys.exit(f"GET {path} answered {response.status_code}")
    return elapsed, len(body)


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000, help="accounts (5000)")
    parser.add_argument("--runs", type=int, default=20, help="aging report requests (20)")
    parser.add_argument("--account-runs", type=int, default=200, help="account pages (200)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (42)")
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.runs < 1 or args.account_runs < 1:
        parser.error("--accounts, --runs and --account-runs must be at least 1")

    print(f"python {sys.version.split()[0]} ({sys.executable})")
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        folder = Path(tmp)
        clock = FixedClock(datetime(2026, 1, 1, tzinfo=UTC))
        services = build_services(make_settings(folder), clock=clock)
        services.store.migrate()

        started = time.perf_counter()
        counts = build(services, clock, args.accounts, args.seed)
        build_seconds = time.perf_counter() - started
        db_mib = sum(f.stat().st_size for f in folder.glob("portal.sqlite3*")) / 2**20
        print(
            f"data set: {counts['accounts']:,} accounts, {counts['statements']:,} statements,"
            f" {counts['payments']:,} payments posted"
        )
        print(f"build time: {build_seconds:.1f} s (store.import_statement / post_payment)")
        print(f"database: {db_mib:.1f} MiB (with WAL)")

        add_staff_user(services, STAFF_USER, "supervisor", STAFF_PASSWORD)
        app = create_app(services=services)
        client = app.test_client()
        sign_in(client, services)

        rng = random.Random(args.seed)
        numbers = [f"{600000 + i}" for i in range(args.accounts)]
        aging_size = timed_get(client, "/staff/reports/aging")[1]  # warm-up, unrecorded
        account_size = timed_get(client, f"/staff/accounts/{numbers[0]}")[1]
        plan = ["aging"] * args.runs + ["account"] * args.account_runs
        rng.shuffle(plan)
        times: dict[str, list[float]] = {"aging": [], "account": []}
        for kind in plan:
            path = (
                "/staff/reports/aging"
                if kind == "aging"
                else f"/staff/accounts/{rng.choice(numbers)}"
            )
            times[kind].append(timed_get(client, path)[0])

    print(f"as of {TODAY} (fixed clock), in-process Flask test client, signed in as staff")
    print()
    print(f"{'request':<28} {'runs':>5} {'p50 ms':>9} {'p95 ms':>9} {'mean ms':>9} {'KiB':>8}")
    rows = (
        ("GET /staff/reports/aging", times["aging"], aging_size),
        ("GET /staff/accounts/<n>", times["account"], account_size),
    )
    for label, values, size in rows:
        ms = [v * 1000 for v in values]
        print(
            f"{label:<28} {len(ms):>5} {percentile(ms, 50):>9.1f} {percentile(ms, 95):>9.1f}"
            f" {statistics.fmean(ms):>9.1f} {size / 1024:>8.0f}"
        )
    p50 = percentile(times["aging"], 50) / percentile(times["account"], 50)
    p95 = percentile(times["aging"], 95) / percentile(times["account"], 95)
    print()
    print(f"ratio aging / account page: p50 {p50:.1f}x, p95 {p95:.1f}x")


if __name__ == "__main__":
    main()
