"""Stripe webhook events processed per second on SQLite and on DynamoDB, against the same
number of notifications rejected for a bad signature.

Builds each store the way the tests do (Settings.from_env with PORTAL_PAYMENTS=stripe,
build_services, store.migrate): SQLite as a file in a temporary folder, DynamoDB as a fresh
table in moto's server, which this script starts on 127.0.0.1 and speaks to over HTTP as
boto3 speaks to AWS. Stripe's API is never called (a webhook needs only the signing secret).
Into each store it imports --accounts accounts (default 10; each with one statement owing
enough for its share of the payments) at a fixed clock and records one pending $40.00 card
payment per event, spread over the accounts in turn, each with its Checkout Session id, as
start_payment leaves it once Stripe has answered (few accounts keep moto's table small).
Then, in this process, with the Flask test client, it times POST /webhooks/stripe:
  processed  a checkout.session.completed event, signed with the webhook secret, for a
             distinct pending payment: verify, claim the event id, post the payment
             (ledger entries), send the receipt (an .eml file in the outbox), mark the event
             done. Each must answer 200 {"status": "processed"}.
  rejected   the same kind of event signed with another secret: the pure cost of the
             signature check and Flask. Each must answer 400.
--events of each kind on SQLite (default 200) and --dynamodb-events of each on DynamoDB
(default 60: every moto call costs milliseconds, and moto deep-copies the whole table
for each item of a TransactWriteItems, so its cost grows with the table; 200 would take
over two minutes), after --warmup unrecorded ones of each (10). They go in rounds of one of each,
the order rotating per round, so drift in machine load affects all alike. Each time runs
from the request to the whole body being read; signing happens before the clock starts (as
Stripe signs before it sends). Afterwards every payment must be posted once with one
receipt. On DynamoDB it also counts the calls botocore makes per event and the time spent
inside them (moto's share, the rest being the portal's own work).

    .venv/bin/python bench/webhooks.py [--events N] [--dynamodb-events N] [--warmup N]
        [--accounts N]
"""

import argparse
import hashlib
import hmac
import json
import math
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import date
from pathlib import Path

from _population import (
    NOW,
    ApiCounter,
    bench_folder,
    build_store,
    one_statement_account,
    percentile,
    store_env,
)
from stripe import Webhook

from portal import create_app
from portal.domain.accounts import Account
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.services.context import Services
from portal.services.statements import import_statement

WEBHOOK_SECRET = "whsec_bench_0123456789abcdef"
WRONG_SECRET = "whsec_someone_else_0123456789"
API_VERSION = "2026-10-28.endive"
PAID_CENTS = 4000
HEADER = """\
Stripe webhook throughput, in-process (Flask test client): POST /webhooks/stripe with a
signed checkout.session.completed event for a distinct pending payment (each a new posting
and a receipt written to the outbox) on the SQLite store (a temporary file) and on the
DynamoDB store (moto's server on 127.0.0.1 over HTTP, so the DynamoDB figures are moto's,
not AWS's), against the same events signed with the wrong secret (400: the signature check
and Flask alone). Requests rotate per round; times run to the whole body read."""


def sign(payload: bytes, secret: str) -> str:
    """The Stripe-Signature header, as Stripe makes it (tests/stripe_stub.py sign)."""
    ts = int(time.time())
    digest = hmac.new(secret.encode(), f"{ts}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={ts},v1={digest}"


def completed_event(payment_id: str, session_id: str) -> bytes:
    """A checkout.session.completed event as Stripe posts it (the fields it always sends)."""
    created = int(time.time())
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": PAID_CENTS,
        "amount_total": PAID_CENTS,
        "cancel_url": f"http://portal.test/payments/{payment_id}?canceled=1",
        "client_reference_id": payment_id,
        "created": created - 60,
        "currency": "usd",
        "customer": None,
        "expires_at": created + 86340,
        "livemode": False,
        "metadata": {"payment_id": payment_id},
        "mode": "payment",
        "payment_intent": f"pi_bench_{uuid.uuid4().hex[:24]}",
        "payment_method_types": ["card"],
        "payment_status": "paid",
        "status": "complete",
        "success_url": f"http://portal.test/payments/{payment_id}?session_id={{CHECKOUT_SESSION_ID}}",
        "url": None,
    }
    envelope = {
        "id": f"evt_bench_{uuid.uuid4().hex[:24]}",
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "type": "checkout.session.completed",
        "data": {"object": session},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
    }
    return json.dumps(envelope).encode()


def account(i: int, owed_cents: int) -> tuple[Account, Statement]:
    return one_statement_account(
        str(300000 + i),
        last_name="Reyes",
        email=f"g{i}@example.com",
        statement_id=f"S-2026-{i:06d}",
        statement_date=date(2026, 11, 1),
        due_date=date(2026, 11, 30),
        service_date=date(2026, 10, 14),
        owed_cents=owed_cents,
    )


def build(env: dict[str, str], count: int, accounts: int):
    """The app, its services, and `count` pending card payments (payment id, session id)
    spread over `accounts` accounts in turn."""
    services = build_store(env)
    each = math.ceil(count / accounts)
    numbers = []
    for i in range(accounts):
        acct, st = account(i, each * PAID_CENTS + 1000)
        import_statement(services, acct, st)
        numbers.append(acct.account_number)
    pending = []
    for i in range(count):
        payment_id = f"pay_bench{i:06d}{uuid.uuid4().hex[:8]}"
        services.store.create_payment(
            Payment(payment_id, numbers[i % accounts], PAID_CENTS, PaymentStatus.PENDING,
                    "card", "stripe", NOW)
        )  # fmt: skip
        session_id = f"cs_test_bench{uuid.uuid4().hex}"
        services.store.attach_checkout(payment_id, session_id)
        pending.append((payment_id, session_id))
    return create_app(services=services), services, pending


def timed_post(client, body: bytes, secret: str, expect: int, label: str) -> int:
    """Nanoseconds for one POST /webhooks/stripe (signed before the clock starts)."""
    headers = {"Stripe-Signature": sign(body, secret), "Content-Type": "application/json"}
    start = time.perf_counter_ns()
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    response.get_data()
    elapsed = time.perf_counter_ns() - start
    if response.status_code != expect:
        sys.exit(f"{label}: answered {response.status_code}: {response.get_data(as_text=True)}")
    if expect == 200 and response.get_json() != {"status": "processed"}:
        sys.exit(f"{label}: answered {response.get_json()}, not processed")
    return elapsed


def check_posted(services: Services, pending: list[tuple[str, str]], outbox: Path, name: str):
    """Every payment posted once, with one receipt each."""
    for payment_id, _ in pending:
        found = services.store.get_payment(payment_id)
        if found is None or found.status is not PaymentStatus.SUCCEEDED:
            sys.exit(f"{name}: payment {payment_id} is {found and found.status}, not posted")
        records = services.store.account_records(found.account_number)
        posted = [e for e in records.entries if e.payment_id == payment_id]
        if sum(e.amount_cents for e in posted) != -PAID_CENTS:
            sys.exit(f"{name}: payment {payment_id} is posted as {posted}")
    receipts = len(list(outbox.glob("*-receipt-*.eml")))  # OutboxMailer names by kind
    if receipts != len(pending):
        sys.exit(f"{name}: {receipts} receipts for {len(pending)} payments")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="timed events of each (200)")
    parser.add_argument(
        "--dynamodb-events",
        type=int,
        default=60,
        help="timed events of each on DynamoDB, at most --events (60; moto is slow)",
    )
    parser.add_argument("--warmup", type=int, default=10, help="unrecorded events each (10)")
    parser.add_argument("--accounts", type=int, default=10, help="accounts paid (10)")
    args = parser.parse_args(argv)
    if min(args.events, args.dynamodb_events, args.accounts) < 1 or args.warmup < 0:
        parser.error("--events, --dynamodb-events and --accounts must be at least 1")
    counts = {"sqlite": args.events, "dynamodb": min(args.dynamodb_events, args.events)}

    print(HEADER)
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(
        f"timed events of each kind: {counts['sqlite']} on SQLite, {counts['dynamodb']} on"
        f" DynamoDB, after {args.warmup} warm-up;\na pending $40.00 payment per event over"
        f" {args.accounts} accounts; fixed clock {NOW:%Y-%m-%d %H:%M} UTC"
    )

    stripe = {
        "PORTAL_PAYMENTS": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_bench_never_used",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": "http://127.0.0.1:9",  # never called: webhooks need no API
    }
    with bench_folder() as folder:
        built = {}
        for name in ("sqlite", "dynamodb"):
            env = store_env(folder, name, **stripe)
            count = counts[name] + args.warmup
            started = time.perf_counter()
            app, services, pending = build(env, count, args.accounts)
            built[name] = (app.test_client(), services, pending, Path(env["PORTAL_OUTBOX_DIR"]))
            print(f"{name}: {args.accounts} accounts and {count} pending payments set up in"
                  f" {time.perf_counter() - started:.1f} s")  # fmt: skip

        # Every DynamoDB call the webhook makes, and the time spent inside it (moto's share).
        api = ApiCounter(built["dynamodb"][1].store.db.client)
        # Every SQLite statement the webhook runs (COMMIT: a write transaction).
        sql = SqlCounter(built["sqlite"][1].store)
        # A well-formed event for no payment of the portal's, signed with the wrong secret.
        decoy = completed_event("pay_bench_decoy", "cs_test_bench_decoy")

        def run(target: str, i: int) -> int:
            store, kind = target.split("/")
            client, _, pending, _ = built[store]
            if kind == "rejected":
                return timed_post(client, decoy, WRONG_SECRET, 400, target)
            payment_id, session_id = pending[i]
            return timed_post(
                client, completed_event(payment_id, session_id), WEBHOOK_SECRET, 200, target
            )

        targets = ["sqlite/processed", "sqlite/rejected", "dynamodb/processed", "dynamodb/rejected"]
        for i in range(args.warmup):
            for target in targets:
                run(target, i)

        times: dict[str, list[int]] = {target: [] for target in targets}
        per_event: list[int] = []
        commits: list[int] = []
        statements: list[int] = []
        construct: list[int] = []
        in_calls: list[int] = []
        which: Counter[str] = Counter()
        for n in range(args.events):
            active = [t for t in targets if n < counts[t.split("/")[0]]]
            shift = n % len(active)
            for target in active[shift:] + active[:shift]:
                api.reset()
                sql.reset()
                times[target].append(run(target, args.warmup + n))
                if target == "sqlite/processed":
                    commits.append(sql.commits)
                    statements.append(len(sql.statements))
                    # The baseline of the row: the signature check alone, the same
                    # payload, timed the same way (signed before the clock starts).
                    body = completed_event(*built["sqlite"][2][args.warmup + n])
                    header = sign(body, WEBHOOK_SECRET)
                    start = time.perf_counter_ns()
                    Webhook.construct_event(body, header, WEBHOOK_SECRET)
                    construct.append(time.perf_counter_ns() - start)
                if target == "dynamodb/processed":
                    per_event.append(sum(api.calls.values()))
                    in_calls.append(sum(api.inside.values()))
                    which.update(api.calls)

        for name, (_, services, pending, outbox) in built.items():
            check_posted(services, pending, outbox, name)

    print()
    print(
        f"{'request':<36} {'n':>4} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'rejected/s / events/s':>22}"
    )
    labels = {
        "sqlite/processed": "SQLite: signed event, posted",
        "sqlite/rejected": "SQLite app: bad signature, 400",
        "dynamodb/processed": "DynamoDB: signed event, posted",
        "dynamodb/rejected": "DynamoDB app: bad signature, 400",
    }
    rate = {t: len(v) / (sum(v) / 1e9) for t, v in times.items()}
    for target in targets:
        store, kind = target.split("/")
        ratio = f"{rate[f'{store}/rejected'] / rate[target]:>21.1f}x" if kind == "processed" else ""
        p50, p99 = percentile(times[target], 50), percentile(times[target], 99)
        print(
            f"{labels[target]:<36} {len(times[target]):>4} {rate[target]:>9.1f}"
            f" {p50 / 1e6:>8.3f} {p99 / 1e6:>8.3f} {ratio:>22}"
        )
    mix = ", ".join(f"{op} {n / len(per_event):g}" for op, n in sorted(which.items()))
    total = sum(times["dynamodb/processed"])
    print()
    print(f"DynamoDB calls per processed event: {statistics.fmean(per_event):g}: {mix}")
    own_ms = (total - sum(in_calls)) / len(per_event) / 1e6
    print(
        f"time of a processed DynamoDB event spent inside those calls (moto's share):"
        f" {sum(in_calls) / total:.0%};\nthe rest, {own_ms:.1f} ms an event, is the portal's own"
        " work (verification, Flask, posting logic, the receipt)"
    )
    print(
        "processed events/s, SQLite / DynamoDB (moto over HTTP):"
        f" {rate['sqlite/processed'] / rate['dynamodb/processed']:.1f}x"
    )
    p50 = {t: percentile(v, 50) for t, v in times.items()}
    print()
    print("issue 15's rows (goal in brackets):")
    print(
        f"  SQLite write transactions per processed event: {statistics.fmean(commits):g}"
        f" (<= 2; 5 before), {statistics.fmean(statements):g} statements"
    )
    print(
        f"  DynamoDB calls per processed event: {statistics.fmean(per_event):g} (<= 6; 18 before)"
    )
    print(
        "  the webhook's time on SQLite, p50, / stripe.Webhook.construct_event on the same"
        f" payload, p50: {p50['sqlite/processed'] / percentile(construct, 50):.0f}x (<= 30x)"
    )
    print("every payment posted once with one receipt, on both stores")


class SqlCounter:
    """Every statement the SQLite store runs (sqlite3's trace callback on each connection
    its pool opens from now on), and how many of them commit."""

    def __init__(self, store) -> None:
        self.statements: list[str] = []
        pool = store._connections
        pool.close()  # the connections open so far are not traced: opened again below
        open_connection = pool.open

        def traced():
            conn = open_connection()
            conn.set_trace_callback(lambda sql: self.statements.append(sql))
            return conn

        pool.open = traced

    def reset(self) -> None:
        self.statements = []

    @property
    def commits(self) -> int:
        return sum(1 for s in self.statements if s.strip().upper().startswith("COMMIT"))


if __name__ == "__main__":
    main()
