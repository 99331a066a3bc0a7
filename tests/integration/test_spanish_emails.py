"""A guarantor whose preferred language is Spanish gets every e-mail in Spanish, end to end
(the reminder run, a statement notice, a receipt, a refund, a payment plan's e-mails),
subject included; an English account beside it still gets English. The privacy scan holds
in both languages: no codes, descriptions, providers or dates of birth, in any date form."""

from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.plan_terms import (
    AUTHORIZATION_VERSION_ES,
    AUTOPAY_VERSION_ES,
    authorization_text,
    autopay_text,
    text_digest,
)
from portal.domain.viewers import Viewer
from portal.ports.mail import KIND_HEADER
from portal.services import ledger as posting
from portal.services.plans import propose_autopay
from portal.services.receipts import send_receipt
from portal.services.refund_notices import refund_message
from portal.services.reminders import run_reminders
from portal.services.statements import import_statement
from tests.conftest import NOW, line
from tests.email_catalogs import compile_catalogs, renderer
from tests.integration.conftest import eml_files, read_eml
from tests.plan_helpers import run_on, set_up_plan

TODAY = date(2026, 11, 28)
PRACTICE = "Demo Family Practice"
# What the statements and the people on them hold that no e-mail may carry, in English and
# in the Spanish ways of writing a date (tests.conftest.line: a visit 18 days before the
# statement; the guarantors' and patients' dates of birth below).
HEALTH_DETAILS = (
    "99213",
    "J06.9",
    "Office visit",
    "established patient",
    "Dr. Chen",
    "1975-05-05",
    "05/05/1975",
    "May 5, 1975",
    "5 de mayo de 1975",
    "2015-06-02",
    "June 2, 2015",
    "2 de junio de 2015",
)


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory) -> Path:
    return compile_catalogs(tmp_path_factory.mktemp("catalogs"))


@pytest.fixture
def spanish(services, catalogs):
    """The services, sending from the catalogs compiled from translations/."""
    services.emails = renderer(catalogs)
    return services


def account(number: str, language: str, email: str) -> Account:
    return Account(
        number,
        Guarantor("José", "Núñez", date(1975, 5, 5), email=email, preferred_language=language),
        (Patient("P1", "Ana", "Núñez", date(2015, 6, 2)),),
    )


def add_past_due(services, number: str, language: str, days: int, cents: int = 5000):
    due = TODAY - timedelta(days=days)
    holder = account(number, language, f"{number}@example.com")
    statement_date = due - timedelta(days=30)
    statement = _statement(number, statement_date, due, cents)
    services.store.import_statement(holder, statement, NOW - timedelta(days=days + 30))
    return holder


def _statement(number: str, statement_date: date, due: date, cents: int):
    from portal.domain.statements import Statement

    return Statement(
        f"S-{number}",
        number,
        statement_date,
        due,
        (line("1", owed=cents, service_date=statement_date - timedelta(days=18)),),
    )


def messages(outbox: Path) -> dict[str, EmailMessage]:
    """Each message by its recipient, checked for health details in every part."""
    found = {}
    for path in eml_files(outbox):
        message = read_eml(path)
        everything = "\n".join(
            [
                *(f"{k}: {v}" for k, v in message.items()),
                *(p.get_content() for p in message.walk() if p.get_content_maintype() == "text"),
            ]
        )
        for detail in HEALTH_DETAILS:
            assert detail not in everything, (path.name, detail)
        found[str(message["To"])] = message
    return found


def bodies(message: EmailMessage) -> tuple[str, str]:
    parts = {p.get_content_type(): p.get_content() for p in message.iter_parts()}
    return parts["text/plain"], parts["text/html"]


def test_the_reminder_run_writes_to_each_guarantor_in_their_language(spanish, outbox):
    add_past_due(spanish, "500015", "es", 15)
    add_past_due(spanish, "500016", "en", 15)
    add_past_due(spanish, "500060", "es-MX", 60)

    summary = run_reminders(spanish, NOW)

    assert summary.sent == 3
    sent = messages(outbox)
    reminder = sent["500015@example.com"]
    assert reminder[KIND_HEADER] == "reminder"
    assert reminder["Subject"] == f"Recordatorio: su saldo de $50.00 con {PRACTICE} está vencido"
    assert reminder["List-Unsubscribe"] and reminder["List-Unsubscribe-Post"]
    text, html = bodies(reminder)
    assert "Hola, José:" in text
    assert "Fecha de vencimiento: 13 de noviembre de 2026 (hace 15 días)" in text
    assert "Total a pagar: $50.00" in text
    assert '<html lang="es">' in html and "Recordatorio de pago" in html

    final = sent["500060@example.com"]
    assert final[KIND_HEADER] == "final-notice"
    assert final["Subject"] == f"Aviso final: su saldo de $50.00 con {PRACTICE} está vencido"
    assert "tiene 60 días de atraso" in bodies(final)[0]

    english = sent["500016@example.com"]
    assert english["Subject"] == f"Reminder: {PRACTICE} balance of $50.00 past due"
    text, html = bodies(english)
    assert "Was due: November 13, 2026 (15 days ago)" in text
    assert '<html lang="en">' in html


def test_a_statement_notice_in_spanish(spanish, outbox):
    holder = account("500100", "es", "jose@example.com")
    statement = _statement("500100", date(2026, 11, 1), date(2026, 11, 30), 4550)

    import_statement(spanish, holder, statement)

    message = messages(outbox)["jose@example.com"]
    assert message[KIND_HEADER] == "statement"
    assert message["Subject"] == f"Su estado de cuenta de {PRACTICE} está listo"
    text, _ = bodies(message)
    assert "Fecha de emisión: 1 de noviembre de 2026" in text
    assert "Fecha de vencimiento: 30 de noviembre de 2026" in text
    assert "Total a pagar: $45.50" in text


def _posted_payment(services, number: str, cents: int, gateway: str = "sandbox") -> Payment:
    payment = Payment("pay_es1", number, cents, PaymentStatus.PENDING, "card", gateway, NOW)
    services.store.create_payment(payment)
    posting.post_payment(services.store, payment.payment_id, "ref-es1", cents, NOW)
    return payment


def test_a_receipt_and_a_refund_in_spanish(spanish, outbox):
    holder = account("500200", "es", "jose@example.com")
    statement = _statement("500200", date(2026, 11, 1), date(2026, 11, 30), 4550)
    import_statement(spanish, holder, statement, notify=False)
    payment = _posted_payment(spanish, "500200", 2500)

    assert send_receipt(spanish, payment.payment_id)

    receipt = messages(outbox)["jose@example.com"]
    assert receipt[KIND_HEADER] == "receipt"
    assert receipt["Subject"] == f"Su pago a {PRACTICE} - recibo"
    text, html = bodies(receipt)
    assert "Gracias. Recibimos su pago de $25.00 el 28 de noviembre de 2026." in text
    assert "Aplicado al estado de cuenta S-500200: $25.00" in text
    assert "Saldo a pagar ahora: $20.50" in text
    activity = text.split("Actividad reciente en su cuenta:")[1].strip().splitlines()
    assert activity[0].strip() == "Recibimos su pago de $25.00"
    assert activity[1].strip() == (
        "Estado de cuenta S-500200: le toca pagar $45.50 después del seguro"
    )
    assert "<li>Recibimos su pago de $25.00</li>" in html

    posting.post_refund(spanish.store, payment.payment_id, "re_es1", 1000, NOW)
    refund = refund_message(spanish, payment.payment_id, "re_es1", 1000, "by check number 1234")
    assert refund is not None
    assert refund.subject == f"Su reembolso de {PRACTICE}"
    assert (
        "Le devolvimos $10.00 de su pago de $25.00 (número de recibo pay_es1), con el cheque "
        "número 1234." in refund.text
    )
    assert "Reembolso de $10.00 (parte de su pago de $25.00)" in refund.text
    assert '<html lang="es">' in refund.html


# -- a payment plan ------------------------------------------------------------------------------

ALWAYS_DECLINED = "4000000000000341"


def new_messages(outbox: Path, seen: set[str]) -> list[EmailMessage]:
    found = []
    for path in eml_files(outbox):
        if path.name not in seen:
            seen.add(path.name)
            found.append(read_eml(path))
    return found


def test_a_spanish_guarantor_agrees_to_the_spanish_authorization_and_gets_its_emails(
    spanish, outbox
):
    holder = account("610001", "es", "jose@example.com")
    statement = _statement("610001", date(2026, 11, 20), date(2026, 12, 20), 30_000)
    import_statement(spanish, holder, statement, notify=False)
    seen: set[str] = set()

    plan = set_up_plan(spanish, "610001", card=ALWAYS_DECLINED)

    agreement = plan.agreements[-1]
    assert agreement.version == AUTHORIZATION_VERSION_ES
    shown = authorization_text(PRACTICE, "610001", agreement.installments, agreement.version)
    assert agreement.digest == text_digest(shown)
    assert "  1. 1 de diciembre de 2026: $100.00" in shown
    (copy,) = new_messages(outbox, seen)
    assert copy[KIND_HEADER] == "plan-agreement"
    assert copy["Subject"] == f"Su plan de pagos con {PRACTICE} está listo"
    text, html = bodies(copy)
    assert "Se paga con: Visa que termina en 0341." in text
    assert (
        "Esta es su copia de la autorización que aceptó el 28 de noviembre de 2026 "
        "(versión plan-2026-12-es):" in text
    )
    assert shown in text
    assert '<p style="margin:4px 0;">No hay intereses ni cargos.</p>' in html

    run_on(spanish, date(2026, 11, 28))
    (upcoming,) = new_messages(outbox, seen)
    assert upcoming["Subject"] == "Su plan de pagos: $100.00 el 1 de diciembre de 2026"
    assert "Este es el pago 1 de 3 de su plan de pagos." in bodies(upcoming)[0]

    run_on(spanish, date(2026, 12, 1))
    (failed,) = new_messages(outbox, seen)
    assert failed[KIND_HEADER] == "plan-failed"
    assert failed["Subject"] == "No se pudo cobrar el pago de $100.00 de su plan de pagos"
    text, _ = bodies(failed)
    assert (
        "El 1 de diciembre de 2026 no pudimos cobrar $100.00 a Visa que termina en 0341 "
        "por el pago 1 de su plan de pagos." in text
    )
    assert "Volveremos a intentarlo el 4 de diciembre de 2026." in text
    assert "de su plan de pagos. Su tarjeta fue rechazada." in text  # the reason, in Spanish
    assert "declined" not in text
    messages(outbox)  # the privacy scan over everything sent


def test_a_spanish_guarantor_gets_the_spanish_autopay_authorization(spanish):
    holder = account("610002", "es", "jose@example.com")
    statement = _statement("610002", date(2026, 11, 20), date(2026, 12, 20), 30_000)
    import_statement(spanish, holder, statement, notify=False)

    proposal = propose_autopay(spanish, "610002", Viewer.guarantor())

    assert proposal.version == AUTOPAY_VERSION_ES
    assert proposal.text == autopay_text(PRACTICE, "610002", AUTOPAY_VERSION_ES)
