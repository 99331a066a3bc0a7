"""Render time of a 200-line statement as a PDF against the same statement's HTML page.

Builds the portal as the tests do (Settings.from_env, build_services, store.migrate) on a
SQLite file in a temporary folder, imports account 100234 (Maria Lopez, patients Ana Lopez
and José Núñez-Lopez) with one statement of --lines line items (200), signs the guarantor
in through Quick Pay (POST /pay with the form's CSRF token), and then times, in this
process, with the Flask test client:
  GET /statements/<id>.pdf   the PDF (fpdf2, DejaVu Sans embedded and subset)
  GET /statements/<id>       the HTML statement page
--runs of each (20) after --warmup unrecorded ones (2), alternating, so drift in machine
load affects both alike. Each time runs from the request to the whole body read. It also
times render_statement_pdf() alone (the same number of runs) and prints page count and size.

    .venv/bin/python bench/statement_pdf.py [--lines N] [--runs N] [--warmup N]
"""

import argparse
import io
import math
import re
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

from pypdf import PdfReader

from portal import create_app
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import LineItem, Statement
from portal.services.statement_pdf import render_statement_pdf
from portal.services.statements import import_statement

NOW = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)  # 10:00 in New York
QUICK_PAY = {"account_number": "100234", "last_name": "Lopez", "date_of_birth": "1984-03-12"}
STATEMENT_ID = "S-2026-000123"
SERVICES = (
    ("99214", "Office visit, established patient, moderate complexity", 26500, 18550, 3180),
    ("83036", "Hemoglobin A1c test", 4400, 3080, 0),
    ("80053", "Comprehensive metabolic panel", 5800, 4060, 696),
    ("85025", "Complete blood count (CBC) with differential", 3900, 0, 0),
)
PROVIDERS = ("Dr. Elena Sokolova, MD", "Priya Natarajan, NP", "Dr. Marcus Webb, DO")


def account() -> Account:
    return Account(
        account_number="100234",
        guarantor=Guarantor("Maria", "Lopez", date(1984, 3, 12), email="maria@example.com"),
        patients=(
            Patient("P1", "Ana", "Lopez", date(2015, 6, 2)),
            Patient("P2", "José", "Núñez-Lopez", date(2018, 1, 9)),
        ),
    )


def long_statement(lines: int) -> Statement:
    items = []
    for n in range(1, lines + 1):
        code, text, charge, paid, adjusted = SERVICES[n % len(SERVICES)]
        items.append(
            LineItem(
                line_id=str(n),
                patient_id="P2" if n % 3 else "P1",
                service_date=date(2026, 10, 1 + n % 28),
                provider=PROVIDERS[n % len(PROVIDERS)],
                code_system="CPT",
                code=code,
                description=text,
                diagnosis_codes=("E11.65",) if n % 2 else ("J06.9", "R53.83"),
                charge_cents=charge,
                insurance_paid_cents=paid,
                adjustment_cents=adjusted,
                patient_responsibility_cents=charge - paid - adjusted,
            )
        )
    return Statement(STATEMENT_ID, "100234", date(2026, 11, 1), date(2026, 11, 30), tuple(items))


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token"[^>]*?value="([^"]+)"', html)
    if not match:
        sys.exit("no CSRF token on the Quick Pay page")
    return match.group(1)


def timed_get(client, path: str, mimetype: str) -> tuple[int, bytes]:
    start = time.perf_counter_ns()
    response = client.get(path)
    body = response.get_data()
    elapsed = time.perf_counter_ns() - start
    if response.status_code != 200 or response.mimetype != mimetype:
        sys.exit(f"GET {path} answered {response.status_code} {response.mimetype}")
    return elapsed, body


def percentile(values: list[int], p: float) -> int:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=200, help="line items (200)")
    parser.add_argument("--runs", type=int, default=20, help="timed requests each (20)")
    parser.add_argument("--warmup", type=int, default=2, help="unrecorded requests each (2)")
    args = parser.parse_args(argv)
    if args.lines < 1 or args.runs < 1 or args.warmup < 0:
        parser.error("--lines and --runs must be at least 1, --warmup at least 0")

    with tempfile.TemporaryDirectory(prefix="portal-bench-") as tmp:
        folder = Path(tmp)
        settings = Settings.from_env(
            {
                "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
                "PORTAL_OUTBOX_DIR": str(folder / "outbox"),
                "PORTAL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
                "PORTAL_BASE_URL": "http://portal.test",
            }
        )
        services = build_services(settings, clock=FixedClock(NOW))
        services.store.migrate()
        import_statement(services, account(), long_statement(args.lines), notify=False)
        client = create_app(services=services).test_client()
        page = client.get("/pay").get_data(as_text=True)
        signed_in = client.post("/pay", data={**QUICK_PAY, "csrf_token": csrf_token(page)})
        if signed_in.status_code != 303:
            sys.exit(f"sign-in answered {signed_in.status_code}")

        targets = {
            "pdf": (f"/statements/{STATEMENT_ID}.pdf", "application/pdf"),
            "html": (f"/statements/{STATEMENT_ID}", "text/html"),
        }
        bodies = {}
        for name, target in targets.items():
            for _ in range(args.warmup):
                timed_get(client, *target)
            bodies[name] = timed_get(client, *target)[1]
        times: dict[str, list[int]] = {name: [] for name in targets}
        for i in range(args.runs):
            for name in ("pdf", "html") if i % 2 else ("html", "pdf"):
                times[name].append(timed_get(client, *targets[name])[0])
        direct = []
        for _ in range(args.runs):
            start = time.perf_counter_ns()
            render_statement_pdf(services, "100234", STATEMENT_ID)
            direct.append(time.perf_counter_ns() - start)

    pages = len(PdfReader(io.BytesIO(bodies["pdf"])).pages)
    print(
        "Statement PDF against the HTML statement page, in-process (Flask test client, a "
        "signed-in patient, SQLite)"
    )
    print(f"python {sys.version.split()[0]} ({sys.executable})")
    print(
        f"statement {STATEMENT_ID}: {args.lines} line items; {args.runs} timed runs each after "
        f"{args.warmup} warm-up; the PDF has {pages} pages"
    )
    print()
    print(f"{'what':<40} {'p50 ms':>8} {'max ms':>8} {'KiB':>7}")
    rows = (
        ("GET /statements/<id>.pdf", times["pdf"], len(bodies["pdf"])),
        ("GET /statements/<id> (HTML)", times["html"], len(bodies["html"])),
        ("render_statement_pdf() alone", direct, len(bodies["pdf"])),
    )
    for label, values, size in rows:
        print(
            f"{label:<40} {percentile(values, 50) / 1e6:>8.1f} {max(values) / 1e6:>8.1f}"
            f" {size / 1024:>7.1f}"
        )
    ratio = percentile(times["pdf"], 50) / percentile(times["html"], 50)
    print(f"\nPDF / HTML p50: {ratio:.1f}x")


if __name__ == "__main__":
    main()
