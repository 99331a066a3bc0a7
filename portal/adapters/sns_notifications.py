"""SnsNotificationVerifier: checks a message SNS delivers to an HTTPS subscription.

As AWS documents ("Verifying the signatures of Amazon SNS messages"): the SigningCertURL
must be an https address on an SNS host (sns.<region>.amazonaws.com), the certificate is
fetched from there (and kept while warm), and the signature (SignatureVersion 1: SHA1 with
RSA; 2: SHA256 with RSA) must verify over the message's fields in their canonical order.
Beyond that, the topic must be the portal's inbound-text topic and the message's
Timestamp within the last day (an old message replayed is refused).
"""

import base64
import json
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from portal.adapters.x509_rsa import CertificateError, RsaCertificate, read_certificate
from portal.ports.sms import Notification, NotificationRefused

SNS_HOST = re.compile(r"sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?")
# Longer than the subscription's retries (about two hours; SNS keeps a message's Timestamp
# when it delivers it again): a message older than this is a replay. Within it, the same
# message id is acted on once (portal/services/texting.py).
MAX_AGE = timedelta(hours=24)
FETCH_TIMEOUT_SECONDS = 5
MAX_BODY = 256 * 1024
FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": (
        "Message",
        "MessageId",
        "SubscribeURL",
        "Timestamp",
        "Token",
        "TopicArn",
        "Type",
    ),
}
FIELDS["UnsubscribeConfirmation"] = FIELDS["SubscriptionConfirmation"]


def _fetch(url: str) -> bytes:
    import urllib.request  # on the first text back, not at a cold start

    with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_SECONDS) as response:
        return response.read(64 * 1024)


def sns_address(url: str) -> bool:
    """True for an https address on an SNS host (the certificate's, the SubscribeURL)."""
    parts = urlsplit(url)
    return (
        parts.scheme == "https"
        and SNS_HOST.fullmatch(parts.hostname or "") is not None
        and parts.port in (None, 443)
        and not parts.username
        and not parts.password
    )


class SnsNotificationVerifier:
    def __init__(self, topic_arn: str, fetch: Callable[[str], bytes] = _fetch):
        self.topic_arn = topic_arn
        self._fetch = fetch
        self._certificates: dict[str, RsaCertificate] = {}
        self._lock = threading.Lock()

    def verify(self, body: bytes, now: datetime) -> Notification:
        if len(body) > MAX_BODY:
            raise NotificationRefused("too large")
        try:
            fields = json.loads(body)
        except ValueError:
            raise NotificationRefused("not JSON") from None
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise NotificationRefused("not an SNS message")
        kind = fields.get("Type", "")
        if kind not in FIELDS:
            raise NotificationRefused("not an SNS message type")
        if not self.topic_arn or fields.get("TopicArn") != self.topic_arn:
            raise NotificationRefused("not the inbound-text topic")
        try:
            sent = datetime.fromisoformat(fields.get("Timestamp", "").replace("Z", "+00:00"))
        except ValueError:
            raise NotificationRefused("no timestamp") from None
        if sent.tzinfo is None or not now - MAX_AGE <= sent <= now + timedelta(minutes=5):
            raise NotificationRefused("too old")
        url = fields.get("SigningCertURL", "")
        if not sns_address(url) or not urlsplit(url).path.endswith(".pem"):
            raise NotificationRefused("the certificate is not on an SNS host")
        algorithm = {"1": "sha1", "2": "sha256"}.get(fields.get("SignatureVersion", ""))
        if algorithm is None:
            raise NotificationRefused("unknown signature version")
        try:
            signature = base64.b64decode(fields.get("Signature", ""), validate=True)
        except ValueError:
            raise NotificationRefused("the signature is not base64") from None
        signed = "".join(
            f"{name}\n{fields[name]}\n" for name in FIELDS[kind] if name in fields
        ).encode()
        if not self._certificate(url, now).verify(signature, signed, algorithm):
            raise NotificationRefused("the signature does not verify")
        return Notification(
            type=kind,
            message_id=fields.get("MessageId", ""),
            topic_arn=fields["TopicArn"],
            message=fields.get("Message", ""),
            subscribe_url=fields.get("SubscribeURL", ""),
        )

    def confirm(self, notification: Notification) -> None:
        if not sns_address(notification.subscribe_url):
            raise NotificationRefused("the SubscribeURL is not on an SNS host")
        self._fetch(notification.subscribe_url)

    def _certificate(self, url: str, now: datetime) -> RsaCertificate:
        with self._lock:
            certificate = self._certificates.get(url)
        if certificate is None:
            try:
                certificate = read_certificate(self._fetch(url))
            except (CertificateError, OSError):
                raise NotificationRefused("the certificate could not be read") from None
            with self._lock:
                self._certificates[url] = certificate
        if not certificate.not_before <= now <= certificate.not_after:
            raise NotificationRefused("the certificate is not valid now")
        return certificate
