"""Refunds made at the same moment and reported more than once, through the real app (Stripe
stand-in, signed notifications) on every store: each refund the processor made is posted
once, by its id, whoever reports it and in whatever order; a notice of more refunded than
the payment took changes no money and goes to a person."""

import dataclasses
import re
import threading
from datetime import timedelta

import pytest

from portal import create_app
from portal.adapters.dynamodb.store import DynamoDbStore
from portal.adapters.sqlite.store import SqliteStore
from portal.bootstrap import build_services
from portal.domain.ledger import EntryKind
from portal.domain.staff import AuditAction, EscalationKind
from portal.ports.store import Store
from portal.services import ledger as posting
from portal.services.claims import claim_payload
from portal.services.sweep import sweep_claims
from tests.conftest import NOW
from tests.contract.test_store_contract import pending, records, run_together, seed
from tests.integration.staff_helpers import flashes, make_staff, post_form, staff_sign_in
from tests.stripe_fixtures import charge_object, event, signed, stripe_settings

PAYMENT = "pay_race_10"
INTENT = f"pi_{PAYMENT}"
ACCOUNT_PAGE = "/staff/accounts/100234"
REFUNDED = re.compile(r"Refunded; \$[\d.]+ of this payment is now refunded in all\.")


@pytest.fixture
def paid(store: Store, stub) -> str:
    """A $10.00 card payment, posted, its PaymentIntent paid at Stripe."""
    seed(store)
    stub.payment_intents[INTENT] = {
        "id": INTENT,
        "object": "payment_intent",
        "amount": 1000,
        "amount_received": 1000,
        "currency": "usd",
        "metadata": {"payment_id": PAYMENT},
        "status": "succeeded",
        "latest_charge": f"ch_{PAYMENT}",
        "livemode": False,
    }
    store.create_payment(dataclasses.replace(pending(PAYMENT, 1000), gateway="stripe"))
    posting.post_payment(store, PAYMENT, INTENT, 1000, NOW)
    return PAYMENT


@pytest.fixture
def server(store, settings, clock, stub):
    """`server(store_handle, wrap=None)`: one portal server (app, services) on the store."""

    def start(handle: Store, wrap=None):
        services = dataclasses.replace(
            build_services(stripe_settings(settings, stub), clock=clock), store=handle
        )
        if wrap is not None:
            services = dataclasses.replace(services, payments=wrap(services.payments))
        app = create_app(services=services)
        app.config["TESTING"] = True
        return services, app

    return start


def another_handle(store: Store) -> Store:
    """The same store as a second server opens it (its own connections)."""
    if isinstance(store, SqliteStore):
        return SqliteStore(store.path)
    assert isinstance(store, DynamoDbStore)
    return DynamoDbStore(store.db.name, shards=store.shards)


class Gateway:
    """A server's real Stripe gateway, with something done after Stripe makes a refund."""

    def __init__(self, inner, after_refund):
        self.inner, self.after_refund = inner, after_refund

    def refund(self, *args):
        outcome = self.inner.refund(*args)
        self.after_refund(outcome)
        return outcome

    def __getattr__(self, name: str):
        return getattr(self.inner, name)


def signed_in(app, services, username: str):
    make_staff(services, username, "supervisor")
    client = app.test_client()
    staff_sign_in(client, services, username)
    return client


def refund_by_form(client, amount: str, key: str) -> list[str]:
    """A supervisor refunds from the account page; what the page then tells them."""
    response = post_form(
        client,
        f"/staff/payments/{PAYMENT}/refund",
        {"amount": amount, "request_key": key},
        token_page=ACCOUNT_PAGE,
    )
    assert response.status_code == 303, response.status_code
    return flashes(client.get(ACCOUNT_PAGE).get_data(as_text=True))


def refunds_posted(store: Store) -> list[int]:
    return [
        e.amount_cents
        for e in records(store).entries
        if e.kind is EntryKind.REFUND and e.payment_id == PAYMENT
    ]


def notify(app, envelope: dict):
    body, headers = signed(envelope)
    return app.test_client().post("/webhooks/stripe", data=body, headers=headers)


def money(store: Store) -> tuple:
    """Everything a refund could change: the ledger and the payment."""
    found = records(store)
    return (
        [(e.kind, e.amount_cents, e.statement_id, e.payment_id) for e in found.entries],
        [(p.payment_id, p.status, p.amount_cents, p.refunded_cents) for p in found.payments],
    )


# -- item 4: two staff users refund at the same moment ---------------------------------------


def test_two_servers_refunding_at_once_each_post_their_own_refund(store, paid, server, stub):
    # Neither request hears back from Stripe until both refunds are made there: both read
    # the payment before either posts, as two servers at the same moment do.
    both_made = threading.Barrier(2)

    def wait_for_the_other(outcome):
        both_made.wait(timeout=20)

    first, first_app = server(store, lambda g: Gateway(g, wait_for_the_other))
    second, second_app = server(another_handle(store), lambda g: Gateway(g, wait_for_the_other))
    sue = signed_in(first_app, first, "sue")
    sam = signed_in(second_app, second, "sam")

    told = run_together(
        [lambda: refund_by_form(sue, "3.00", "sue-1"), lambda: refund_by_form(sam, "3.00", "sam-1")]
    )

    assert len(stub.refunds) == 2  # Stripe gave back $6.00
    for shown in told:
        assert any(REFUNDED.fullmatch(f) for f in shown), shown
    assert sorted(refunds_posted(store)) == [300, 300]
    assert store.get_payment(PAYMENT).refunded_cents == 600
    audited = [
        e
        for e in store.audit_entries(account_number="100234")
        if e.action is AuditAction.REFUND_PAYMENT
    ]
    assert sorted(e.actor for e in audited) == ["sam", "sue"]


# -- item 5: a notice of more refunded than the payment took ---------------------------------


@pytest.mark.parametrize("too_much", ["in the notice", "in Stripe's list"])
def test_a_notice_of_more_refunded_than_taken_is_acknowledged_and_goes_to_a_person(
    store, paid, server, stub, too_much
):
    _, app = server(store)
    if too_much == "in the notice":
        notice = event("charge.refunded", charge_object(PAYMENT, 1000, 1500))
    else:  # the notice's total is possible, but the refunds Stripe lists add up to more
        stub.add_refund(INTENT, 1000)
        stub.add_refund(INTENT, 500)
        notice = event("charge.refunded", charge_object(PAYMENT, 1000, 1000))
    before = money(store)

    response = notify(app, notice)
    again = notify(app, notice)

    assert 200 <= response.status_code < 300, response.get_data(as_text=True)
    assert 200 <= again.status_code < 300
    assert money(store) == before
    [item] = [e for e in store.escalations(open_only=False) if notice["id"] in e.reason]
    assert item.account_number == "100234" and item.kind is EscalationKind.UNPOSTABLE_EVENT
    assert item.resolved_at is None


# -- the staff request and Stripe's notice report the same refund ---------------------------


def test_a_refund_reported_by_the_request_and_then_the_notice_posts_once(store, paid, server, stub):
    services, app = server(store)
    sue = signed_in(app, services, "sue")

    told = refund_by_form(sue, "3.00", "sue-1")
    response = notify(app, event("charge.refunded", stub.charge(INTENT)))

    assert any(REFUNDED.fullmatch(f) for f in told), told
    assert (response.status_code, response.get_json()["status"]) == (200, "processed")
    assert refunds_posted(store) == [300]
    assert store.get_payment(PAYMENT).refunded_cents == 300


def test_a_refund_the_notice_posts_before_the_request_does_is_posted_once(
    store, paid, server, stub
):
    # Stripe's notice reaches another server while the request is between Stripe and the
    # ledger.
    _, webhook_app = server(another_handle(store))
    answers = []

    def notice_arrives(outcome):
        answers.append(notify(webhook_app, event("charge.refunded", stub.charge(INTENT))))

    services, app = server(store, lambda g: Gateway(g, notice_arrives))
    sue = signed_in(app, services, "sue")

    told = refund_by_form(sue, "3.00", "sue-1")

    assert [(r.status_code, r.get_json()["status"]) for r in answers] == [(200, "processed")]
    assert any(REFUNDED.fullmatch(f) for f in told), told
    assert refunds_posted(store) == [300]
    assert store.get_payment(PAYMENT).refunded_cents == 300
    [audited] = [
        e
        for e in store.audit_entries(account_number="100234")
        if e.action is AuditAction.REFUND_PAYMENT
    ]
    assert audited.actor == "sue"


# -- a refund request whose server died is finished by the daily sweep -----------------------


def refund_claim_left_by_a_dead_server(services, key: str, cents: int) -> None:
    """What a request leaves when its process dies after claiming (the payload it keeps)."""
    services.store.claim(
        "refund-request",
        key,
        NOW - timedelta(hours=2),
        payload=claim_payload(payment_id=PAYMENT, cents=cents, actor="sue", address="10.0.0.9"),
    )


@pytest.mark.parametrize("stripe_made_it", [True, False], ids=["made", "not-made"])
def test_an_interrupted_refund_request_is_finished_once_by_the_sweep(
    store, paid, server, stub, clock, stripe_made_it
):
    services, _ = server(store)
    key = f"refund-{PAYMENT}-sue-1"
    refund_claim_left_by_a_dead_server(services, key, 300)
    if stripe_made_it:
        services.payments.refund(PAYMENT, INTENT, 300, key)
        stub._idempotent.clear()  # a day later Stripe may have forgotten the key
    clock.advance(days=1)

    first = sweep_claims(services, clock.now().date())
    again = sweep_claims(services, clock.now().date())

    assert (first.found, first.done, again.found) == (1, 1, 0)
    assert len(stub.refunds) == 1
    assert refunds_posted(store) == [300]
    assert store.get_payment(PAYMENT).refunded_cents == 300
    [audited] = [
        e
        for e in store.audit_entries(account_number="100234")
        if e.action is AuditAction.REFUND_PAYMENT
    ]
    assert (audited.actor, audited.address) == ("sue", "10.0.0.9")
    assert "finished by the daily run" in audited.subject


def test_a_refund_the_sweep_cannot_make_goes_to_a_person(store, paid, server, stub, clock):
    services, _ = server(store)
    key = f"refund-{PAYMENT}-sue-1"
    refund_claim_left_by_a_dead_server(services, key, 300)
    stub.add_refund(INTENT, 1000)  # refunded in full meanwhile, in the Dashboard
    before = money(store)
    clock.advance(days=1)

    summary = sweep_claims(services, clock.now().date())

    assert (summary.found, summary.dropped) == (1, 1)
    assert money(store) == before
    [item] = [e for e in store.escalations(open_only=False) if "interrupted" in e.reason]
    assert item.account_number == "100234" and item.resolved_at is None
    assert sweep_claims(services, clock.now().date()).found == 0


def test_a_second_request_while_the_first_is_in_progress_is_told_so(store, paid, server, stub):
    services, app = server(store)
    sue = signed_in(app, services, "sue")
    services.store.claim("refund-request", f"refund-{PAYMENT}-sue-1", NOW)

    told = refund_by_form(sue, "3.00", "sue-1")

    assert any("being made right now" in f for f in told), told
    assert stub.refunds == {} and refunds_posted(store) == []
