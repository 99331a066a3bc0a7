"""The Mailer port and the message it sends."""

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol, TypeVar

KIND_HEADER = "X-Portal-Message-Kind"
T = TypeVar("T")
log = logging.getLogger(__name__)


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


class TryAgain(Exception):
    """One attempt failed in a way that another attempt may not (a mailer's own signal)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def with_retries(
    attempt: Callable[[], T],
    attempts: int,
    sleep: Callable[[float], None],
    name: str,
    kind: str,
    gave_up: Callable[[int, str], str],
) -> T:
    """Run `attempt` until it stops raising TryAgain, waiting 1 s, 2 s, 4 s ... between
    tries; after the last, TransientMailError with the message `gave_up(tries, reason)`."""
    delay = 1.0
    for number in range(1, attempts + 1):
        try:
            return attempt()
        except TryAgain as failure:
            if number == attempts:
                log.warning(
                    "%s: %s message not sent after %d attempts: %s",
                    name,
                    kind,
                    number,
                    failure.reason,
                )
                raise TransientMailError(gave_up(number, failure.reason)) from None
            log.info(
                "%s: attempt %d of %d for a %s message failed (%s); again in %.0f s",
                name,
                number,
                attempts,
                kind,
                failure.reason,
                delay,
            )
            sleep(delay)
            delay *= 2
    raise ValueError("attempts must be at least 1")
