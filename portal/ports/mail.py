"""The Mailer port, the message it sends and the templates that write it."""

import re
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
        """An RFC 5322 multipart/alternative message (text first, then HTML).

        PermanentMailError when a header could carry other headers: a value with a line
        break or another control character (an address "a@b.com\r\nBcc: x@y.com"), or a
        name that is not a plain field name. Python's email package refuses CR and LF in
        values itself (ValueError) but not in names; this says which header, as a MailError
        the senders already note on the account instead of trying again."""
        check_headers(
            {
                "From": sender,
                "To": self.to,
                "Subject": self.subject,
                KIND_HEADER: self.kind,
                **self.headers,
            }
        )
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


# A field name is printable ASCII other than the colon (RFC 5322 section 3.6.8).
_FIELD_NAME = re.compile(r"[!-9;-~]+")
# Line breaks in any form str.splitlines() knows, and every other control character.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def check_headers(headers: dict[str, str]) -> None:
    """PermanentMailError naming the first header whose name or value could inject others."""
    for name, value in headers.items():
        if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
            raise PermanentMailError(
                f"The message was not sent: the header name {name!r} is not a plain field name."
            )
        if not isinstance(value, str) or _CONTROL.search(value):
            raise PermanentMailError(
                f"The message was not sent: the {name} header contains a line break or "
                "another control character."
            )


class Mailer(Protocol):
    def send(self, message: OutgoingMessage) -> str:
        """Send the message; return an id for it (file name, SMTP or SES message id)."""


class EmailTemplates(Protocol):
    def render(self, kind: str, **context: object) -> tuple[str, str]:
        """The (text, html) bodies of a message kind (templates/email/<kind>.{txt,html})."""
