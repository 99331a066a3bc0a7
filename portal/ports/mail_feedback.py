"""The mail-feedback port: what SES reported back about the portal's e-mail (bounces,
complaints, deliveries), and the addresses that must not be written to until corrected."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from portal.domain.staff import AuditEntry, MailRecord


@dataclass(frozen=True)
class UndeliverableAddress:
    """An e-mail address SES reported as one that will not take mail: a permanent bounce or
    a complaint. Mail to it stops until staff mark it corrected."""

    address: str  # normalized: portal.ports.mail_feedback.normal_address
    reason: str  # "bounce" | "complaint"
    detail: str  # SES's bounce type and subtype, or the complaint's feedback type
    at: datetime  # when SES reported it (the first report kept)
    accounts: tuple[str, ...] = ()  # the accounts whose mail went to it (from the tags)


def normal_address(address: str) -> str:
    """The form an address is kept and looked up in: trimmed, lower-case."""
    return address.strip().lower()


class MailFeedback(Protocol):
    def apply_mail_event(
        self,
        event_id: str,
        at: datetime,
        mail: Sequence[MailRecord] = (),
        undeliverable: Sequence[UndeliverableAddress] = (),
    ) -> bool:
        """Keep one SES event once, in one write: its mail-log lines and the addresses it
        makes undeliverable (an address marked before keeps its first report and gains the
        accounts). False, and nothing changed, when `event_id` was applied before."""

    def undeliverable(self, address: str) -> UndeliverableAddress | None:
        """The address's report while it is undeliverable; None when mail may go to it."""

    def undeliverable_addresses(self, limit: int = 1000) -> list[UndeliverableAddress]:
        """The undeliverable addresses, most recently reported first."""

    def clear_undeliverable(self, address: str, audit: AuditEntry | None = None) -> bool:
        """Mail may go to the address again (staff corrected it), with the audit entry in
        the same write; False, and nothing changed or audited, when it was not listed."""
