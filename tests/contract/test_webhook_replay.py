"""Stripe's notifications as they really come: more than once, late, out of order and at the
same moment, on every store. Each payment must post once, every balance must be exact to the
cent, and each payment must get exactly one receipt."""

import dataclasses
import random
import re
from collections import Counter, deque
from datetime import date
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.domain.accounts import Account, Guarantor
from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.ports.store import Store
from tests.conftest import NOW, line
from tests.contract.test_store_contract import run_together
from tests.stripe_fixtures import (
    charge_object,
    dispute_object,
    event,
    register_intent,
    session_object,
    signed,
    stripe_settings,
)

# Five payments an account; every story below happens at the smaller size too.
PAYMENTS_PER_ACCOUNT = 5
COPIES = 5
CONCURRENT_COPIES = 50


@dataclasses.dataclass
class Plan:
    """One payment and what Stripe will say about it."""

    payment_id: str
    account_number: str
    amount_cents: int
    story: str  # paid | async | refunded | dispute-won | dispute-lost | expired
    events: list[dict] = dataclasses.field(default_factory=list)

    @property
    def posted(self) -> bool:
        return self.story != "expired"

    @property
    def kept_cents(self) -> int:
        """What the practice keeps of it in the end."""
        return 0 if self.story in ("expired", "dispute-lost", "refunded") else self.amount_cents


STORIES = ["paid"] * 6 + ["async", "refunded", "dispute", "expired"]


def plan_payments(rng: random.Random, payments: int) -> list[Plan]:
    accounts = payments // PAYMENTS_PER_ACCOUNT
    plans = []
    for n in range(payments):
        story = STORIES[n % len(STORIES)]
        if story == "dispute":
            story = "dispute-lost" if n % 20 < 10 else "dispute-won"
        plan = Plan(f"pay_r{n:03d}", f"{300000 + n % accounts}", rng.randint(100, 6000), story)
        pid, cents = plan.payment_id, plan.amount_cents
        paid = session_object(pid, cents)
        if story == "expired":
            expired = session_object(pid, cents, status="expired", payment_status="unpaid")
            expired["payment_intent"] = None
            plan.events.append(event("checkout.session.expired", expired))
        elif story == "async":
            unpaid = session_object(pid, cents, payment_status="unpaid")
            plan.events += [
                event("checkout.session.completed", unpaid),
                event("checkout.session.async_payment_succeeded", paid),
            ]
        else:
            plan.events.append(event("checkout.session.completed", paid))
        if story == "refunded":
            plan.events += [
                event("charge.refunded", charge_object(pid, cents, cents // 3)),
                event("charge.refunded", charge_object(pid, cents, cents)),
            ]
        if story.startswith("dispute"):
            outcome = "won" if story == "dispute-won" else "lost"
            plan.events += [
                event("charge.dispute.created", dispute_object(pid, cents, "needs_response")),
                event("charge.dispute.closed", dispute_object(pid, cents, outcome)),
            ]
        plans.append(plan)
    return plans


def import_accounts(store: Store, accounts: int) -> dict[str, int]:
    owed = {}
    for n in range(accounts):
        number = f"{300000 + n}"
        account = Account(
            number, Guarantor("Pat", f"Replay{n}", date(1980, 1, 1), email=f"pat{n}@example.com")
        )
        cents = 5000 + 250 * n
        statement = Statement(
            f"S-R-{number}",
            number,
            date(2026, 10, 1),
            date(2026, 10, 31),
            (line("1", owed=cents),),
        )
        store.import_statement(account, statement, NOW)
        owed[number] = cents
    return owed


@pytest.fixture
def replay(store, settings, clock, stub, tmp_path):
    services = build_services(stripe_settings(settings, stub), clock=clock)
    services = dataclasses.replace(services, store=store)
    app = create_app(services=services)
    app.config["TESTING"] = True
    return services, app


def deliver(app, envelope: dict) -> int:
    body, headers = signed(envelope)
    return app.test_client().post("/webhooks/stripe", data=body, headers=headers).status_code


def receipts_by_payment(outbox: Path) -> Counter:
    found = Counter()
    for path in outbox.glob("*.eml"):
        message = message_from_bytes(path.read_bytes(), policy=policy.default)
        if message["X-Portal-Message-Kind"] == "receipt":
            text = message.get_body(("plain",)).get_content()
            found.update(re.findall(r"/payments/(pay_r\d{3})", text)[:1])
    return found


# 20 payments in `make test`; the full 200 in `make test-slow`.
@pytest.mark.parametrize("payments", [20, pytest.param(200, marks=pytest.mark.slow)])
def test_replayed_shuffled_and_concurrent_notifications_post_exactly_once(
    replay, store, stub, payments
):
    replay_stub = stub
    services, app = replay
    rng = random.Random(20261128)
    owed = import_accounts(store, payments // PAYMENTS_PER_ACCOUNT)
    plans = plan_payments(rng, payments)
    assert {p.story for p in plans} == {
        "paid",
        "async",
        "refunded",
        "dispute-lost",
        "dispute-won",
        "expired",
    }
    for plan in plans:
        register_intent(replay_stub, plan.payment_id)
        if plan.story == "refunded":  # the two refunds its notices report, as Stripe lists them
            third = plan.amount_cents // 3
            replay_stub.add_refund(f"pi_{plan.payment_id}", third)
            replay_stub.add_refund(f"pi_{plan.payment_id}", plan.amount_cents - third)
        store.create_payment(
            Payment(
                plan.payment_id,
                plan.account_number,
                plan.amount_cents,
                PaymentStatus.PENDING,
                "card",
                "stripe",
                NOW,
                checkout_session_id=f"cs_test_{plan.payment_id}",
            )
        )

    # 50 copies of one notification at the same moment: one applies it; the others hear
    # "done" (200) or, while it is still being applied, "try again" (409), as Stripe would.
    first = plans[0].events[0]
    statuses = run_together([lambda: deliver(app, first)] * CONCURRENT_COPIES)
    assert set(statuses) <= {200, 409} and 200 in statuses, Counter(statuses)

    deliveries = [e for plan in plans for e in plan.events for _ in range(COPIES)]
    rng.shuffle(deliveries)
    retried = [first] * statuses.count(409)
    queue, answered = deque(retried + deliveries), Counter()
    while queue:
        assert sum(answered.values()) < 10 * len(deliveries), "notifications never settle"
        envelope = queue.popleft()
        status = deliver(app, envelope)
        answered[status] += 1
        if status == 409:  # a refund or dispute that overtook its payment: Stripe retries
            queue.append(envelope)
        else:
            assert status == 200, (status, envelope["type"])

    by_account: dict[str, list] = {}
    for number in owed:
        records = store.account_records(number)
        by_account[number] = list(records.entries)
        kept = sum(p.kept_cents for p in plans if p.account_number == number)
        assert balances(records.entries).account_balance_cents == owed[number] - kept, number

    for plan in plans:
        entries = [e for e in by_account[plan.account_number] if e.payment_id == plan.payment_id]
        paid = [e for e in entries if e.kind is EntryKind.PATIENT_PAYMENT]
        payment = store.get_payment(plan.payment_id)
        if not plan.posted:
            assert entries == [] and payment.status is PaymentStatus.CANCELED, plan
            continue
        assert sum(e.amount_cents for e in paid) == -plan.amount_cents, plan
        refunded = sum(e.amount_cents for e in entries if e.kind is EntryKind.REFUND)
        expected = {
            "refunded": PaymentStatus.REFUNDED,
            "dispute-lost": PaymentStatus.REVERSED,
        }.get(plan.story, PaymentStatus.SUCCEEDED)
        assert payment.status is expected, plan
        assert refunded == (plan.amount_cents if plan.story == "refunded" else 0), plan

    receipts = receipts_by_payment(Path(services.settings.outbox_dir))
    assert receipts == Counter({p.payment_id: 1 for p in plans if p.posted})
    assert answered[200] >= len(deliveries)
