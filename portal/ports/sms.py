"""The TextSender port: text messages (SMS) to a mobile number, like the Mailer for e-mail."""

from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from portal.domain.phones import E164


@dataclass(frozen=True)
class OutgoingText:
    kind: str  # pay-link | reminder | final-notice | sms-confirm | sms-stop | sms-help | ...
    to: str  # E.164 mobile number
    body: str
    # For the sender alone (which account the text is about); never in the text.
    tags: dict[str, str] = field(default_factory=dict)


class SmsError(Exception):
    """A text was not sent. `.message` says why, in words fit to show billing staff."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientSmsError(SmsError):
    """Not sent, but trying again later may work (throttled, unreachable)."""


class PermanentSmsError(SmsError):
    """Not sent, and sending it again as it is will not work (bad number, opted out)."""


def check_text(text: OutgoingText) -> None:
    """PermanentSmsError for a number that is not E.164 or an empty body."""
    if not E164.fullmatch(text.to):
        raise PermanentSmsError("The text was not sent: the number is not a mobile number.")
    if not text.body.strip():
        raise PermanentSmsError("The text was not sent: it has no words.")


class TextSender(Protocol):
    def send(self, text: OutgoingText) -> str:
        """Send the text; return an id for it (file name, SNS message id)."""


@dataclass(frozen=True)
class Notification:
    """An SNS message delivered to the portal's HTTPS subscription, its signature checked."""

    type: str  # Notification | SubscriptionConfirmation | UnsubscribeConfirmation
    message_id: str
    topic_arn: str
    message: str
    subscribe_url: str = ""


class NotificationRefused(Exception):
    """Not an SNS message the portal takes (bad signature, foreign topic, too old...)."""


class NotificationVerifier(Protocol):
    def verify(self, body: bytes, now: datetime) -> Notification:
        """The message, when its signature is SNS's (from a certificate on an SNS host),
        its topic the portal's inbound-text topic and its time recent; NotificationRefused
        otherwise."""

    def confirm(self, notification: Notification) -> None:
        """Confirm a subscription (visit its SubscribeURL, an SNS host's)."""
