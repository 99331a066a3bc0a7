"""build_services(settings): the one place that picks and builds the adapters."""

from portal.adapters.email_templates import EmailRenderer
from portal.adapters.practice_details import read_practice_details
from portal.adapters.site_renderer import SiteRenderer
from portal.adapters.werkzeug_passwords import WerkzeugPasswords
from portal.clock import Clock, SystemClock
from portal.config import Settings
from portal.domain.practice import PracticeDetails, public_mail_from
from portal.ports.mail import Mailer
from portal.ports.outbound import WebhookSender
from portal.ports.payments import PaymentGateway
from portal.ports.sms import NotificationVerifier, TextSender
from portal.ports.store import Store
from portal.ports.work_queue import WorkQueue
from portal.resources import static_dir, template_dir, translations_dir
from portal.services.context import Services

TEMPLATE_DIR = template_dir()
STATIC_DIR = static_dir()


def build_services(settings: Settings, clock: Clock | None = None) -> Services:
    return Services(
        settings=settings,
        store=_store(settings),
        payments=_payments(settings),
        mailer=_mailer(settings),
        emails=EmailRenderer(TEMPLATE_DIR),
        practice=practice_details(settings),
        clock=clock or SystemClock(),
        passwords=WerkzeugPasswords(),
        work_queue=_work_queue(settings),
        texts=_texts(settings),
        inbound_texts=_inbound_texts(settings),
        webhooks=_webhooks(settings),
    )


def practice_details(settings: Settings) -> PracticeDetails:
    """The billing office's details as templates/site/_practice.html sets them."""
    return read_practice_details(
        TEMPLATE_DIR, settings.practice_name, public_mail_from(settings.mail_from)
    )


def site_renderer() -> SiteRenderer:
    """What renders the public site's pages for the static build (`portal build-static`)."""
    return SiteRenderer(TEMPLATE_DIR, translations_dir())


def _store(settings: Settings) -> Store:
    if settings.store == "sqlite":
        from portal.adapters.sqlite.store import SqliteStore

        return SqliteStore(settings.sqlite_path)
    from portal.adapters.dynamodb.store import DynamoDbStore

    return DynamoDbStore(settings.dynamodb_table, shards=settings.dynamodb_shards)


def _payments(settings: Settings) -> PaymentGateway:
    if settings.payments == "sandbox":
        from portal.adapters.sandbox_gateway import SandboxGateway

        return SandboxGateway(settings.secret_key, settings.base_url)
    from portal.adapters.stripe_gateway import StripeGateway

    return StripeGateway(
        settings.stripe_secret_key, settings.stripe_webhook_secret, settings.stripe_api_base
    )


def _work_queue(settings: Settings) -> WorkQueue | None:
    if not settings.work_queue_url:
        return None
    from portal.adapters.sqs_queue import SqsWorkQueue

    return SqsWorkQueue(settings.work_queue_url)


def _texts(settings: Settings) -> TextSender:
    if settings.sms == "outbox":
        from portal.adapters.outbox_sms import OutboxTexts

        return OutboxTexts(settings.sms_outbox_dir, settings.sms_origination_number)
    from portal.adapters.sns_sms import SnsTexts

    return SnsTexts(settings.sms_origination_number)


def _inbound_texts(settings: Settings) -> NotificationVerifier:
    from portal.adapters.sns_notifications import SnsNotificationVerifier

    return SnsNotificationVerifier(settings.sms_inbound_topic_arn)


def _webhooks(settings: Settings) -> WebhookSender | None:
    if not settings.outbound_webhook_url:
        return None
    from portal.adapters.webhook_sender import HttpWebhookSender

    return HttpWebhookSender(settings.outbound_webhook_url)


def _mailer(settings: Settings) -> Mailer:
    if settings.mail == "outbox":
        from portal.adapters.outbox_mailer import OutboxMailer

        return OutboxMailer(settings.outbox_dir, settings.mail_from)
    if settings.mail == "smtp":
        from portal.adapters.smtp_mailer import SmtpMailer

        return SmtpMailer(
            settings.smtp_host,
            settings.smtp_port,
            settings.smtp_username,
            settings.smtp_password,
            settings.smtp_starttls,
            settings.mail_from,
        )
    from portal.adapters.ses_mailer import SesMailer

    return SesMailer(
        settings.mail_from,
        settings.ses_configuration_set,
        rate=settings.mail_rate,
        senders=settings.mail_senders,
    )
