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


class Mailer(Protocol):
    def send(self, message: OutgoingMessage) -> str:
        """Send the message; return an id for it (file name, SMTP or SES message id)."""
