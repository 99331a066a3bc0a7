"""Outbound webhooks over HTTP(S) with the standard library: one POST, a short timeout, and
any answer but 2xx, a timeout or a refused connection reported as DeliveryFailed."""

import http.client
import socket
import urllib.error
import urllib.request

from portal.ports.outbound import DeliveryFailed

TIMEOUT_SECONDS = 10.0


class HttpWebhookSender:
    """The WebhookSender port: POSTs to the practice system's one address."""

    def __init__(self, url: str, timeout: float = TIMEOUT_SECONDS):
        self.url = url
        self.timeout = timeout

    def post(self, body: bytes, headers: dict[str, str]) -> None:
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                answer.read(1024)
                status = answer.status
        except urllib.error.HTTPError as exc:
            raise DeliveryFailed(f"the receiver answered {exc.code}") from None
        except TimeoutError:
            raise DeliveryFailed(f"no answer within {self.timeout:g} s") from None
        except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            if isinstance(reason, TimeoutError | socket.timeout):
                raise DeliveryFailed(f"no answer within {self.timeout:g} s") from None
            raise DeliveryFailed(f"could not reach the receiver: {reason}") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"the receiver answered {status}")
