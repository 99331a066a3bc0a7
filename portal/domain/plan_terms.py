"""The authorization a patient agrees to for a payment plan: plain words that name the
amounts, the dates, how to cancel and what happens when a charge fails. The words are
versioned; the agreement keeps the version and the SHA-256 of the exact text shown, so
what was agreed can be shown again word for word.

Each language's text is its own version (`plan-2026-12-es`), written out here with its own
dates (not from a translation catalog or the locale data of a library, which may change
under a version already agreed to); the guarantor's preferred language chooses it."""

import hashlib
from collections.abc import Sequence
from datetime import date

from portal.domain.money import format_cents
from portal.domain.plans import MISSED_TO_DEFAULT, TRY_DAYS, Installment

AUTHORIZATION_VERSION = "plan-2026-12"
AUTOPAY_VERSION = "autopay-2026-12"
AUTHORIZATION_VERSION_ES = "plan-2026-12-es"
AUTOPAY_VERSION_ES = "autopay-2026-12-es"
SPANISH_MONTHS = (
    "enero",
    "febrero",
    "marzo",
    "abril",
    "mayo",
    "junio",
    "julio",
    "agosto",
    "septiembre",
    "octubre",
    "noviembre",
    "diciembre",
)


def _spanish(language: str) -> bool:
    return (language or "").strip().replace("_", "-").split("-")[0].lower() == "es"


def authorization_version(language: str) -> str:
    """The installment plan's authorization in the guarantor's language (a tag such as
    "es-MX"); English for a language it is not written in."""
    return AUTHORIZATION_VERSION_ES if _spanish(language) else AUTHORIZATION_VERSION


def autopay_version(language: str) -> str:
    return AUTOPAY_VERSION_ES if _spanish(language) else AUTOPAY_VERSION


def authorization_text(
    practice_name: str,
    account_number: str,
    installments: Sequence[Installment],
    version: str = AUTHORIZATION_VERSION,
) -> str:
    """The authorization for this schedule, as shown and as e-mailed, in `version`'s words.
    ValueError for a version that is not an installment plan's."""
    if version == AUTHORIZATION_VERSION_ES:
        return _authorization_text_es(practice_name, account_number, installments)
    if version != AUTHORIZATION_VERSION:
        raise ValueError(f"not a plan authorization version: {version!r}")
    total = sum(i.amount_cents for i in installments)
    lines = [
        f"I authorize {practice_name} to charge the card or bank account I save on the next"
        f" page for account {account_number}, in {len(installments)} installments that add"
        f" up to {format_cents(total)}, on these dates:",
        "",
        *(
            f"  {i.number}. {long_date(i.due_on)}: {format_cents(i.amount_cents)}"
            for i in installments
        ),
        "",
        "There is no interest and no fee.",
        "You will get an e-mail 3 days before each charge and a receipt after it.",
        f"If a charge fails, it is tried again {TRY_DAYS[1]} and {TRY_DAYS[2]} days later;"
        " you will get an e-mail each time. If the card needs you to confirm a charge, the"
        " e-mail has a link to pay that installment yourself.",
        f"If {MISSED_TO_DEFAULT} installments are missed, the plan ends, what is still owed"
        " is due at once, and the billing office will contact you.",
        "You can pay an installment early, pay off the rest, change the card or bank"
        " account, or cancel the plan at any time on the plan's page in the portal, or by"
        " calling the billing office. Canceling stops future charges; what is still owed"
        " is then due as on your statements.",
    ]
    return "\n".join(lines)


def _authorization_text_es(
    practice_name: str, account_number: str, installments: Sequence[Installment]
) -> str:
    total = sum(i.amount_cents for i in installments)
    lines = [
        f"Autorizo a {practice_name} a cobrar a la tarjeta o cuenta bancaria que guarde en la"
        f" página siguiente, para la cuenta {account_number}, {len(installments)} pagos que"
        f" suman {format_cents(total)}, en estas fechas:",
        "",
        *(
            f"  {i.number}. {spanish_date(i.due_on)}: {format_cents(i.amount_cents)}"
            for i in installments
        ),
        "",
        "No hay intereses ni cargos.",
        "Recibirá un correo electrónico 3 días antes de cada cobro y un recibo después.",
        f"Si no se puede hacer un cobro, se volverá a intentar {TRY_DAYS[1]} y {TRY_DAYS[2]}"
        " días después; recibirá un correo electrónico cada vez. Si la tarjeta pide que"
        " usted confirme un cobro, el correo electrónico tendrá un enlace para que haga ese"
        " pago.",
        f"Si faltan {MISSED_TO_DEFAULT} pagos, el plan termina, lo que todavía deba se tendrá"
        " que pagar de inmediato y la oficina de facturación se comunicará con usted.",
        "Puede hacer un pago antes de tiempo, pagar el resto, cambiar la tarjeta o la cuenta"
        " bancaria, o cancelar el plan en cualquier momento en la página del plan en el"
        " portal, o llamando a la oficina de facturación. Si cancela, no se harán más cobros;"
        " lo que todavía deba se pagará según sus estados de cuenta.",
    ]
    return "\n".join(lines)


def autopay_text(practice_name: str, account_number: str, version: str = AUTOPAY_VERSION) -> str:
    """The authorization for autopay: each new statement paid in full on its due date.
    ValueError for a version that is not autopay's."""
    if version == AUTOPAY_VERSION_ES:
        return _autopay_text_es(practice_name, account_number)
    if version != AUTOPAY_VERSION:
        raise ValueError(f"not an autopay authorization version: {version!r}")
    return "\n".join(
        [
            f"I authorize {practice_name} to charge the card or bank account I save on the"
            f" next page for account {account_number}: each new statement's balance, in"
            " full, on the statement's due date, until I cancel.",
            "Statements already issued today are not included; pay them as usual.",
            "There is no fee.",
            "You will get an e-mail 3 days before each charge and a receipt after it.",
            f"If a charge fails, it is tried again {TRY_DAYS[1]} and {TRY_DAYS[2]} days"
            " later; you will get an e-mail each time.",
            f"If {MISSED_TO_DEFAULT} charges are missed, autopay ends and the billing office"
            " will contact you.",
            "You can change the card or bank account, or cancel autopay at any time on its"
            " page in the portal, or by calling the billing office.",
        ]
    )


def _autopay_text_es(practice_name: str, account_number: str) -> str:
    return "\n".join(
        [
            f"Autorizo a {practice_name} a cobrar a la tarjeta o cuenta bancaria que guarde en"
            f" la página siguiente, para la cuenta {account_number}: el saldo completo de cada"
            " estado de cuenta nuevo, en su fecha de vencimiento, hasta que yo lo cancele.",
            "Los estados de cuenta que ya se emitieron hoy no están incluidos; páguelos como"
            " siempre.",
            "No hay cargos.",
            "Recibirá un correo electrónico 3 días antes de cada cobro y un recibo después.",
            f"Si no se puede hacer un cobro, se volverá a intentar {TRY_DAYS[1]} y"
            f" {TRY_DAYS[2]} días después; recibirá un correo electrónico cada vez.",
            f"Si faltan {MISSED_TO_DEFAULT} cobros, el pago automático termina y la oficina de"
            " facturación se comunicará con usted.",
            "Puede cambiar la tarjeta o la cuenta bancaria, o cancelar el pago automático en"
            " cualquier momento en su página del portal, o llamando a la oficina de"
            " facturación.",
        ]
    )


def agreement_text(
    version: str,
    practice_name: str,
    account_number: str,
    installments: Sequence[Installment] = (),
) -> str:
    """The words of an agreement's version, as shown when it was agreed to."""
    if version in (AUTOPAY_VERSION, AUTOPAY_VERSION_ES):
        return autopay_text(practice_name, account_number, version)
    return authorization_text(practice_name, account_number, installments, version)


def spanish_date(day: date) -> str:
    """ "15 de enero de 2027", as the Spanish texts write a date."""
    return f"{day.day} de {SPANISH_MONTHS[day.month - 1]} de {day.year}"


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
