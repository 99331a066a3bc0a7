"""The Mailer port, the message it sends and the templates that write it."""

import re
from dataclasses import dataclass, field
from datetime import date
from email.message import EmailMessage
from email.utils import formatdate, make_msgid, parseaddr
from typing import Protocol

from portal.ports.mime import multipart_alternative

KIND_HEADER = "X-Portal-Message-Kind"


@dataclass(frozen=True)
class OutgoingMessage:
    kind: str  # receipt | statement | reminder | final-notice | escalation
    to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str] = field(default_factory=dict)
    # Names for the mail service alone (SES message tags: which account the message is
    # about, so what SES reports back reaches that account); never in the message.
    tags: dict[str, str] = field(default_factory=dict)

    def to_bytes(self, sender: str, linesep: str = "\r\n", message_id: str | None = None) -> bytes:
        """The message as it goes on the wire: what `to_email(...).as_bytes()` would say,
        lines ending in `linesep` (CRLF, as SMTP and RFC 5322 have them), built without the
        email package's header registry (portal/ports/mime.py; about a quarter of the time).
        A value that module cannot write with the same meaning (another address form, a
        non-ASCII address) is built with `to_email` instead.

        PermanentMailError for a header that could carry others, as `to_email`."""
        self._check_headers(sender)
        message_id = message_id or new_message_id(sender)
        fields = [
            ("From", sender, "address"),
            ("To", self.to, "address"),
            ("Subject", self.subject, "unstructured"),
            ("Date", formatdate(usegmt=True), "verbatim"),
            ("Message-ID", message_id, "verbatim"),
            (KIND_HEADER, self.kind, "unstructured"),
            *((name, value, "extra") for name, value in self.headers.items()),
        ]
        data = multipart_alternative(fields, self.text, self.html, linesep)
        if data is not None:
            return data
        email = self.to_email(sender, message_id)
        return email.as_bytes(policy=email.policy.clone(linesep=linesep))

    def to_email(self, sender: str, message_id: str | None = None) -> EmailMessage:
        """An RFC 5322 multipart/alternative message (text first, then HTML).

        PermanentMailError when a header could carry other headers: a value with a line
        break or another control character (an address "a@b.com\r\nBcc: x@y.com"), or a
        name that is not a plain field name. Python's email package refuses CR and LF in
        values itself (ValueError) but not in names; this says which header, as a MailError
        the senders already note on the account instead of trying again."""
        self._check_headers(sender)
        message = EmailMessage()
        message["From"] = sender
        message["To"] = self.to
        message["Subject"] = self.subject
        message["Date"] = formatdate(usegmt=True)
        message["Message-ID"] = message_id or new_message_id(sender)
        message[KIND_HEADER] = self.kind
        for name, value in self.headers.items():
            message[name] = value
        message.set_content(self.text)
        message.add_alternative(self.html, subtype="html")
        return message

    def _check_headers(self, sender: str) -> None:
        check_headers(
            {
                "From": sender,
                "To": self.to,
                "Subject": self.subject,
                KIND_HEADER: self.kind,
                **self.headers,
            }
        )


def bare_address(value: str) -> str:
    """The address alone of a From or To value ("Clínica <billing@example.org>" gives
    "billing@example.org"): what the SMTP envelope and SES's request name."""
    if _PLAIN_ADDRESS.fullmatch(value):
        return value  # parseaddr gives a plain address back as it is, 40 times slower
    return parseaddr(value)[1] or value


_PLAIN_ADDRESS = re.compile(
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
)


def new_message_id(sender: str) -> str:
    """A Message-ID in the domain of the sender's address."""
    return make_msgid(domain=bare_address(sender).rpartition("@")[2] or "localhost")


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


class Wording(Protocol):
    """The words and formats of one language for what the portal sends or prints (e-mails,
    their subjects, PDF statements): the `email` catalog (translations/), with money and
    dates written as that language writes them."""

    language: str  # the language used: "en", "es" (English for one not shipped)

    def gettext(self, message: str) -> str: ...

    def ngettext(self, singular: str, plural: str, n: int) -> str: ...

    def money(self, cents: int) -> str:
        """Integer cents as the language writes dollars: "$1,234.56"."""
        ...

    def long_date(self, day: date) -> str:
        """ "November 30, 2026"; Spanish "30 de noviembre de 2026"."""
        ...

    def short_date(self, day: date) -> str:
        """ "Nov 30, 2026"; Spanish "30 nov 2026"."""
        ...


class EmailTemplates(Protocol):
    def render(self, kind: str, language: str = "en", **context: object) -> tuple[str, str]:
        """The (text, html) bodies of a message kind (templates/email/<kind>.{txt,html}) in
        `language` (a tag such as "es" or "es-MX"; English for one not shipped)."""
        ...

    def wording(self, language: str) -> Wording:
        """The words and formats of `language` (English for one not shipped)."""
        ...
