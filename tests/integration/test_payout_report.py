"""The deposit report's payout view against the Stripe stand-in: a payout's lines (paged)
with fees, a partial refund, a dispute and its fee, charges of several days and one charge
the portal never posted; a posted payment no payout holds; sums checked to the cent by an
independent computation; CSV; audited."""

import csv
import dataclasses
import io
from datetime import UTC, date, datetime

from portal.domain.payments import Payment, PaymentStatus
from portal.domain.staff import AuditAction
from portal.services import ledger as posting
from portal.services.statements import import_statement
from tests.conftest import lopez_account, statement
from tests.integration.conftest import token_from
from tests.integration.staff_helpers import audit_since, last_audit_id, make_staff, staff_sign_in
from tests.stripe_fixtures import event, signed


def charge_line(n: int, cents: int, fee: int) -> dict:
    source = {"id": f"ch_{n}", "object": "charge", "payment_intent": f"pi_{n}"}
    return {"type": "charge", "amount": cents, "fee": fee, "source": source}


def seed(services) -> None:
    import_statement(services, lopez_account(), statement("S-P-1", (50_000,)), notify=False)
    for n, cents, day in ((1, 10_000, 21), (2, 4_550, 22), (3, 2_000, 22), (4, 700, 23)):
        at = datetime(2026, 11, day, 15, tzinfo=UTC)
        payment = Payment(f"pay_{n}", "100234", cents, PaymentStatus.PENDING, "card", "stripe", at)
        services.store.create_payment(payment)
        posting.post_payment(services.store, f"pay_{n}", f"pi_{n}", cents, at)


LINES = [
    charge_line(1, 10_000, 320),
    charge_line(2, 4_550, 162),
    charge_line(3, 2_000, 88),
    {
        "type": "refund",
        "amount": -2_500,
        "fee": 0,
        "source": {"id": "re_1", "object": "refund", "payment_intent": "pi_1"},
    },
    {
        "type": "adjustment",
        "amount": -2_000,
        "fee": 1_500,
        "source": {"id": "du_3", "object": "dispute", "payment_intent": "pi_3"},
    },
    {"type": "stripe_fee", "amount": -200, "fee": 0, "source": None},
    charge_line(9, 1_234, 66),  # never posted by the portal
    # A long payout: Stripe lists 100 lines a page at most.
    *({"type": "stripe_fee", "amount": -1, "fee": 0, "source": None} for _ in range(110)),
]


def test_the_payout_view_matches_lines_to_payments_to_the_cent(
    stripe_services,
    stripe_app,
    stub,
):
    services = stripe_services
    seed(services)
    payout = stub.add_payout(date(2026, 11, 25), LINES, "po_1")
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")
    since = last_audit_id(services)

    page = client.get("/staff/reports/payouts?from=2026-11-20&to=2026-11-28")
    sheet = client.get("/staff/reports/payouts?from=2026-11-20&to=2026-11-28&format=csv")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="payout-po_1"' in html
    rows = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    first = rows[0]
    nets = [line["amount"] - line["fee"] for line in LINES]
    assert payout["amount"] == sum(nets)
    assert first["payout"] == "po_1" and first["arrival_date"] == "2026-11-25"
    cents = {k: round(float(first[k]) * 100) for k in ("gross", "refunds", "disputes", "fees")}
    assert cents == {
        "gross": 10_000 + 4_550 + 2_000 + 1_234,
        "refunds": -2_500,
        "disputes": -2_000,
        "fees": 320 + 162 + 88 + 1_500 + 66 + 200 + 110,
    }
    assert round(float(first["net"]) * 100) == sum(nets) == round(float(first["deposit"]) * 100)
    assert first["reconciled"] == "no"
    problems = {(r["unmatched"], r["reference"]) for r in rows[1:]}
    assert problems == {("not posted", "pi_9"), ("not paid out", "pi_4")}
    assert "not posted" in html and "not paid out" in html
    assert [(e.action, e.subject) for e in audit_since(services, since)] == [
        (AuditAction.VIEW_REPORT, "payouts 2026-11-20..2026-11-28")
    ] * 2
    listed = stub.api_requests("/v1/balance_transactions")
    assert len(listed) == 2 * 2  # two pages, each time the report is asked for (page, CSV)


def test_a_payout_that_matches_everything_is_reconciled(
    stripe_services,
    stripe_app,
    stub,
):
    services = stripe_services
    seed(services)
    stub.add_payout(date(2026, 11, 25), [*LINES[:6], charge_line(4, 700, 50)], "po_2")
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")

    sheet = client.get("/staff/reports/payouts?from=2026-11-25&to=2026-11-25&format=csv")

    (row,) = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    assert (row["payout"], row["reconciled"]) == ("po_2", "yes")


def test_the_processor_not_answering_is_said_on_the_page(
    stripe_services,
    stripe_app,
    stub,
):
    services = dataclasses.replace(stripe_services)
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")
    stub.fail_next(500, "api_error", times=10)

    page = client.get("/staff/reports/payouts")

    assert page.status_code == 400
    assert "Stripe could not list the payouts." in page.get_data(as_text=True)


def test_the_monthly_summary_shows_the_months_processing_fees(stripe_services, stripe_app, stub):
    services = stripe_services
    seed(services)
    stub.add_payout(date(2026, 11, 25), LINES, "po_1")
    stub.add_payout(date(2026, 10, 30), [charge_line(1, 5_000, 175)], "po_0")  # October's
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")

    page = client.get("/staff/reports/monthly?month=2026-11").get_data(as_text=True)

    fees = 320 + 162 + 88 + 1_500 + 66 + 200 + 110
    assert f'data-testid="processing-fees">${fees / 100:,.2f}<' in page
    stub.fail_next(500, "api_error", times=10)
    down = client.get("/staff/reports/monthly?month=2026-11").get_data(as_text=True)
    assert 'data-testid="processing-fees">not available<' in down
    assert "The card processor did not answer." in down


def test_the_sandbox_page_says_how_the_sandbox_pays_out(services, client):
    import_statement(services, lopez_account(), statement("S-P-1", (50_000,)), notify=False)
    at = datetime(2026, 11, 22, 15, tzinfo=UTC)
    payment = Payment("pay_1", "100234", 1_000, PaymentStatus.PENDING, "card", "sandbox", at)
    services.store.create_payment(payment)
    posting.post_payment(services.store, "pay_1", "pi_sbx_1", 1_000, at)
    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")

    page = client.get("/staff/reports/payouts?from=2026-11-20&to=2026-11-28")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="no-payouts"' in html and "portal payouts sandbox" in html
    # Nothing paid it out yet (tests/integration/test_sandbox_payouts.py pays it out).
    assert "not paid out" in html


def receive(app, payout: dict) -> None:
    body, headers = signed(event("payout.paid", payout))
    answer = app.test_client().post("/webhooks/stripe", data=body, headers=headers)
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_kept_payouts_are_read_from_the_store_and_unreconciled_ones_stand_out(
    stripe_services, stripe_app, stub
):
    services = stripe_services
    seed(services)
    receive(stripe_app, stub.add_payout(date(2026, 11, 25), LINES[:6], "po_kept"))
    receive(stripe_app, stub.add_payout(date(2026, 11, 26), [charge_line(9, 1_234, 66)], "po_bad"))
    stub.add_payout(date(2026, 11, 27), [charge_line(4, 700, 50)], "po_new")  # not reported yet
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")
    asked_before = len(stub.api_requests("/v1/balance_transactions"))

    page = client.get("/staff/reports/payouts?from=2026-11-20&to=2026-11-27")
    sheet = client.get("/staff/reports/payouts?from=2026-11-20&to=2026-11-27&format=csv")

    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for payout_id in ("po_kept", "po_bad", "po_new"):
        assert f'data-testid="payout-{payout_id}"' in html
    # Only the payout not kept yet is asked of Stripe for its lines, once a view.
    assert len(stub.api_requests("/v1/balance_transactions")) - asked_before == 2
    assert 'data-testid="unreconciled"' in html and 'data-testid="unreconciled-po_bad"' in html
    assert "1 payout not reconciled" in html
    assert 'data-testid="payouts-asked">1 payout of the period not reported' in html
    listed = csv.DictReader(io.StringIO(sheet.get_data(as_text=True)))
    rows = {r["payout"]: r for r in listed if r["arrival_date"]}
    assert rows["po_kept"]["reconciled"] == "yes" and rows["po_new"]["reconciled"] == "yes"
    assert rows["po_bad"]["reconciled"] == "no"

    board = client.get("/staff/").get_data(as_text=True)
    assert 'data-testid="unreconciled-payouts">1<' in board
    make_staff(services, "amy", "associate")
    other = stripe_app.test_client()
    staff_sign_in(other, services, "amy")
    assert 'data-testid="unreconciled-payouts"' not in other.get("/staff/").get_data(as_text=True)


def test_kept_payouts_still_show_when_stripe_does_not_answer(stripe_services, stripe_app, stub):
    services = stripe_services
    seed(services)
    receive(stripe_app, stub.add_payout(date(2026, 11, 25), LINES[:6], "po_kept"))
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")
    stub.fail_next(500, "api_error", times=3)

    page = client.get("/staff/reports/payouts?from=2026-11-20&to=2026-11-27")

    html = page.get_data(as_text=True)
    assert page.status_code == 400
    assert "Stripe could not list the payouts." in html
    assert 'data-testid="payout-po_kept"' in html
    assert "Only the payouts kept already are shown." in html


def test_not_paid_out_counts_a_payment_a_later_kept_payout_holds_as_paid_out(
    stripe_services, stripe_app, stub
):
    services = stripe_services
    seed(services)  # card payments posted on the 21st, 22nd (two) and 23rd
    # pay_1 and pay_2 come in a payout later than expected (the 27th, after the period).
    late = [charge_line(1, 10_000, 320), charge_line(2, 4_550, 162)]
    receive(stripe_app, stub.add_payout(date(2026, 11, 27), late, "po_late"))
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")

    sheet = client.get("/staff/reports/payouts?from=2026-11-24&to=2026-11-26&format=csv")

    rows = list(csv.DictReader(io.StringIO(sheet.get_data(as_text=True))))
    assert {(r["unmatched"], r["reference"]) for r in rows} == {
        ("not paid out", "pi_3"),
        ("not paid out", "pi_4"),
    }


def test_a_supervisor_marks_an_unreconciled_payout_checked(stripe_services, stripe_app, stub):
    services = stripe_services
    seed(services)
    bad = stub.add_payout(date(2026, 11, 26), [charge_line(9, 1_234, 66)], "po_bad")
    receive(stripe_app, bad)
    make_staff(services, "sue", "supervisor")
    client = stripe_app.test_client()
    staff_sign_in(client, services, "sue")
    token = token_from(client, "/staff/reports/payouts")
    since = last_audit_id(services)

    empty = client.post(
        "/staff/reports/payouts/po_bad/checked", data={"note": "  ", "csrf_token": token}
    )
    assert empty.status_code == 303
    assert services.store.get_payout("po_bad").checked_at is None
    done = client.post(
        "/staff/reports/payouts/po_bad/checked",
        data={"note": "A charge of the gift shop, same Stripe account.", "csrf_token": token},
    )
    again = client.post(
        "/staff/reports/payouts/po_bad/checked", data={"note": "Twice", "csrf_token": token}
    )
    unknown = client.post(
        "/staff/reports/payouts/po_none/checked", data={"note": "x", "csrf_token": token}
    )

    assert done.status_code == again.status_code == unknown.status_code == 303
    kept = services.store.get_payout("po_bad")
    assert (kept.checked_by, kept.checked_at, kept.check_note) == (
        "sue",
        services.clock.now(),
        "A charge of the gift shop, same Stripe account.",
    )
    assert [(e.action, e.subject) for e in audit_since(services, since)] == [
        (AuditAction.CHECK_PAYOUT, "po_bad")
    ]
    page = client.get("/staff/reports/payouts").get_data(as_text=True)
    assert 'data-testid="checked-po_bad"' in page and 'data-testid="unreconciled"' not in page
    assert 'data-testid="unreconciled-payouts">0<' in client.get("/staff/").get_data(as_text=True)

    # The same event again keeps the check; the processor reporting it otherwise clears it.
    receive(stripe_app, bad)
    assert services.store.get_payout("po_bad").checked_by == "sue"
    stub.payout_lines["po_bad"][0]["amount"] = 1_300
    receive(stripe_app, bad)
    assert services.store.get_payout("po_bad").needs_attention
