"""SqliteStore: the local default Store, one SQLite file in WAL mode."""

from portal.adapters.sqlite.access import SqliteAccess
from portal.adapters.sqlite.api_keys import SqliteApiKeys
from portal.adapters.sqlite.cases import SqliteCases
from portal.adapters.sqlite.claims import SqliteClaims
from portal.adapters.sqlite.deliveries import SqliteDeliveries
from portal.adapters.sqlite.ledger import SqliteLedger
from portal.adapters.sqlite.mail_feedback import SqliteMailFeedback
from portal.adapters.sqlite.money_events import SqliteMoneyEvents
from portal.adapters.sqlite.payouts import SqlitePayouts
from portal.adapters.sqlite.plans import SqlitePlans
from portal.adapters.sqlite.reminders import SqliteReminders
from portal.adapters.sqlite.remittances import SqliteRemittances
from portal.adapters.sqlite.reports import SqliteReports
from portal.adapters.sqlite.sms_consents import SqliteSmsConsents
from portal.adapters.sqlite.staff import SqliteStaff


class SqliteStore(
    SqliteLedger,
    SqliteClaims,
    SqliteAccess,
    SqliteStaff,
    SqliteReminders,
    SqliteReports,
    SqliteApiKeys,
    SqlitePlans,
    SqliteMailFeedback,
    SqliteCases,
    SqliteSmsConsents,
    SqliteMoneyEvents,
    SqliteDeliveries,
    SqliteRemittances,
    SqlitePayouts,
):
    """The SQLite Store: one class per port (ledger, claims, access, staff, reminders,
    reports, API keys, plans, mail feedback, cases, money events, webhook deliveries,
    remittances, payouts) over one shared SqliteDatabase."""
