"""Reminder decisions per second on SQLite and on DynamoDB, against the same run over an empty
schedule (the same accounts, nothing due).

Builds each store the way the tests do (Settings.from_env, build_services, store.migrate):
SQLite as a file in a temporary folder, DynamoDB as a fresh table in moto's server, which
this script starts on 127.0.0.1 and speaks to over HTTP as boto3 speaks to AWS. Into each it
loads a population of accounts, each with one statement owing $50.00: one in ten is due (its
statement 15 to 120 days past due on the practice's calendar, spread evenly), the other nine
are current (due today or within the next 29 days). Then it times
portal.services.reminders.run_reminders, in this process, at a fixed clock:

  due run    as of 2026-11-28 10:00 in New York: every due account is read and decided, and
             sent its reminder or final notice or escalated (a queue item, an audit entry
             and a message to the billing inbox), each claimed, sent and marked in the store;
  empty run  the same population as of 121 days earlier, before any statement is past due:
             the cost of selecting nothing (--empty-runs of them, 5; the median is used).

Decisions per second are due accounts decided per second of the due run. Afterwards every
count must match the plan (each due account's stage is known) and every message must have
reached the mailer. The mailer (--mailer):
  count   (default) a no-op Mailer in this script that counts messages by kind: each message
          is still rendered from the e-mail templates by the service, but not serialized to
          MIME nor written, so mail does not dominate the figures;
  outbox  the portal's OutboxMailer writing .eml files to a temporary folder (about half the
          SQLite run is then Python's email package building and writing the files).

Store calls: every call of a Store method (a small counting proxy around the store object,
on both stores) and, on DynamoDB, every API call botocore makes (before-call.dynamodb), with
the time spent inside them (moto's share).

Sizes: --accounts (2,000, the size of issue 15's row) on SQLite. moto is slow at this: every
TransactWriteItems copies the whole table and every Query scans it, so each call's cost
grows with the table (over a second per escalation at 1,000 accounts), and a DynamoDB run
over 10,000 accounts would take hours. So DynamoDB gets --dynamodb-accounts (500, the same 1
in 10 due), printed with the results. Loading it: the first --import-sample accounts (50) go
in through import_statement, timed; when that rate says the whole population would take more
than 60 s, the rest are written with batch writes (store.db's table, BatchWriteItem) of
exactly the items import_statement would write (the store's own import run over a table in
memory, bench/_population.py MemoryStore; its ledger month totals added with one update
each), and the script says so.

    .venv/bin/python bench/reminders.py [--accounts N] [--dynamodb-accounts N]
        [--empty-runs N] [--import-sample N] [--mailer count|outbox] [--profile N]
"""

import argparse
import cProfile
import dataclasses
import pstats
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from _population import (
    LABELS,
    NOW,  # 10:00 in New York, after the 08:00 send hour
    TODAY,
    ApiCounter,
    CountingMailer,
    CountingStore,
    MemoryStore,
    bench_folder,
    build_store,
    bulk_write,
    one_statement_account,
    store_env,
)

from portal.domain.accounts import Account
from portal.domain.dunning import Stage
from portal.domain.statements import Statement
from portal.services.context import Services
from portal.services.reminders import ReminderSummary, run_reminders, schedule_of
from portal.services.statements import import_statement

EARLIEST_DUE_DAYS, LATEST_DUE_DAYS = 15, 120
EMPTY_AS_OF = NOW - timedelta(days=LATEST_DUE_DAYS + 1)  # before any statement is past due
DUE_EVERY = 10  # one account in ten is due
OWED_CENTS = 5000
IMPORT_BUDGET_SECONDS = 60
HEADER = """\
Reminder run throughput, in-process (portal.services.reminders.run_reminders at a fixed
clock): accounts with one statement each, one in ten 15-120 days past due and the rest
current, on the SQLite store (a temporary file) and on the DynamoDB store (moto's server on
127.0.0.1 over HTTP, so the DynamoDB figures are moto's, not AWS's), against the same run
over an empty schedule (the same accounts as of a day when nothing is past due yet)."""
MAILERS = {
    "count": "a no-op Mailer that counts messages by kind (rendered, not serialized or written)",
    "outbox": "the OutboxMailer, one .eml file per message in a temporary folder",
}


# -- the population ------------------------------------------------------------------------


def population(count: int) -> list[tuple[Account, Statement, int | None]]:
    """(account, its one statement, days past due or None when current), 1 in 10 due."""
    due_total = len(range(0, count, DUE_EVERY))
    span = LATEST_DUE_DAYS - EARLIEST_DUE_DAYS
    built = []
    for i in range(count):
        days = None
        if i % DUE_EVERY == 0:
            days = EARLIEST_DUE_DAYS + (i // DUE_EVERY) * span // max(due_total - 1, 1)
        due = TODAY - timedelta(days=days) if days is not None else TODAY + timedelta(days=i % 30)
        account, st = one_statement_account(
            str(700000 + i),
            last_name=f"Reyes{i}",
            email=f"g{i}@example.com",
            statement_id=f"S-B{i:06d}",
            statement_date=due - timedelta(days=30),
            due_date=due,
            service_date=due - timedelta(days=44),
            owed_cents=OWED_CENTS,
        )
        built.append((account, st, days))
    return built


def planned(services: Services, plan: list) -> Counter[str]:
    """The messages the due run must send, by kind (every due account has an address,
    owes over the minimum and has nothing that holds its reminders back)."""
    schedule = schedule_of(services)
    return Counter(str(schedule.step_for(days).stage) for _, _, days in plan if days is not None)


# -- loading -------------------------------------------------------------------------------


def load_sqlite(services: Services, plan: list, sample: int) -> str:
    started = time.perf_counter()
    for account, st, _ in plan:
        import_statement(services, account, st, notify=False)
    return f"{len(plan):,} accounts imported with import_statement in {seconds(started)}"


def load_dynamodb(services: Services, plan: list, sample: int) -> str:
    """import_statement for the first `sample` accounts (timed), then for the rest too when
    that takes at most a minute, else batch writes of the same items."""
    sample = min(sample, len(plan))
    each: list[float] = []
    for account, st, _ in plan[:sample]:
        started = time.perf_counter()
        import_statement(services, account, st, notify=False)
        each.append(time.perf_counter() - started)
    took = sum(each)
    rest = plan[sample:]
    if not rest:
        return f"{len(plan):,} accounts imported with import_statement in {took:.1f} s"
    # The latest imports' rate: a lower bound, as each import costs more as the table grows.
    latest = each[-max(len(each) // 10, 1) :]
    rate = sum(latest) / len(latest) if latest else 0.0
    projected = took + rate * len(rest)
    if projected <= IMPORT_BUDGET_SECONDS:
        started = time.perf_counter()
        for account, st, _ in rest:
            import_statement(services, account, st, notify=False)
        return (
            f"{len(plan):,} accounts imported with import_statement in"
            f" {took + time.perf_counter() - started:.1f} s"
        )
    report = (
        f"import_statement: the first {sample:,} accounts in {took:.1f} s (the last ones"
        f" {rate * 1e3:.0f} ms each, growing with the table); all {len(plan):,} that way:"
        f" at least {projected:.0f} s, over the {IMPORT_BUDGET_SECONDS} s budget"
    )

    memory = MemoryStore()
    for account, st, _ in rest:
        outcome = memory.import_statement(account, st, services.clock.now())
        if outcome != "imported":
            sys.exit(f"importing {st.statement_id} in memory: {outcome}")
    written = bulk_write(services.store.db, memory.db.items())
    return (
        f"{report};\n  so the other {len(rest):,} were LOADED WITH BATCH WRITES of the same"
        f" {written.puts:,} items import_statement would write (and {written.month_totals}"
        f" ledger month total update) in {written.seconds:.1f} s"
    )


def seconds(started: float) -> str:
    return f"{time.perf_counter() - started:.1f} s"


# -- counting ------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    seconds: float
    summary: ReminderSummary
    store_calls: Counter
    api_calls: Counter
    api_ns: Counter


def timed_run(
    services: Services, as_of: datetime, api: ApiCounter | None, dry_run: bool = False
) -> Run:
    proxy = CountingStore(services.store)
    counted = dataclasses.replace(services, store=proxy)
    if api:
        api.reset()
    started = time.perf_counter()
    summary = run_reminders(counted, as_of, dry_run=dry_run)
    took = time.perf_counter() - started
    return Run(
        took,
        summary,
        proxy.calls,
        Counter(api.calls) if api else Counter(),
        Counter(api.inside) if api else Counter(),
    )


# -- the bench -----------------------------------------------------------------------------


def bench_store(
    name: str,
    env: dict[str, str],
    count: int,
    args: argparse.Namespace,
    load: Callable[[Services, list, int], str],
) -> dict[str, Any]:
    services = build_store(env)
    plan = population(count)
    print(f"{name}: {load(services, plan, args.import_sample)}")
    counter = CountingMailer() if args.mailer == "count" else None
    if counter:
        services = dataclasses.replace(services, mailer=counter)
    api = ApiCounter(services.store.db.client) if hasattr(services.store, "db") else None

    empties = [timed_run(services, EMPTY_AS_OF, api) for _ in range(args.empty_runs)]
    for run in empties:
        if run.summary.due_accounts or any(run.summary.counts().values()):
            sys.exit(f"{name}: the empty schedule selected {run.summary}")
    # The baseline: `portal reminders --dry-run` of the same run (every due account
    # read and decided, nothing claimed, sent or written), the median of --empty-runs.
    dries = [timed_run(services, NOW, api, dry_run=True) for _ in range(args.empty_runs)]
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    due = timed_run(services, NOW, api)
    if profiler:
        profiler.disable()
        print(f"{name}: the due run's profile (cumulative, top {args.profile}):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)

    want = planned(services, plan)
    due_total = sum(days is not None for _, _, days in plan)
    letters = want["reminder"] + want["final-notice"]
    s = due.summary
    done = (s.due_accounts, s.sent, s.escalated, s.failed, s.skipped)
    if done != (due_total, letters, want[Stage.ESCALATION], 0, 0):
        sys.exit(f"{name}: the due run did {s}, expected {dict(want)} of {due_total} due")
    if counter:
        got = counter.sent
    else:
        files = Path(env["PORTAL_OUTBOX_DIR"]).glob("*.eml")
        got = Counter(f.name.split("-", 1)[1].rsplit("-", 1)[0] for f in files)
    if got != want:
        sys.exit(f"{name}: the mailer got {dict(got)}, expected {dict(want)}")
    return {
        "accounts": count,
        "due": due_total,
        "run": due,
        "empty": sorted(empties, key=lambda r: r.seconds)[len(empties) // 2],
        "dry": sorted(dries, key=lambda r: r.seconds)[len(dries) // 2],
        "empties": [r.seconds for r in empties],
        "kinds": want,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--accounts", type=int, default=2_000, help="accounts on SQLite, 1 in 10 due (2000)"
    )
    parser.add_argument(
        "--dynamodb-accounts",
        type=int,
        default=500,
        help="accounts on DynamoDB, 1 in 10 due (500; 0 skips DynamoDB; moto is slow)",
    )
    parser.add_argument("--empty-runs", type=int, default=5, help="empty-schedule runs (5)")
    parser.add_argument(
        "--import-sample",
        type=int,
        default=50,
        help="DynamoDB accounts imported with import_statement before deciding (50)",
    )
    parser.add_argument("--mailer", choices=sorted(MAILERS), default="count")
    parser.add_argument(
        "--profile", type=int, default=0, help="print the due run's top N profile lines"
    )
    args = parser.parse_args(argv)
    if args.accounts < DUE_EVERY or args.empty_runs < 1 or args.import_sample < 1:
        parser.error("--accounts must be at least 10, --empty-runs and --import-sample 1")
    if 0 < args.dynamodb_accounts < DUE_EVERY:
        parser.error("--dynamodb-accounts must be 0 or at least 10")

    sizes = {"sqlite": args.accounts}
    if args.dynamodb_accounts:
        sizes["dynamodb"] = args.dynamodb_accounts
    print(HEADER)
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(f"mail: {MAILERS[args.mailer]}")
    print(
        "accounts (1 in 10 due): "
        + ", ".join(f"{n:,} on {LABELS[s]} ({n // DUE_EVERY:,} due)" for s, n in sizes.items())
    )
    if sizes.get("dynamodb", args.accounts) < args.accounts:
        print(
            f"NOTE: DynamoDB runs a SMALLER POPULATION ({args.dynamodb_accounts:,} accounts) than"
            f" SQLite ({args.accounts:,}): moto's calls slow down as its table grows"
            " (--dynamodb-accounts)."
        )
    print(
        f"due run as of {NOW:%Y-%m-%d %H:%M} UTC; empty run as of {EMPTY_AS_OF:%Y-%m-%d %H:%M}"
        f" UTC (median of {args.empty_runs}); fixed clock"
    )

    results: dict[str, dict[str, Any]] = {}
    loaders = {"sqlite": load_sqlite, "dynamodb": load_dynamodb}
    with bench_folder() as folder:
        for name, count in sizes.items():
            env = store_env(folder, name)
            results[name] = bench_store(LABELS[name], env, count, args, loaders[name])

    print()
    print(
        f"{'store':<9} {'accounts':>8} {'due':>6} {'run s':>8} {'decisions/s':>12}"
        f" {'store calls/due':>16} {'empty run s':>12} {'run / empty':>12}"
    )
    for name, r in results.items():
        run, empty = r["run"], r["empty"]
        print(
            f"{LABELS[name]:<9} {r['accounts']:>8,} {r['due']:>6,} {run.seconds:>8.2f}"
            f" {r['due'] / run.seconds:>12.1f} {sum(run.store_calls.values()) / r['due']:>16.2f}"
            f" {empty.seconds:>12.4f} {run.seconds / empty.seconds:>11.0f}x"
        )
    for name, r in results.items():
        run, empty, due = r["run"], r["empty"], r["due"]
        print()
        print(f"{LABELS[name]}:")
        kinds = ", ".join(f"{kind} {n}" for kind, n in sorted(r["kinds"].items()))
        print(
            f"  due run: {run.summary.line} over {due:,} due accounts ({kinds});"
            f" {run.seconds / due * 1e3:.2f} ms a due account"
        )
        mix = ", ".join(f"{op} {n / due:g}" for op, n in sorted(run.store_calls.items()))
        print(f"  store calls per due account: {mix}")
        if run.api_calls:
            total = sum(run.api_calls.values())
            ops = ", ".join(
                f"{op} {n / due:g} ({run.api_ns[op] / n / 1e6:.1f} ms each)"
                for op, n in sorted(run.api_calls.items())
            )
            print(f"  DynamoDB calls per due account: {total / due:g}: {ops}")
            share = sum(run.api_ns.values()) / 1e9 / run.seconds
            print(f"  time of the due run inside DynamoDB calls (moto's share): {share:.0%}")
        calls = ", ".join(f"{op} {n}" for op, n in sorted(empty.store_calls.items()))
        api_calls = ", ".join(f"{op} {n}" for op, n in sorted(empty.api_calls.items()))
        times = ", ".join(f"{t * 1e3:.2f}" for t in r["empties"])
        print(
            f"  empty run: {empty.seconds * 1e3:.2f} ms (runs: {times} ms); store calls: {calls}"
            f"{f'; DynamoDB calls: {api_calls}' if api_calls else ''}"
        )
    if len(results) == 2:
        per = {n: r["due"] / r["run"].seconds for n, r in results.items()}
        print()
        print(
            "decisions/s, SQLite / DynamoDB (moto over HTTP):"
            f" {per['sqlite'] / per['dynamodb']:.1f}x"
            f"{' (different populations)' if sizes['dynamodb'] != sizes['sqlite'] else ''}"
        )
    print()
    print("issue 15's rows (goal in brackets):")
    for name, r in results.items():
        run, dry, due = r["run"], r["dry"], r["due"]
        print(
            f"  {LABELS[name]}: the reminder run, {due:,} due of {r['accounts']:,} accounts,"
            f" / its --dry-run: {run.seconds:.3f} s / {dry.seconds:.3f} s ="
            f" {run.seconds / dry.seconds:.1f}x (<= 3x; 13x before)"
        )
        if run.api_calls:
            print(
                f"  {LABELS[name]} calls per due account: {sum(run.api_calls.values()) / due:g}"
                " (<= 4; 7.6 before), the run's Query of the due accounts and the sweep's"
                " included"
            )
    print("every due account decided as planned and every message reached the mailer")


if __name__ == "__main__":
    main()
