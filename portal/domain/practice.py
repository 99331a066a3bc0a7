"""The practice's billing office: the contact details patients are given.

The values are set in templates/site/_practice.html (the public site and the e-mails read
them there); portal/adapters/practice_details.py reads them once per cold start into a
PracticeDetails, so the services that print them (the statement PDF) need no templates.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PracticeDetails:
    """The billing office as templates/site/_practice.html defines it."""

    name: str
    payee: str
    mailing_address: tuple[str, ...]
    phone: str
    hours: str
    email: str
    examples: bool  # still the placeholder details


def public_mail_from(mail_from: str) -> str:
    """The practice's sending address when it is a real one ("" for a @localhost default):
    _practice.html offers it as the contact e-mail."""
    return "" if mail_from.endswith("@localhost") else mail_from
