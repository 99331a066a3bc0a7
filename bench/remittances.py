"""Importing an 835 remittance (`import_remittances`): a file of 2,000 claims (one payment,
one service line each, every claim matching a statement line of its own account) posted
into a fresh SQLite store, against reading and checking the same file alone (`read_835`:
pyx12's validation and the balancing rules) in the same run. Claims per second for both,
and the share of the import that is reading.

    .venv/bin/python bench/remittances.py [--claims 2000]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def statements(claims: int) -> list[dict]:
    return [
        {
            "statement_id": f"S-R-{n:05d}",
            "account_number": f"7{n:05d}",
            "statement_date": "2026-11-01",
            "due_date": "2026-11-30",
            "guarantor": {
                "first_name": "Pat",
                "last_name": f"Bench{n}",
                "date_of_birth": "1980-01-15",
                "email": "",
                "phone": "",
                "preferred_language": "en",
            },
            "patients": [
                {
                    "patient_id": "P1",
                    "first_name": "Pat",
                    "last_name": f"Bench{n}",
                    "date_of_birth": "1980-01-15",
                }
            ],
            "lines": [
                {
                    "line_id": "1",
                    "patient_id": "P1",
                    "service_date": "2026-10-14",
                    "provider": "Dr. Chen",
                    "code_system": "CPT",
                    "code": "99213",
                    "description": "Office visit, established patient",
                    "claim_id": f"CB-{n:05d}",
                    "diagnosis_codes": ["Z00.00"],
                    "charge_cents": 18500,
                    "insurance_paid_cents": 0,
                    "adjustment_cents": 0,
                    "patient_responsibility_cents": 18500,
                }
            ],
        }
        for n in range(claims)
    ]


def remittance(claims: int) -> str:
    """One transaction paying every claim $120.00 of $185.00: CO 45 $35.00, PR 2 $30.00."""
    body = [
        "ST*835*0001",
        f"BPR*I*{120 * claims}*C*ACH*CCP*01*999999999*DA*123456*1512345678**01*999988880*DA"
        "*98765*20261201",
        "TRN*1*EFT-BENCH*1512345678",
        "DTM*405*20261201",
        "N1*PR*ACME HEALTH PLAN",
        "N3*100 MAIN ST",
        "N4*ALBANY*NY*12207",
        "PER*BL*PROVIDER SERVICES*TE*5555550100",
        "N1*PE*DEMO FAMILY PRACTICE*XX*1234567893",
        "LX*1",
    ]
    for n in range(claims):
        body += [
            f"CLP*CB-{n:05d}*1*185*120*30*12*PAYER-{n}*11*1",
            "NM1*QC*1*BENCH*PAT****MI*W1234567",
            "SVC*HC:99213*185*120**1",
            "DTM*472*20261014",
            "CAS*CO*45*35",
            "CAS*PR*2*30",
        ]
    body.append(f"SE*{len(body) + 1}*0001")
    isa = (
        "ISA*00*          *00*          *ZZ*ACMEHEALTH     *ZZ*DEMOPRACTICE   "
        "*261201*1200*^*00501*000000901*0*P*:"
    )
    segments = [isa, "GS*HP*ACMEHEALTH*DEMOPRACTICE*20261201*1200*901*X*005010X221A1"]
    segments += [*body, "GE*1*901", "IEA*1*000000901"]
    return "~\n".join(segments) + "~\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    claims = parser.parse_args().claims

    from portal.bootstrap import build_services
    from portal.config import Settings
    from portal.services.imports import import_records
    from portal.services.remittance_reader import read_835
    from portal.services.remittances import import_remittances

    text = remittance(claims)
    start = time.perf_counter()
    [read] = read_835(text).remittances
    parsing = time.perf_counter() - start
    assert len(read.claims) == claims

    with tempfile.TemporaryDirectory() as folder:
        settings = Settings.from_env(
            {
                "PORTAL_SQLITE_PATH": str(Path(folder) / "bench.sqlite3"),
                "PORTAL_OUTBOX_DIR": str(Path(folder) / "outbox"),
                "PORTAL_SECRET_KEY": "bench-secret-key-0123456789abcdef",
            }
        )
        services = build_services(settings)
        services.store.migrate()
        loaded = import_records(services, statements(claims), "bench", notify=False)
        assert loaded.imported == claims, loaded.rejected[:3]
        start = time.perf_counter()
        summary = import_remittances(services, text, "bench")
        importing = time.perf_counter() - start
        [t] = summary.transactions
        assert (t.outcome, t.posted_cents, t.work_items) == ("imported", 12000 * claims, 0)

    print(f"835 file: {claims:,} claims, {len(text) / 1e6:.2f} MB")
    print(f"reading and checking alone: {parsing:.2f} s, {claims / parsing:,.0f} claims/s")
    print(f"import (read, match, post):  {importing:.2f} s, {claims / importing:,.0f} claims/s")
    print(f"reading is {parsing / importing:.0%} of the import")


if __name__ == "__main__":
    main()
