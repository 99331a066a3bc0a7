"""SnsTexts: sends each text with Amazon SNS `Publish` to a phone number.

Why SNS and not AWS End User Messaging SMS (`pinpoint-sms-voice-v2` `SendTextMessage`):
moto, which the tests run against over HTTP, implements SNS's SMS publishing but not
pinpoint-sms-voice-v2 (docs/sms.md). Texts go as `Transactional` (SNS's class for messages
a person is waiting for), from the origination number when one is set.

The boto3 client is made on the first send, with botocore's own retries off: throttling
and SNS internal errors are tried again after 1 s, 2 s, 4 s, ... up to `attempts` calls,
then TransientSmsError; an invalid number or an opted-out phone raise PermanentSmsError.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from portal.adapters.aws_clients import one_try_client
from portal.ports.sms import OutgoingText, PermanentSmsError, TransientSmsError, check_text

log = logging.getLogger(__name__)


RETRIED = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "KMSThrottling",
    }
)
PERMANENT = {
    "InvalidParameter": "SNS refused the number or the message as invalid",
    "InvalidParameterValue": "SNS refused the number or the message as invalid",
    "OptedOut": "the phone has opted out of texts from this account",
    "AuthorizationError": "the portal's AWS credentials may not send texts with SNS",
}


class SnsTexts:
    def __init__(
        self,
        origination_number: str = "",
        client: Any = None,
        attempts: int = 4,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if attempts < 1:
            raise ValueError("attempts must be at least 1")
        self.origination_number = origination_number
        self.attempts = attempts
        self._client = client
        self._sleep = sleep
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The sns client, made on first use."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    self._client = one_try_client("sns")
        return self._client

    def send(self, text: OutgoingText) -> str:
        """Send the text; return the SNS MessageId."""
        check_text(text)
        attributes: dict[str, Any] = {
            "AWS.SNS.SMS.SMSType": {"DataType": "String", "StringValue": "Transactional"}
        }
        if self.origination_number:
            attributes["AWS.MM.SMS.OriginationNumber"] = {
                "DataType": "String",
                "StringValue": self.origination_number,
            }
        request = {"PhoneNumber": text.to, "Message": text.body, "MessageAttributes": attributes}
        delay, reason = 1.0, ""
        for number in range(1, self.attempts + 1):
            try:
                message_id = str(self._call(request)["MessageId"])
                log.info("sns: sent a %s text %s", text.kind, message_id)
                return message_id
            except _TryAgain as failure:
                reason = failure.reason
                if number < self.attempts:
                    log.info("sns: attempt %d for a %s text failed (%s)", number, text.kind, reason)
                    self._sleep(delay)
                    delay *= 2
        raise TransientSmsError(
            f"SNS did not take the text after {self.attempts} attempts ({reason}); "
            "it can be sent again later."
        )

    def _call(self, request: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import (
            BotoCoreError,
            ClientError,
            ConnectionError,
            HTTPClientError,
            ParamValidationError,
        )

        try:
            return self.client.publish(**request)
        except ClientError as error:
            details = error.response.get("Error", {})
            code = str(details.get("Code", ""))
            status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
            if code in RETRIED or status == 429 or status >= 500:
                raise _TryAgain(code or str(status)) from None
            meaning = PERMANENT.get(code, "SNS refused the text")
            raise PermanentSmsError(f"The text was not sent: {meaning} ({code}).") from None
        except (ConnectionError, HTTPClientError) as error:
            raise _TryAgain(f"could not reach SNS: {error}") from None
        except ParamValidationError:
            # botocore's report quotes the values, which would include the text itself.
            raise PermanentSmsError(
                "The text was not sent: the request to SNS was not valid."
            ) from None
        except BotoCoreError as error:
            raise TransientSmsError(
                f"The text was not sent: SNS could not be called ({error})."
            ) from None


class _TryAgain(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason
