"""The Services container: the ports every use case is handed (built by portal/bootstrap.py,
which is the only module that knows the adapters behind them)."""

from dataclasses import dataclass

from portal.clock import Clock
from portal.config import Settings
from portal.domain.practice import PracticeDetails
from portal.ports.mail import EmailTemplates, Mailer
from portal.ports.outbound import WebhookSender
from portal.ports.passwords import PasswordHasher
from portal.ports.payments import PaymentGateway
from portal.ports.sms import NotificationVerifier, TextSender
from portal.ports.store import Store
from portal.ports.work_queue import WorkQueue


@dataclass
class Services:
    settings: Settings
    store: Store
    payments: PaymentGateway
    mailer: Mailer
    emails: EmailTemplates
    practice: PracticeDetails  # the billing office (templates/site/_practice.html)
    clock: Clock
    passwords: PasswordHasher
    work_queue: WorkQueue | None = None  # with one, the daily jobs fan out (issue 19)
    texts: TextSender | None = None  # text messages (issue 22); None: no texts are sent
    inbound_texts: NotificationVerifier | None = None  # checks texts back (STOP, HELP)
    webhooks: WebhookSender | None = None  # with one, money events go out (issue 21)
