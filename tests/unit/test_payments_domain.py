"""What a patient may pay, and payment ids."""

import re
from datetime import UTC, datetime

import pytest

from portal.domain.errors import InvalidInput
from portal.domain.payments import (
    MINIMUM_PAYMENT_CENTS,
    OPEN_STATUSES,
    Payment,
    PaymentStatus,
    check_payment_amount,
    checkout_line,
    new_payment_id,
)


def refusal(amount: int, due: int) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_payment_amount(amount, due)
    assert caught.value.field == "amount"
    return caught.value


@pytest.mark.parametrize(
    ("amount", "due"),
    [(100, 100), (7550, 7550), (100, 7550), (5000, 7550), (1, 1), (99, 99), (50, 50)],
)
def test_amounts_allowed(amount, due):
    assert check_payment_amount(amount, due) is None


def test_minimum_is_one_dollar():
    assert MINIMUM_PAYMENT_CENTS == 100


@pytest.mark.parametrize("amount", [99, 50, 1, 0, -100])
def test_less_than_a_dollar_refused(amount):
    assert "$1.00" in refusal(amount, 7550).message


def test_less_than_a_dollar_allowed_when_it_is_the_whole_balance():
    check_payment_amount(75, 75)
    assert "$1.00" in refusal(74, 75).message


def test_more_than_the_balance_refused_naming_the_balance():
    message = refusal(7551, 7550).message
    assert "more than your balance" in message
    assert "$75.50" in message


def test_more_than_a_small_balance_names_the_balance():
    # Bug: with a balance under $1.00, an amount above it is answered "The smallest payment
    # is $1.00." - but $1.00 would be refused too. It should name the balance.
    message = refusal(60, 50).message
    assert "more than your balance" in message
    assert "$0.50" in message


@pytest.mark.parametrize("due", [0, -500])
@pytest.mark.parametrize("amount", [100, 5000])
def test_no_balance_refused(amount, due):
    assert "no balance" in refusal(amount, due).message


def test_payment_ids_are_unique_and_opaque():
    ids = [new_payment_id() for _ in range(500)]
    assert len(set(ids)) == len(ids)
    for pid in ids:
        assert pid.startswith("pay_")
        assert re.fullmatch(r"pay_[0-9a-f]{24}", pid)


def test_open_statuses():
    assert frozenset({PaymentStatus.PENDING, PaymentStatus.PROCESSING}) == OPEN_STATUSES


def test_succeeded_records_the_gateway_outcome():
    created = datetime(2026, 11, 28, 15, 0, tzinfo=UTC)
    posted = datetime(2026, 11, 28, 15, 5, tzinfo=UTC)
    pending = Payment(
        payment_id="pay_1",
        account_number="100234",
        amount_cents=5000,
        status=PaymentStatus.PENDING,
        method="card",
        gateway="sandbox",
        created_at=created,
        failure_message="declined earlier",
    )
    done = pending.succeeded("ch_123", 4500, posted)
    assert done.status == PaymentStatus.SUCCEEDED
    assert (done.gateway_reference, done.amount_cents, done.posted_at) == ("ch_123", 4500, posted)
    assert done.failure_message == ""
    assert pending.status == PaymentStatus.PENDING  # the original is unchanged


def test_the_checkout_line_names_up_to_three_statements_then_the_account_balance():
    assert checkout_line(["S-1"]) == "Payment toward statement S-1"
    assert checkout_line(["S-1", "S-2"]) == "Payment toward statements S-1, S-2"
    assert checkout_line(["S-1", "S-2", "S-3"]) == "Payment toward statements S-1, S-2, S-3"
    assert checkout_line(["S-1", "S-2", "S-3", "S-4"]) == "Payment toward account balance"
    assert checkout_line([]) == "Payment toward account balance"  # a credit, nothing open
