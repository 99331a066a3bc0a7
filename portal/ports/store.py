"""The Store port: every role a store keeps (ledger, claims, access, staff, reminders,
reports, API keys, payment plans, cases, money events, webhook deliveries, remittances,
payouts), in one object, SQLite or DynamoDB."""

from pathlib import Path
from typing import Protocol

from portal.ports.access import Access
from portal.ports.api_keys import ApiKeys
from portal.ports.cases import Cases
from portal.ports.claims import Claims
from portal.ports.ledger import Ledger
from portal.ports.mail_feedback import MailFeedback
from portal.ports.money_events import MoneyEvents
from portal.ports.outbound import Deliveries
from portal.ports.payout_records import PayoutRecords
from portal.ports.plans import Plans
from portal.ports.reminders import Reminders
from portal.ports.remittances import Remittances
from portal.ports.reports import Reports
from portal.ports.sms_consents import SmsConsents
from portal.ports.staff import Staff


class StoreError(RuntimeError):
    """The store cannot do what was asked (not set up, unreachable)."""


class StoreNotReady(StoreError):
    """The schema is missing or older than the code: run `portal migrate`."""


class Store(
    Ledger,
    Claims,
    Access,
    Staff,
    Reminders,
    Reports,
    ApiKeys,
    Plans,
    MailFeedback,
    Cases,
    SmsConsents,
    MoneyEvents,
    Deliveries,
    Remittances,
    PayoutRecords,
    Protocol,
):
    """Every role at once, as bootstrap builds it."""

    def migrate(self) -> int:
        """Create or upgrade the schema; return the schema version now in place."""

    def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    def backup(self, path: Path) -> None:
        """Copy the whole store, consistent as of one moment, into a new file at `path`
        while it keeps serving; StoreError (nothing written) when `path` exists, or when
        the store keeps its backups itself (DynamoDB: point-in-time recovery)."""
