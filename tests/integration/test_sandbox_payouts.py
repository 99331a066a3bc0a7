"""The sandbox card processor's daily payouts (`portal payouts sandbox`, issue 21): one
payout a practice day of the card payments posted that day, each less a simulated fee,
kept reconciled through the webhook's own code; running it again makes nothing new."""

from datetime import UTC, date, datetime
from decimal import ROUND_HALF_UP, Decimal

import pytest
from click.testing import CliRunner

from portal.bootstrap import build_services
from portal.cli import cli
from portal.config import Settings
from portal.domain.payments import Payment, PaymentStatus
from portal.services import ledger as posting
from portal.services.payouts import NotSandbox, sandbox_payouts
from portal.services.statements import import_statement
from tests.conftest import lopez_account, statement
from tests.integration.staff_helpers import make_staff, staff_sign_in

TODAY = date(2026, 11, 28)
# (payment, cents, day posted, hour UTC): the 27th's arrive after today; 10:00 on the 21st
# is still the 21st in New York (5:00), 03:00 UTC on the 23rd is the 22nd there.
PAID = [
    ("pay_1", 10_000, 21, 15),
    ("pay_2", 4_550, 22, 15),
    ("pay_3", 1_999, 23, 3),
    ("pay_4", 700, 26, 20),
    ("pay_5", 2_500, 27, 15),
]


def seed(services, paid=PAID, gateway: str = "sandbox") -> None:
    import_statement(services, lopez_account(), statement("S-P-1", (50_000,)), notify=False)
    for payment_id, cents, day, hour in paid:
        at = datetime(2026, 11, day, hour, tzinfo=UTC)
        payment = Payment(payment_id, "100234", cents, PaymentStatus.PENDING, "card", gateway, at)
        services.store.create_payment(payment)
        posting.post_payment(services.store, payment_id, f"sbx_{payment_id}", cents, at)


def fee(cents: int) -> int:
    """2.9% + 30 cents, computed apart from the portal's code."""
    return int((Decimal(cents) * Decimal("0.029")).quantize(Decimal(1), ROUND_HALF_UP)) + 30


def test_each_day_is_paid_out_once_less_its_fees_and_kept_reconciled(services):
    seed(services)

    kept = sandbox_payouts(services, TODAY)

    assert [(r.payout_id, r.payout.arrival_date) for r in kept] == [
        ("po_sandbox_20261121", date(2026, 11, 23)),
        ("po_sandbox_20261122", date(2026, 11, 24)),
        ("po_sandbox_20261126", date(2026, 11, 28)),
    ]
    days = {"po_sandbox_20261121": ["pay_1"], "po_sandbox_20261122": ["pay_2", "pay_3"]}
    days["po_sandbox_20261126"] = ["pay_4"]
    cents = {p: c for p, c, _, _ in PAID}
    for record in kept:
        payments = days[record.payout_id]
        assert record.reconciled and record.report.unmatched == ()
        assert record.report.fees_by_payment == {p: fee(cents[p]) for p in payments}
        assert record.report.gross_cents == sum(cents[p] for p in payments)
        assert record.payout.amount_cents == sum(cents[p] - fee(cents[p]) for p in payments)
        assert record.report.net_cents == record.payout.amount_cents
    assert fee(10_000) == 320 and fee(1_999) == 88

    assert sandbox_payouts(services, TODAY) == []
    assert [services.store.get_payout(r.payout_id) for r in kept] == kept
    # The next day pays out the 27th's payment, alone.
    (later,) = sandbox_payouts(services, date(2026, 11, 29))
    assert (later.payout_id, later.references) == ("po_sandbox_20261127", ("sbx_pay_5",))


def test_the_payouts_page_shows_the_sandbox_payouts_and_what_is_not_paid_out_yet(services, client):
    seed(services)
    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")
    period = "/staff/reports/payouts?from=2026-11-20&to=2026-11-28&format=csv"

    before = client.get(period).get_data(as_text=True)
    sandbox_payouts(services, TODAY)
    after = client.get(period).get_data(as_text=True)
    page = client.get(period.removesuffix("&format=csv")).get_data(as_text=True)

    assert "not paid out,sbx_pay_1" in before and "not paid out,sbx_pay_4" not in before
    assert "not paid out" not in after
    assert "po_sandbox_20261121,2026-11-23,100.00" in after
    assert 'data-testid="payout-po_sandbox_20261126"' in page
    assert 'data-testid="no-payouts"' in page and "portal payouts sandbox" in page


def test_only_the_sandbox_is_paid_out_by_the_portal(stripe_services):
    with pytest.raises(NotSandbox):
        sandbox_payouts(stripe_services, TODAY)


def test_the_command_pays_out_once(tmp_path):
    env = {
        "PORTAL_SQLITE_PATH": str(tmp_path / "cli.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
    }
    runner = CliRunner()
    assert runner.invoke(cli, ["migrate"], env=env).exit_code == 0
    seed(build_services(Settings.from_env(env)), PAID[:2])

    first = runner.invoke(cli, ["payouts", "sandbox", "--as-of", "2026-11-28"], env=env)
    again = runner.invoke(cli, ["payouts", "sandbox", "--as-of", "2026-11-28"], env=env)

    assert first.exit_code == again.exit_code == 0, first.output
    assert "po_sandbox_20261121 arrives 2026-11-23: 1 payments, fees 320 cents" in first.output
    assert first.output.splitlines()[-1] == "payouts=2"
    assert again.output.splitlines() == ["payouts=0"]
