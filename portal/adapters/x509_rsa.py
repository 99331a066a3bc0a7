"""RSA signature checks with an X.509 certificate's key, in the standard library alone.

The Lambda package has a 7 MB budget and the `cryptography` wheel would take half of it,
for one use: SNS message signatures (portal/adapters/sns_notifications.py). This reads just
enough DER to find the certificate's validity and RSA key, and checks a PKCS #1 v1.5
signature by building the whole expected encoding and comparing it (no parsing of the
decrypted block, so no Bleichenbacher-style forgery with a small exponent).
"""

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime

RSA_ENCRYPTION = bytes.fromhex("2a864886f70d010101")  # OID 1.2.840.113549.1.1.1
DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
}
_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----(.+?)-----END CERTIFICATE-----", re.S)


class CertificateError(ValueError):
    """Not a certificate this module can read (not PEM, not DER, not an RSA key)."""


@dataclass(frozen=True)
class RsaCertificate:
    modulus: int
    exponent: int
    not_before: datetime
    not_after: datetime

    def verify(self, signature: bytes, message: bytes, digest: str) -> bool:
        """True when `signature` is this key's PKCS #1 v1.5 signature of `message`."""
        size = (self.modulus.bit_length() + 7) // 8
        if len(signature) != size or digest not in DIGEST_INFO:
            return False
        value = int.from_bytes(signature, "big")
        if value >= self.modulus:
            return False
        block = pow(value, self.exponent, self.modulus).to_bytes(size, "big")
        digest_info = DIGEST_INFO[digest] + hashlib.new(digest, message).digest()
        padding = size - len(digest_info) - 3
        if padding < 8:
            return False
        expected = b"\x00\x01" + b"\xff" * padding + b"\x00" + digest_info
        return hmac.compare_digest(block, expected)


def read_certificate(pem: bytes) -> RsaCertificate:
    match = _PEM.search(pem)
    if match is None:
        raise CertificateError("not a PEM certificate")
    try:
        der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
        return _certificate(der)
    except (ValueError, IndexError) as exc:
        raise CertificateError(f"not a readable certificate ({exc})") from None


def _tlv(data: bytes, at: int) -> tuple[int, bytes, int]:
    """(tag, value, the offset after it) of the DER element at `at`."""
    tag = data[at]
    length = data[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4:
            raise ValueError("bad length")
        length = int.from_bytes(data[at : at + count], "big")
        at += count
    end = at + length
    if end > len(data):
        raise ValueError("truncated")
    return tag, data[at:end], end


def _children(data: bytes) -> list[tuple[int, bytes]]:
    items, at = [], 0
    while at < len(data):
        tag, value, at = _tlv(data, at)
        items.append((tag, value))
    return items


def _time(tag: int, value: bytes) -> datetime:
    text = value.decode("ascii")
    if tag == 0x17:  # UTCTime: YYMMDDHHMMSSZ
        year = int(text[:2])
        text = str(1900 + year if year >= 50 else 2000 + year) + text[2:]
    elif tag != 0x18:  # GeneralizedTime: YYYYMMDDHHMMSSZ
        raise ValueError("not a time")
    return datetime.strptime(text, "%Y%m%d%H%M%SZ").replace(tzinfo=UTC)


def _certificate(der: bytes) -> RsaCertificate:
    tag, certificate, _ = _tlv(der, 0)
    if tag != 0x30:
        raise ValueError("not a certificate")
    tbs_tag, tbs = _children(certificate)[0]
    fields = _children(tbs)
    if fields[0][0] == 0xA0:  # [0] version
        fields = fields[1:]
    # serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
    validity = _children(fields[3][1])
    not_before, not_after = (_time(t, v) for t, v in validity[:2])
    algorithm, key_bits = _children(fields[5][1])
    algorithm_oid = _children(algorithm[1])[0]
    if tbs_tag != 0x30 or algorithm_oid != (0x06, RSA_ENCRYPTION):
        raise ValueError("not an RSA key")
    if key_bits[0] != 0x03 or key_bits[1][0] != 0:
        raise ValueError("bad key bits")
    _, key, _ = _tlv(key_bits[1][1:], 0)
    modulus, exponent = (int.from_bytes(v, "big") for t, v in _children(key)[:2])
    return RsaCertificate(modulus, exponent, not_before, not_after)
