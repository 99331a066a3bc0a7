"""A payment acknowledged is a payment kept (issue 15): a portal process on SQLite answers
Stripe's signed webhook 200 and is killed (SIGKILL) at once, its connection still open and
its commits still in the WAL; the portal restarted on the same file has the posting, once,
and the receipt went once (Stripe's later copy of the event, and the sweep, add nothing)."""

import os
import signal
from datetime import timedelta

from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.domain.ledger import EntryKind
from portal.domain.payments import PaymentStatus
from portal.services.statements import import_statement
from portal.services.sweep import sweep_claims
from tests.conftest import NOW, lopez_account, statement
from tests.integration.conftest import eml_files, read_eml
from tests.integration.test_killed_delivery import deliver, portal_process
from tests.integration.test_stripe_webhooks import completed, open_payment
from tests.stripe_fixtures import WEBHOOK_SECRET

PAYMENTS = ("pay_test_1", "pay_test_2", "pay_test_3")


def receipts(outbox) -> list[str]:
    return [
        message["To"]
        for message in map(read_eml, eml_files(outbox))
        if message["X-Portal-Message-Kind"] == "receipt"
    ]


def test_payments_acknowledged_then_killed_are_posted_once_after_a_restart(
    stripe_services, settings, stub, tmp_path, outbox
):
    import_statement(
        stripe_services, lopez_account(), statement("S-2026-000123", (4550, 2000)), notify=False
    )
    for payment_id in PAYMENTS:
        open_payment(stripe_services, payment_id, 1500)
    stripe_services.store.close()  # the portal process is the only one with the file open
    clock_file = tmp_path / "clock"
    clock_file.write_text(NOW.isoformat())
    env = {
        "PORTAL_SQLITE_PATH": str(settings.sqlite_path),
        "PORTAL_OUTBOX_DIR": str(outbox),
        "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "PORTAL_PAYMENTS": "stripe",
        "STRIPE_SECRET_KEY": "sk_test_portal",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stub.base,
        "PORTAL_TEST_CLOCK_FILE": str(clock_file),
    }
    events = {p: completed(p, 1500, event_id=f"evt_test_{p}") for p in PAYMENTS}

    with portal_process(env) as (process, port):
        for payment_id in PAYMENTS:
            assert deliver(port, events[payment_id]) == (200, "processed")
        os.kill(process.pid, signal.SIGKILL)  # right after the last acknowledgement
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
    assert os.path.getsize(f"{settings.sqlite_path}-wal") > 0  # never checkpointed

    with portal_process(env) as (_, port):  # the restart; Stripe delivers a copy again
        for payment_id in PAYMENTS:
            assert deliver(port, events[payment_id]) == (200, "duplicate")

    # A day on, every claim left unfinished is the sweep's to finish.
    restarted = build_services(stripe_services.settings, clock=FixedClock(NOW + timedelta(days=1)))
    for payment_id in PAYMENTS:
        payment = restarted.store.get_payment(payment_id)
        assert payment is not None and payment.status is PaymentStatus.SUCCEEDED
    entries = restarted.store.account_records("100234").entries
    posted = [
        (e.payment_id, e.amount_cents) for e in entries if e.kind is EntryKind.PATIENT_PAYMENT
    ]
    assert sorted(posted) == [(p, -1500) for p in PAYMENTS]
    sweep_claims(restarted, (NOW + timedelta(days=1)).date())
    assert restarted.store.unfinished_claims(NOW + timedelta(days=2)) == []
    assert receipts(outbox) == ["maria@example.com"] * len(PAYMENTS)
    restarted.store.close()
