"""The sweep of unfinished claims, run by the reminder run: a receipt whose send failed, a
statement notice and a reminder whose sender died after claiming are sent once, later.

The webhook goes through the Flask app with PORTAL_PAYMENTS=stripe (tests/stripe_stub.py);
the failing mail server is a real SmtpMailer pointed at a port nobody listens on.
"""

from dataclasses import replace
from datetime import date, timedelta

from portal import create_app
from portal.adapters.smtp_mailer import SmtpMailer
from portal.domain.payments import PaymentStatus
from portal.services.claims import claim_payload
from portal.services.reminders import run_reminders
from portal.services.statements import import_statement
from tests.aws import free_port
from tests.conftest import NOW, lopez_account, statement
from tests.integration.conftest import eml_files, read_eml
from tests.integration.test_stripe_webhooks import completed, deliver, open_payment, status_of


def kinds(outbox) -> list[str]:
    return sorted(read_eml(path)["X-Portal-Message-Kind"] for path in eml_files(outbox))


def mail_down(services):
    """The same services, their mail server not answering (connection refused)."""
    mailer = SmtpMailer(
        "127.0.0.1", free_port(), "", "", False, "billing@example.org", timeout=2, attempts=1
    )
    return replace(services, mailer=mailer)


def test_a_receipt_whose_send_failed_is_sent_once_by_the_sweep(
    stripe_services, stub, clock, outbox
):
    account = lopez_account()
    import_statement(stripe_services, account, statement("S-2026-000123", (4550,)), notify=False)
    open_payment(stripe_services, "pay_test_40", 4000)
    down = mail_down(stripe_services)
    web = create_app(services=down).test_client()
    envelope = completed("pay_test_40", event_id="evt_test_mail_down")

    # Posted, but the receipt did not go: Stripe must come again (the event itself was marked
    # done with the posting; its receipt's claim is left released, for the sweep).
    assert status_of(deliver(web, envelope)) == (503, "retry")
    assert stripe_services.store.get_payment("pay_test_40").status is PaymentStatus.SUCCEEDED
    assert kinds(outbox) == []

    clock.advance(minutes=1)
    first = run_reminders(stripe_services, clock.now())
    again = run_reminders(stripe_services, clock.now())

    assert kinds(outbox) == ["receipt"]
    assert (first.swept, first.unfinished) == (1, 0)  # the receipt
    assert (again.swept, again.unfinished) == (0, 0)
    # Stripe's next delivery is a duplicate: nothing more is sent.
    web = create_app(services=stripe_services).test_client()
    assert status_of(deliver(web, envelope)) == (200, "duplicate")
    assert kinds(outbox) == ["receipt"]


def test_a_statement_notice_and_a_reminder_whose_sender_died_are_sent_once(services, clock, outbox):
    account = lopez_account()
    due = date(2026, 11, 28) - timedelta(days=15)
    import_statement(
        services,
        account,
        statement("S-2026-000100", (3000,), due - timedelta(30), due),
        notify=False,
    )
    import_statement(services, account, statement("S-2026-000123", (4550,)), notify=False)
    store = services.store
    # Both senders claimed, then died before sending.
    died = NOW - timedelta(minutes=30)
    store.claim(
        "statement", "S-2026-000123", died, payload=claim_payload(statement_id="S-2026-000123")
    )
    key = "100234:S-2026-000100:reminder-15"
    store.claim(
        "reminder",
        key,
        died,
        payload=claim_payload(
            account_number="100234", statement_id="S-2026-000100", step="reminder-15"
        ),
    )
    assert [c.kind for c in store.unfinished_claims(NOW)] == ["statement", "reminder"]

    first = run_reminders(services, NOW)
    again = run_reminders(services, NOW + timedelta(days=1))

    assert kinds(outbox) == ["reminder", "statement"]
    assert first.swept + first.sent == 2 and first.unfinished == 0
    assert again.swept == 0 and again.sent == 0
    assert store.claim_completed("statement", "S-2026-000123") and store.claim_completed(
        "reminder", key
    )
    assert store.unfinished_claims(NOW + timedelta(days=2)) == []


def test_a_reminder_no_longer_due_is_dropped_not_sent(services, clock, outbox):
    account = lopez_account()
    due = date(2026, 11, 28) - timedelta(days=15)
    import_statement(
        services,
        account,
        statement("S-2026-000100", (3000,), due - timedelta(30), due),
        notify=False,
    )
    services.store.opt_out_of_reminders("100234", NOW - timedelta(hours=1))
    key = "100234:S-2026-000100:reminder-15"
    fields = dict(account_number="100234", statement_id="S-2026-000100", step="reminder-15")
    services.store.claim("reminder", key, NOW - timedelta(hours=2), payload=claim_payload(**fields))

    summary = run_reminders(services, NOW)

    assert kinds(outbox) == []
    assert (summary.swept, summary.unfinished) == (1, 0)
    assert services.store.unfinished_claims(NOW) == []
    assert not services.store.claim_completed("reminder", key)
