"""SmtpMailer: sends each message through an SMTP relay (the only module that imports smtplib).

With `starttls` the connection is encrypted before anything else is said: a relay that
does not offer STARTTLS is refused, never fallen back to plain text, and its certificate
is verified against the system's trusted authorities (or the `ssl_context` given).

A relay that says "not now" (a 4xx reply, a dropped connection, a timeout) is tried again
after 1 s, 2 s, 4 s, ... up to `attempts` connections in all, then TransientMailError. A
relay that says "never" (a 5xx reply: unknown recipient, message refused, login refused)
raises PermanentMailError at once. The message body and the password are never logged,
nor put in an error.
"""

import logging
import smtplib
import ssl
import time
from collections.abc import Callable
from email import policy

from portal.adapters.mail_retries import TryAgain, with_retries
from portal.ports.mail import OutgoingMessage, PermanentMailError, bare_address, new_message_id

log = logging.getLogger(__name__)


class SmtpMailer:
    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        starttls: bool,
        sender: str,
        timeout: float = 15,
        attempts: int = 3,
        sleep: Callable[[float], None] = time.sleep,
        ssl_context: ssl.SSLContext | None = None,
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.starttls = starttls
        self.sender = sender
        self.timeout = timeout
        self.attempts = attempts
        self._sleep = sleep
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return (
            f"SmtpMailer(host={self.host!r}, port={self.port!r}, username={self.username!r}, "
            f"starttls={self.starttls!r}, sender={self.sender!r})"
        )

    @property
    def relay(self) -> str:
        return f"{self.host}:{self.port}"

    def send(self, message: OutgoingMessage) -> str:
        """Send the message; return its Message-ID (the same on every attempt)."""
        envelope = [bare_address(self.sender), bare_address(message.to)]
        message_id = new_message_id(self.sender)
        if all(address.isascii() for address in envelope):
            data = message.to_bytes(self.sender, message_id=message_id)
        else:
            # As smtplib's send_message sends it: the headers in UTF-8 (RFC 6532), to a
            # relay that offers SMTPUTF8.
            email = message.to_email(self.sender, message_id)
            data = email.as_bytes(policy=policy.SMTPUTF8)
        with_retries(
            lambda: self._deliver(data, envelope),
            self.attempts,
            self._sleep,
            "smtp",
            message.kind,
            lambda tries, reason: (
                f"The mail relay {self.relay} did not take the message after {tries} attempts "
                f"({reason}); it can be sent again later."
            ),
        )
        log.info("smtp: sent a %s message %s", message.kind, message_id)
        return message_id

    # -- one attempt ----------------------------------------------------------------------

    def _deliver(self, data: bytes, envelope: list[str]) -> None:
        try:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        except Exception as error:
            raise self._classify(error) from None
        try:
            try:
                smtp.ehlo()
                if self.starttls:
                    if not smtp.has_extn("starttls"):
                        raise PermanentMailError(
                            f"The mail relay {self.relay} refused STARTTLS (it does not offer "
                            "encryption), so the message was not sent rather than sent in "
                            "plain text."
                        )
                    smtp.starttls(context=self._ssl_context or ssl.create_default_context())
                    smtp.ehlo()
                if self.username:
                    smtp.login(self.username, self._password)
                options = self._mail_options(smtp, data, envelope)
                smtp.sendmail(envelope[0], envelope[1:], data, options)
            except PermanentMailError:
                raise
            except Exception as error:
                raise self._classify(error) from None
        finally:
            _close_quietly(smtp)

    def _mail_options(self, smtp: smtplib.SMTP, data: bytes, envelope: list[str]) -> list[str]:
        """BODY=8BITMIME for a body with 8-bit text, where the relay offers it; SMTPUTF8 as
        well for an address that is not ASCII, which a relay without it cannot take (as
        smtplib's send_message decides)."""
        if all(address.isascii() for address in envelope):
            return ["BODY=8BITMIME"] if not data.isascii() and smtp.has_extn("8bitmime") else []
        if not smtp.has_extn("smtputf8"):
            raise PermanentMailError(
                f"The mail relay {self.relay} cannot take an address that is not plain ASCII "
                "(it does not offer SMTPUTF8), so the message was not sent."
            )
        return ["SMTPUTF8", "BODY=8BITMIME"]

    def _classify(self, error: Exception) -> Exception:
        """PermanentMailError, or TryAgain for what another attempt may get past."""
        relay = self.relay
        if isinstance(error, smtplib.SMTPRecipientsRefused):
            replies = list(error.recipients.values())
            code, text = replies[0] if replies else (550, b"")
            reply = _reply(code, text)
            if replies and all(_transient(code) for code, _ in replies):
                return TryAgain(f"recipient deferred: {reply}")
            return PermanentMailError(
                f"The mail relay {relay} refused the recipient address ({reply})."
            )
        if isinstance(error, smtplib.SMTPAuthenticationError):
            reply = _reply(error.smtp_code, error.smtp_error)
            if _transient(error.smtp_code):
                return TryAgain(f"login deferred: {reply}")
            return PermanentMailError(
                f"The mail relay {relay} refused the login for user {self.username!r} ({reply})."
            )
        if isinstance(error, smtplib.SMTPNotSupportedError):
            return PermanentMailError(
                f"The mail relay {relay} does not offer a login (SMTP AUTH), but a username "
                "is configured."
            )
        if isinstance(error, smtplib.SMTPSenderRefused):
            reply = _reply(error.smtp_code, error.smtp_error)
            if _transient(error.smtp_code):
                return TryAgain(f"sender deferred: {reply}")
            return PermanentMailError(
                f"The mail relay {relay} refused the sender address {self.sender} ({reply})."
            )
        if isinstance(error, smtplib.SMTPDataError):
            reply = _reply(error.smtp_code, error.smtp_error)
            if _transient(error.smtp_code):
                return TryAgain(f"message deferred: {reply}")
            return PermanentMailError(f"The mail relay {relay} refused the message ({reply}).")
        if isinstance(error, smtplib.SMTPResponseException):
            reply = _reply(error.smtp_code, error.smtp_error)
            if _transient(error.smtp_code):
                return TryAgain(reply)
            return PermanentMailError(
                f"The mail relay {relay} would not take the message ({reply})."
            )
        if isinstance(error, smtplib.SMTPServerDisconnected):
            return TryAgain(f"the connection was lost: {error}")
        if isinstance(error, ssl.SSLCertVerificationError):
            return PermanentMailError(
                f"The TLS certificate of the mail relay {relay} could not be verified "
                f"({error.verify_message}); the message was not sent."
            )
        if isinstance(error, ssl.SSLEOFError | ssl.SSLZeroReturnError):
            return TryAgain("the relay closed the connection during TLS")
        if isinstance(error, ssl.SSLError):
            return PermanentMailError(
                f"Encryption (TLS) with the mail relay {relay} failed ({error.reason or error}); "
                "the message was not sent."
            )
        if isinstance(error, TimeoutError):
            return TryAgain(f"no answer within {self.timeout:g} s")
        if isinstance(error, OSError):
            # Connection refused or reset, name not resolved, network unreachable.
            return TryAgain(f"could not reach the relay: {error.strerror or error}")
        if isinstance(error, smtplib.SMTPException):
            return PermanentMailError(f"The mail relay {relay} could not be used ({error}).")
        raise error


def _transient(code: int) -> bool:
    return 400 <= code < 500


def _reply(code: int, text: bytes | str) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"{code} {' '.join(text.split())}".strip()


def _close_quietly(smtp: smtplib.SMTP) -> None:
    """Say goodbye if the relay is still listening; a failed QUIT changes nothing sent."""
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        pass
    finally:
        smtp.close()
