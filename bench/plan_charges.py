"""Plan installments charged per second by the daily charge run, on SQLite and on DynamoDB,
against the same run's `--dry-run` (the same plans listed and their tries worked out,
nothing claimed, charged, posted or kept).

Builds each store the way the tests do (Settings.from_env, build_services, store.migrate):
SQLite as a file in a temporary folder, DynamoDB as a fresh table in moto's server, which
this script starts on 127.0.0.1 and speaks to over HTTP as boto3 speaks to AWS. Into each it
loads accounts owing $300.00 on one statement, and sets up a plan for each the patient's
way (portal.services.plans: a schedule of three on the 28th, agreed, the sandbox's test
card 4242 saved on its setup page, the agreement's copy sent), so that every plan's first
installment of $100.00 is due on the run's day. Then, in this process at a fixed clock
(2026-11-28 10:00 in New York), portal.services.plan_charges.run_plan_charges:

  dry run  `portal plans charge --dry-run`: --dry-runs of them (5; the median is used);
  run      every due installment claimed, made a payment, charged on the saved card
           (the sandbox gateway: no network, a charge derived from its idempotency key),
           posted with its receipt, kept on the plan, its claim marked done.

Afterwards every plan must show its first installment paid, the balance of every account
must be down by it once, and the mailer must have taken one receipt each. Mail goes to a
no-op Mailer that counts messages by kind (each is rendered from the e-mail templates, not
serialized nor written), so mail does not dominate the figures.

Store calls: every call of a Store method (a counting proxy), and on DynamoDB every API call
botocore makes (before-call.dynamodb), with the time spent inside them (moto's share).
Sizes: --plans (300) on SQLite, --dynamodb-plans (60) on DynamoDB: moto's calls slow down as
its table grows (every TransactWriteItems copies the table, every Query scans it). The run
lists at most 500 plans a day (Plans.plans_due's limit): more than that is not a single run.

    .venv/bin/python bench/plan_charges.py [--plans N] [--dynamodb-plans N] [--dry-runs N]
        [--profile N]
"""

import argparse
import cProfile
import dataclasses
import pstats
import sys
import time
from collections import Counter
from datetime import timedelta

from _population import (
    LABELS,
    NOW,  # 10:00 in New York: the practice's day is TODAY
    TODAY,
    ApiCounter,
    CountingMailer,
    CountingStore,
    bench_folder,
    build_store,
    one_statement_account,
    store_env,
)

from portal.domain.plan_terms import text_digest
from portal.domain.plans import Outcome
from portal.domain.viewers import Viewer
from portal.services.accounts import account_view
from portal.services.context import Services
from portal.services.plan_charges import ChargeSummary, run_plan_charges
from portal.services.plans import agree, finish_method_setup, propose, start_method_setup
from portal.services.statements import import_statement

OWED_CENTS = 30_000
INSTALLMENT_CENTS = 10_000  # the first of three
MONTHS = "3"
GOOD_CARD = "4242424242424242"
RUN_LIMIT = 500  # Plans.plans_due's default: what one run lists
HEADER = """\
Plan charge run throughput, in-process (portal.services.plan_charges.run_plan_charges at a
fixed clock, the sandbox gateway): one plan per account, each with its first installment
due on the run's day and the test card 4242 saved, on the SQLite store (a temporary file)
and on the DynamoDB store (moto's server on 127.0.0.1 over HTTP, so the DynamoDB figures are
moto's, not AWS's), against the same run's --dry-run."""


def set_up_plans(services: Services, count: int) -> list[tuple[str, str]]:
    """`count` accounts with a statement and a plan with a card, the patient's way:
    (account number, plan id) each."""
    viewer = Viewer.guarantor()
    made = []
    for i in range(count):
        number = str(800000 + i)
        account, st = one_statement_account(
            number,
            last_name=f"Planner{i}",
            email=f"p{i}@example.com",
            statement_id=f"S-P{i:06d}",
            statement_date=TODAY - timedelta(days=10),
            due_date=TODAY + timedelta(days=20),
            service_date=TODAY - timedelta(days=24),
            owed_cents=OWED_CENTS,
        )
        import_statement(services, account, st, notify=False)
        proposal = propose(services, number, viewer, months=MONTHS, day=str(TODAY.day))
        if proposal.installments[0].due_on != TODAY:
            sys.exit(f"the first installment is due {proposal.installments[0].due_on}")
        plan = agree(services, number, viewer, proposal, text_digest(proposal.text), "10.0.0.9")
        session_id = start_method_setup(services, plan).rsplit("/", 1)[1]
        gateway = services.payments
        done = gateway.save_card(gateway.open_setup(session_id), GOOD_CARD)
        finish_method_setup(services, plan.plan_id, done)
        made.append((number, plan.plan_id))
    return made


# -- timing ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Run:
    seconds: float
    summary: ChargeSummary
    store_calls: Counter
    api_calls: Counter
    api_ns: Counter


def timed_run(services: Services, api: ApiCounter | None, dry_run: bool) -> Run:
    proxy = CountingStore(services.store)
    counted = dataclasses.replace(services, store=proxy)
    if api:
        api.reset()
    started = time.perf_counter()
    summary = run_plan_charges(counted, NOW, dry_run=dry_run)
    took = time.perf_counter() - started
    return Run(
        took,
        summary,
        proxy.calls,
        Counter(api.calls) if api else Counter(),
        Counter(api.inside) if api else Counter(),
    )


def bench_store(name: str, env: dict[str, str], count: int, args: argparse.Namespace) -> dict:
    services = build_store(env)
    mailer = CountingMailer()
    services = dataclasses.replace(services, mailer=mailer)
    started = time.perf_counter()
    plans = set_up_plans(services, count)
    print(
        f"{name}: {count:,} plans set up the patient's way in {time.perf_counter() - started:.1f} s"
    )
    api = ApiCounter(services.store.db.client) if hasattr(services.store, "db") else None

    dries = [timed_run(services, api, dry_run=True) for _ in range(args.dry_runs)]
    for run in dries:
        if run.summary.counts() != {"charged": count, "failed": 0, "skipped": 0, "defaulted": 0}:
            sys.exit(f"{name}: the dry run did {run.summary.line}, expected charged={count}")
    mailer.sent.clear()
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    run = timed_run(services, api, dry_run=False)
    if profiler:
        profiler.disable()
        print(f"{name}: the charge run's profile (cumulative, top {args.profile}):")
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.profile)

    if run.summary.counts() != {"charged": count, "failed": 0, "skipped": 0, "defaulted": 0}:
        sys.exit(f"{name}: the charge run did {run.summary.line}, expected charged={count}")
    for number, plan_id in plans:
        plan = services.store.get_plan(plan_id)
        outcomes = [(a.installment, a.outcome) for a in plan.attempts] if plan else []
        if outcomes != [(1, Outcome.SUCCEEDED)]:
            sys.exit(f"{name}: plan {plan_id} has tries {outcomes}")
        if account_view(services, number).due_cents != OWED_CENTS - INSTALLMENT_CENTS:
            sys.exit(f"{name}: account {number} is not down by one installment")
    if mailer.sent != Counter({"receipt": count}):
        sys.exit(f"{name}: the mailer got {dict(mailer.sent)}, expected {count} receipts")
    again = timed_run(services, api, dry_run=False)
    if again.summary.charged:
        sys.exit(f"{name}: a rerun charged {again.summary.charged} again")
    return {
        "plans": count,
        "run": run,
        "dry": sorted(dries, key=lambda r: r.seconds)[len(dries) // 2],
        "dries": [r.seconds for r in dries],
        "rerun": again,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plans", type=int, default=300, help="plans due on SQLite (300)")
    parser.add_argument(
        "--dynamodb-plans",
        type=int,
        default=60,
        help="plans due on DynamoDB (60; 0 skips DynamoDB; moto is slow)",
    )
    parser.add_argument("--dry-runs", type=int, default=5, help="dry runs timed (5)")
    parser.add_argument(
        "--profile", type=int, default=0, help="print the charge run's top N profile lines"
    )
    args = parser.parse_args(argv)
    if not 1 <= args.plans <= RUN_LIMIT or not 0 <= args.dynamodb_plans <= RUN_LIMIT:
        parser.error(f"--plans from 1 and --dynamodb-plans from 0, both up to {RUN_LIMIT}")
    if args.dry_runs < 1:
        parser.error("--dry-runs must be at least 1")

    sizes = {"sqlite": args.plans}
    if args.dynamodb_plans:
        sizes["dynamodb"] = args.dynamodb_plans
    print(HEADER)
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print("plans due: " + ", ".join(f"{n:,} on {LABELS[s]}" for s, n in sizes.items()))
    if sizes.get("dynamodb", args.plans) < args.plans:
        print(
            f"NOTE: DynamoDB runs FEWER PLANS ({args.dynamodb_plans:,}) than SQLite"
            f" ({args.plans:,}): moto's calls slow down as its table grows (--dynamodb-plans)."
        )
    print(f"run as of {NOW:%Y-%m-%d %H:%M} UTC (the practice's {TODAY}); fixed clock")

    results: dict[str, dict] = {}
    with bench_folder() as folder:
        for name, count in sizes.items():
            results[name] = bench_store(LABELS[name], store_env(folder, name), count, args)

    print()
    print(
        f"{'store':<9} {'plans':>6} {'run s':>8} {'inst/s':>9} {'dry s':>8} {'dry inst/s':>11}"
        f" {'run / dry':>10} {'store calls/inst':>17}"
    )
    for name, r in results.items():
        run, dry, n = r["run"], r["dry"], r["plans"]
        print(
            f"{LABELS[name]:<9} {n:>6,} {run.seconds:>8.3f} {n / run.seconds:>9.1f}"
            f" {dry.seconds:>8.4f} {n / dry.seconds:>11.1f} {run.seconds / dry.seconds:>9.1f}x"
            f" {sum(run.store_calls.values()) / n:>17.2f}"
        )
    for name, r in results.items():
        run, dry, n = r["run"], r["dry"], r["plans"]
        print()
        print(f"{LABELS[name]}:")
        print(f"  run: {run.summary.line}; {run.seconds / n * 1e3:.2f} ms an installment")
        mix = ", ".join(f"{op} {c / n:g}" for op, c in sorted(run.store_calls.items()))
        print(f"  store calls per installment: {mix}")
        times = ", ".join(f"{t * 1e3:.1f}" for t in r["dries"])
        print(f"  dry runs: {times} ms; median {dry.seconds * 1e3:.1f} ms")
        print(
            f"  a rerun the same day: {r['rerun'].seconds * 1e3:.1f} ms, {r['rerun'].summary.line}"
        )
        if run.api_calls:
            total = sum(run.api_calls.values())
            ops = ", ".join(
                f"{op} {c / n:g} ({run.api_ns[op] / c / 1e6:.1f} ms each)"
                for op, c in sorted(run.api_calls.items())
            )
            print(f"  DynamoDB calls per installment: {total / n:g}: {ops}")
            dry_calls = ", ".join(f"{op} {c}" for op, c in sorted(dry.api_calls.items()))
            print(f"  DynamoDB calls of the dry run: {dry_calls}")
            share = sum(run.api_ns.values()) / 1e9 / run.seconds
            print(f"  time of the run inside DynamoDB calls (moto's share): {share:.0%}")
    if len(results) == 2:
        per = {k: r["plans"] / r["run"].seconds for k, r in results.items()}
        print()
        print(
            f"installments/s, SQLite / DynamoDB (moto over HTTP): "
            f"{per['sqlite'] / per['dynamodb']:.1f}x (different numbers of plans)"
        )
    print()
    print("every installment charged once, posted once, one receipt each; a rerun charged nothing")


if __name__ == "__main__":
    main()
