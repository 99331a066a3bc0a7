"""Importing a large statements CSV through `import_records`: lines per second and peak memory.

Generates a 10,000-line and a 100,000-line CSV (5 lines per statement: about 2,000 and
20,000 statements) in a temporary folder and imports each into a fresh SQLite store, read
as `portal import` reads it (streamed, line by line). Peak memory is reported two ways for
each import: tracemalloc's peak of Python allocations during the import, and the process's
maximum RSS (ru_maxrss) after it; each size runs in its own process so the RSS figures are
not carried over. With --dynamodb the same runs against moto's DynamoDB server on 127.0.0.1
with smaller files, 250 and 500 lines: moto manages about 11 lines/s, so 100,000 lines
would take hours there (the output says so).

No "statement ready" e-mails are sent (notify=False): this measures the import itself.

    .venv/bin/python bench/import_csv.py [--sizes 10000,100000] [--dynamodb]
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

LINES_PER_STATEMENT = 5


def generate(path: Path, lines: int) -> None:
    from portal.services.imports import CSV_COLUMNS

    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(CSV_COLUMNS)
        for n in range(lines):
            s, line = divmod(n, LINES_PER_STATEMENT)
            writer.writerow(
                [
                    f"S-B-{s:07d}",
                    f"{300000 + s}",
                    "2026-11-01",
                    "2026-11-30",
                    "Bench",
                    f"Guarantor{s}",
                    "1980-05-17",
                    "",
                    "",
                    f"P{line % 2 + 1}",
                    "Pat",
                    f"Guarantor{s}",
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


def child(path: str, lines: int) -> None:
    """One import in this process; prints a JSON line with the figures."""
    from portal.bootstrap import build_services
    from portal.config import Settings
    from portal.services.imports import import_records, iter_csv

    scratch = Path(path).parent
    env = {
        "PORTAL_SQLITE_PATH": str(scratch / "bench.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(scratch / "outbox"),
        "PORTAL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    }
    if os.environ.get("PORTAL_STORE") == "dynamodb":
        env.update(
            {k: v for k, v in os.environ.items() if k.startswith(("PORTAL_", "AWS_"))},
        )
    services = build_services(Settings.from_env(env))
    services.store.migrate()
    tracemalloc.start()
    started = time.perf_counter()
    with open(path, "rb") as f:
        summary = import_records(services, iter_csv(f), "bench", notify=False)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(
        json.dumps(
            {
                "lines": lines,
                "imported": summary.imported,
                "rejected": len(summary.rejected),
                "seconds": elapsed,
                "peak_kib": peak / 1024,
                "maxrss_kib": maxrss if sys.platform != "darwin" else maxrss / 1024,
            }
        )
    )


def run(sizes: list[int], env: dict[str, str], label: str) -> None:
    print(f"{label}:")
    print(
        f"  {'lines':>8} {'statements':>10} {'seconds':>8} {'lines/s':>8} "
        f"{'tracemalloc peak':>17} {'max RSS':>9}"
    )
    for lines in sizes:
        with tempfile.TemporaryDirectory() as scratch:
            path = Path(scratch) / "statements.csv"
            generate(path, lines)
            if "PORTAL_DYNAMODB_TABLE" in env:
                env = {**env, "PORTAL_DYNAMODB_TABLE": f"bench-{lines}"}
            done = subprocess.run(
                [sys.executable, __file__, "--child", str(path), str(lines)],
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            if done.returncode:
                sys.exit(done.stderr)
            r = json.loads(done.stdout.strip().splitlines()[-1])
            assert r["rejected"] == 0 and r["imported"] == lines // LINES_PER_STATEMENT, r
            print(
                f"  {lines:>8} {r['imported']:>10} {r['seconds']:>8.1f} "
                f"{lines / r['seconds']:>8.0f} {r['peak_kib'] / 1024:>13.2f} MiB "
                f"{r['maxrss_kib'] / 1024:>5.0f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--dynamodb", action="store_true")
    parser.add_argument("--dynamodb-sizes", default="250,500")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STRIPE_"))}
    run([int(s) for s in args.sizes.split(",")], base, "SQLite (a fresh file per size)")
    if args.dynamodb:
        from tests.aws import aws_environment, moto_server

        with moto_server() as endpoint:
            env = {
                **base,
                **aws_environment(endpoint),
                "PORTAL_STORE": "dynamodb",
                "PORTAL_DYNAMODB_TABLE": "bench",
            }
            run(
                [int(s) for s in args.dynamodb_sizes.split(",")],
                env,
                "DynamoDB on moto's server. Smaller files: moto serves one request at a time and "
                "copies the table on each transaction (about 11 lines/s for 500 lines), so "
                "100,000 lines would take hours there rather than ~3 minutes",
            )


if __name__ == "__main__":
    main()
