"""The Store contract for what happens to a payment after it is posted: refunds, disputes,
reversals, and claims whose holder died (run on every adapter)."""

from datetime import timedelta

import pytest

from portal.domain.ledger import EntryKind
from portal.domain.payments import PaymentStatus, RefundExceedsPayment
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW
from tests.contract.test_store_contract import (
    DUE,
    NEWER,
    OLDER,
    pending,
    records,
    run_together,
    seed,
    totals,
)

LATER = NOW + timedelta(hours=1)


def posted(store: Store, payment_id: str = "pay_1", amount: int = 4000, ref: str = "pi_1"):
    seed(store)
    store.create_payment(pending(payment_id, amount))
    return posting.post_payment(store, payment_id, ref, amount, NOW).payment


def refunds(store: Store, payment_id: str = "pay_1") -> list[tuple]:
    return [
        (e.statement_id, e.amount_cents)
        for e in records(store).entries
        if e.kind is EntryKind.REFUND and e.payment_id == payment_id
    ]


def test_payment_by_reference_finds_the_posted_payment(store: Store):
    posted(store)

    assert store.payment_by_reference("pi_1").payment_id == "pay_1"
    assert store.payment_by_reference("pi_unknown") is None


def test_a_partial_refund_reopens_the_newest_statement_the_payment_paid(store: Store):
    posted(store)  # $40.00: $30.00 on OLDER, $10.00 on NEWER

    result = posting.post_refund(store, "pay_1", "re_1", 1500, LATER)

    assert result.posted
    assert result.payment.refunded_cents == 1500
    assert result.payment.status is PaymentStatus.SUCCEEDED
    assert refunds(store) == [(NEWER, 1000), (OLDER, 500)]
    assert totals(store).due_cents == DUE - 4000 + 1500
    assert store.get_payment("pay_1").refunded_cents == 1500


def test_the_same_refund_again_posts_nothing(store: Store):
    posted(store)
    posting.post_refund(store, "pay_1", "re_1", 1500, LATER)

    again = posting.post_refund(store, "pay_1", "re_1", 1500, LATER)
    restated = posting.post_refund(store, "pay_1", "re_1", 1000, LATER)

    assert not again.posted and not restated.posted
    assert again.payment.refunded_cents == 1500
    assert sum(cents for _, cents in refunds(store)) == 1500


def test_each_refund_adds_its_own_amount_and_a_full_refund_marks_refunded(store: Store):
    posted(store)
    posting.post_refund(store, "pay_1", "re_1", 1500, LATER)

    result = posting.post_refund(store, "pay_1", "re_2", 2500, LATER)

    assert result.posted
    assert sum(e.amount_cents for e in result.entries) == 2500
    assert result.payment.status is PaymentStatus.REFUNDED
    assert result.payment.refunded_cents == 4000
    assert totals(store).due_cents == DUE
    assert not posting.post_refund(store, "pay_1", "re_2", 2500, LATER).posted


def test_a_refund_takes_credit_first(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", DUE + 2000))
    posting.post_payment(store, "pay_1", "pi_1", DUE + 2000, NOW)  # $20.00 beyond the balance

    posting.post_refund(store, "pay_1", "re_1", 2500, LATER)

    assert refunds(store) == [(None, 2000), (NEWER, 500)]
    now = totals(store)
    assert now.credit_cents == 0
    assert now.due_cents == 500


@pytest.mark.parametrize(("first", "then"), [(0, 4001), (0, 10**9), (1500, 2501), (4000, 1)])
def test_refunds_beyond_what_the_payment_took_are_refused(store: Store, first: int, then: int):
    posted(store)
    if first:
        posting.post_refund(store, "pay_1", "re_1", first, LATER)

    with pytest.raises(RefundExceedsPayment, match="more than"):
        posting.post_refund(store, "pay_1", "re_2", then, LATER)
    assert sum(cents for _, cents in refunds(store)) == first
    assert store.get_payment("pay_1").refunded_cents == first
    # Refused, not recorded: the same refund id is not "already posted" afterwards.
    with pytest.raises(RefundExceedsPayment):
        posting.post_refund(store, "pay_1", "re_2", then, LATER)


def test_a_payment_never_posted_cannot_be_refunded(store: Store):
    seed(store)
    store.create_payment(pending("pay_1", 4000))

    with pytest.raises(ValueError, match="nothing to refund"):
        posting.post_refund(store, "pay_1", "re_1", 1000, LATER)
    assert refunds(store) == []


def test_a_refund_id_posted_to_one_payment_is_refused_for_another(store: Store):
    posted(store)
    store.create_payment(pending("pay_2", 1000))
    posting.post_payment(store, "pay_2", "pi_2", 1000, NOW)
    posting.post_refund(store, "pay_1", "re_1", 500, LATER)

    with pytest.raises(ValueError, match="already posted to pay_1"):
        posting.post_refund(store, "pay_2", "re_1", 500, LATER)
    assert refunds(store, "pay_2") == []
    assert store.get_payment("pay_2").refunded_cents == 0


def test_concurrent_reports_of_one_refund_post_it_once(store: Store):
    posted(store)

    run_together([lambda: posting.post_refund(store, "pay_1", "re_1", 2500, LATER)] * 8)

    assert sum(cents for _, cents in refunds(store)) == 2500
    assert store.get_payment("pay_1").refunded_cents == 2500


def test_concurrent_different_refunds_each_post_their_own(store: Store):
    posted(store)

    results = run_together(
        [lambda n=n: posting.post_refund(store, "pay_1", f"re_{n}", 500, LATER) for n in range(8)]
    )

    assert all(r.posted for r in results)
    assert sum(cents for _, cents in refunds(store)) == 4000
    found = store.get_payment("pay_1")
    assert (found.refunded_cents, found.status) == (4000, PaymentStatus.REFUNDED)
    assert totals(store).due_cents == DUE


def test_concurrent_refunds_beyond_the_payment_post_only_what_it_took(store: Store):
    posted(store)

    def refund(n: int) -> str:
        try:
            return (
                "posted"
                if posting.post_refund(store, "pay_1", f"re_{n}", 1000, LATER).posted
                else "no"
            )
        except RefundExceedsPayment:
            return "refused"

    results = run_together([lambda n=n: refund(n) for n in range(7)])

    assert sorted(results) == ["posted"] * 4 + ["refused"] * 3
    assert sum(cents for _, cents in refunds(store)) == 4000
    assert store.get_payment("pay_1").refunded_cents == 4000


def test_dispute_marks_and_clears_only_a_succeeded_payment(store: Store):
    posted(store)

    assert store.set_dispute("pay_1", True).status is PaymentStatus.DISPUTED
    assert store.set_dispute("pay_1", True).status is PaymentStatus.DISPUTED
    assert store.set_dispute("pay_1", False).status is PaymentStatus.SUCCEEDED

    store.create_payment(pending("pay_2", 100))
    assert store.set_dispute("pay_2", True).status is PaymentStatus.PENDING


def test_a_disputed_payment_can_be_reversed_once(store: Store):
    posted(store)
    store.set_dispute("pay_1", True)

    first = posting.reverse_payment(store, "pay_1", "Dispute lost", LATER)
    second = posting.reverse_payment(store, "pay_1", "Dispute lost", LATER)

    assert first.posted and not second.posted
    assert first.payment.status is PaymentStatus.REVERSED
    assert totals(store).due_cents == DUE


def test_reversing_a_partly_refunded_payment_undoes_only_what_was_kept(store: Store):
    posted(store)
    posting.post_refund(store, "pay_1", "re_1", 1500, LATER)

    posting.reverse_payment(store, "pay_1", "Dispute lost", LATER)

    now = totals(store)
    assert now.account_balance_cents == DUE
    assert now.by_statement == {OLDER: 3000, NEWER: 6550}


def test_a_stale_unsent_claim_can_be_taken_over_but_a_sent_one_cannot(store: Store):
    assert store.claim("gateway-event", "evt_1", NOW)
    assert not store.claim("gateway-event", "evt_1", NOW, stale_before=NOW)
    assert store.claim("gateway-event", "evt_1", LATER, stale_before=LATER)

    store.complete_claim("gateway-event", "evt_1", LATER)
    much_later = LATER + timedelta(days=1)
    assert not store.claim("gateway-event", "evt_1", much_later, stale_before=much_later)


def test_message_sent_only_once_marked(store: Store):
    assert not store.claim_completed("gateway-event", "evt_9")
    store.claim("gateway-event", "evt_9", NOW)
    assert not store.claim_completed("gateway-event", "evt_9")
    store.complete_claim("gateway-event", "evt_9", NOW)
    assert store.claim_completed("gateway-event", "evt_9")


def test_the_mail_log_keeps_each_attempt_newest_first_per_account(store: Store):
    from portal.domain.staff import MailRecord

    seed(store)
    for n, outcome in enumerate(("sent", "failed", "sent")):
        store.record_mail(
            MailRecord(
                "100234", "receipt", "maria@example.com", f"Receipt {n}", outcome, NOW, "why"
            )
        )
    store.record_mail(MailRecord("100999", "reminder", "x@example.com", "Other", "sent", NOW))

    log = store.mail_log("100234")

    assert [(m.subject, m.outcome) for m in log] == [
        ("Receipt 2", "sent"),
        ("Receipt 1", "failed"),
        ("Receipt 0", "sent"),
    ]
    assert log[0].at == NOW and log[0].detail == "why"
    assert [m.subject for m in store.mail_log("100234", limit=1)] == ["Receipt 2"]
    assert store.mail_log("100555") == []
