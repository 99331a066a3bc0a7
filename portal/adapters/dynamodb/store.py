"""DynamoDbStore: the production Store, one DynamoDB table (design: docs/dynamodb.md).

Every change to an account's money is decided by an AccountBook read from the account's
partition (`load_book`) and committed in one TransactWriteItems conditional on the account
version it read (`commit`); the service layer reads again and decides again on a lost
race, so no update is lost and nothing is posted twice."""

from datetime import datetime

from portal.adapters.dynamodb.access import DynamoDbAccess
from portal.adapters.dynamodb.api_keys import DynamoDbApiKeys
from portal.adapters.dynamodb.cases import DynamoDbCases
from portal.adapters.dynamodb.claims import DynamoDbClaims
from portal.adapters.dynamodb.deliveries import DynamoDbDeliveries
from portal.adapters.dynamodb.ledger import DynamoDbLedger
from portal.adapters.dynamodb.mail_feedback import DynamoDbMailFeedback
from portal.adapters.dynamodb.money_events import DynamoDbMoneyEvents
from portal.adapters.dynamodb.payouts import DynamoDbPayouts
from portal.adapters.dynamodb.plans import DynamoDbPlans
from portal.adapters.dynamodb.reminders import DynamoDbReminders
from portal.adapters.dynamodb.remittances import DynamoDbRemittances
from portal.adapters.dynamodb.reports import DynamoDbReports
from portal.adapters.dynamodb.sms_consents import DynamoDbSmsConsents
from portal.adapters.dynamodb.staff import DynamoDbStaff
from portal.ports.reminders import ClaimKey, ReminderBatch


class DynamoDbStore(
    DynamoDbLedger,
    DynamoDbClaims,
    DynamoDbAccess,
    DynamoDbStaff,
    DynamoDbReminders,
    DynamoDbReports,
    DynamoDbApiKeys,
    DynamoDbPlans,
    DynamoDbMailFeedback,
    DynamoDbCases,
    DynamoDbSmsConsents,
    DynamoDbMoneyEvents,
    DynamoDbDeliveries,
    DynamoDbRemittances,
    DynamoDbPayouts,
):
    """The DynamoDB Store: one class per port (ledger, claims, access, staff, reminders,
    reports, API keys, plans, mail feedback, cases, money events, webhook deliveries,
    remittances, payouts) over one shared DynamoDbTable."""

    def claim_reminders(
        self, batch: ReminderBatch, at: datetime, stale_before: datetime
    ) -> tuple[set[ClaimKey], dict[str, str]]:
        # The calls the run made one after another (docs/dynamodb.md): one transaction of
        # them all would be refused whole for one claim taken before.
        if batch.finished or batch.mail:
            self.complete_claims(batch.finished, at, batch.mail)
        taken = self.claim_many(batch.claims, at, stale_before) if batch.claims else set()
        tokens = self.opt_out_tokens(
            dict(pair for claim, pair in batch.tokens.items() if claim in taken)
        )
        escalations = [item for claim, item in batch.escalations.items() if claim in taken]
        if escalations:
            self.open_escalations(escalations)
        return taken, tokens
