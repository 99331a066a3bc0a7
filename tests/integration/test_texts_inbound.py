"""Texts back (STOP, HELP, START) through the SNS HTTPS subscription: the message signature
checked with a certificate fetched from an SNS host (here a locally made key and
certificate, served by a stand-in for the fetch)."""

import base64
import datetime as dt
import json

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from portal.adapters.outbox_sms import read_outbox
from portal.adapters.sns_notifications import SnsNotificationVerifier
from portal.domain.texting import SmsConsent
from portal.services.sweep import sweep_claims
from tests.conftest import NOW

TOPIC = "arn:aws:sns:us-east-1:123456789012:portal-inbound-sms"
CERT_URL = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem"
PHONE = "+15555550123"
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


@pytest.fixture(scope="module")
def signing_key():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=30))
        .not_valid_after(NOW + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return key, certificate.public_bytes(serialization.Encoding.PEM)


class Fetches(list):
    """The stand-in for HTTPS GETs to SNS hosts: the certificate, or a confirmation."""

    def __init__(self, pem: bytes):
        super().__init__()
        self.pem = pem

    def __call__(self, url: str) -> bytes:
        self.append(url)
        return self.pem if url.endswith(".pem") else b"<ConfirmSubscriptionResponse/>"


@pytest.fixture
def fetches(services, signing_key):
    fetched = Fetches(signing_key[1])
    services.inbound_texts = SnsNotificationVerifier(TOPIC, fetch=fetched)
    return fetched


def signed(key, kind: str = "Notification", version: str = "2", **fields) -> bytes:
    message = {
        "Type": kind,
        "MessageId": fields.pop("MessageId", "sns-1"),
        "TopicArn": TOPIC,
        "Timestamp": NOW.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "SignatureVersion": version,
        "SigningCertURL": CERT_URL,
        **fields,
    }
    text = "".join(f"{n}\n{message[n]}\n" for n in FIELDS[kind] if n in message)
    digest = hashes.SHA256() if version == "2" else hashes.SHA1()
    message["Signature"] = base64.b64encode(
        key.sign(text.encode(), padding.PKCS1v15(), digest)
    ).decode()
    return json.dumps(message).encode()


def inbound(key, body: str, message_id: str = "in-1", phone: str = PHONE, **fields) -> bytes:
    text = {
        "originationNumber": phone,
        "destinationNumber": "+15555550100",
        "messageBody": body,
        "inboundMessageId": message_id,
    }
    return signed(key, Message=json.dumps(text), MessageId="sns-" + message_id, **fields)


def consent(services, account="100234", **kw) -> SmsConsent:
    c = SmsConsent(account, PHONE, NOW - dt.timedelta(days=1), "intake form", **kw)
    services.store.save_sms_consent(c)
    return c


def texts(services) -> list[dict]:
    return read_outbox(services.settings.sms_outbox_dir)


def post(client, body: bytes):
    return client.post("/webhooks/sms", data=body, content_type="text/plain; charset=UTF-8")


@pytest.mark.parametrize(
    "word", ["STOP", "stop", " Stop. ", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"]
)
def test_a_stop_word_ends_texts_at_once_and_is_confirmed(
    client, services, lopez, fetches, signing_key, word
):
    consent(services)
    response = post(client, inbound(signing_key[0], word))
    assert response.status_code == 200 and response.json == {"status": "stop"}
    assert services.store.sms_consent("100234").stopped_at == NOW
    [reply] = texts(services)
    assert reply["to"] == PHONE and reply["kind"] == "sms-stop"
    assert "Demo Family Practice" in reply["body"] and "no more texts" in reply["body"]
    assert [m.kind for m in services.store.mail_log("100234")] == ["text-sms-stop"]


def test_stop_ends_texts_on_every_account_with_the_number(
    client, services, lopez, fetches, signing_key
):
    consent(services)
    consent(services, "100777")
    post(client, inbound(signing_key[0], "STOP"))
    assert not services.store.sms_consent("100234").active
    assert not services.store.sms_consent("100777").active


def test_the_same_text_delivered_twice_is_acted_on_once(
    client, services, lopez, fetches, signing_key
):
    consent(services)
    body = inbound(signing_key[0], "STOP")
    assert post(client, body).status_code == 200
    assert post(client, body).status_code == 200
    assert len(texts(services)) == 1


def test_help_answers_with_the_practice_name_and_phone(
    client, services, lopez, fetches, signing_key
):
    consent(services)
    assert post(client, inbound(signing_key[0], "HELP")).json == {"status": "help"}
    [reply] = texts(services)
    assert services.practice.name in reply["body"] and services.practice.phone in reply["body"]
    assert "STOP" in reply["body"]
    assert services.store.sms_consent("100234").active


def test_start_opts_back_in_after_a_stop(client, services, clock, lopez, fetches, signing_key):
    consent(services)
    post(client, inbound(signing_key[0], "STOP", "in-1"))
    clock.advance(minutes=5)
    assert post(client, inbound(signing_key[0], "START", "in-2")).json == {"status": "start"}
    again = services.store.sms_consent("100234")
    assert again.active and again.source == "keyword"
    assert [t["kind"] for t in texts(services)] == ["sms-stop", "sms-start"]


def test_start_from_a_number_no_account_agreed_for_opts_nobody_in(
    client, services, lopez, fetches, signing_key
):
    post(client, inbound(signing_key[0], "START"))
    assert services.store.sms_consents_for_phone(PHONE) == []
    [reply] = texts(services)
    assert reply["kind"] == "sms-help"


def test_a_stop_from_an_unknown_number_is_still_confirmed(client, services, fetches, signing_key):
    assert post(client, inbound(signing_key[0], "stop")).status_code == 200
    [reply] = texts(services)
    assert reply["kind"] == "sms-stop"


def test_any_other_text_gets_no_answer(client, services, lopez, fetches, signing_key):
    consent(services)
    assert post(client, inbound(signing_key[0], "please stop sending")).json == {"status": "logged"}
    assert texts(services) == [] and services.store.sms_consent("100234").active


def test_signature_version_1_is_taken(client, services, lopez, fetches, signing_key):
    consent(services)
    body = signed(
        signing_key[0],
        version="1",
        Message=json.dumps(
            {"originationNumber": PHONE, "messageBody": "STOP", "inboundMessageId": "v1"}
        ),
    )
    assert post(client, body).status_code == 200
    assert not services.store.sms_consent("100234").active


def refused(client, services, body: bytes) -> None:
    response = post(client, body)
    assert response.status_code == 400
    assert services.store.sms_consent("100234").active
    assert texts(services) == []


def test_a_changed_message_is_refused(client, services, lopez, fetches, signing_key):
    consent(services)
    body = json.loads(inbound(signing_key[0], "HELP"))
    body["Message"] = body["Message"].replace("HELP", "STOP")
    refused(client, services, json.dumps(body).encode())


def test_a_message_signed_by_another_key_is_refused(client, services, lopez, fetches):
    consent(services)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    refused(client, services, inbound(other, "STOP"))


@pytest.mark.parametrize(
    "url",
    [
        "http://sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-1.pem",
        "https://evil.example/sns.us-east-1.amazonaws.com/cert.pem",
        "https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-1.pem",
        "https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-1.pem",
        "https://sns.us-east-1.amazonaws.com/not-a-certificate.txt",
    ],
)
def test_a_certificate_off_an_sns_host_is_never_fetched(
    client, services, lopez, fetches, signing_key, url
):
    consent(services)
    refused(client, services, inbound(signing_key[0], "STOP", SigningCertURL=url))
    assert fetches == []


def test_another_topic_is_refused(client, services, lopez, fetches, signing_key):
    consent(services)
    refused(client, services, inbound(signing_key[0], "STOP", TopicArn=TOPIC + "-other"))


def test_an_old_message_is_refused(client, services, lopez, fetches, signing_key):
    consent(services)
    old = (NOW - dt.timedelta(hours=25)).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    refused(client, services, inbound(signing_key[0], "STOP", Timestamp=old))


@pytest.mark.parametrize("body", [b"", b"not json", b"[]", b'{"Type": "Notification"}'])
def test_malformed_bodies_are_refused(client, services, lopez, fetches, body):
    consent(services)
    refused(client, services, body)


def test_without_a_topic_set_up_everything_is_refused(client, services, lopez, signing_key):
    consent(services)
    refused(client, services, inbound(signing_key[0], "STOP"))


def test_a_subscription_is_confirmed_at_its_sns_address(client, services, fetches, signing_key):
    url = "https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=x&Token=t"
    body = signed(
        signing_key[0],
        "SubscriptionConfirmation",
        SubscribeURL=url,
        Token="t",
        Message="You have chosen to subscribe",
    )
    assert post(client, body).json == {"status": "subscribed"}
    assert fetches == [CERT_URL, url]


def test_a_subscription_url_off_an_sns_host_is_not_visited(client, services, fetches, signing_key):
    url = "https://evil.example/?Action=ConfirmSubscription"
    body = signed(
        signing_key[0],
        "SubscriptionConfirmation",
        SubscribeURL=url,
        Token="t",
        Message="You have chosen to subscribe",
    )
    assert post(client, body).status_code == 400
    assert fetches == [CERT_URL]


def test_a_handler_that_dies_leaves_the_text_for_the_next_delivery(
    client, services, lopez, fetches, signing_key, monkeypatch
):
    from portal.services import texting

    consent(services)
    real = texting._act
    monkeypatch.setattr(texting, "_act", lambda *a: (_ for _ in ()).throw(RuntimeError("died")))
    body = inbound(signing_key[0], "STOP")
    with pytest.raises(RuntimeError):
        post(client, body)
    assert services.store.sms_consent("100234").active
    monkeypatch.setattr(texting, "_act", real)
    assert post(client, body).status_code == 200  # SNS delivers it again: taken over at once
    assert not services.store.sms_consent("100234").active
    assert len(texts(services)) == 1


def test_a_handler_killed_mid_way_is_finished_by_the_sweep(
    services, clock, lopez, fetches, signing_key
):
    from portal.services.claims import claim_payload

    consent(services)
    # Claimed, then the process was killed before acting or releasing.
    services.store.claim(
        "sms-inbound", "in-9", NOW, payload=claim_payload(phone=PHONE, body="STOP")
    )
    clock.advance(minutes=11)
    swept = sweep_claims(services, clock.now().date())
    assert swept.done == 1
    assert not services.store.sms_consent("100234").active
    assert [t["kind"] for t in texts(services)] == ["sms-stop"]


def test_a_text_whose_handler_was_killed_is_taken_over_by_a_later_delivery(
    client, services, clock, lopez, fetches, signing_key
):
    from portal.services.claims import claim_payload

    consent(services)
    # Claimed by a process that was killed before acting: SNS is asked to deliver again.
    services.store.claim(
        "sms-inbound", "in-1", NOW, payload=claim_payload(phone=PHONE, body="STOP")
    )
    body = inbound(signing_key[0], "STOP")
    held = post(client, body)
    assert held.status_code == 409
    assert services.store.sms_consent("100234").active and texts(services) == []
    # SNS's delivery policy tries again for hours (the same message, its Timestamp kept);
    # once the claim is stale it is taken over.
    clock.advance(minutes=11)
    assert post(client, body).status_code == 200
    assert not services.store.sms_consent("100234").active
    assert len(texts(services)) == 1
