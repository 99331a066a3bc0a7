"""Checkout outcomes that do not match what the portal asked for, and signed events that can
never be applied (issue 13, items 2 and 5), through POST /webhooks/stripe and the status page
GET /payments/<payment_id>, on both stores.

The portal runs with PORTAL_PAYMENTS=stripe against the Stripe stand-in on the Lopez account
(100234: $30.00 on S-2026-000100, $45.50 + $20.00 on S-2026-000123, $95.50 due).
"""

import dataclasses
import html as html_lib
import re
from datetime import date

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import EscalationKind
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account, statement
from tests.contract.conftest import ADAPTERS
from tests.integration.conftest import eml_files, read_eml, sign_in
from tests.integration.staff_helpers import make_staff, postings, records, staff_sign_in
from tests.integration.test_stripe_webhooks import open_stripe_checkout
from tests.stripe_fixtures import event, session_object, signed, stripe_settings

DUE = 3000 + 4550 + 2000
ENDPOINT = "/webhooks/stripe"


@pytest.fixture(params=sorted(ADAPTERS))
def portal(request, settings, clock, stub, tmp_path):
    """(services, app): the Stripe-backed portal on each store, with the Lopez statements."""
    store = ADAPTERS[request.param](request, tmp_path)
    services = build_services(stripe_settings(settings, stub), clock=clock)
    services = dataclasses.replace(services, store=store)
    account = lopez_account()
    import_statement(
        services,
        account,
        statement("S-2026-000100", (3000,), date(2026, 9, 1), date(2026, 9, 30)),
        notify=False,
    )
    import_statement(services, account, statement("S-2026-000123", (4550, 2000)), notify=False)
    app = create_app(services=services)
    app.config["TESTING"] = True
    return services, app


@pytest.fixture
def services(portal):
    return portal[0]


@pytest.fixture
def web(portal):
    return portal[1].test_client()


def open_payment(services, payment_id: str, amount_cents: int) -> str:
    """A card payment the patient started for `amount_cents`: pending, its checkout open."""
    payment = Payment(
        payment_id, "100234", amount_cents, PaymentStatus.PENDING, "card", "stripe", NOW
    )
    assert services.store.create_payment(payment)
    services.store.attach_checkout(payment_id, f"cs_test_{payment_id}")
    return payment_id


def deliver(client, envelope: dict):
    body, headers = signed(envelope)
    return client.post(ENDPOINT, data=body, headers=headers)


def completed(payment_id: str, amount_cents: int | None, event_id: str, **fields) -> dict:
    session = session_object(payment_id, amount_cents or 0, **fields)
    if amount_cents is None:
        del session["amount_total"]
    return event("checkout.session.completed", session, event_id)


def answer(response) -> tuple[int, str | None]:
    return response.status_code, (response.get_json(silent=True) or {}).get("status")


def payment(services, payment_id: str) -> Payment:
    found = services.store.get_payment(payment_id)
    assert found is not None, payment_id
    return found


def items(services, kind: EscalationKind) -> list:
    return [e for e in services.store.escalations(open_only=False) if e.kind is kind]


def money_state(services, outbox) -> tuple:
    """Everything about money a notification could change: ledger, payments, e-mails."""
    found = records(services)
    return (
        sorted(
            (e.kind, e.amount_cents, e.statement_id or "", e.payment_id or "")
            for e in found.entries
        ),
        [
            (p.payment_id, p.status, p.amount_cents, p.refunded_cents, p.posted_at)
            for p in found.payments
        ],
        sorted(path.name for path in eml_files(outbox)),
    )


def receipts(outbox) -> int:
    return sum(read_eml(p)["X-Portal-Message-Kind"] == "receipt" for p in eml_files(outbox))


def page_text(response) -> str:
    return " ".join(
        html_lib.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split()
    )


# -- item 2: the card charged another currency or another amount ------------------------------


def test_a_checkout_paid_in_another_currency_is_not_posted_and_goes_to_a_person(
    web, services, outbox
):
    pid = open_payment(services, "pay_test_10", 1000)
    envelope = completed(pid, 1000, "evt_test_jpy", currency="jpy")

    assert answer(deliver(web, envelope)) == (200, "processed")

    found = payment(services, pid)
    assert found.posted_at is None
    assert found.status is not PaymentStatus.SUCCEEDED
    assert postings(services, pid) == []
    assert balances(records(services).entries).due_cents == DUE
    assert receipts(outbox) == 0
    [item] = items(services, EscalationKind.PAYMENT_MISMATCH)
    assert "evt_test_jpy" in item.reason
    assert "JPY" in item.reason and "1000" in item.reason
    assert pid in item.reason

    page = web.get(f"/payments/{pid}")
    assert page.status_code == 200
    shown = page_text(page)
    assert "Thank you" not in shown
    assert "You asked to pay $10.00." in shown
    assert "charged in another currency (JPY)" in shown
    assert "nothing is posted to your account yet" in shown
    assert "billing office has been told and will contact you" in shown

    # A copy, or the same outcome under another id, changes nothing and opens nothing more.
    before = money_state(services, outbox)
    assert answer(deliver(web, envelope)) == (200, "duplicate")
    assert answer(deliver(web, completed(pid, 1000, "evt_test_jpy2", currency="jpy")))[0] == 200
    assert money_state(services, outbox) == before
    assert len(items(services, EscalationKind.PAYMENT_MISMATCH)) == 1


@pytest.mark.parametrize("taken", [800, 1200])
def test_an_amount_taken_other_than_asked_is_posted_as_taken_escalated_and_shown(
    web, services, stub, outbox, taken
):
    sign_in(web)
    pid, session_id = open_stripe_checkout(web, stub, "10.00")
    assert payment(services, pid).requested_cents == 1000  # the store keeps what was asked

    response = deliver(web, completed(pid, taken, "evt_test_other", id=session_id))

    assert answer(response) == (200, "processed")
    found = payment(services, pid)
    assert (found.status, found.amount_cents, found.requested_cents) == (
        PaymentStatus.SUCCEEDED,
        taken,
        1000,
    )
    assert sum(cents for _, cents in postings(services, pid)) == taken
    assert balances(records(services).entries).due_cents == DUE - taken
    assert receipts(outbox) == 1
    [item] = items(services, EscalationKind.PAYMENT_MISMATCH)
    assert "evt_test_other" in item.reason
    assert "$10.00" in item.reason and f"${taken / 100:.2f}" in item.reason

    shown = page_text(web.get(f"/payments/{pid}"))
    assert (
        f"You asked to pay $10.00; your card was charged ${taken / 100:.2f}, "
        f"and ${taken / 100:.2f} is posted to your account." in shown
    )
    assert "billing office has been told and will contact you" in shown

    # The notification again under another id: posted once, one item.
    before = money_state(services, outbox)
    deliver(web, completed(pid, taken, "evt_test_other2", id=session_id))
    assert money_state(services, outbox) == before
    assert len(items(services, EscalationKind.PAYMENT_MISMATCH)) == 1

    # The console lists the item under its kind.
    staff = web.application.test_client()
    make_staff(services, "alice", "associate")
    staff_sign_in(staff, services)
    queue = page_text(staff.get("/staff/escalations"))
    assert "Card charged other than asked" in queue
    assert "evt_test_other" in queue


def test_an_amount_taken_as_asked_shows_no_difference(web, services, outbox):
    pid = open_payment(services, "pay_test_10", 1000)

    assert answer(deliver(web, completed(pid, 1000, "evt_test_same"))) == (200, "processed")

    assert payment(services, pid).amount_cents == 1000
    assert items(services, EscalationKind.PAYMENT_MISMATCH) == []
    shown = page_text(web.get(f"/payments/{pid}"))
    assert "Thank you, your payment was received" in shown
    assert "You asked to pay" not in shown


# -- item 5: signed events that can never be applied --------------------------------------------


def test_a_completed_checkout_without_an_amount_is_acknowledged_and_escalated(
    web, services, outbox
):
    pid = open_payment(services, "pay_test_40", 4000)
    before = money_state(services, outbox)
    envelope = completed(pid, None, "evt_test_no_amount")

    assert answer(deliver(web, envelope)) == (200, "escalated")

    assert money_state(services, outbox) == before
    [item] = items(services, EscalationKind.UNPOSTABLE_EVENT)
    assert "evt_test_no_amount" in item.reason
    assert pid in item.reason
    assert answer(deliver(web, envelope)) == (200, "duplicate")
    assert len(items(services, EscalationKind.UNPOSTABLE_EVENT)) == 1
    assert money_state(services, outbox) == before


def test_a_checkout_with_a_payment_intent_posted_to_another_payment_is_escalated(
    web, services, outbox
):
    first = open_payment(services, "pay_test_first", 4000)
    second = open_payment(services, "pay_test_second", 2000)
    assert answer(deliver(web, completed(first, 4000, "evt_test_first"))) == (200, "processed")
    before = money_state(services, outbox)

    reused = completed(second, 2000, "evt_test_reused", payment_intent=f"pi_{first}")
    assert answer(deliver(web, reused)) == (200, "escalated")

    assert money_state(services, outbox) == before
    assert payment(services, second).posted_at is None
    assert payment(services, first).gateway_reference == f"pi_{first}"
    [item] = items(services, EscalationKind.UNPOSTABLE_EVENT)
    assert "evt_test_reused" in item.reason
    assert f"pi_{first}" in item.reason and first in item.reason
    assert answer(deliver(web, reused)) == (200, "duplicate")
    assert len(items(services, EscalationKind.UNPOSTABLE_EVENT)) == 1


def test_the_return_page_of_a_paid_checkout_without_an_amount_does_not_fail(
    web, services, stub, outbox
):
    sign_in(web)
    pid, session_id = open_stripe_checkout(web, stub, "40.00")
    stub.complete(session_id)
    del stub.sessions[session_id]["amount_total"]

    page = web.get(f"/payments/{pid}?session_id={session_id}")

    assert page.status_code == 200
    assert "Waiting for your payment to be confirmed" in page_text(page)
    assert payment(services, pid).posted_at is None
    assert postings(services, pid) == []
    assert [e for e in records(services).entries if e.kind is EntryKind.PATIENT_PAYMENT] == []
