"""A patient pays the full balance over 100 and 300 open statements, through the real app,
on SQLite and on DynamoDB (moto's server over HTTP): more ledger entries than one DynamoDB
transaction holds. The payment posts whole, once; a lost dispute reverses it whole."""

import uuid
from dataclasses import replace

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.config import Settings
from portal.domain.ledger import EntryKind, balances
from portal.domain.payments import Payment, PaymentStatus
from tests.conftest import NOW, lopez_account
from tests.integration.conftest import (
    balance_due,
    eml_files,
    open_checkout,
    path_of,
    pay,
    read_eml,
    sign_in,
)
from tests.many_statements import add_statements, many_statements, owed_on
from tests.stripe_fixtures import (
    dispute_object,
    event,
    register_intent,
    session_object,
    signed,
    stripe_settings,
)

# 100 statements already take more than one DynamoDB transaction; 300 run in `make test-slow`.
COUNTS = [100, pytest.param(300, marks=pytest.mark.slow)]


@pytest.fixture(params=["sqlite", "dynamodb"])
def kind_settings(request, settings: Settings) -> Settings:
    if request.param == "sqlite":
        return settings
    request.getfixturevalue("moto_endpoint")
    return replace(settings, store="dynamodb", dynamodb_table=f"many-{uuid.uuid4().hex[:12]}")


def build(request, settings: Settings, clock):
    services = build_services(settings, clock=clock)
    services.store.migrate()
    if settings.store == "dynamodb":
        table = services.store.db
        request.addfinalizer(lambda: table.client.delete_table(TableName=table.name))
    app = create_app(services=services)
    app.config["TESTING"] = True
    return services, app.test_client()


def dollars(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def receipts(outbox) -> int:
    return sum(read_eml(p)["X-Portal-Message-Kind"] == "receipt" for p in eml_files(outbox))


def statement_balances(services) -> dict[str, int]:
    records = services.store.account_records("100234")
    return dict(balances(records.entries).by_statement)


@pytest.mark.parametrize("count", COUNTS)
def test_the_full_balance_over_many_statements_posts_once(
    request, kind_settings, clock, outbox, count
):
    services, client = build(request, kind_settings, clock)
    statements = many_statements("100234", count)
    add_statements(services.store, lopez_account(), statements, NOW)
    owed = owed_on(statements)
    sign_in(client)

    checkout = open_checkout(client, dollars(owed))
    paid = pay(client, checkout)

    assert paid.status_code == 303, paid.get_data(as_text=True)
    payment_id = path_of(paid.headers["Location"]).rsplit("/", 1)[1]
    payment = services.store.get_payment(payment_id)
    assert payment.status is PaymentStatus.SUCCEEDED and payment.amount_cents == owed
    assert set(statement_balances(services).values()) == {0}
    assert balance_due(client.get("/account").get_data(as_text=True)) == "$0.00"
    assert receipts(outbox) == 1
    # The checkout page of the paid payment answers, and posts nothing more.
    assert client.get(checkout).status_code in (200, 302, 303)
    entries = services.store.account_records("100234").entries
    assert len([e for e in entries if e.payment_id == payment_id]) == count
    assert receipts(outbox) == 1


@pytest.mark.parametrize("count", COUNTS)
def test_a_stripe_payment_over_many_statements_posts_and_a_lost_dispute_reverses_it(
    request, kind_settings, clock, outbox, stub, count
):
    services, client = build(request, stripe_settings(kind_settings, stub), clock)
    statements = many_statements("100234", count)
    add_statements(services.store, lopez_account(), statements, NOW)
    owed = owed_on(statements)
    payment = Payment("pay_many", "100234", owed, PaymentStatus.PENDING, "card", "stripe", NOW)
    assert services.store.create_payment(payment)
    services.store.attach_checkout("pay_many", "cs_test_pay_many")
    register_intent(stub, "pay_many")

    def deliver(kind: str, obj: dict):
        body, headers = signed(event(kind, obj))
        return client.post("/webhooks/stripe", data=body, headers=headers)

    completed = deliver("checkout.session.completed", session_object("pay_many", owed))

    assert completed.status_code == 200, completed.get_data(as_text=True)
    assert services.store.get_payment("pay_many").status is PaymentStatus.SUCCEEDED
    assert set(statement_balances(services).values()) == {0}
    assert receipts(outbox) == 1
    again = deliver("checkout.session.completed", session_object("pay_many", owed))
    assert again.status_code == 200
    month = services.store.ledger_totals(NOW, NOW.replace(hour=16))
    assert month[EntryKind.PATIENT_PAYMENT] == -owed

    assert deliver("charge.dispute.created", dispute_object("pay_many", owed, "needs_response"))
    lost = deliver("charge.dispute.closed", dispute_object("pay_many", owed, "lost"))

    assert lost.status_code == 200, lost.get_data(as_text=True)
    assert services.store.get_payment("pay_many").status is PaymentStatus.REVERSED
    assert statement_balances(services) == {s.statement_id: s.total_cents for s in statements}
    assert services.store.receivable_at(NOW.replace(hour=16)) == owed
    assert receipts(outbox) == 1
