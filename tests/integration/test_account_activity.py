"""The account page tells every money event in plain words (issue 16's money timeline)."""

import re
from datetime import timedelta

from portal.domain.ledger import EntryKind
from portal.domain.payments import Payment, PaymentStatus
from portal.services import ledger
from tests.integration.conftest import sign_in


def activity(client) -> list[tuple[str, str, str]]:
    """(kind, words, balance change) of each line of the page's account activity."""
    html = client.get("/account").get_data(as_text=True)
    section = html[html.index('data-testid="activity"') :]
    section = section[: section.index("</ul>")]
    rows = re.findall(
        r'data-kind="([^"]+)">\s*<span>([^<]+)</span>.*?<span class="row-amount">([^<]+)</span>',
        section,
        re.S,
    )
    return [(kind, words, amount.replace("&minus;", "-")) for kind, words, amount in rows]


def test_a_partial_refund_and_a_write_off_are_on_the_account_page(services, client, lopez, clock):
    now = clock.now()
    payment = Payment("pay_t1", "100234", 4550, PaymentStatus.PENDING, "card", "sandbox", now)
    services.store.create_payment(payment)
    ledger.post_payment(services.store, "pay_t1", "ref-t1", 4550, now)
    ledger.post_refund(services.store, "pay_t1", "re-t1", 400, now + timedelta(hours=1))
    ledger.post_adjustment(
        services.store,
        "100234",
        "S-2026-000123",
        EntryKind.WRITE_OFF,
        310,
        "Small balance, per Dr. Chen",
        now + timedelta(hours=2),
    )
    sign_in(client)

    lines = activity(client)

    assert lines[:3] == [
        (
            "write-off",
            "$3.10 written off (statement S-2026-000123): you no longer owe it",
            "-$3.10",
        ),
        (
            "refund",
            "Refund of $4.00 (part of your $45.50 payment), back to how you paid",
            "+$4.00",
        ),
        ("payment", "Payment of $45.50 received", "-$45.50"),
    ]
    assert {kind for kind, _, _ in lines[3:]} == {"statement"}
    assert "Dr. Chen" not in client.get("/account").get_data(as_text=True)  # a staff memo


def test_an_account_with_no_money_events_says_nothing_yet(services, client, lopez):
    sign_in(client)
    html = client.get("/account").get_data(as_text=True)
    assert 'id="activity-heading">Account activity<' in html
    assert len(activity(client)) == 2  # the two statements


def test_a_refunded_payments_page_tells_what_happened_to_it(services, client, lopez, clock):
    now = clock.now()
    payment = Payment("pay_t2", "100234", 2000, PaymentStatus.PENDING, "card", "sandbox", now)
    services.store.create_payment(payment)
    ledger.post_payment(services.store, "pay_t2", "ref-t2", 2000, now)
    ledger.post_refund(services.store, "pay_t2", "re-t2", 500, now + timedelta(hours=1))
    ledger.post_refund(services.store, "pay_t2", "re-t3", 1500, now + timedelta(hours=2))
    sign_in(client)

    html = client.get("/payments/pay_t2").get_data(as_text=True)

    told = re.findall(r"<li>([^<]+) <span", html[html.index('data-testid="payment-events"') :])
    assert told == [
        "Payment of $20.00 received",
        "Refund of $5.00 (part of your $20.00 payment), back to how you paid",
        "Refund of $15.00: the rest of your $20.00 payment, back to how you paid",
    ]


def test_a_payment_page_seen_without_signing_in_shows_no_history(services, client, lopez, clock):
    now = clock.now()
    payment = Payment("pay_t3", "100234", 2000, PaymentStatus.PENDING, "card", "sandbox", now)
    services.store.create_payment(payment)
    ledger.post_payment(services.store, "pay_t3", "ref-t3", 2000, now)
    ledger.post_refund(services.store, "pay_t3", "re-t4", 500, now + timedelta(hours=1))

    html = client.get("/payments/pay_t3").get_data(as_text=True)

    assert 'data-testid="payment-events"' not in html
    assert "Refund of" not in html
