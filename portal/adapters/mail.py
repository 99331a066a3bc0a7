"""The Mailer port and the message it sends."""

from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

KIND_HEADER = "X-Portal-Message-Kind"


@dataclass(frozen=True)
class OutgoingMessage:
    kind: str  # receipt | statement | reminder | final-notice | escalation
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)

    def to_email(self, sender: str) -> EmailMessage:
        """An RFC 5322 multipart/alternative message (text first, then HTML)."""
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or "localhost")
        message[KIND_HEADER] = self.kind
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message


class MailError(Exception):
    """A message was not sent. `.message` says why, in words fit to show billing staff
    (never the message body, never a password)."""

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class TransientMailError(MailError):
    """Not sent, but trying again later may work (relay busy, throttled, timed out)."""


class PermanentMailError(MailError):
    """Not sent, and sending it again as it is will not work (bad address, message
    rejected, login refused, the relay will not encrypt)."""


class Mailer(Protocol):
    def send(self, message: OutgoingMessage) -> str:
        """Send the message; return an id for it (file name, SMTP or SES message id)."""
