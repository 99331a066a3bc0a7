"""Render time of the staff aging report against an account page, on SQLite and on DynamoDB.

One population, generated from --seed: --accounts accounts (5,000) with 1-3 statements each
(about 10,000), due dates spread over every aging bucket, and card payments posted on some
of them (so balances are partly paid, some accounts paid off, some in credit). Each event
happens at its own instant (a statement on its statement date, a payment a few days to five
months before 2026-11-28), replayed in time order.

SQLite: a throwaway file, filled through the real store operations (SqliteStore's
import_statement, create_payment, post_payment), as the tests build a store.

DynamoDB: a fresh table in moto's server, which this script starts on 127.0.0.1 and speaks
to over HTTP as boto3 speaks to AWS. import_statement through moto slows down as the table
grows (every Query and TransactWriteItems walks the whole table), so the population is not
written through moto: the same calls go through DynamoDbStore itself over a table kept in
memory (bench/_population.py MemoryStore), so the store's own code builds every item
(account profile and balances, open_statements and the receivables index keys, name keys,
statements, ledger entries, payments, the LEDGER_TOTALS month items), and those items are
written with BatchWriteItem (the month totals with one ADD each). Two checks, each stopping
the script when it fails:
  items     the first --check-accounts accounts (25) are also replayed through DynamoDbStore
            on moto into a scratch table; every item it wrote must equal the in-memory ones;
  report    the aging report on DynamoDB (rows and totals) must equal SQLite's for the same
            accounts.
Sizes: --accounts (5,000) on SQLite; DynamoDB gets --dynamodb-accounts (150), the first N
accounts of the same population, and the output says which population each store used.
moto is the limit: every Query (a partition's too) walks and sorts the whole table, so each
call costs more as the table grows and a page is almost all time inside moto (p50s measured
on a busy 2-CPU machine: the account page 0.35 s at 80 accounts, 0.6-0.8 s at 150-250,
2.6 s at 1,000 and 20 s at 5,000; the aging report 0.6 s, 0.8-1.1 s, 3.9 s and 40 s). At
5,000 accounts the 98,193 items load in about 90 s, but the 220 timed pages would take some
80 minutes; at 200 accounts the whole DynamoDB run took 195-200 s, at 150 about 160-175 s,
the items check (about 210 calls, moto's TransactWriteItems some 170 ms each) 20 s of it.

Then, per store, in this process, it signs in as a staff user through the real sign-in
pages (password, then the TOTP code) and times requests with the Flask test client:
  GET /staff/reports/aging            (--runs times, default 20)
  GET /staff/accounts/<number>        (--account-runs times, default 200, random accounts)
The two kinds of request are shuffled together (seeded) so drift in machine load affects
both alike; one unrecorded warm-up request of each comes first (template compilation). On
DynamoDB every API call botocore makes during a page is counted (before-call.dynamodb).

    .venv/bin/python bench/aging_report.py [--accounts N] [--dynamodb-accounts N]
        [--runs N] [--account-runs N] [--check-accounts N] [--seed N]
"""

import argparse
import dataclasses
import random
import re
import statistics
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

from _population import (
    LABELS,
    NOW,
    TODAY,
    ApiCounter,
    MemoryStore,
    bench_folder,
    build_store,
    bulk_write,
    percentile,
    store_env,
)

from portal import create_app
from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.dynamodb.table import Item, Table, plain
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.aging import BUCKETS
from portal.domain.money import format_cents
from portal.domain.payments import Payment, PaymentStatus
from portal.ports.ledger import ImportOutcome
from portal.services import ledger
from portal.services.context import Services
from portal.services.demo import random_statement
from portal.services.reports import AgingRow, aging_report
from portal.services.staff_auth import add_staff_user, current_code

FIRST_NUMBER = 600000
FIRST = ("Ana", "Ben", "Chloé", "Dev", "Eun-ji", "Femi", "Greta", "Hiro", "Ines", "Jonah")
LAST = ("Alvarez", "Brown", "Chen", "Dubois", "Ekwueme", "Fischer", "García", "Hall", "Ito")
STAFF_USER, STAFF_PASSWORD = "bench", "bench-password-long-enough"
AGING = "/staff/reports/aging"
HEADER = """\
Staff aging report render time against an account page, in-process (Flask test client, a
signed-in staff user, a fixed clock), on the SQLite store (a temporary file) and on the
DynamoDB store (moto's server on 127.0.0.1 over HTTP, so the DynamoDB figures are moto's,
not AWS's). Both pages are timed in the same run, shuffled together, per store."""

# (when, "statement" or "payment", account index, payload), replayed in time order
Event = tuple[datetime, str, int, Any]


# -- the population ------------------------------------------------------------------------


def make_account(i: int, rng: random.Random) -> Account:
    last = rng.choice(LAST)
    born = date(rng.randint(1950, 2000), rng.randint(1, 12), rng.randint(1, 28))
    guarantor = Guarantor(rng.choice(FIRST), last, born, email=f"g{i}@example.com")
    patients = [Patient("P1", guarantor.first_name, last, born)]
    for n in range(rng.randint(0, 2)):
        child = date(rng.randint(2008, 2022), rng.randint(1, 12), rng.randint(1, 28))
        patients.append(Patient(f"P{n + 2}", rng.choice(FIRST), last, child))
    return Account(f"{FIRST_NUMBER + i}", guarantor, tuple(patients))


def make_statement(account: Account, seq: int, days_past_due: int, rng: random.Random):
    due = TODAY - timedelta(days=days_past_due)
    statement_id = f"S-{account.account_number}-{seq:02d}"
    return random_statement(account, statement_id, due - timedelta(days=30), due, rng)


def population(accounts: int, seed: int) -> list[Event]:
    """Accounts with 1-3 statements spread over every aging bucket, and some payments;
    each statement is imported on its statement date, each payment on a day of the last
    five months (an account's payments before its first statement are skipped). Account i
    draws the same numbers whatever the count, so N accounts are the first N of any more."""
    rng = random.Random(seed)
    events: list[Event] = []
    for i in range(accounts):
        account = make_account(i, rng)
        ages = sorted((rng.randint(-25, 200) for _ in range(rng.randint(1, 3))), reverse=True)
        for seq, days in enumerate(ages, start=1):
            st = make_statement(account, seq, days, rng)
            at = datetime.combine(st.statement_date, datetime.min.time(), UTC) + timedelta(
                hours=14, seconds=i
            )
            events.append((at, "statement", i, (account, st)))
        for n in range(rng.choice((0, 0, 1, 1, 2))):
            at = NOW - timedelta(days=rng.randint(0, 150), seconds=i)
            events.append((at, "payment", i, (account.account_number, n, rng.randint(500, 25000))))
    events.sort(key=lambda e: (e[0], e[1]))
    return events


def replay(store: Any, events: list[Event]) -> Counter[str]:
    """The events through a store's operations, each at its own instant: a statement with
    import_statement, a payment (once its account exists) with create_payment and
    post_payment, as a card payment confirmed by the gateway."""
    counts: Counter[str] = Counter()
    for at, kind, _, payload in events:
        if kind == "statement":
            account, st = payload
            outcome = store.import_statement(account, st, at)
            if outcome != ImportOutcome.IMPORTED:
                sys.exit(f"importing {st.statement_id}: {outcome}")
            counts["statements"] += 1
        elif store.get_account(payload[0]) is not None:
            number, n, cents = payload
            payment_id = f"pay_bench{number}{n}"
            payment = Payment(
                payment_id=payment_id,
                account_number=number,
                amount_cents=cents,
                status=PaymentStatus.PENDING,
                method="card",
                gateway="sandbox",
                created_at=at,
            )
            if not store.create_payment(payment):
                sys.exit(f"payment {payment_id} exists already")
            if not ledger.post_payment(store, payment_id, f"sbx_{payment_id}", cents, at).posted:
                sys.exit(f"payment {payment_id} was not posted")
            counts["payments"] += 1
    return counts


# -- the DynamoDB items, built by the store's own code -------------------------------------


def scan(table: Table) -> Iterator[Item]:
    """Every item of a table (the bench's own check; no request path scans)."""
    kwargs: dict[str, Any] = {"ConsistentRead": True}
    while True:
        page = table.table.scan(**kwargs)
        for item in page.get("Items", []):
            yield plain(item)
        if not page.get("LastEvaluatedKey"):
            return
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def queued_events(items: dict[tuple[str, str], Item]) -> int:
    """How many MONEYQ items there are; they are taken out of `items`."""
    keys = [key for key in items if key[0].startswith("MONEYQ")]
    for key in keys:
        del items[key]
    return len(keys)


def check_items(events: list[Event], accounts: int) -> str:
    """The first `accounts` accounts through DynamoDbStore on moto (a scratch table) and on
    a MemoryTable: the two must hold exactly the same items."""
    sample = [e for e in events if e[2] < accounts]
    store = DynamoDbStore(f"bench-check-{uuid.uuid4().hex[:12]}")
    store.migrate()
    try:
        replay(store, sample)
        written = {(i["PK"], i["SK"]): i for i in scan(store.db)}
    finally:
        store.db.client.delete_table(TableName=store.db.name)
    memory = MemoryStore()
    replay(memory, sample)
    built = {(i["PK"], i["SK"]): i for i in memory.db.items()}
    # The queued money events are keyed by the time they were queued and a random event id:
    # compared by their number.
    queued_written, queued_built = queued_events(written), queued_events(built)
    if queued_written != queued_built:
        sys.exit(f"queued money events: moto {queued_written}, memory {queued_built}")
    if written != built:
        lines = [f"only moto has {k}" for k in sorted(written.keys() - built.keys())]
        lines += [f"only the memory has {k}" for k in sorted(built.keys() - written.keys())]
        for key in sorted(written.keys() & built.keys()):
            store_item, bench_item = written[key], built[key]
            if store_item != bench_item:
                names = sorted(
                    n
                    for n in store_item.keys() | bench_item.keys()
                    if store_item.get(n) != bench_item.get(n)
                )
                lines.append(
                    f"{key} differs: "
                    + "; ".join(
                        f"{n}: moto {store_item.get(n)!r}, memory {bench_item.get(n)!r}"
                        for n in names
                    )
                )
        sys.exit(
            "DynamoDB items of the store in memory differ from the store's on moto:\n  "
            + "\n  ".join(lines[:20])
        )
    entries = Counter(i["kind"] for i in built.values() if i["SK"].startswith("LEDGER#"))
    mix = ", ".join(f"{kind} {n}" for kind, n in sorted(entries.items()))
    return f"{len(built):,} items of {accounts} accounts (ledger entries: {mix})"


def load_dynamodb(services: Services, events: list[Event]) -> tuple[Counter[str], str]:
    """The events through DynamoDbStore in memory, its items written with BatchWriteItem."""
    started = time.perf_counter()
    memory = MemoryStore()
    counts = replay(memory, events)
    items = memory.db.items()
    built_in = time.perf_counter() - started
    written = bulk_write(services.store.db, items)
    kinds = Counter(_kind(item) for item in items)
    mix = ", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common())
    return counts, (
        f"{len(items):,} items ({mix}) built by the store in memory in {built_in:.1f} s,"
        f" written with {written.batch_calls:,} BatchWriteItem calls and"
        f" {written.month_totals:,} month-total ADDs in {written.seconds:.1f} s"
    )


def _kind(item: Item) -> str:
    if item["PK"].startswith("LEDGER_TOTALS"):
        return "LEDGER_TOTALS month"
    if item["PK"].startswith("ACCOUNT#"):
        return item["SK"].split("#", 1)[0].lower()
    return item["PK"].split("#", 1)[0].lower() + " pointer"


# -- the report, both stores ---------------------------------------------------------------


def report_rows(services: Services, accounts: int) -> tuple[AgingRow, ...]:
    """The aging report as of TODAY (what the page shows), rows of the first `accounts`."""
    rows = aging_report(services, TODAY).rows
    return tuple(r for r in rows if int(r.account_number) - FIRST_NUMBER < accounts)


def totals_of(rows: tuple[AgingRow, ...]) -> dict[str, int]:
    return {name: sum(r.buckets[name] for r in rows) for name in BUCKETS}


def verify(dynamodb: tuple[AgingRow, ...], sqlite: tuple[AgingRow, ...], accounts: int) -> str:
    if dynamodb != sqlite or totals_of(dynamodb) != totals_of(sqlite):
        got, want = totals_of(dynamodb), totals_of(sqlite)
        differ = [
            f"{a.account_number}: DynamoDB {a}, SQLite {b}"
            for a, b in zip(dynamodb, sqlite, strict=False)
            if a != b
        ][:5]
        sys.exit(
            f"the aging report on DynamoDB differs from SQLite's for the same {accounts:,}"
            f" accounts: {len(dynamodb):,} rows against {len(sqlite):,};"
            f" totals {got} against {want}; first differences: {differ}"
        )
    totals = totals_of(sqlite)
    shown = ", ".join(f"{name} {format_cents(cents)}" for name, cents in totals.items())
    return (
        f"the aging report on DynamoDB equals SQLite's for the same {accounts:,} accounts:"
        f" {len(sqlite):,} rows with a balance, totals {shown},"
        f" total {format_cents(sum(totals.values()))}"
    )


# -- timing --------------------------------------------------------------------------------


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


@dataclasses.dataclass
class Timings:
    times: dict[str, list[float]]
    sizes: dict[str, int]
    calls: dict[str, list[Counter[str]]]  # DynamoDB API calls per recorded request
    inside: dict[str, list[Counter[str]]]  # nanoseconds inside them, by operation
    seconds: float


def time_pages(services: Services, accounts: int, args: argparse.Namespace) -> Timings:
    """Sign in as staff, then the aging report and account pages, shuffled together."""
    started = time.perf_counter()
    add_staff_user(services, STAFF_USER, "supervisor", STAFF_PASSWORD)
    client = create_app(services=services).test_client()
    sign_in(client, services)
    dynamodb = isinstance(services.store, DynamoDbStore)
    api = ApiCounter(services.store.db.client) if dynamodb else None

    rng = random.Random(args.seed)
    numbers = [f"{FIRST_NUMBER + i}" for i in range(accounts)]
    sizes = {
        "aging": timed_get(client, AGING)[1],  # warm-up, unrecorded
        "account": timed_get(client, f"/staff/accounts/{numbers[0]}")[1],
    }
    plan = ["aging"] * args.runs + ["account"] * args.account_runs
    rng.shuffle(plan)
    times: dict[str, list[float]] = {"aging": [], "account": []}
    calls: dict[str, list[Counter[str]]] = {"aging": [], "account": []}
    inside: dict[str, list[Counter[str]]] = {"aging": [], "account": []}
    for kind in plan:
        path = AGING if kind == "aging" else f"/staff/accounts/{rng.choice(numbers)}"
        if api:
            api.reset()
        times[kind].append(timed_get(client, path)[0])
        if api:
            calls[kind].append(api.calls)
            inside[kind].append(api.inside)
    return Timings(times, sizes, calls, inside, time.perf_counter() - started)


def calls_line(calls: list[Counter[str]], inside: list[Counter[str]], times: list[float]) -> str:
    """Calls per request (the mix, with moto's time per call), and moto's share of the time."""
    totals = [sum(c.values()) for c in calls]
    spread = f" (range {min(totals)}-{max(totals)})" if min(totals) != max(totals) else ""
    which: Counter[str] = Counter()
    ns: Counter[str] = Counter()
    for c, i in zip(calls, inside, strict=True):
        which.update(c)
        ns.update(i)
    mix = ", ".join(
        f"{op} {n / len(calls):g} ({ns[op] / n / 1e6:.0f} ms each)"
        for op, n in sorted(which.items())
    )
    share = sum(ns.values()) / 1e9 / sum(times)
    return f"{statistics.fmean(totals):g}{spread}: {mix}; {share:.0%} of its time inside them"


# -- the bench -----------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=5000, help="accounts on SQLite (5000)")
    parser.add_argument(
        "--dynamodb-accounts",
        type=int,
        default=150,
        help="accounts on DynamoDB, the first N of the same population (150; 0 skips; moto"
        " slows down as its table grows)",
    )
    parser.add_argument("--runs", type=int, default=20, help="aging report requests (20)")
    parser.add_argument("--account-runs", type=int, default=200, help="account pages (200)")
    parser.add_argument(
        "--check-accounts",
        type=int,
        default=25,
        help="accounts also written through DynamoDbStore on moto to check the items (25)",
    )
    parser.add_argument("--seed", type=int, default=42, help="random seed (42)")
    args = parser.parse_args(argv)
    if args.accounts < 1 or args.runs < 1 or args.account_runs < 1 or args.check_accounts < 1:
        parser.error("--accounts, --runs, --account-runs and --check-accounts must be at least 1")
    if args.dynamodb_accounts < 0:
        parser.error("--dynamodb-accounts must be at least 0")
    args.dynamodb_accounts = min(args.dynamodb_accounts, args.accounts)

    events = population(args.accounts, args.seed)
    sizes = {"sqlite": args.accounts, "dynamodb": args.dynamodb_accounts}
    if not sizes["dynamodb"]:
        del sizes["dynamodb"]
    print(HEADER)
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(
        "populations: "
        + "; ".join(f"{LABELS[s]} {n:,} accounts" for s, n in sizes.items())
        + f" (seed {args.seed}; as of {TODAY}, fixed clock {NOW:%Y-%m-%d %H:%M} UTC)"
    )
    if sizes.get("dynamodb", args.accounts) < args.accounts:
        print(
            f"NOTE: DynamoDB runs a SMALLER POPULATION than SQLite: {sizes['dynamodb']:,}"
            f" accounts, the first {sizes['dynamodb']:,} of SQLite's {args.accounts:,}"
            " (--dynamodb-accounts; moto slows down as its table grows)"
        )

    results: dict[str, tuple[int, Timings]] = {}
    with bench_folder() as folder:
        print()
        services = build_store(store_env(folder, "sqlite"))
        started = time.perf_counter()
        counts = replay(services.store, events)
        build_seconds = time.perf_counter() - started
        db_mib = sum(f.stat().st_size for f in folder.glob("portal.sqlite3*")) / 2**20
        print(
            f"SQLite: {args.accounts:,} accounts, {counts['statements']:,} statements,"
            f" {counts['payments']:,} payments posted, through the store's import_statement /"
            f" create_payment / post_payment in {build_seconds:.1f} s; {db_mib:.1f} MiB with WAL"
        )
        sqlite_rows = report_rows(services, sizes.get("dynamodb", 0))
        results["sqlite"] = (args.accounts, time_pages(services, args.accounts, args))

        if "dynamodb" in sizes:
            count = sizes["dynamodb"]
            started = time.perf_counter()
            checked = check_items(events, min(args.check_accounts, count))
            check_seconds = time.perf_counter() - started
            print(
                f"DynamoDB: items check: {checked} replayed through DynamoDbStore on moto"
                f" (scratch table) equal the store's items in memory ({check_seconds:.1f} s)"
            )
            services = build_store(store_env(folder, "dynamodb"))
            started = time.perf_counter()
            counts, loaded = load_dynamodb(services, [e for e in events if e[2] < count])
            print(
                f"DynamoDB: {count:,} accounts, {counts['statements']:,} statements,"
                f" {counts['payments']:,} payments posted: {loaded}"
            )
            print(f"DynamoDB: {verify(report_rows(services, count), sqlite_rows, count)}")
            load_seconds = time.perf_counter() - started
            timings = time_pages(services, count, args)
            results["dynamodb"] = (count, timings)
            print(
                f"DynamoDB run: {check_seconds + load_seconds + timings.seconds:.0f} s (items"
                f" check {check_seconds:.0f} s, load and report check {load_seconds:.0f} s,"
                f" sign-in and requests {timings.seconds:.0f} s)"
            )

    print()
    print(
        f"{'store':<9} {'accounts':>8} {'request':<26} {'runs':>5} {'p50 ms':>9}"
        f" {'p95 ms':>9} {'mean ms':>9} {'KiB':>6}"
    )
    for name, (count, t) in results.items():
        for kind, label in (("aging", f"GET {AGING}"), ("account", "GET /staff/accounts/<n>")):
            ms = [v * 1000 for v in t.times[kind]]
            print(
                f"{LABELS[name]:<9} {count:>8,} {label:<26} {len(ms):>5}"
                f" {percentile(ms, 50):>9.1f} {percentile(ms, 95):>9.1f}"
                f" {statistics.fmean(ms):>9.1f} {t.sizes[kind] / 1024:>6.0f}"
            )
    print()
    for name, (count, t) in results.items():
        aging, account = t.times["aging"], t.times["account"]
        p50 = percentile(aging, 50) / percentile(account, 50)
        p95 = percentile(aging, 95) / percentile(account, 95)
        print(
            f"{LABELS[name]} ({count:,} accounts): aging report / account page:"
            f" p50 {p50:.1f}x, p95 {p95:.1f}x"
        )
    if "dynamodb" in results:
        t = results["dynamodb"][1]
        print()
        for kind, label in (("aging", "aging report page"), ("account", "account page")):
            line = calls_line(t.calls[kind], t.inside[kind], t.times[kind])
            print(f"DynamoDB calls per {label}: {line}")


if __name__ == "__main__":
    main()
