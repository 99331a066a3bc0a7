"""Card payouts kept on every store (issue 21): the records themselves (written at the
version read, by arrival day, the unreconciled ones), and Stripe's signed `payout.paid` and
`payout.reconciliation_completed` handled once under replay and two deliveries at once; a
processor that cannot list the payout's lines gets the event again, nothing kept."""

import dataclasses
from datetime import date, timedelta

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.payouts import Payout, PayoutRecord, PayoutReport, Unmatched
from portal.services import ledger as posting
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account, statement
from tests.contract.test_store_contract import run_together
from tests.stripe_fixtures import event, signed, stripe_settings


def record(payout_id: str, arrival: date, reconciled: bool = True) -> PayoutRecord:
    unmatched = () if reconciled else (Unmatched("not posted", "pi_x", 500, None, "txn_x"),)
    report = PayoutReport(
        Payout(payout_id, 9_410 if reconciled else 9_910, arrival),
        gross_cents=10_000 + (0 if reconciled else 500),
        fees_cents=590,
        fees_by_payment={"pay_1": 320, "pay_2": 270},
        unmatched=unmatched,
    )
    return PayoutRecord(report, ("pi_1", "pi_2"), NOW, NOW if reconciled else None)


def test_a_payout_is_kept_once_and_written_at_the_version_read(store):
    first = record("po_a", date(2026, 11, 25), reconciled=False)

    assert store.add_payout(first) is True
    assert store.add_payout(record("po_a", date(2026, 11, 26))) is False
    kept = store.get_payout("po_a")
    assert kept == first
    assert kept.report.fees_by_payment == {"pay_1": 320, "pay_2": 270}
    assert kept.report.unmatched[0].processor_cents == 500
    assert kept.report.unmatched[0].portal_cents is None
    assert [r.payout_id for r in store.unreconciled_payouts()] == ["po_a"]

    later = dataclasses.replace(record("po_a", date(2026, 11, 25)), version=kept.version)
    written = store.save_payout(later)
    assert written is not None and written.version == 1
    assert store.save_payout(later) is None  # read at version 0: changed since
    assert store.get_payout("po_a") == written
    assert store.get_payout("po_a").reconciled_at == NOW
    assert store.unreconciled_payouts() == []
    assert store.get_payout("po_none") is None


def test_a_check_is_kept_with_the_payout(store):
    first = record("po_c", date(2026, 11, 25), reconciled=False)
    assert store.add_payout(first)
    checked = dataclasses.replace(
        first, checked_by="sue", checked_at=NOW, check_note="A charge of another shop."
    )

    written = store.save_payout(checked)

    assert store.get_payout("po_c") == written
    assert not written.needs_attention and not written.reconciled
    assert [r.payout_id for r in store.unreconciled_payouts()] == ["po_c"]


def test_payouts_are_found_by_the_day_they_arrive(store):
    for payout_id, day in (("po_3", date(2026, 12, 1)), ("po_1", date(2026, 11, 30))):
        store.add_payout(record(payout_id, day))
    store.add_payout(record("po_2", date(2026, 11, 30), reconciled=False))
    store.add_payout(record("po_4", date(2027, 1, 2)))

    found = store.payouts_arriving(date(2026, 11, 30), date(2026, 12, 1))
    assert [r.payout_id for r in found] == ["po_1", "po_2", "po_3"]
    assert store.payouts_arriving(date(2026, 12, 2), date(2026, 12, 31)) == []
    assert [r.payout_id for r in store.payouts_arriving(date(2026, 1, 1), date(2027, 12, 31))] == [
        "po_1",
        "po_2",
        "po_3",
        "po_4",
    ]
    assert [r.payout_id for r in store.unreconciled_payouts()] == ["po_2"]


# -- the webhooks ------------------------------------------------------------------------


@pytest.fixture
def stripe(store, settings, clock, stub):
    services = build_services(stripe_settings(settings, stub), clock=clock)
    services = dataclasses.replace(services, store=store)
    app = create_app(services=services)
    app.config["TESTING"] = True
    import_statement(services, lopez_account(), statement("S-P-1", (50_000,)), notify=False)
    return services, app


def pay(services, n: int, cents: int) -> None:
    at = NOW - timedelta(days=4)
    payment = Payment(f"pay_{n}", "100234", cents, PaymentStatus.PENDING, "card", "stripe", at)
    services.store.create_payment(payment)
    posting.post_payment(services.store, f"pay_{n}", f"pi_{n}", cents, at)


def charge(n: int, cents: int, fee: int) -> dict:
    source = {"id": f"ch_{n}", "object": "charge", "payment_intent": f"pi_{n}"}
    return {"type": "charge", "amount": cents, "fee": fee, "source": source}


LINES = [
    charge(1, 10_000, 320),
    charge(2, 4_550, 162),
    {
        "type": "refund",
        "amount": -2_500,
        "fee": 0,
        "source": {"id": "re_1", "object": "refund", "payment_intent": "pi_1"},
    },
    {
        "type": "adjustment",
        "amount": -4_550,
        "fee": 1_500,
        "source": {"id": "du_2", "object": "dispute", "payment_intent": "pi_2"},
    },
    # Stripe lists 100 lines a page at most: the listing takes two pages.
    *({"type": "stripe_fee", "amount": -1, "fee": 0, "source": None} for _ in range(105)),
]


def deliver(app, envelope: dict) -> tuple[int, str]:
    body, headers = signed(envelope)
    answer = app.test_client().post("/webhooks/stripe", data=body, headers=headers)
    return answer.status_code, (answer.get_json() or {}).get("status", "")


def test_payout_paid_keeps_the_payout_reconciled_with_its_fee_per_payment(stripe, stub):
    services, app = stripe
    pay(services, 1, 10_000)
    pay(services, 2, 4_550)
    payout = stub.add_payout(date(2026, 11, 27), LINES, "po_w1")
    paid = event("payout.paid", payout, event_id="evt_po_w1")

    assert deliver(app, paid) == (200, "processed")

    kept = services.store.get_payout("po_w1")
    assert kept is not None and kept.reconciled
    assert kept.reconciled_at == NOW
    report = kept.report
    # Summed independently of the portal's code: the lines as the test wrote them.
    assert report.net_cents == sum(x["amount"] - x["fee"] for x in LINES) == payout["amount"]
    assert report.fees_cents == sum(x["fee"] for x in LINES) + 105
    assert report.fees_by_payment == {"pay_1": 320, "pay_2": 162 + 1_500}
    assert (report.gross_cents, report.refunds_cents, report.disputes_cents) == (
        14_550,
        -2_500,
        -4_550,
    )
    assert set(kept.references) == {"pi_1", "pi_2"}

    # The same event again, and the other event about the same payout: nothing new.
    assert deliver(app, paid) == (200, "duplicate")
    done = event("payout.reconciliation_completed", payout, event_id="evt_po_w1_done")
    assert deliver(app, done) == (200, "duplicate")
    assert services.store.get_payout("po_w1") == kept


def test_two_deliveries_at_once_keep_the_payout_once(stripe, stub):
    services, app = stripe
    pay(services, 1, 10_000)
    pay(services, 2, 4_550)
    payout = stub.add_payout(date(2026, 11, 27), LINES[:4], "po_w2")
    paid = event("payout.paid", payout, event_id="evt_po_w2")

    answers = run_together([lambda: deliver(app, paid) for _ in range(6)])

    assert sorted(answers) == [(200, "duplicate")] * 5 + [(200, "processed")]
    kept = services.store.get_payout("po_w2")
    assert kept is not None and kept.version == 0 and kept.reconciled


def test_a_charge_posted_later_reconciles_the_payout_on_its_next_event(stripe, stub, clock):
    services, app = stripe
    pay(services, 1, 10_000)
    payout = stub.add_payout(date(2026, 11, 27), LINES[:2], "po_w3")

    assert deliver(app, event("payout.paid", payout)) == (200, "processed")
    kept = services.store.get_payout("po_w3")
    assert not kept.reconciled and kept.reconciled_at is None
    (line,) = kept.report.unmatched
    assert (line.problem, line.reference, line.processor_cents) == ("not posted", "pi_2", 4_550)
    assert [r.payout_id for r in services.store.unreconciled_payouts()] == ["po_w3"]

    pay(services, 2, 4_550)
    later = event("payout.reconciliation_completed", payout)
    assert deliver(app, later) == (200, "processed")

    kept = services.store.get_payout("po_w3")
    assert kept.reconciled and kept.reconciled_at == NOW and kept.version == 1
    assert services.store.unreconciled_payouts() == []


def test_stripe_not_listing_the_lines_gets_the_event_again_and_keeps_nothing(stripe, stub):
    services, app = stripe
    pay(services, 1, 10_000)
    payout = stub.add_payout(date(2026, 11, 27), LINES[:1], "po_w4")
    paid = event("payout.paid", payout, event_id="evt_po_w4")
    stub.fail_next(500, "api_error", times=3)  # the first try and both of the client's retries

    assert deliver(app, paid)[0] == 503
    assert services.store.get_payout("po_w4") is None

    assert deliver(app, paid) == (200, "processed")
    assert services.store.get_payout("po_w4").reconciled


def test_a_payout_event_not_signed_by_stripe_changes_nothing(stripe, stub):
    services, app = stripe
    payout = stub.add_payout(date(2026, 11, 27), LINES[:1], "po_w5")
    body, headers = signed(event("payout.paid", payout), secret="whsec_someone_else")

    answer = app.test_client().post("/webhooks/stripe", data=body, headers=headers)

    assert answer.status_code == 400
    assert services.store.get_payout("po_w5") is None
    assert not [r for r in stub.api_requests() if "balance_transactions" in r.path]
