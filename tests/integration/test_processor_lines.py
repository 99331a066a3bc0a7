"""The lines the payment processor shows the patient (a checkout's product line, a plan's
installment charged with the patient away) are in the patient's language and name only
statement numbers and installment counts: nothing about the care."""

from dataclasses import replace
from datetime import date

import pytest

from portal.domain.accounts import Account
from portal.services.payments import start_payment
from portal.services.statements import import_statement
from tests.conftest import lopez_account, statement
from tests.email_catalogs import compile_catalogs, renderer
from tests.plan_helpers import run_on, set_up_plan


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    return compile_catalogs(tmp_path_factory.mktemp("catalogs"))


@pytest.fixture
def services(services, catalogs):
    services.emails = renderer(catalogs)
    return services


def spanish_account() -> Account:
    account = lopez_account()
    return replace(account, guarantor=replace(account.guarantor, preferred_language="es"))


@pytest.mark.parametrize(
    ("language", "amount", "line"),
    [
        ("en", "20.00", "Payment toward statement S-2026-000100"),
        ("es", "20.00", "Pago del estado de cuenta S-2026-000100"),
        ("es-US", "45.50", "Pago de los estados de cuenta S-2026-000100, S-2026-000123"),
        ("es", "95.50", "Pago de los estados de cuenta S-2026-000100, S-2026-000123"),
        ("haw", "20.00", "Payment toward statement S-2026-000100"),  # not shipped: English
    ],
)
def test_the_checkout_line_is_in_the_patients_language(services, lopez, language, amount, line):
    checkout = start_payment(services, "100234", amount, language=language)

    opened = services.payments.open_session(checkout.session_id)
    assert opened.description == line


def test_the_balance_line_in_spanish(services, lopez):
    for number in range(3):  # four statements open: the line names the balance
        later = statement(f"S-2026-00020{number}", (1000,), date(2026, 11, 10 + number))
        import_statement(services, lopez_account(), later, notify=False)

    checkout = start_payment(services, "100234", "125.50", language="es")

    assert services.payments.open_session(checkout.session_id).description == (
        "Pago a cuenta del saldo"
    )


@pytest.mark.parametrize(
    ("account", "line"),
    [
        (spanish_account, "Pago 1 de 3 del plan de pagos"),
        (lopez_account, "Payment plan installment 1 of 3"),
    ],
)
def test_a_plans_installment_is_described_in_the_guarantors_language(
    services, monkeypatch, account, line
):
    big = statement("S-2026-000300", (60_000,), date(2026, 11, 20), date(2026, 12, 20))
    import_statement(services, account(), big, notify=False)
    plan = set_up_plan(services, "100234")
    sent = []
    charge = services.payments.charge_saved
    monkeypatch.setattr(
        services.payments, "charge_saved", lambda request: sent.append(request) or charge(request)
    )

    summary = run_on(services, plan.installments[0].due_on)

    assert summary.charged == 1
    assert [request.description for request in sent] == [line]
