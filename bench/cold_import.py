"""Cold-start cost of the portal: time to import `portal.wsgi` (which builds the app) vs `flask`.

Each sample is a fresh Python process that times only the import statement (interpreter
start-up is excluded) and reports its own peak RSS. The two targets alternate (ABBA order)
so drift in machine load affects both alike.

Bytecode caches matter a lot and are controlled, never written into the source tree: every
child gets PYTHONPYCACHEPREFIX pointing at a scratch folder, so .pyc files already lying
next to the sources are ignored too.
  cache: .pyc files are written there by the unrecorded warm-up run(s) and then read
         (a deployment that ships or pre-compiles bytecode);
  none:  PYTHONDONTWRITEBYTECODE=1 and an empty prefix, so every import compiles from
         source (a read-only deployment without .pyc files).

    .venv/bin/python bench/cold_import.py [--runs N] [--warmup N] [--pyc cache|none|both]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = ("flask", "portal.wsgi")

CHILD = """\
import resource, time
t = time.perf_counter()
import {module}
elapsed = time.perf_counter() - t
print(elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def child_env(scratch: Path, pycache: Path, write_bytecode: bool) -> dict[str, str]:
    """The parent's environment without PORTAL_*/STRIPE_*, plus a throwaway local setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STRIPE_"))}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(
        PYTHONPYCACHEPREFIX=str(pycache),
        PORTAL_SQLITE_PATH=str(scratch / "portal.sqlite3"),
        PORTAL_OUTBOX_DIR=str(scratch / "outbox"),
        PORTAL_SECRET_KEY="bench-secret-key-0123456789abcdef",
    )
    return env


def sample(module: str, env: dict[str, str]) -> tuple[float, int]:
    """Import `module` in a fresh interpreter: (seconds, peak RSS in KiB)."""
    done = subprocess.run(
        [sys.executable, "-c", CHILD.format(module=module)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"importing {module} failed:\n{done.stderr.strip()}")
    seconds, rss = done.stdout.split()
    return float(seconds), int(rss)


def measure(mode: str, runs: int, warmup: int, tmp: Path):
    """Seconds and peak RSS (KiB) per target, `runs` recorded processes each."""
    times: dict[str, list[float]] = {t: [] for t in TARGETS}
    rss: dict[str, list[int]] = {t: [] for t in TARGETS}
    pycache = tmp / f"pycache-{mode}"
    for i in range(warmup + runs):
        order = TARGETS if i % 2 == 0 else TARGETS[::-1]
        for module in order:
            scratch = tmp / f"{mode}-{module}-{i}"  # a fresh store per process
            scratch.mkdir()
            seconds, kib = sample(module, child_env(scratch, pycache, mode == "cache"))
            if i >= warmup:
                times[module].append(seconds)
                rss[module].append(kib)
    return times, rss


def report(mode: str, runs: int, warmup: int, times, rss) -> None:
    print(f"--- bytecode: {mode} ({runs} processes per target, {warmup} warm-up each) ---")
    print(f"{'import':<12} {'median ms':>10} {'min ms':>8} {'max ms':>8}   {'peak RSS MiB':>20}")
    for module in TARGETS:
        ms = [s * 1000 for s in times[module]]
        mib = [k / 1024 for k in rss[module]]
        rss_text = f"{statistics.median(mib):.1f} ({min(mib):.1f}-{max(mib):.1f})"
        print(
            f"{module:<12} {statistics.median(ms):>10.1f} {min(ms):>8.1f} {max(ms):>8.1f}"
            f"   {rss_text:>20}"
        )
    flask_ms = statistics.median(times["flask"]) * 1000
    portal_ms = statistics.median(times["portal.wsgi"]) * 1000
    extra_mib = (statistics.median(rss["portal.wsgi"]) - statistics.median(rss["flask"])) / 1024
    print(f"ratio portal.wsgi / flask (medians): {portal_ms / flask_ms:.2f}x")
    print(f"difference (medians): {portal_ms - flask_ms:+.1f} ms, {extra_mib:+.1f} MiB peak RSS")
    print()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per target (10)")
    parser.add_argument("--warmup", type=int, default=1, help="unrecorded runs first (1)")
    parser.add_argument(
        "--pyc", choices=("cache", "none", "both"), default="both", help="bytecode (both)"
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        parser.error("--runs must be at least 1 and --warmup at least 0")
    if args.pyc == "cache" and args.warmup < 1:
        parser.error("--pyc cache needs --warmup 1 or more to fill the cache")

    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print("import time inside a fresh process (interpreter start-up excluded), ABBA order")
    print()
    modes = ("cache", "none") if args.pyc == "both" else (args.pyc,)
    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        for mode in modes:
            times, rss = measure(mode, args.runs, args.warmup, Path(tmp))
            report(mode, args.runs, args.warmup, times, rss)
    print("difference = our code, the libraries it adds on top of flask (flask-wtf, wtforms,")
    print("itsdangerous, sqlite3, email, ...), and building the app at import time")


if __name__ == "__main__":
    main()
