"""SesMailer: sends each message with Amazon SES v2 `SendEmail` (raw MIME content).

The message goes as built by `OutgoingMessage.to_bytes` (multipart text + HTML, the
`X-Portal-Message-Kind` header and any extra header such as `List-Unsubscribe`), tagged
`kind=<message kind>` and `account=<account number>` (what SES reports back names them:
portal/services/mail_feedback.py) and, when one is configured, sent through the configuration set
(where SES publishes bounces, complaints and deliveries).

The boto3 client is made on the first send (nothing is done at construction), with
botocore's own retries turned off so that the attempts here are the only ones: throttling,
SES internal errors and network failures are tried again after 1 s, 2 s, 4 s, ... up to
`attempts` calls in all, then TransientMailError. A rejected message, an unverified
sender, a suspended account or a malformed request raise PermanentMailError at once.

Sends are paced so that the account's senders together keep within its sending rate:
`rate` messages a second (0: SES's MaxSendRate, read with GetSendQuota on the first send)
shared by `senders` processes (the worker function's reserved concurrency), so each waits
senders / rate seconds between its own sends.
"""

import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any

from portal.adapters.aws_clients import one_try_client
from portal.adapters.mail_retries import TryAgain, with_retries
from portal.ports.mail import (
    OutgoingMessage,
    PermanentMailError,
    TransientMailError,
    bare_address,
)

log = logging.getLogger(__name__)

# What SES takes as a message tag's name or value.
_TAG = re.compile(r"[A-Za-z0-9_-]{1,256}")


# Worth another call after a pause.
RETRIED = frozenset(
    {
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "LimitExceededException",
        "InternalFailure",
        "InternalServerError",
        "InternalServerErrorException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)

# About the portal's SES account or credentials, not the message: not retried now, but
# TransientMailError, because the same message will go once the account is put right.
NOT_NOW = {
    "SendingPausedException": "sending e-mail is paused for the portal's SES account or "
    "configuration set",
    "AccessDenied": "the portal's AWS credentials may not send e-mail with SES",
    "AccessDeniedException": "the portal's AWS credentials may not send e-mail with SES",
    "UnrecognizedClientException": "SES does not recognise the portal's AWS credentials",
    "InvalidClientTokenId": "SES does not recognise the portal's AWS credentials",
    "ExpiredToken": "the portal's AWS credentials have expired",
    "ExpiredTokenException": "the portal's AWS credentials have expired",
}

# Sending this message again will not help.
PERMANENT = {
    "MessageRejected": "SES rejected the message",
    "MailFromDomainNotVerifiedException": "the sender's MAIL FROM domain is not verified in SES",
    "AccountSuspendedException": "SES has stopped the portal's account from sending e-mail",
    "BadRequestException": "SES refused the request as invalid",
    "NotFoundException": "SES could not find what the request names (the configuration set?)",
}


class SesMailer:
    def __init__(
        self,
        sender: str,
        configuration_set: str = "",
        client: Any = None,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
        rate: float = 0.0,
        senders: int = 1,
        monotonic: Callable[[], float] = time.monotonic,
        quota_client: Any = None,
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        if senders < 1 or rate < 0:
            raise ValueError("senders must be at least 1 and rate not negative")
        self.sender = sender
        self.configuration_set = configuration_set
        self.attempts = attempts
        self.rate = rate
        self.senders = senders
        self._client = client
        self._quota_client = quota_client
        self._sleep = sleep
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._interval: float | None = None  # seconds between this process's sends
        self._next_send = 0.0

    @property
    def client(self) -> Any:
        """The sesv2 client, made on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = one_try_client("sesv2")
        return self._client

    def send(self, message: OutgoingMessage) -> str:
        """Send the message; return the SES MessageId."""
        self._pace()
        data = message.to_bytes(self.sender)
        request: dict[str, Any] = {
            # The addresses alone: SES takes a display name here only as encoded words,
            # and the message's own From and To headers carry the names.
            "FromEmailAddress": bare_address(self.sender),
            "Destination": {"ToAddresses": [bare_address(message.to)]},
            "Content": {"Raw": {"Data": data}},
            "EmailTags": [{"Name": "kind", "Value": message.kind}]
            + [
                {"Name": name, "Value": value}
                for name, value in message.tags.items()
                if name != "kind" and _TAG.fullmatch(name) and _TAG.fullmatch(value)
            ],
        }
        if self.configuration_set:
            request["ConfigurationSetName"] = self.configuration_set
        response = with_retries(
            lambda: self._call(request),
            self.attempts,
            self._sleep,
            "ses",
            message.kind,
            lambda tries, reason: (
                f"SES did not take the message after {tries} attempts ({reason}); "
                "it can be sent again later."
            ),
        )
        message_id = str(response["MessageId"])
        log.info("ses: sent a %s message %s", message.kind, message_id)
        return message_id

    def _pace(self) -> None:
        """Wait for this process's next turn to send."""
        interval = self._send_interval()
        if not interval:
            return
        with self._lock:
            now = self._monotonic()
            wait = self._next_send - now
            self._next_send = max(now, self._next_send) + interval
        if wait > 0:
            self._sleep(wait)

    def _send_interval(self) -> float:
        if self._interval is None:
            rate = self.rate or self._quota_rate()
            self._interval = self.senders / rate if rate > 0 else 0.0
        return self._interval

    def _quota_rate(self) -> float:
        """SES's MaxSendRate for the account; 1 a second (SES's lowest) when it cannot be read."""
        try:
            if self._quota_client is None:
                import boto3

                self._quota_client = boto3.client("ses")
            return float(self._quota_client.get_send_quota()["MaxSendRate"])
        except Exception as error:  # pacing must not stop the mail: the safe rate instead
            log.warning("ses: the sending rate could not be read (%s); 1 a second", error)
            return 1.0

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import (  # imported on the first send, as boto3 is
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
            ParamValidationError,
        )

        try:
            return self.client.send_email(**request)
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code", ""))
            text = " ".join(str(details.get("Message", "")).split())
            said = f"{code}: {text}" if text else code
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRIED or status == 429 or status >= 500:
                raise TryAgain(said) from None
            if code in NOT_NOW:
                raise TransientMailError(
                    f"The message was not sent: {NOT_NOW[code]} ({said})."
                ) from None
            meaning = PERMANENT.get(code, "SES refused the message")
            raise PermanentMailError(f"The message was not sent: {meaning} ({said}).") from None
        except (ConnectionError, HTTPClientError) as error:
            raise TryAgain(f"could not reach SES: {error}") from None
        except ParamValidationError:
            # botocore's report quotes the values, which would include the message itself.
            raise PermanentMailError(
                "The message was not sent: the request to SES was not valid."
            ) from None
        except BotoCoreError as error:
            # No credentials or no region: the portal's set-up, not the message.
            raise TransientMailError(
                f"The message was not sent: SES could not be called ({error})."
            ) from None
