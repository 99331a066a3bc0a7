"""A manual-payment form posts once; resubmitting it with other figures is refused."""

import pytest

from portal.domain.errors import InvalidInput
from portal.services.staff_actions import post_manual_payment

KEY = "f" * 32


def post(services, amount: str, method: str = "check", number: str = "101"):
    return post_manual_payment(services, "alice", "100234", method, amount, number, KEY, "10.0.0.1")


def test_the_same_form_again_posts_nothing_more(services, lopez):
    first = post(services, "40.00")
    again = post(services, "40.00")
    assert first.posted and not again.posted
    assert len(services.store.account_records("100234").payments) == 1


@pytest.mark.parametrize(
    ("amount", "method", "number"),
    [("50.00", "check", "101"), ("40.00", "cash", ""), ("40.00", "check", "102")],
)
def test_the_same_form_with_other_figures_is_refused(services, lopez, amount, method, number):
    post(services, "40.00")
    with pytest.raises(InvalidInput) as refused:
        post(services, amount, method, number)
    assert refused.value.field == "amount"
    assert "already posted $40.00 (check)" in refused.value.message
    payments = services.store.account_records("100234").payments
    assert [p.amount_cents for p in payments] == [4000]
