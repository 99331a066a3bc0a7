"""Building one outgoing e-mail: `OutgoingMessage.to_bytes` (the MIME bytes written
directly, portal/ports/mime.py) against the email package's build it replaced,
`OutgoingMessage.to_email(sender).as_bytes()` (an EmailMessage under the default policy),
as baseline in the same run.

The message is a typical statement notice ("your statement is ready", $65.50 due) rendered
by the real templates through portal.services.notices.statement_notice, built `--builds`
times (300) per timing, the best of `--repeat` (5) timings kept. Two senders: a bare
address, and a display name that is not ASCII ("Clínica Señora <billing@example.org>",
which to_bytes writes as an RFC 2047 encoded word).

    .venv/bin/python bench/mail_build.py [--builds N] [--repeat N]

Measured on the shared 2-CPU development machine (Python 3.11.7, other jobs running, so the
ratio is the figure to read), 5 x 300 builds:
  billing@example.org                   to_bytes 0.09-0.17 ms, EmailMessage 0.97-1.86 ms (~11x)
  Clínica Señora <billing@example.org>  to_bytes 0.12 ms, EmailMessage 2.40 ms (20x)
and in bench/import_csv.py's row 3 (400 statements with their notices, run as
`bench/import_csv.py --child notices DIR 1`, three runs each): 3.8-4.0 s with the
EmailMessage build, 1.5-2.0 s with to_bytes (0.2-0.6 s without notices).
"""

import argparse
import sys
import tempfile
import timeit
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from portal.bootstrap import build_services  # noqa: E402
from portal.config import Settings  # noqa: E402
from portal.domain.accounts import Account, Guarantor  # noqa: E402
from portal.domain.statements import Statement  # noqa: E402
from portal.ports.mail import OutgoingMessage  # noqa: E402
from portal.services.notices import statement_notice  # noqa: E402

SENDERS = ("billing@example.org", "Clínica Señora <billing@example.org>")


def typical_notice(folder: Path) -> OutgoingMessage:
    settings = Settings(
        sqlite_path=str(folder / "portal.sqlite3"),
        outbox_dir=str(folder / "outbox"),
        mail_from="billing@example.org",
    )
    services = build_services(settings)
    account = Account(
        account_number="100234",
        guarantor=Guarantor("Maria", "Lopez", date(1984, 3, 12), email="maria@example.com"),
        patients=(),
    )
    statement = Statement(
        statement_id="S-2026-000123",
        account_number="100234",
        statement_date=date(2026, 11, 1),
        due_date=date(2026, 11, 30),
        lines=(),  # the notice names the statement and the amount, never its lines
    )
    message = statement_notice(services, account, statement, 6550)
    assert message is not None
    return message


def best_ms(build, builds: int, repeat: int) -> float:
    return min(timeit.repeat(build, number=builds, repeat=repeat)) / builds * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--builds", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        message = typical_notice(Path(scratch))
    print(f"Building a statement notice, best of {args.repeat} x {args.builds} builds:")
    for sender in SENDERS:
        fast = best_ms(lambda s=sender: message.to_bytes(s), args.builds, args.repeat)
        baseline = best_ms(
            lambda s=sender: message.to_email(s).as_bytes(), args.builds, args.repeat
        )
        print(
            f"  {sender:40} to_bytes {fast:.3f} ms, EmailMessage (baseline) {baseline:.3f} ms "
            f"({baseline / fast:.1f}x faster)"
        )


if __name__ == "__main__":
    main()
