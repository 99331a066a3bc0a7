"""The statement import (`import_records`, streamed as `portal import` reads a CSV), each
figure against a baseline measured in the same run (absolute times are noise on a shared
2-CPU machine):

  1. 10,000 lines (5 per statement: 2,000 statements, each its own account) imported into
     a fresh SQLite store, against a raw `executemany` of the same rows: the CSV read with
     `csv.reader` and inserted in one transaction into one table of a fresh SQLite file.
     Lines per second and peak memory (tracemalloc's peak of Python allocations during the
     import and the process's maximum RSS) are printed too; each size runs in its own
     process so the RSS figures are not carried over.
  2. The cost per statement of importing 250 statements onto an account that already has
     3,000, against the same 250 onto an empty account.
  3. 2,000 lines (400 statements) with the "statement ready" e-mails (outbox mailer)
     against the same file without them (`notify=False`). The import stores every
     statement with its notice's claim, then sends the notices (`import_records` does both;
     here `send=False` and then `send_notices`, each timed): the row is the import, and
     the sending is printed beside it, per notice and with the import as a total.

Rows 1 and 2 send no e-mail (notify=False): they measure the import itself. With
--dynamodb, row 1 also runs against moto's DynamoDB server on 127.0.0.1 with smaller files
(moto copies the table on each transaction), against the same file on SQLite.

    .venv/bin/python bench/import_csv.py [--sizes 10000,100000] [--dynamodb]
"""

import argparse
import csv
import json
import os
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES_PER_STATEMENT = 5
HISTORY = 3000  # statements already on the account (row 2)
ADDED = 250  # statements imported onto it (row 2)
NOTICE_LINES = 2000  # row 3
GOALS = {"lines": 10.0, "history": 1.5, "notices": 1.5}


def generate(
    path: Path, lines: int, first: int = 0, account: str | None = None, email: bool = False
) -> None:
    """`lines` CSV rows, statements S-B-<first>... Each statement has its own account and
    guarantor unless `account` is given (then all are that account's, one guarantor)."""
    from portal.services.imports import CSV_COLUMNS

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for n in range(lines):
            s, line = divmod(n, LINES_PER_STATEMENT)
            s += first
            name = "Shared" if account else f"Guarantor{s}"
            writer.writerow(
                [
                    f"S-B-{s:07d}",
                    account or f"{300000 + s}",
                    "2026-11-01",
                    "2026-11-30",
                    "Bench",
                    name,
                    "1980-05-17",
                    f"g{s}@example.com" if email else "",
                    "",
                    f"P{line % 2 + 1}",
                    "Pat",
                    name,
                    "2010-01-0" + str(line % 2 + 1),
                    str(line + 1),
                    "2026-10-14",
                    "Dr. Chen",
                    "CPT",
                    "99213",
                    "Office visit, established patient",
                    "J06.9;E11.65",
                    "185.00",
                    "120.00",
                    "35.00",
                    "30.00",
                ]
            )


def services_in(scratch: Path):
    from portal.bootstrap import build_services
    from portal.config import Settings

    env = {
        "PORTAL_SQLITE_PATH": str(scratch / "bench.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(scratch / "outbox"),
        "PORTAL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    }
    if os.environ.get("PORTAL_STORE") == "dynamodb":
        env.update({k: v for k, v in os.environ.items() if k.startswith(("PORTAL_", "AWS_"))})
    services = build_services(Settings.from_env(env))
    services.store.migrate()
    return services


def timed_import(services, path: Path, notify: bool, expected: int) -> float:
    return timed_phases(services, path, notify, expected)[0]


def timed_phases(services, path: Path, notify: bool, expected: int) -> tuple[float, float]:
    """The import's time (every statement stored, with its notice's claim) and then the
    time its notices took to send."""
    from portal.services.imports import import_records, iter_csv
    from portal.services.statements import send_notices

    started = time.perf_counter()
    with path.open("rb") as f:
        summary = import_records(services, iter_csv(f), "bench", notify=notify, send=False)
    stored = time.perf_counter()
    send_notices(services, summary.notices)
    sent = time.perf_counter()
    assert summary.imported == expected and not summary.rejected, summary.line
    return stored - started, sent - stored


def executemany(path: Path, scratch: Path) -> float:
    """The baseline of row 1: read the rows, insert them with one executemany, commit."""
    started = time.perf_counter()
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))[1:]
    conn = sqlite3.connect(scratch / "raw.sqlite3", isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute(f"CREATE TABLE rows ({', '.join(f'c{i}' for i in range(len(rows[0])))})")
    conn.execute("BEGIN")
    conn.executemany(f"INSERT INTO rows VALUES ({', '.join('?' * len(rows[0]))})", rows)
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


# -- the children: one measurement each, a JSON line on stdout ----------------------------


def child_lines(path: str, lines: int) -> dict:
    """Row 1: the import timed on its own, then again into a fresh store under tracemalloc
    (which slows Python down) for the memory figures, then the baseline."""
    scratch = Path(path).parent
    statements = lines // LINES_PER_STATEMENT
    seconds = timed_import(services_in(scratch), Path(path), False, statements)
    services = services_in(Path(tempfile.mkdtemp(dir=scratch)))
    tracemalloc.start()
    timed_import(services, Path(path), False, statements)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    raw = executemany(Path(path), scratch) if os.environ.get("PORTAL_STORE") != "dynamodb" else 0
    return {
        "seconds": seconds,
        "baseline": raw,
        "peak_kib": peak / 1024,
        "maxrss_kib": maxrss if sys.platform != "darwin" else maxrss / 1024,
    }


def child_history(folder: str) -> dict:
    """Row 2: ADDED statements onto a fresh account, then onto one with HISTORY already."""
    scratch = Path(folder)
    services = services_in(scratch)
    per = LINES_PER_STATEMENT
    generate(scratch / "history.csv", HISTORY * per, 0, "900001")
    timed_import(services, scratch / "history.csv", False, HISTORY)
    generate(scratch / "empty.csv", ADDED * per, HISTORY, "900002")
    generate(scratch / "full.csv", ADDED * per, HISTORY + ADDED, "900001")
    empty = timed_import(services, scratch / "empty.csv", False, ADDED)
    full = timed_import(services, scratch / "full.csv", False, ADDED)
    records = services.store.account_records("900001")
    assert records is not None and len(records.statements) == HISTORY + ADDED
    return {"empty": empty / ADDED, "full": full / ADDED}


def child_notices(folder: str, notify: str) -> dict:
    scratch = Path(folder)
    generate(scratch / "notices.csv", NOTICE_LINES, email=True)
    services = services_in(scratch)
    seconds, sending = timed_phases(
        services, scratch / "notices.csv", notify == "1", NOTICE_LINES // LINES_PER_STATEMENT
    )
    sent = len(list((scratch / "outbox").glob("*.eml")))
    assert sent == (NOTICE_LINES // LINES_PER_STATEMENT if notify == "1" else 0), sent
    return {"seconds": seconds, "sending": sending, "sent": sent}


def in_child(env: dict[str, str], *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        sys.exit(done.stderr)
    return json.loads(done.stdout.strip().splitlines()[-1])


def verdict(ratio: float, goal: float) -> str:
    return f"goal <= {goal:g}x: {'met' if ratio <= goal else 'NOT met'}"


def run_lines(sizes: list[int], env: dict[str, str], label: str, base: dict[str, str]) -> None:
    print(f"{label}:")
    print(
        f"  {'lines':>8} {'statements':>10} {'seconds':>8} {'lines/s':>8} "
        f"{'executemany':>11} {'ratio':>7} {'tracemalloc peak':>17} {'max RSS':>9}"
    )
    for lines in sizes:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "statements.csv"
            generate(path, lines)
            if "PORTAL_DYNAMODB_TABLE" in env:
                env = {**env, "PORTAL_DYNAMODB_TABLE": f"bench-{lines}"}
            r = in_child(env, "lines", str(path), str(lines))
            if "PORTAL_DYNAMODB_TABLE" in env:  # on SQLite: the same file
                r["baseline"] = in_child(base, "lines", str(path), str(lines))["seconds"]
            ratio = f"{r['seconds'] / r['baseline']:>6.1f}x" if r["baseline"] else "      -"
            print(
                f"  {lines:>8} {lines // LINES_PER_STATEMENT:>10} {r['seconds']:>8.2f} "
                f"{lines / r['seconds']:>8.0f} {r['baseline']:>10.3f}s {ratio} "
                f"{r['peak_kib'] / 1024:>13.2f} MiB {r['maxrss_kib'] / 1024:>5.0f} MiB"
            )
            if r["baseline"] and lines == 10_000:
                print(f"  10,000 lines: {verdict(r['seconds'] / r['baseline'], GOALS['lines'])}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dynamodb", action="store_true")
    parser.add_argument("--dynamodb-sizes", default="250,500")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, *rest = args.child
        if kind == "lines":
            print(json.dumps(child_lines(rest[0], int(rest[1]))))
        elif kind == "history":
            print(json.dumps(child_history(rest[0])))
        else:
            print(json.dumps(child_notices(rest[0], rest[1])))
        return
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STRIPE_"))}
    sizes = [int(s) for s in args.sizes.split(",")]
    run_lines(sizes, base, "1. SQLite import (a fresh file per size) vs a raw executemany", base)

    with tempfile.TemporaryDirectory() as scratch:
        r = in_child(base, "history", scratch)
    ratio = r["full"] / r["empty"]
    print(
        f"2. {ADDED} statements onto an account with {HISTORY:,} already: "
        f"{r['full'] * 1000:.2f} ms per statement; onto an empty account "
        f"{r['empty'] * 1000:.2f} ms: {ratio:.2f}x ({verdict(ratio, GOALS['history'])})"
    )

    with tempfile.TemporaryDirectory() as on, tempfile.TemporaryDirectory() as off:
        notified = in_child(base, "notices", on, "1")
        without = in_child(base, "notices", off, "0")["seconds"]
    with_notices, sending = notified["seconds"], notified["sending"]
    ratio = with_notices / without
    print(
        f"3. {NOTICE_LINES:,} lines with statement notices {with_notices:.2f} s, without "
        f"{without:.2f} s: {ratio:.2f}x ({verdict(ratio, GOALS['notices'])})"
    )
    print(
        f"   then its {notified['sent']} notices sent in {sending:.2f} s"
        f" ({sending / notified['sent'] * 1000:.2f} ms each); the import with the sending:"
        f" {(with_notices + sending) / without:.2f}x the import without notices"
    )

    if args.dynamodb:
        from tests.aws import aws_environment, moto_server

        with moto_server() as endpoint:
            env = {
                **base,
                **aws_environment(endpoint),
                "PORTAL_STORE": "dynamodb",
                "PORTAL_DYNAMODB_TABLE": "bench",
            }
            run_lines(
                [int(s) for s in args.dynamodb_sizes.split(",")],
                env,
                "DynamoDB on moto's server (smaller files: moto serves one request at a time "
                "and copies the table on each transaction); the baseline: the same file on SQLite",
                base,
            )


if __name__ == "__main__":
    main()
