"""A card payment on the SQLite store: its fsyncs, and the webhook's time against
`stripe.Webhook.construct_event` on the same payload.

Two rows (issue 15), each printed with its goal:
  fsyncs     fsync + fdatasync calls (`strace -f -c -e trace=fsync,fdatasync`) of a card
             payment, from the signed-in patient's POST /payments to the signed
             checkout.session.completed webhook that posts it and sends its receipt.
             Each run is a fresh `python bench/sqlite_payment.py --child` process (the portal
             with PORTAL_PAYMENTS=stripe, tests/stripe_stub.py inside it as Stripe, the Flask
             test client) on a copy of the same prepared file; strace counts the whole
             process, so the baseline is the same process signing in and opening /account
             only, and the payment's figure is the difference. Without strace the row says
             it was not measured.
  webhook    p50 of POST /webhooks/stripe (a signed checkout.session.completed for a distinct
             pending payment: posted, receipt to the outbox; bench/webhooks.py's set-up)
             against the p50 of `stripe.Webhook.construct_event` on the same body and
             header, the two interleaved event by event in this process, with the p50 of
             one fdatasync in the same folder at the same moments (the disk's share).

--profile also prints, for the webhook alone, the SQLite connections opened, statements and
commits per event (sqlite3's trace callback on every connection the store opens) and the
top lines of cProfile.

    .venv/bin/python bench/sqlite_payment.py [--events N] [--warmup N] [--profile]
"""

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # tests/ is not installed: the Stripe stand-in is reused

FSYNC_GOAL = 6
WEBHOOK_GOAL = 30
STRIPE_SECRET = "whsec_bench_card_0123456789"
SECRET = "bench-secret-key-0123456789abcdef"
BORN = date(1980, 4, 1)
ACCOUNT = "300001"


def env_for(folder: Path, **extra: str) -> dict[str, str]:
    return {
        "PORTAL_SECRET_KEY": SECRET,
        "PORTAL_BASE_URL": "http://portal.test",
        "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
        **extra,
    }


def close(services) -> None:
    closing = getattr(services.store, "close", None)
    if closing is not None:
        closing()


# -- the card payment, one process each --------------------------------------------------------


def prepare(folder: Path) -> None:
    """A migrated file with one account owing $95.00 (run in its own process)."""
    from _population import one_statement_account

    from portal.bootstrap import build_services
    from portal.config import Settings
    from portal.services.statements import import_statement

    services = build_services(Settings.from_env(env_for(folder)))
    services.store.migrate()
    account, statement = one_statement_account(
        ACCOUNT,
        last_name="Reyes",
        email="dana@example.com",
        statement_id="S-2026-000001",
        statement_date=date(2026, 11, 1),
        due_date=date(2026, 11, 30),
        service_date=date(2026, 10, 14),
        owed_cents=9500,
    )
    import_statement(services, account, statement)
    close(services)


def child(folder: Path, pay: bool) -> None:
    """Sign in and open /account; with `pay`, then POST /payments, pay on Stripe's side and
    deliver the signed webhook (200 processed, one receipt)."""
    import logging

    from portal import create_app
    from portal.bootstrap import build_services
    from portal.config import Settings
    from tests.stripe_stub import event, sign, stripe_stub

    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    with stripe_stub(webhook_secret=STRIPE_SECRET) as stub:
        settings = Settings.from_env(
            env_for(
                folder,
                PORTAL_PAYMENTS="stripe",
                STRIPE_SECRET_KEY="sk_test_bench",
                STRIPE_WEBHOOK_SECRET=STRIPE_SECRET,
                STRIPE_API_BASE=stub.base,
            )
        )
        services = build_services(settings)
        client = create_app(services=services).test_client()
        form = {"account_number": ACCOUNT, "last_name": "Reyes", "date_of_birth": BORN.isoformat()}
        answer = client.post("/pay", data={**form, "csrf_token": token(client, "/pay")})
        expect(
            answer.status_code == 303 and answer.headers["Location"].endswith("/account"), answer
        )
        csrf = token(client, "/account")
        if pay:
            answer = client.post("/payments", data={"amount": "40.00", "csrf_token": csrf})
            expect(
                answer.status_code == 303 and "/pay/cs_test_" in answer.headers["Location"], answer
            )
            session = stub.complete(answer.headers["Location"].rsplit("/", 1)[1])
            body = json.dumps(event("checkout.session.completed", session)).encode()
            answer = client.post(
                "/webhooks/stripe",
                data=body,
                headers={"Stripe-Signature": sign(body, STRIPE_SECRET)},
                content_type="application/json",
            )
            expect(
                answer.status_code == 200 and answer.get_json() == {"status": "processed"}, answer
            )
            receipts = list((folder / "outbox").glob("*-receipt-*.eml"))
            expect(len(receipts) == 1, f"{len(receipts)} receipts")
        close(services)


def token(client, path: str) -> str:
    page = client.get(path)
    found = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', page.get_data(as_text=True))
    expect(page.status_code == 200 and found is not None, page)
    return found.group(1)


def expect(holds: bool, what) -> None:
    if not holds:
        detail = what.get_data(as_text=True)[:500] if hasattr(what, "get_data") else what
        sys.exit(f"card payment: unexpected answer: {getattr(what, 'status', '')} {detail}")


def fsyncs(folder: Path, template: Path, mode: str) -> int:
    """fsync + fdatasync calls of one child process on a fresh copy of the template."""
    run = folder / mode
    run.mkdir()
    shutil.copy(template / "portal.sqlite3", run / "portal.sqlite3")
    report = folder / f"strace-{mode}.txt"
    command = [
        "strace", "-f", "-c", "-e", "trace=fsync,fdatasync", "-o", str(report),
        sys.executable, __file__, "--child", mode, str(run),
    ]  # fmt: skip
    subprocess.run(command, check=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    calls = 0
    for line in report.read_text().splitlines():
        fields = line.split()
        if fields and fields[-1] in ("fsync", "fdatasync"):
            calls += int(fields[3])  # % time, seconds, usecs/call, calls[, errors], syscall
    return calls


def fsync_row() -> None:
    probe = ["strace", "-f", "-c", "-o", os.devnull, "true"]
    if shutil.which("strace") is None or subprocess.run(probe, capture_output=True).returncode:
        print(
            "card payment fsyncs: not measured (strace is missing or may not trace here;"
            f" goal <= {FSYNC_GOAL})"
        )
        return
    with tempfile.TemporaryDirectory(prefix="portal-bench-card-") as tmp:
        folder = Path(tmp)
        template = folder / "template"
        template.mkdir()
        subprocess.run([sys.executable, __file__, "--prepare", str(template)], check=True)
        signed_in = fsyncs(folder, template, "signin")
        paid = fsyncs(folder, template, "payment")
    figure = paid - signed_in
    print(
        f"card payment, POST /payments to the webhook and its receipt: {figure} fsyncs"
        f" (process {paid}, the same process signing in only {signed_in}; goal <= {FSYNC_GOAL}):"
        f" {'met' if figure <= FSYNC_GOAL else 'NOT met'}"
    )


# -- the webhook against construct_event ------------------------------------------------------


class Traced:
    """Every connection sqlite3.connect opens gets a trace callback: statements, commits."""

    def __init__(self) -> None:
        self.connections = 0
        self.statements: Counter[str] = Counter()
        original = sqlite3.connect

        def connect(*args, **kwargs):
            conn = original(*args, **kwargs)
            self.connections += 1
            conn.set_trace_callback(self.trace)
            return conn

        sqlite3.connect = connect  # type: ignore[assignment]

    def trace(self, sql: str) -> None:
        self.statements[sql.split(None, 1)[0].upper() if sql.strip() else "?"] += 1

    def reset(self) -> tuple[int, int, int]:
        counts = (self.connections, sum(self.statements.values()), self.statements["COMMIT"])
        self.connections = 0
        self.statements.clear()
        return counts


def webhook_row(events: int, warmup: int, profile: bool) -> None:
    import stripe
    from _population import NOW, percentile
    from webhooks import WEBHOOK_SECRET, build, completed_event, sign

    traced = Traced() if profile else None
    with tempfile.TemporaryDirectory(prefix="portal-bench-webhook-") as tmp:
        env = env_for(
            Path(tmp),
            PORTAL_PAYMENTS="stripe",
            STRIPE_SECRET_KEY="sk_test_bench_never_used",
            STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
            STRIPE_API_BASE="http://127.0.0.1:9",
        )
        profiled = events if profile else 0
        app, services, pending = build(env, warmup + events + profiled, 10)
        client = app.test_client()
        webhook: list[int] = []
        verify: list[int] = []
        synced: list[int] = []
        # What the disk asks of each commit, at the same moments: one 4 KB fdatasync.
        disk = os.open(Path(tmp) / "disk-probe", os.O_WRONLY | os.O_CREAT | os.O_APPEND)

        def one(payment_id: str, session_id: str, timed: bool) -> None:
            body = completed_event(payment_id, session_id)
            header = sign(body, WEBHOOK_SECRET)
            start = time.perf_counter_ns()
            stripe.Webhook.construct_event(body, header, WEBHOOK_SECRET)
            verified = time.perf_counter_ns() - start
            start = time.perf_counter_ns()
            answer = client.post(
                "/webhooks/stripe",
                data=body,
                headers={"Stripe-Signature": header, "Content-Type": "application/json"},
            )
            answer.get_data()
            posted = time.perf_counter_ns() - start
            if answer.status_code != 200 or answer.get_json() != {"status": "processed"}:
                sys.exit(f"webhook answered {answer.status_code}: {answer.get_data(as_text=True)}")
            os.write(disk, b"\0" * 4096)
            start = time.perf_counter_ns()
            os.fdatasync(disk)
            fdatasync = time.perf_counter_ns() - start
            if timed:
                verify.append(verified)
                webhook.append(posted)
                synced.append(fdatasync)

        for i, (payment_id, session_id) in enumerate(pending[: warmup + events]):
            one(payment_id, session_id, timed=i >= warmup)
        ratio = percentile(webhook, 50) / percentile(verify, 50)
        print(
            f"webhook on SQLite, p50 {percentile(webhook, 50) / 1e6:.3f} ms (p99"
            f" {percentile(webhook, 99) / 1e6:.3f}) against construct_event on the same payload,"
            f" p50 {percentile(verify, 50) / 1e6:.3f} ms: {ratio:.1f}x (goal <= {WEBHOOK_GOAL}x):"
            f" {'met' if ratio <= WEBHOOK_GOAL else 'NOT met'}; n={events}, clock"
            f" {NOW:%Y-%m-%d}"
        )
        print(
            f"one fdatasync of 4 KB in the same folder at the same moments (each commit waits"
            f" for one): p50 {percentile(synced, 50) / 1e6:.3f} ms"
        )
        if traced is not None:
            rest = pending[warmup + events :]
            traced.reset()
            profiler = cProfile.Profile()
            profiler.enable()
            for payment_id, session_id in rest:
                one(payment_id, session_id, timed=False)
            profiler.disable()
            connections, statements, commits = traced.reset()
            n = len(rest)
            print(
                f"per webhook (SQLite trace callback over {n}): {connections / n:g} connections"
                f" opened, {statements / n:g} statements, {commits / n:g} commits"
            )
            for order in ("tottime", "cumulative"):
                out = io.StringIO()
                pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(18)
                text = out.getvalue()
                print(text[text.index("   ncalls") :].rstrip())
        os.close(disk)
        close(services)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200, help="timed webhooks (200)")
    parser.add_argument("--warmup", type=int, default=10, help="unrecorded webhooks (10)")
    parser.add_argument("--profile", action="store_true", help="counts and cProfile's top lines")
    parser.add_argument("--prepare", metavar="FOLDER", help=argparse.SUPPRESS)
    parser.add_argument("--child", nargs=2, metavar=("MODE", "FOLDER"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.prepare:
        return prepare(Path(args.prepare))
    if args.child:
        return child(Path(args.child[1]), pay=args.child[0] == "payment")
    if args.events < 1 or args.warmup < 0:
        parser.error("--events must be at least 1")
    print(__doc__.split("\n\n")[0])
    print(f"python {sys.version.split()[0]}, SQLite {sqlite3.sqlite_version}")
    fsync_row()
    webhook_row(args.events, args.warmup, args.profile)


if __name__ == "__main__":
    main()
