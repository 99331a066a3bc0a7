"""Cold start of the portal with production settings (DynamoDB, Stripe, SES) vs.
`python -c "import flask, boto3, stripe"`, in CPU time, measured in the same run; and the
Lambda zip's size.

Each sample is a whole fresh process (interpreter start-up included, as on Lambda); its
user + system CPU time comes from the kernel (getrusage of the child). Portal and baseline
alternate (ABBA) so drift in machine load affects both alike. Three set-ups:

  venv, no bytecode:  the dev venv with PYTHONDONTWRITEBYTECODE=1 and an empty
                      PYTHONPYCACHEPREFIX: every module compiled from source;
  venv, bytecode:     the same with a warm PYTHONPYCACHEPREFIX (written by a warm-up run);
  lambda zip:         the zip `make package` builds, unpacked, run as Lambda's python3.11
                      runs it: `-B` (it cannot write bytecode), the task root first on
                      sys.path, then boto3 & co. compiled as the runtime provides them,
                      `-S`, and TZ=:UTC as the runtime sets it.

    .venv/bin/python bench/cold_start.py [--runs N] [--zip build/lambda.zip] [--profile]

Without --zip the zip is built into a scratch folder with `make package`. --profile prints
the slowest imports (`-X importtime`, cumulative) of the portal in each set-up.
"""

import argparse
import compileall
import importlib
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "import flask, boto3, stripe"
PORTAL = "import portal.wsgi"
RUNTIME_MODULES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six")
PRODUCTION = {
    "PORTAL_STORE": "dynamodb",
    "PORTAL_DYNAMODB_TABLE": "bench-cold-start",
    "PORTAL_PAYMENTS": "stripe",
    "STRIPE_SECRET_KEY": "sk_test_bench",
    "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    "PORTAL_MAIL": "ses",
    "PORTAL_MAIL_FROM": "billing@example.org",
    "PORTAL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "bench",
    "AWS_SECRET_ACCESS_KEY": "bench",
}


class Setup:
    """How a child process runs: its argv prefix, environment and working directory."""

    def __init__(self, label: str, argv: list[str], env: dict[str, str], cwd: Path):
        self.label, self.argv, self.env, self.cwd = label, argv, env, cwd

    def command(self, statement: str, *flags: str) -> list[str]:
        return [*self.argv[:1], *flags, *self.argv[1:], "-c", statement]


def base_env(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PORTAL_", "STRIPE_", "AWS_"))}
    for name in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX", "PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    env.update(
        PRODUCTION,
        PORTAL_SQLITE_PATH=str(scratch / "unused.sqlite3"),
        PORTAL_OUTBOX_DIR=str(scratch / "outbox"),
    )
    return env


def venv_setup(tmp: Path, write_bytecode: bool) -> Setup:
    env = base_env(tmp)
    prefix = tmp / ("pycache-warm" if write_bytecode else "pycache-empty")
    prefix.mkdir(exist_ok=True)
    env["PYTHONPYCACHEPREFIX"] = str(prefix)
    if not write_bytecode:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    label = "venv, bytecode" if write_bytecode else "venv, no bytecode"
    return Setup(label, [sys.executable], env, ROOT)


def zip_setup(tmp: Path, lambda_zip: Path) -> Setup:
    task = tmp / "task"
    with zipfile.ZipFile(lambda_zip) as archive:
        archive.extractall(task)
    # What Lambda's python3.11 provides (boto3 & co., with their bytecode), copied from
    # this environment and compiled there (botocore's data linked, not copied).
    runtime = tmp / "runtime"
    runtime.mkdir()
    for name in RUNTIME_MODULES:
        source = Path(importlib.import_module(name).__file__)
        if source.name != "__init__.py":
            shutil.copy2(source, runtime / source.name)
            continue
        target = runtime / source.parent.name
        shutil.copytree(source.parent, target, ignore=_runtime_ignore(source.parent))
        if (source.parent / "data").is_dir() and not (target / "data").exists():
            (target / "data").symlink_to(source.parent / "data")
    compileall.compile_dir(runtime, quiet=1, workers=1)
    env = base_env(tmp)
    env["PYTHONPATH"] = f"{task}{os.pathsep}{runtime}"  # -S: no site-packages
    env["LAMBDA_TASK_ROOT"] = str(task)
    env["TZ"] = ":UTC"  # set by the Lambda runtime (babel reads it at import)
    return Setup("lambda zip", [sys.executable, "-S", "-B"], env, task)


def _runtime_ignore(package: Path):
    def ignore(folder: str, names: list[str]) -> list[str]:
        skipped = [n for n in names if n == "__pycache__"]
        return skipped + (["data"] if Path(folder) == package and "data" in names else [])

    return ignore


def cpu_seconds(setup: Setup, statement: str) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(
        setup.command(statement), cwd=setup.cwd, env=setup.env, capture_output=True, text=True
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{setup.label}: {statement!r} failed:\n{done.stderr.strip()}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def measure(setup: Setup, runs: int) -> tuple[float, float]:
    """Median CPU seconds of (baseline, portal) over `runs` processes each, after one
    unrecorded warm-up of each (which fills the bytecode cache where there is one)."""
    cpu_seconds(setup, BASELINE)
    cpu_seconds(setup, PORTAL)
    samples: dict[str, list[float]] = {BASELINE: [], PORTAL: []}
    for i in range(runs):
        order = (BASELINE, PORTAL) if i % 2 == 0 else (PORTAL, BASELINE)
        for statement in order:
            samples[statement].append(cpu_seconds(setup, statement))
    return statistics.median(samples[BASELINE]), statistics.median(samples[PORTAL])


def profile(setup: Setup, lines: int = 12) -> list[str]:
    """The portal's slowest imports by cumulative time (`-X importtime`)."""
    done = subprocess.run(
        setup.command(PORTAL, "-X", "importtime"),
        cwd=setup.cwd,
        env=setup.env,
        capture_output=True,
        text=True,
    )
    rows = [line for line in done.stderr.splitlines() if line.startswith("import time:")]
    rows = [row for row in rows if row.split("|")[1].strip().isdigit()]
    rows.sort(key=lambda row: int(row.split("|")[1]), reverse=True)
    return rows[:lines]


def build_zip(tmp: Path) -> Path:
    output = tmp / "lambda.zip"
    make = shutil.which("make") or sys.exit("make is needed to build the Lambda zip")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")}
    env.pop("VIRTUAL_ENV", None)
    done = subprocess.run(
        [make, "--no-print-directory", "package", f"LAMBDA_ZIP={output}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"make package failed:\n{done.stdout}\n{done.stderr}")
    return output


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="processes per target (10)")
    parser.add_argument("--zip", type=Path, help="a built Lambda zip (default: make package)")
    parser.add_argument("--profile", action="store_true", help="print -X importtime top lines")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")

    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(f"CPU time (user + system) of a whole fresh process, median of {args.runs}, ABBA")
    print(f"baseline: python -c {BASELINE!r}; portal: {PORTAL!r} with production settings")
    print()
    with tempfile.TemporaryDirectory(prefix="portal-cold-start-") as scratch:
        tmp = Path(scratch)
        lambda_zip = args.zip or build_zip(tmp)
        setups = [
            venv_setup(tmp, write_bytecode=False),
            venv_setup(tmp, write_bytecode=True),
            zip_setup(tmp, lambda_zip),
        ]
        print(f"{'set-up':<20} {'baseline ms':>12} {'portal ms':>10} {'ratio':>7}")
        for setup in setups:
            baseline, portal = measure(setup, args.runs)
            print(
                f"{setup.label:<20} {baseline * 1000:>12.0f} {portal * 1000:>10.0f}"
                f" {portal / baseline:>6.2f}x"
            )
        print()
        with zipfile.ZipFile(lambda_zip) as archive:
            names = archive.namelist()
        compiled = sum(name.endswith(".pyc") for name in names)
        sources = sum(name.endswith(".py") and ".dist-info/" not in name for name in names)
        size = lambda_zip.stat().st_size
        print(f"lambda zip: {size / 1e6:.1f} MB, {compiled} .pyc, {sources} .py ({lambda_zip})")
        if args.profile:
            for setup in setups:
                print(f"\n--- -X importtime, {setup.label}: self us | cumulative us | module")
                print("\n".join(profile(setup)))


if __name__ == "__main__":
    main()
