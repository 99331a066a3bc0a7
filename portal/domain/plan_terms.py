"""The authorization a patient agrees to for a payment plan: plain words that name the
amounts, the dates, how to cancel and what happens when a charge fails. The words are
versioned; the agreement keeps the version and the SHA-256 of the exact text shown, so
what was agreed can be shown again word for word."""

import hashlib
from collections.abc import Sequence
from datetime import date

from portal.domain.money import format_cents
from portal.domain.plans import MISSED_TO_DEFAULT, TRY_DAYS, Installment

AUTHORIZATION_VERSION = "plan-2026-12"
AUTOPAY_VERSION = "autopay-2026-12"


def authorization_text(
    practice_name: str, account_number: str, installments: Sequence[Installment]
) -> str:
    """The authorization for this schedule, as shown and as e-mailed."""
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


def autopay_text(practice_name: str, account_number: str) -> str:
    """The authorization for autopay: each new statement paid in full on its due date."""
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


def long_date(day: date) -> str:
    return f"{day:%B} {day.day}, {day.year}"


def text_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
