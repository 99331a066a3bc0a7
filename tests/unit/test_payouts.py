"""Payouts matched to the portal's payments: fees, partial refunds, a dispute and its fee,
a payout spanning days, one line that does not match; each sum checked against an
independent computation over the lines."""

from dataclasses import replace
from datetime import UTC, date, datetime

from hypothesis import given
from hypothesis import strategies as st

from portal.domain.payments import Payment, PaymentStatus
from portal.domain.payouts import (
    CHARGE,
    DISPUTE,
    FEE,
    REFUND,
    BalanceTransaction,
    Payout,
    not_paid_out,
    reconcile,
)


def paid(n: int, cents: int) -> Payment:
    return Payment(
        f"pay_{n}",
        "100234",
        cents,
        PaymentStatus.SUCCEEDED,
        "card",
        "stripe",
        datetime(2026, 11, n, 15, tzinfo=UTC),
        gateway_reference=f"pi_{n}",
        posted_at=datetime(2026, 11, n, 15, tzinfo=UTC),
    )


def charge(n: int, cents: int) -> BalanceTransaction:
    fee = round(cents * 0.029) + 30
    return BalanceTransaction(f"txn_ch{n}", CHARGE, cents, fee, cents - fee, f"pi_{n}", f"ch_{n}")


PAYMENTS = {p.gateway_reference: p for p in (paid(1, 10_000), paid(2, 4_550), paid(3, 2_000))}
LINES = [
    charge(1, 10_000),  # Nov 1
    charge(2, 4_550),  # Nov 2: the payout spans days
    charge(3, 2_000),
    BalanceTransaction("txn_re1", REFUND, -2_500, 0, -2_500, "pi_1", "re_1"),  # partial
    BalanceTransaction("txn_du3", DISPUTE, -2_000, 1_500, -3_500, "pi_3", "du_3"),
    BalanceTransaction("txn_fee", FEE, -200, 0, -200),  # e.g. a monthly fee
    charge(9, 1_234),  # a charge the portal never posted
]
PAYOUT = Payout("po_1", sum(t.net_cents for t in LINES), date(2026, 11, 4))


def test_sums_match_an_independent_computation_to_the_cent():
    report = reconcile(PAYOUT, LINES, PAYMENTS)

    assert report.gross_cents == 10_000 + 4_550 + 2_000 + 1_234
    assert report.refunds_cents == -2_500
    assert report.disputes_cents == -2_000
    fees = sum(t.fee_cents for t in LINES) + 200
    assert report.fees_cents == fees
    assert report.net_cents == sum(t.net_cents for t in LINES) == PAYOUT.amount_cents
    assert report.fees_by_payment == {"pay_1": 320, "pay_2": 162, "pay_3": 88 + 1_500}


def test_a_charge_the_portal_never_posted_leaves_the_payout_unreconciled():
    report = reconcile(PAYOUT, LINES, PAYMENTS)

    (problem,) = report.unmatched
    assert (problem.problem, problem.reference, problem.processor_cents) == (
        "not posted",
        "pi_9",
        1_234,
    )
    assert report.reconciled is False
    lines = LINES[:-1]
    matched = reconcile(
        replace(PAYOUT, amount_cents=sum(t.net_cents for t in lines)), lines, PAYMENTS
    )
    assert matched.unmatched == ()
    assert matched.reconciled is True
    short = reconcile(replace(PAYOUT, amount_cents=matched.net_cents - 1), lines, PAYMENTS)
    assert short.reconciled is False  # the bank deposit does not add up


def test_an_amount_that_differs_and_a_payment_never_paid_out():
    lines = [charge(1, 9_000), charge(2, 4_550)]
    payout = Payout("po_2", sum(t.net_cents for t in lines), date(2026, 11, 5))

    report = reconcile(payout, lines, PAYMENTS)
    missing = not_paid_out(PAYMENTS.values(), {t.reference for t in lines if t.reference})

    assert [(u.problem, u.processor_cents, u.portal_cents) for u in report.unmatched] == [
        ("amount differs", 9_000, 10_000)
    ]
    assert [(u.problem, u.reference) for u in missing] == [("not paid out", "pi_3")]


@given(
    st.lists(
        st.tuples(
            st.sampled_from([CHARGE, REFUND, DISPUTE, FEE]),
            st.integers(1, 1_000_000),
            st.integers(0, 5_000),
        ),
        max_size=30,
    )
)
def test_the_net_is_always_the_sum_of_the_lines(lines):
    found = []
    for n, (category, cents, fee) in enumerate(lines):
        amount = cents if category == CHARGE else -cents
        fee = 0 if category == FEE else fee
        found.append(
            BalanceTransaction(f"t{n}", category, amount, fee, amount - fee, f"pi_{n % 3 + 1}")
        )
    payout = Payout("po", sum(t.net_cents for t in found), date(2026, 11, 4))

    report = reconcile(payout, found, PAYMENTS)

    assert report.net_cents == payout.amount_cents
    fee_lines = sum(-t.amount_cents for t in found if t.category == FEE)
    assert report.fees_cents == sum(t.fee_cents for t in found) + fee_lines
