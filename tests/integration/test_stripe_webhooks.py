"""POST /webhooks/stripe and the checkout return page, end to end through the Flask client.

The portal runs with PORTAL_PAYMENTS=stripe against the Stripe stand-in (tests/stripe_stub.py)
on a SQLite file, with the Lopez account (100234: $30.00 on S-2026-000100, $45.50 + $20.00
on S-2026-000123, $95.50 due). Notifications are signed as Stripe signs them, with the real
time: the stripe library checks the signature's age against time.time(), not the clock.
"""

import time
import urllib.request
from datetime import date

import pytest

from portal.adapters.stripe_gateway import UNAVAILABLE
from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import EscalationKind
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account, statement
from tests.integration.conftest import (
    balance_due,
    eml_files,
    path_of,
    read_eml,
    sign_in,
    start_payment,
)
from tests.integration.staff_helpers import (
    by_testid,
    make_staff,
    postings,
    records,
    staff_sign_in,
    statement_balances,
)
from tests.stripe_fixtures import (
    WEBHOOK_SECRET,
    charge_object,
    dispute_object,
    event,
    register_intent,
    session_object,
    signed,
)
from tests.stripe_stub import sign

DUE = 3000 + 4550 + 2000
ENDPOINT = "/webhooks/stripe"


@pytest.fixture
def lopez_stripe(stripe_services):
    """The Lopez statements (as the `lopez` fixture has them) in the Stripe-backed store."""
    account = lopez_account()
    import_statement(
        stripe_services,
        account,
        statement("S-2026-000100", (3000,), date(2026, 9, 1), date(2026, 9, 30)),
    )
    import_statement(stripe_services, account, statement("S-2026-000123", (4550, 2000)))
    return account


@pytest.fixture
def web(stripe_app, lopez_stripe):
    return stripe_app.test_client()


@pytest.fixture
def pending(stripe_services, lopez_stripe, stub) -> str:
    """A $40.00 card payment the patient has started: pending, its checkout open (and its
    PaymentIntent known to Stripe, for the events that name only that)."""
    register_intent(stub, "pay_test_40")
    return open_payment(stripe_services, "pay_test_40", 4000)


def open_payment(services, payment_id: str, amount_cents: int) -> str:
    payment = Payment(
        payment_id, "100234", amount_cents, PaymentStatus.PENDING, "card", "stripe", NOW
    )
    assert services.store.create_payment(payment)
    services.store.attach_checkout(payment_id, f"cs_test_{payment_id}")
    return payment_id


# -- helpers ----------------------------------------------------------------------------------


def deliver(client, envelope: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    body, headers = signed(envelope, secret, timestamp)
    return client.post(ENDPOINT, data=body, headers=headers)


def completed(payment_id: str, amount_cents: int = 4000, event_id: str | None = None, **fields):
    return event(
        "checkout.session.completed", session_object(payment_id, amount_cents, **fields), event_id
    )


def refunded(payment_id: str, refunded_cents: int, amount_cents: int = 4000, **fields):
    """charge.refunded: `refunded_cents` is everything refunded on the charge so far."""
    charge = {**charge_object(payment_id, amount_cents, refunded_cents), **fields}
    return event("charge.refunded", charge)


def dispute(kind: str, payment_id: str, status: str, amount_cents: int = 4000):
    return event(f"charge.dispute.{kind}", dispute_object(payment_id, amount_cents, status))


def status_of(response) -> tuple[int, str | None]:
    data = response.get_json(silent=True) or {}
    return response.status_code, data.get("status")


def payment(services, payment_id: str) -> Payment:
    found = services.store.get_payment(payment_id)
    assert found is not None, payment_id
    return found


def receipts(outbox) -> list[str]:
    """The receipts in the outbox, by their X-Portal-Message-Kind header (importing a
    statement may e-mail the guarantor a statement notice: not counted here)."""
    kinds = [read_eml(path)["X-Portal-Message-Kind"] for path in eml_files(outbox)]
    return [kind for kind in kinds if kind == "receipt"]


def entries_of(services, kind: EntryKind, payment_id: str) -> list[int]:
    return [
        e.amount_cents
        for e in records(services).entries
        if e.kind is kind and e.payment_id == payment_id
    ]


def due(services) -> int:
    return balances(records(services).entries).due_cents


def escalations(services, kind: EscalationKind) -> list:
    return [e for e in services.store.escalations(open_only=False) if e.kind is kind]


def snapshot(services, outbox) -> tuple:
    """Everything a notification could change: ledger, payments, queue, outbox."""
    found = records(services)
    return (
        [(e.kind, e.amount_cents, e.statement_id, e.payment_id) for e in found.entries],
        [
            (p.payment_id, p.status, p.amount_cents, p.refunded_cents, p.posted_at)
            for p in found.payments
        ],
        [(e.key, e.kind, e.resolved_at) for e in services.store.escalations(open_only=False)],
        sorted(path.name for path in eml_files(outbox)),
    )


def post(client, services, payment_id: str, amount_cents: int = 4000) -> None:
    """Stripe reports the payment paid; it is posted."""
    assert status_of(deliver(client, completed(payment_id, amount_cents))) == (200, "processed")
    assert payment(services, payment_id).status is PaymentStatus.SUCCEEDED


def open_stripe_checkout(client, stub, amount: str) -> tuple[str, str]:
    """POST /payments as the signed-in patient; (payment id, Checkout Session id)."""
    response = start_payment(client, amount)
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(f"{stub.base}/pay/cs_test_"), location
    with urllib.request.urlopen(location, timeout=10) as page:  # the fake hosted page
        assert f"${amount}".encode() in page.read()
    session_id = path_of(location).rsplit("/", 1)[1]
    return stub.sessions[session_id]["client_reference_id"], session_id


# -- a payment reported paid --------------------------------------------------------------------


def test_a_signed_completed_event_posts_the_payment_once_and_sends_one_receipt(
    web, stripe_services, pending, outbox
):
    response = deliver(web, completed(pending))

    assert response.status_code == 200
    assert response.get_json() == {"status": "processed"}
    found = payment(stripe_services, pending)
    assert (found.status, found.gateway_reference) == (PaymentStatus.SUCCEEDED, f"pi_{pending}")
    assert postings(stripe_services, pending) == [("S-2026-000100", 3000), ("S-2026-000123", 1000)]
    assert due(stripe_services) == DUE - 4000
    assert receipts(outbox) == ["receipt"]
    assert response.headers["Cache-Control"] == "no-store"


def test_the_same_event_delivered_again_is_a_duplicate_and_changes_nothing(
    web, stripe_services, pending, outbox
):
    envelope = completed(pending, event_id="evt_test_once")
    assert status_of(deliver(web, envelope)) == (200, "processed")
    before = snapshot(stripe_services, outbox)

    again = deliver(web, envelope)

    assert again.status_code == 200
    assert again.get_json() == {"status": "duplicate"}
    assert snapshot(stripe_services, outbox) == before


def test_the_same_outcome_under_another_event_id_still_posts_once(
    web, stripe_services, pending, outbox
):
    assert status_of(deliver(web, completed(pending, event_id="evt_test_a"))) == (200, "processed")
    before = snapshot(stripe_services, outbox)

    other = deliver(web, completed(pending, event_id="evt_test_b"))

    assert other.status_code == 200
    assert snapshot(stripe_services, outbox) == before
    assert len(postings(stripe_services, pending)) == 2  # the two statements, posted once
    assert receipts(outbox) == ["receipt"]


# -- notifications that are not provably Stripe's ----------------------------------------------


@pytest.mark.parametrize(
    "case", ["tampered body", "wrong secret", "missing header", "301 seconds old"]
)
def test_a_notification_not_provably_from_stripe_is_refused_and_writes_nothing(
    web, stripe_services, pending, outbox, case
):
    envelope = completed(pending, event_id="evt_test_forged")
    body, headers = signed(envelope)
    if case == "tampered body":
        body = body.replace(b'"amount_total": 4000', b'"amount_total": 9550')
        assert b"9550" in body
    elif case == "wrong secret":
        body, headers = signed(envelope, secret="whsec_someone_else")
    elif case == "missing header":
        del headers["Stripe-Signature"]
    elif case == "301 seconds old":
        body, headers = signed(envelope, timestamp=int(time.time()) - 301)
    before = snapshot(stripe_services, outbox)

    response = web.post(ENDPOINT, data=body, headers=headers)

    assert response.status_code == 400
    assert "error" in response.get_json()
    assert snapshot(stripe_services, outbox) == before
    assert payment(stripe_services, pending).status is PaymentStatus.PENDING
    assert receipts(outbox) == []
    # Not even the event id was recorded: the genuine delivery is still applied.
    assert status_of(deliver(web, envelope)) == (200, "processed")


def test_a_correctly_signed_body_that_is_not_json_is_refused(web, stripe_services, pending, outbox):
    body = b"this is not json"
    before = snapshot(stripe_services, outbox)

    response = web.post(
        ENDPOINT,
        data=body,
        headers={"Stripe-Signature": sign(body, WEBHOOK_SECRET), "Content-Type": "text/plain"},
    )

    assert response.status_code == 400
    assert snapshot(stripe_services, outbox) == before


def test_an_event_for_a_payment_the_portal_does_not_have_is_acknowledged_and_ignored(
    web, stripe_services, pending, outbox
):
    before = snapshot(stripe_services, outbox)

    response = deliver(web, completed("pay_someone_elses", 4000))

    assert 200 <= response.status_code < 300
    assert response.get_json() == {"status": "ignored"}
    assert snapshot(stripe_services, outbox) == before


def test_an_event_type_the_portal_does_not_use_is_acknowledged_and_ignored(
    web, stripe_services, pending, outbox
):
    before = snapshot(stripe_services, outbox)

    response = deliver(web, event("customer.created", {"id": "cus_test_1", "object": "customer"}))

    assert 200 <= response.status_code < 300
    assert response.get_json() == {"status": "ignored"}
    assert snapshot(stripe_services, outbox) == before


# -- checkouts that end otherwise --------------------------------------------------------------


def test_a_payment_still_on_its_way_is_processing_then_posted_when_it_arrives(
    web, stripe_services, pending, outbox
):
    unpaid = completed(pending, payment_status="unpaid")

    assert status_of(deliver(web, unpaid)) == (200, "processed")
    assert payment(stripe_services, pending).status is PaymentStatus.PROCESSING
    assert postings(stripe_services, pending) == []
    assert receipts(outbox) == []

    arrived = event("checkout.session.async_payment_succeeded", session_object(pending, 4000))
    assert status_of(deliver(web, arrived)) == (200, "processed")

    found = payment(stripe_services, pending)
    assert (found.status, found.posted_at) == (PaymentStatus.SUCCEEDED, NOW)
    assert sum(c for _, c in postings(stripe_services, pending)) == 4000
    assert receipts(outbox) == ["receipt"]


def test_a_payment_that_fails_on_its_way_is_failed_and_escalated(
    web, stripe_services, pending, outbox
):
    assert status_of(deliver(web, completed(pending, payment_status="unpaid")))[0] == 200

    failed = event(
        "checkout.session.async_payment_failed",
        session_object(pending, 4000, payment_status="unpaid"),
    )
    assert status_of(deliver(web, failed)) == (200, "processed")

    found = payment(stripe_services, pending)
    assert found.status is PaymentStatus.FAILED
    assert "nothing was taken" in found.failure_message
    [item] = escalations(stripe_services, EscalationKind.FAILED_PAYMENT)
    assert item.is_open and item.account_number == "100234"
    assert pending in item.reason
    assert postings(stripe_services, pending) == []
    assert due(stripe_services) == DUE
    assert receipts(outbox) == []


def test_an_expired_checkout_cancels_the_payment(web, stripe_services, pending, outbox):
    expired = event(
        "checkout.session.expired",
        session_object(
            pending, 4000, status="expired", payment_status="unpaid", payment_intent=None
        ),
    )

    assert status_of(deliver(web, expired)) == (200, "processed")

    assert payment(stripe_services, pending).status is PaymentStatus.CANCELED
    assert postings(stripe_services, pending) == []
    assert stripe_services.store.escalations(open_only=False) == []
    assert receipts(outbox) == []


# -- refunds -----------------------------------------------------------------------------------


def test_refunds_reported_out_of_order_add_up_to_exactly_what_stripe_refunded(
    web, stripe_services, pending, outbox, stub
):
    post(web, stripe_services, pending)
    intent = f"pi_{pending}"

    # Refunds of $10.00 and $5.00, then $25.00; the notice of the first ($10.00 in all)
    # comes after the notice of the second ($15.00 in all).
    for refunded_cents, made in ((1500, (1000, 500)), (1000, ()), (4000, (2500,))):
        for cents in made:
            stub.add_refund(intent, cents)
        assert status_of(deliver(web, refunded(pending, refunded_cents))) == (200, "processed")
        total = sum(entries_of(stripe_services, EntryKind.REFUND, pending))
        assert total == max(1500, refunded_cents)

    found = payment(stripe_services, pending)
    assert (found.status, found.refunded_cents) == (PaymentStatus.REFUNDED, 4000)
    assert sum(entries_of(stripe_services, EntryKind.REFUND, pending)) == 4000
    assert due(stripe_services) == DUE
    assert receipts(outbox) == ["receipt"]


@pytest.mark.parametrize("with_metadata", [True, False], ids=["payment id", "reference only"])
def test_a_refund_that_overtakes_its_payment_is_retried_then_posted(
    web, stripe_services, pending, outbox, with_metadata, stub
):
    stub.add_refund(f"pi_{pending}", 1500)
    early = refunded(pending, 1500, **({} if with_metadata else {"metadata": {}}))
    before = snapshot(stripe_services, outbox)

    first = deliver(web, early)

    assert first.status_code == 409  # not 2xx: Stripe delivers it again
    assert first.get_json()["status"] == "retry"
    assert snapshot(stripe_services, outbox) == before

    post(web, stripe_services, pending)
    again = deliver(web, early)  # Stripe's retry: the same event, the same id

    assert status_of(again) == (200, "processed")
    assert entries_of(stripe_services, EntryKind.REFUND, pending) != []
    assert sum(entries_of(stripe_services, EntryKind.REFUND, pending)) == 1500
    assert payment(stripe_services, pending).refunded_cents == 1500
    assert due(stripe_services) == DUE - 4000 + 1500


def test_a_refund_notice_posts_each_listed_refund_once_and_no_failed_one(
    web, stripe_services, pending, outbox, stub
):
    post(web, stripe_services, pending)
    intent = f"pi_{pending}"
    stub.add_refund(intent, 1000)
    stub.add_refund(intent, 700, status="failed")
    stub.add_refund(intent, 300, status="pending")
    notice = refunded(pending, 1300)

    assert status_of(deliver(web, notice)) == (200, "processed")
    assert status_of(deliver(web, refunded(pending, 1300))) == (200, "processed")

    assert sorted(entries_of(stripe_services, EntryKind.REFUND, pending)) == [300, 1000]
    assert payment(stripe_services, pending).refunded_cents == 1300
    [listing, *_] = [r for r in stub.requests if r.method == "GET" and r.path == "/v1/refunds"]
    assert listing.params["payment_intent"] == intent


def test_a_refund_notice_stripe_cannot_list_yet_is_delivered_again(
    web, stripe_services, pending, outbox, stub
):
    post(web, stripe_services, pending)
    stub.add_refund(f"pi_{pending}", 1000)
    notice = refunded(pending, 1000)
    before = snapshot(stripe_services, outbox)
    stub.fail_next(503, "api_error", None, "Service unavailable", times=3)

    assert deliver(web, notice).status_code == 503
    assert snapshot(stripe_services, outbox) == before

    assert status_of(deliver(web, notice)) == (200, "processed")
    assert entries_of(stripe_services, EntryKind.REFUND, pending) != []
    assert payment(stripe_services, pending).refunded_cents == 1000


# -- disputes ----------------------------------------------------------------------------------


def test_a_dispute_marks_the_payment_and_escalates_and_a_win_restores_it(
    web, stripe_services, pending, outbox
):
    post(web, stripe_services, pending)
    ledger = records(stripe_services).entries

    assert status_of(deliver(web, dispute("created", pending, "needs_response")))[0] == 200

    assert payment(stripe_services, pending).status is PaymentStatus.DISPUTED
    [item] = escalations(stripe_services, EscalationKind.DISPUTE)
    assert item.is_open and pending in item.reason

    assert status_of(deliver(web, dispute("closed", pending, "won")))[0] == 200

    assert payment(stripe_services, pending).status is PaymentStatus.SUCCEEDED
    [item] = escalations(stripe_services, EscalationKind.DISPUTE)
    assert not item.is_open
    assert item.resolution.startswith("Dispute won")
    assert records(stripe_services).entries == ledger  # a dispute alone moves no money
    assert due(stripe_services) == DUE - 4000


def test_a_lost_dispute_reverses_the_payment(web, stripe_services, pending, outbox):
    post(web, stripe_services, pending)
    deliver(web, dispute("created", pending, "needs_response"))

    assert status_of(deliver(web, dispute("closed", pending, "lost")))[0] == 200

    assert payment(stripe_services, pending).status is PaymentStatus.REVERSED
    assert sum(entries_of(stripe_services, EntryKind.REVERSAL, pending)) == 4000
    assert due(stripe_services) == DUE
    assert statement_balances(stripe_services) == {"S-2026-000100": 3000, "S-2026-000123": 6550}
    [item] = escalations(stripe_services, EscalationKind.DISPUTE)
    assert not item.is_open and item.resolution.startswith("Dispute lost")

    before = snapshot(stripe_services, outbox)
    late = deliver(web, dispute("created", pending, "needs_response"))  # a new delivery, late

    assert 200 <= late.status_code < 300
    assert snapshot(stripe_services, outbox) == before
    assert [
        e for e in stripe_services.store.escalations() if e.kind is EscalationKind.DISPUTE
    ] == []


@pytest.mark.parametrize(
    ("outcome", "status"), [("won", PaymentStatus.SUCCEEDED), ("lost", PaymentStatus.REVERSED)]
)
def test_a_dispute_created_arriving_after_its_close_changes_nothing(
    web, stripe_services, pending, outbox, outcome, status
):
    post(web, stripe_services, pending)
    assert status_of(deliver(web, dispute("closed", pending, outcome)))[0] == 200
    before = snapshot(stripe_services, outbox)

    late = deliver(web, dispute("created", pending, "needs_response"))

    assert 200 <= late.status_code < 300
    assert payment(stripe_services, pending).status is status
    assert snapshot(stripe_services, outbox) == before
    assert stripe_services.store.escalations() == []  # nothing left open


# -- the return page ---------------------------------------------------------------------------


def test_the_return_page_posts_a_paid_checkout_before_the_webhook_and_the_webhook_adds_nothing(
    web, stripe_services, stub, outbox
):
    sign_in(web)
    payment_id, session_id = open_stripe_checkout(web, stub, "40.00")
    assert payment(stripe_services, payment_id).status is PaymentStatus.PENDING
    assert payment(stripe_services, payment_id).checkout_session_id == session_id
    stub.complete(session_id)  # paid on Stripe's page; its notification has not come yet

    page = web.get(f"/payments/{payment_id}?session_id={session_id}")

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Thank you, your payment was received" in html
    assert by_testid(html, "receipt-amount") == "$40.00"
    found = payment(stripe_services, payment_id)
    assert found.status is PaymentStatus.SUCCEEDED
    assert found.gateway_reference == stub.sessions[session_id]["payment_intent"]
    assert postings(stripe_services, payment_id) == [
        ("S-2026-000100", 3000),
        ("S-2026-000123", 1000),
    ]
    assert receipts(outbox) == ["receipt"]
    before = snapshot(stripe_services, outbox)

    late = deliver(web, event("checkout.session.completed", dict(stub.sessions[session_id])))

    assert late.status_code == 200
    assert snapshot(stripe_services, outbox) == before
    assert receipts(outbox) == ["receipt"]


# -- two tabs: paying the whole balance twice --------------------------------------------------


def test_paying_the_whole_balance_in_two_tabs_leaves_a_credit_not_a_double_count(
    stripe_app, web, stripe_services, stub, outbox
):
    sign_in(web)
    tabs = [open_stripe_checkout(web, stub, "95.50") for _ in range(2)]
    assert tabs[0] != tabs[1]

    for _, session_id in tabs:
        paid = stub.complete(session_id)
        assert status_of(deliver(web, event("checkout.session.completed", paid))) == (
            200,
            "processed",
        )

    first, second = (payment_id for payment_id, _ in tabs)
    assert payment(stripe_services, first).status is PaymentStatus.SUCCEEDED
    assert payment(stripe_services, second).status is PaymentStatus.SUCCEEDED
    assert postings(stripe_services, first) == [("S-2026-000100", 3000), ("S-2026-000123", 6550)]
    assert postings(stripe_services, second) == [(None, DUE)]
    totals = balances(records(stripe_services).entries)
    assert (totals.due_cents, totals.credit_cents) == (0, DUE)
    assert totals.account_balance_cents == -DUE  # charges once, payments twice
    assert set(statement_balances(stripe_services).values()) == {0}
    assert receipts(outbox) == ["receipt", "receipt"]

    account = web.get("/account").get_data(as_text=True)
    assert balance_due(account) == "$0.00"
    assert "You have a credit of <strong>$95.50</strong>" in account

    staff = stripe_app.test_client()
    make_staff(stripe_services, "alice", "associate")
    staff_sign_in(staff, stripe_services)
    page = staff.get("/staff/accounts/100234")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert by_testid(html, "balance-due") == "$0.00"
    assert by_testid(html, "credit") == "$95.50"
    assert by_testid(html, "ledger-total") == "-$95.50"


# -- Stripe failing when the patient starts to pay ---------------------------------------------


def test_stripe_failing_shows_a_clear_message_and_closes_the_pending_payment(
    web, stripe_services, stub, outbox
):
    sign_in(web)
    stub.fail_next(500, "api_error", None, "An unknown error occurred", times=3)

    response = start_payment(web, "40.00")

    assert response.status_code == 502
    html = response.get_data(as_text=True)
    assert UNAVAILABLE in html
    assert "not answering" in html
    [found] = records(stripe_services).payments
    assert found.status is PaymentStatus.CANCELED
    assert found.failure_message == UNAVAILABLE
    assert stub.sessions == {}
    assert due(stripe_services) == DUE
    assert receipts(outbox) == []

    # Once Stripe answers again the patient can simply try again.
    payment_id, _ = open_stripe_checkout(web, stub, "40.00")
    assert payment(stripe_services, payment_id).status is PaymentStatus.PENDING


def test_a_dispute_on_a_charge_that_is_not_the_portals_is_acknowledged_and_ignored(
    web, stripe_services, pending, outbox
):
    post(web, stripe_services, pending)
    before = snapshot(stripe_services, outbox)

    foreign = deliver(web, dispute("created", "pay_someone_else", "needs_response"))

    assert status_of(foreign) == (200, "ignored")
    assert snapshot(stripe_services, outbox) == before


def test_a_copy_arriving_while_the_first_is_applied_is_asked_to_come_again(
    web, stripe_services, pending, outbox, clock
):
    envelope = completed(pending)
    # The first delivery claimed the event and is still at work (or died).
    stripe_services.store.claim("gateway-event", envelope["id"], clock.now())

    assert status_of(deliver(web, envelope)) == (409, "retry")
    assert payment(stripe_services, pending).posted_at is None

    clock.advance(minutes=11)  # the first delivery died: its claim is taken over
    assert status_of(deliver(web, envelope)) == (200, "processed")
    assert payment(stripe_services, pending).status is PaymentStatus.SUCCEEDED
    assert status_of(deliver(web, envelope)) == (200, "duplicate")


def test_a_refund_reported_after_a_lost_dispute_goes_to_a_person(
    web, stripe_services, pending, outbox
):
    post(web, stripe_services, pending)
    deliver(web, dispute("closed", pending, "lost"))

    response = deliver(web, refunded(pending, 1000))

    assert response.status_code == 200
    assert entries_of(stripe_services, EntryKind.REFUND, pending) == []
    [item] = escalations(stripe_services, EscalationKind.OTHER)
    assert "already reversed" in item.reason


# -- a bank debit returned after it was posted ------------------------------------------------


def off_session_intent(payment_id: str, cents: int, status: str) -> dict:
    return {
        "id": f"pi_{payment_id}",
        "object": "payment_intent",
        "amount": cents,
        "amount_received": cents if status == "succeeded" else 0,
        "currency": "usd",
        "status": status,
        "payment_method_types": ["us_bank_account"],
        "metadata": {"payment_id": payment_id, "portal_off_session": "true"},
    }


def test_a_bank_debit_returned_after_it_was_posted_is_reversed_with_entries(
    web, stripe_services, outbox
):
    """Posted when the bank debit succeeded; days later the bank returns it: the posting is
    reversed by new entries (never edited), staff get a queue item, the balance owes again,
    and the same return delivered again changes nothing."""
    services, payment_id = stripe_services, "pay_plan_returned0001"
    debit = Payment(
        payment_id, "100234", 4000, PaymentStatus.PENDING, "us_bank_account", "stripe", NOW
    )
    assert services.store.create_payment(debit)
    before = due(services)
    paid = event("payment_intent.succeeded", off_session_intent(payment_id, 4000, "succeeded"))
    assert status_of(deliver(web, paid)) == (200, "processed")
    assert due(services) == before - 4000

    returned = event(
        "charge.failed",
        {
            **charge_object(payment_id, 4000, 0),
            "metadata": {"payment_id": payment_id, "portal_off_session": "true"},
            "status": "failed",
            "failure_code": "insufficient_funds",
            "payment_method_details": {"type": "us_bank_account"},
        },
    )
    assert status_of(deliver(web, returned)) == (200, "processed")

    assert services_payment_status(services, payment_id) is PaymentStatus.REVERSED
    assert sum(entries_of(services, EntryKind.PATIENT_PAYMENT, payment_id)) == -4000
    assert sum(entries_of(services, EntryKind.REVERSAL, payment_id)) == 4000
    assert due(services) == before
    [item] = escalations(services, EscalationKind.FAILED_PAYMENT)
    assert item.key == f"returned:{payment_id}" and "returned" in item.reason
    again = snapshot(services, outbox)
    redelivered = {**returned, "id": "evt_test_returned_again"}
    assert deliver(web, redelivered).status_code == 200
    assert snapshot(services, outbox) == again


def services_payment_status(services, payment_id: str) -> PaymentStatus:
    return payment(services, payment_id).status


@pytest.mark.parametrize(("chosen", "locale"), [("es", "es"), ("en", "en")])
def test_checkout_opens_in_the_language_the_patient_reads(web, stub, chosen, locale):
    sign_in(web)
    assert web.get(f"/language/{chosen}?next=/account").status_code in (302, 303)

    _, session_id = open_stripe_checkout(web, stub, "10.00")

    [opened] = [r for r in stub.requests if r.path == "/v1/checkout/sessions"]
    assert opened.params["locale"] == locale
    assert stub.sessions[session_id]["client_reference_id"]
