"""The SMS consent port: each account's consent to billing texts, found by account or by
the mobile number that texts back."""

from collections.abc import Sequence
from typing import Protocol

from portal.domain.texting import SmsConsent


class SmsConsents(Protocol):
    def sms_consent(self, account_number: str) -> SmsConsent | None:
        """The account's consent (active or stopped); None when it never had one."""

    def save_sms_consent(self, consent: SmsConsent) -> None:
        """Keep the account's consent, replacing the one it had."""

    def sms_consents(self, account_numbers: Sequence[str]) -> dict[str, SmsConsent]:
        """The consents of several accounts at once, by account number (those that have one):
        the reminder run reads a batch's in one call."""

    def sms_consents_for_phone(self, phone: str) -> list[SmsConsent]:
        """Every account's consent at this number (one phone can be on several accounts),
        by account number."""
