"""SmtpMailer against a real SMTP server (aiosmtpd) and SesMailer against moto's server.

Every message is read back as it arrived and checked: both parts, the kind header and
any extra header, and the bodies exactly as given (the mailers add nothing; in
particular none of the canary statement's health details).
"""

import datetime
import email
import ipaddress
import logging
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from pathlib import Path

import boto3
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from portal.adapters.ses_mailer import SesMailer
from portal.adapters.smtp_mailer import SmtpMailer
from portal.ports.mail import (
    KIND_HEADER,
    MailError,
    OutgoingMessage,
    PermanentMailError,
    TransientMailError,
)
from tests.aws import free_port

SENDER = "billing@mailers.example.com"
PATIENT = "maria.lopez@example.org"
USERNAME = "portal-relay"
PASSWORD = "relay-secret-7f3a"

# A statement the messages are about; none of its health details may reach an e-mail.
CANARY_STATEMENT = {
    "statement_id": "S-2026-0042",
    "patient_date_of_birth": "1971-11-30",
    "procedure_code": "99213",
    "diagnosis_code": "E11.9",
    "description": "Office visit, established patient, type 2 diabetes follow-up",
}
CANARIES = [value for name, value in CANARY_STATEMENT.items() if name != "statement_id"]


def outgoing(kind: str = "statement", **headers: str) -> OutgoingMessage:
    return OutgoingMessage(
        kind=kind,
        to=PATIENT,
        subject="Your statement from Demo Family Practice",
        text=(
            "Hello José Núñez,\n\n"
            f"Statement {CANARY_STATEMENT['statement_id']} is ready: $42.10 is due.\n"
            "View and pay it at http://127.0.0.1:5000/pay\n"
        ),
        html=(
            "<p>Hello José Núñez,</p>\n"
            f"<p>Statement {CANARY_STATEMENT['statement_id']} is ready: "
            "<strong>$42.10</strong> is due.</p>\n"
            '<p><a href="http://127.0.0.1:5000/pay">View and pay it</a></p>\n'
        ),
        headers=headers,
    )


UNSUBSCRIBE = "<mailto:billing@mailers.example.com?subject=unsubscribe>"


def body_of(part: EmailMessage) -> str:
    return part.get_content().replace("\r\n", "\n")


def check_arrived(raw: bytes, message: OutgoingMessage) -> EmailMessage:
    """The message as it arrived is the one given: headers, both parts, bodies unchanged."""
    arrived = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(arrived, EmailMessage)
    assert arrived["From"] == SENDER
    assert arrived["To"] == message.to
    assert arrived["Subject"] == message.subject
    assert arrived[KIND_HEADER] == message.kind
    for name, value in message.headers.items():
        assert arrived[name] == value
    assert arrived["Message-ID"]
    assert arrived.get_content_type() == "multipart/alternative"
    parts = list(arrived.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    text, html = (body_of(part) for part in parts)
    assert text == message.text
    assert html == message.html
    for said in (message.subject, text, html):
        for canary in CANARIES:
            assert canary not in said
    return arrived


# A sender and a recipient with names that are not ASCII, a subject that is not either, and
# bodies with a lone "." line (SMTP's end of data) and a line starting "From ".
NAMED_SENDER = f"Clínica Señora <{SENDER}>"
NAMED_PATIENT = "jose.nunez@example.org"


def outgoing_in_spanish() -> OutgoingMessage:
    return OutgoingMessage(
        kind="statement",
        to=f'"Núñez, José" <{NAMED_PATIENT}>',
        subject="Su estado de cuenta de la Clínica Señora está listo: $42.10 por pagar",
        text="Hola José Núñez,\n.\nFrom the practice: $42.10 is due.\n",
        html="<p>Hola José Núñez,</p>\n.\n<p>$42.10 is due.</p>\n",
        headers={"List-Unsubscribe": UNSUBSCRIBE},
    )


def check_arrived_in_spanish(raw: bytes, message: OutgoingMessage) -> EmailMessage:
    """Lines ending in CRLF, the header block ASCII (the names and the subject as RFC 2047
    encoded words, the addresses plain), and everything decoded as it was given."""
    assert raw.replace(b"\r\n", b"").count(b"\n") == 0
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.isascii()
    assert b"\r\nFrom: =?utf-8?" in b"\r\n" + head
    assert f"?= <{SENDER}>".encode() in head and f"?= <{NAMED_PATIENT}>".encode() in head
    arrived = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(arrived, EmailMessage)
    [sender] = arrived["From"].addresses
    assert (sender.display_name, sender.addr_spec) == ("Clínica Señora", SENDER)
    [to] = arrived["To"].addresses
    assert (to.display_name, to.addr_spec) == ("Núñez, José", NAMED_PATIENT)
    assert arrived["Subject"] == message.subject
    assert arrived[KIND_HEADER] == "statement"
    assert arrived["List-Unsubscribe"] == UNSUBSCRIBE
    assert arrived["Message-ID"].endswith("@mailers.example.com>")
    parts = list(arrived.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [body_of(part) for part in parts] == [message.text, message.html]
    return arrived


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


# -- SMTP -------------------------------------------------------------------------------


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    tls: bool
    authenticated: bool


class Recorder:
    """An aiosmtpd handler that keeps what it was given."""

    def __init__(self):
        self.received: list[Received] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(
            Received(
                mail_from=envelope.mail_from,
                rcpt_tos=list(envelope.rcpt_tos),
                content=envelope.original_content or envelope.content,
                tls=session.ssl is not None,
                authenticated=bool(session.authenticated),
            )
        )
        return "250 2.0.0 Queued"


class DefersTwice(Recorder):
    """Answers 451 to the first two messages, then takes them."""

    def __init__(self):
        super().__init__()
        self.deferred = 0

    async def handle_DATA(self, server, session, envelope):
        if self.deferred < 2:
            self.deferred += 1
            return "451 4.3.0 Temporary local problem, try again"
        return await super().handle_DATA(server, session, envelope)


class NoSuchUser(Recorder):
    def __init__(self):
        super().__init__()
        self.refused = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        self.refused += 1
        return "550 5.1.1 No such user here"


def check_login(server, session, envelope, mechanism, auth_data) -> AuthResult:
    good = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login == USERNAME.encode()
        and auth_data.password == PASSWORD.encode()
    )
    return AuthResult(success=good, handled=False)


@contextmanager
def smtp_server(handler: Recorder, **smtp_parameters) -> Iterator[int]:
    port = free_port()
    controller = Controller(
        handler,
        hostname="127.0.0.1",
        port=port,
        server_hostname="relay.test",
        **smtp_parameters,
    )
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


@dataclass(frozen=True)
class Certificates:
    authority: Path  # the CA the client is told to trust
    chain: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.chain, self.key)
        return context

    def client_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.authority))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory) -> Certificates:
    """A throwaway CA and a certificate it signed for 127.0.0.1."""
    folder = tmp_path_factory.mktemp("tls")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Mailer test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    authority = folder / "ca.pem"
    authority.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain = folder / "relay.pem"
    chain.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = folder / "relay.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Certificates(authority=authority, chain=chain, key=key_file)


def smtp_mailer(port: int, sleeps: Sleeps, **overrides) -> SmtpMailer:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "username": "",
        "password": "",
        "starttls": False,
        "sender": SENDER,
        "timeout": 5,
        "sleep": sleeps,
        **overrides,
    }
    return SmtpMailer(**settings)


def test_smtp_delivers_both_parts_and_the_headers():
    recorder = Recorder()
    sleeps = Sleeps()
    message = outgoing("statement", **{"List-Unsubscribe": UNSUBSCRIBE})
    with smtp_server(recorder) as port:
        message_id = smtp_mailer(port, sleeps).send(message)

    [received] = recorder.received
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [PATIENT]
    assert not received.tls
    arrived = check_arrived(received.content, message)
    assert arrived["Message-ID"] == message_id
    assert message_id.startswith("<") and message_id.endswith("@mailers.example.com>")
    assert sleeps == []


def test_smtp_sends_names_and_a_subject_that_are_not_ascii_as_encoded_words():
    recorder = Recorder()
    sleeps = Sleeps()
    message = outgoing_in_spanish()
    with smtp_server(recorder) as port:
        message_id = smtp_mailer(port, sleeps, sender=NAMED_SENDER).send(message)

    [received] = recorder.received
    # The envelope names the addresses alone (no SMTPUTF8 needed for a display name).
    assert received.mail_from == SENDER
    assert received.rcpt_tos == [NAMED_PATIENT]
    arrived = check_arrived_in_spanish(received.content, message)
    assert arrived["Message-ID"] == message_id
    assert sleeps == []


def test_smtp_sends_an_address_that_is_not_ascii_with_smtputf8():
    """As smtplib's send_message did: UTF-8 headers (RFC 6532), SMTPUTF8 in the envelope."""
    recorder = Recorder()
    message = OutgoingMessage(
        "receipt", "maría@example.org", "Recibo", "Gracias\n", "<p>Gracias</p>\n"
    )
    with smtp_server(recorder) as port:
        smtp_mailer(port, Sleeps()).send(message)

    [received] = recorder.received
    assert received.rcpt_tos == ["maría@example.org"]
    assert "\r\nTo: maría@example.org\r\n".encode() in received.content
    arrived = email.message_from_string(received.content.decode(), policy=policy.default)
    assert arrived["To"].addresses[0].addr_spec == "maría@example.org"
    assert [body_of(part) for part in arrived.iter_parts()] == [message.text, message.html]


def test_smtp_refuses_an_address_that_is_not_ascii_to_a_relay_without_smtputf8():
    recorder = Recorder()
    message = OutgoingMessage("receipt", "maría@example.org", "Recibo", "Gracias\n", "<p>G</p>")
    with (
        smtp_server(recorder, enable_SMTPUTF8=False) as port,
        pytest.raises(PermanentMailError, match="SMTPUTF8"),
    ):
        smtp_mailer(port, Sleeps()).send(message)
    assert recorder.received == []


def test_smtp_refuses_a_relay_that_does_not_offer_starttls():
    recorder = Recorder()
    sleeps = Sleeps()
    with smtp_server(recorder) as port:
        mailer = smtp_mailer(port, sleeps, starttls=True)
        with pytest.raises(PermanentMailError) as refused:
            mailer.send(outgoing())

    assert "refused STARTTLS" in refused.value.message
    assert "plain text" in refused.value.message
    assert recorder.received == []
    assert sleeps == []


def test_smtp_sends_over_tls_when_the_relay_offers_starttls(certificates):
    recorder = Recorder()
    sleeps = Sleeps()
    message = outgoing("receipt")
    # The relay takes nothing before STARTTLS, so a delivery proves the message went encrypted.
    with smtp_server(
        recorder, tls_context=certificates.server_context(), require_starttls=True
    ) as port:
        mailer = smtp_mailer(port, sleeps, starttls=True, ssl_context=certificates.client_context())
        message_id = mailer.send(message)

    [received] = recorder.received
    assert received.tls
    assert check_arrived(received.content, message)["Message-ID"] == message_id


def test_smtp_does_not_trust_an_unknown_certificate(certificates):
    recorder = Recorder()
    sleeps = Sleeps()
    with smtp_server(
        recorder, tls_context=certificates.server_context(), require_starttls=True
    ) as port:
        # The system's authorities only: the test CA is not among them.
        mailer = smtp_mailer(port, sleeps, starttls=True)
        with pytest.raises(PermanentMailError) as refused:
            mailer.send(outgoing())

    assert "certificate" in refused.value.message
    assert recorder.received == []
    assert sleeps == []


def test_smtp_logs_in_over_tls(certificates):
    recorder = Recorder()
    sleeps = Sleeps()
    message = outgoing("reminder", **{"List-Unsubscribe": UNSUBSCRIBE})
    with smtp_server(
        recorder,
        tls_context=certificates.server_context(),
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=check_login,
    ) as port:
        mailer = smtp_mailer(
            port,
            sleeps,
            starttls=True,
            ssl_context=certificates.client_context(),
            username=USERNAME,
            password=PASSWORD,
        )
        mailer.send(message)

    [received] = recorder.received
    assert received.tls
    assert received.authenticated
    check_arrived(received.content, message)


def test_smtp_refused_login_is_permanent_and_keeps_the_password_out(certificates, caplog):
    caplog.set_level(logging.DEBUG)
    recorder = Recorder()
    sleeps = Sleeps()
    with smtp_server(
        recorder,
        tls_context=certificates.server_context(),
        require_starttls=True,
        auth_required=True,
        authenticator=check_login,
    ) as port:
        wrong = "not-the-" + PASSWORD
        mailer = smtp_mailer(
            port,
            sleeps,
            starttls=True,
            ssl_context=certificates.client_context(),
            username=USERNAME,
            password=wrong,
        )
        with pytest.raises(PermanentMailError) as refused:
            mailer.send(outgoing())

    assert "refused the login" in refused.value.message
    assert wrong not in refused.value.message
    assert wrong not in repr(mailer)
    assert wrong not in caplog.text
    assert recorder.received == []
    assert sleeps == []


def test_smtp_username_without_auth_offered_is_permanent():
    recorder = Recorder()
    sleeps = Sleeps()
    # aiosmtpd offers AUTH only over TLS; this relay has none.
    with smtp_server(recorder, authenticator=check_login) as port:
        mailer = smtp_mailer(port, sleeps, username=USERNAME, password=PASSWORD)
        with pytest.raises(PermanentMailError) as refused:
            mailer.send(outgoing())

    assert "does not offer a login" in refused.value.message
    assert recorder.received == []


def test_smtp_retries_a_4xx_with_backoff_and_delivers_once(caplog):
    caplog.set_level(logging.DEBUG)
    recorder = DefersTwice()
    sleeps = Sleeps()
    message = outgoing("final-notice")
    with smtp_server(recorder) as port:
        message_id = smtp_mailer(port, sleeps).send(message)

    assert recorder.deferred == 2
    [received] = recorder.received
    arrived = check_arrived(received.content, message)
    # The same message (same Message-ID) on every attempt.
    assert arrived["Message-ID"] == message_id
    assert sleeps == [1.0, 2.0]
    assert "451" in caplog.text
    assert "José" not in caplog.text and message.text not in caplog.text


def test_smtp_gives_up_on_4xx_after_the_attempts():
    class AlwaysDefers(Recorder):
        async def handle_DATA(self, server, session, envelope):
            return "421 4.7.0 Try again later"

    recorder = AlwaysDefers()
    sleeps = Sleeps()
    with smtp_server(recorder) as port, pytest.raises(TransientMailError) as deferred:
        smtp_mailer(port, sleeps, attempts=3).send(outgoing())

    assert "3 attempts" in deferred.value.message
    assert "421" in deferred.value.message
    assert sleeps == [1.0, 2.0]


def test_smtp_recipient_refused_is_permanent_without_retry():
    recorder = NoSuchUser()
    sleeps = Sleeps()
    with smtp_server(recorder) as port, pytest.raises(PermanentMailError) as refused:
        smtp_mailer(port, sleeps).send(outgoing())

    assert "refused the recipient" in refused.value.message
    assert "550" in refused.value.message
    assert recorder.refused == 1
    assert recorder.received == []
    assert sleeps == []


def test_smtp_message_refused_with_5xx_is_permanent_without_retry():
    class RefusesMessages(Recorder):
        def __init__(self):
            super().__init__()
            self.refused = 0

        async def handle_DATA(self, server, session, envelope):
            self.refused += 1
            return "554 5.7.1 Message rejected as spam"

    recorder = RefusesMessages()
    sleeps = Sleeps()
    with smtp_server(recorder) as port, pytest.raises(PermanentMailError) as refused:
        smtp_mailer(port, sleeps).send(outgoing())

    assert "554" in refused.value.message
    assert recorder.refused == 1
    assert sleeps == []


def test_smtp_timeout_is_retried_then_transient():
    # A relay that takes the connection and never says hello.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        port = silent.getsockname()[1]
        sleeps = Sleeps()
        with pytest.raises(TransientMailError) as deferred:
            smtp_mailer(port, sleeps, timeout=0.3, attempts=2).send(outgoing())

    assert "2 attempts" in deferred.value.message
    assert sleeps == [1.0]


def test_smtp_unreachable_relay_is_retried_then_transient():
    sleeps = Sleeps()
    with pytest.raises(TransientMailError):
        smtp_mailer(free_port(), sleeps, timeout=2).send(outgoing())
    assert sleeps == [1.0, 2.0]


# -- SES (moto's server over HTTP) ------------------------------------------------------

CONFIGURATION_SET = "portal-mail-test"


@pytest.fixture(scope="module")
def ses(moto_endpoint):
    """A sesv2 client on moto's server, with the sender verified and a configuration set."""
    client = boto3.client("sesv2")
    client.create_email_identity(EmailIdentity=SENDER)
    try:
        client.create_configuration_set(ConfigurationSetName=CONFIGURATION_SET)
    except ClientError as error:
        if error.response["Error"]["Code"] != "AlreadyExistsException":
            raise
    return client


def recorded_by_moto() -> list:
    """What moto's SES recorded (its documented in-process API: the server runs in this
    process). Not /moto-api/data.json: that dumps every table the DynamoDB tests made."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses import ses_backends

    return ses_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].sent_messages


def sent_by_moto(endpoint: str, message_id: str) -> dict:
    matches = [m for m in recorded_by_moto() if m.id == message_id]
    assert len(matches) == 1, f"moto recorded {len(matches)} messages with id {message_id}"
    found = matches[0]
    return {"source": found.source, "destinations": found.destinations, "raw_data": found.raw_data}


def moto_has(endpoint: str, message_id: str) -> int:
    return sum(m.id == message_id for m in recorded_by_moto())


class Recording:
    """The real client, with each send_email call's arguments kept."""

    def __init__(self, client, failures: list[str] | None = None):
        self.client = client
        self.failures = list(failures or [])
        self.calls: list[dict] = []

    def send_email(self, **request):
        self.calls.append(request)
        if self.failures:
            code = self.failures.pop(0)
            raise client_error(code)
        return self.client.send_email(**request)


STATUS = {
    "TooManyRequestsException": 429,
    "Throttling": 400,
    "ThrottlingException": 400,
    "LimitExceededException": 400,
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "NotFoundException": 404,
    "SomethingNewAndBroken": 502,
}


def client_error(code: str) -> ClientError:
    return ClientError(
        {
            "Error": {"Code": code, "Message": f"simulated {code}"},
            "ResponseMetadata": {"HTTPStatusCode": STATUS.get(code, 400)},
        },
        "SendEmail",
    )


def test_ses_sends_raw_mime_as_built(ses, moto_endpoint):
    sleeps = Sleeps()
    message = outgoing("statement", **{"List-Unsubscribe": UNSUBSCRIBE})
    # No client given: the mailer makes its own, from the environment, on first send.
    mailer = SesMailer(SENDER, configuration_set=CONFIGURATION_SET, sleep=sleeps)
    message_id = mailer.send(message)

    recorded = sent_by_moto(moto_endpoint, message_id)
    assert recorded["source"] == SENDER
    assert PATIENT in recorded["destinations"]
    raw = recorded["raw_data"].encode("utf-8")
    check_arrived(raw, message)
    assert f"{KIND_HEADER}: statement" in recorded["raw_data"]
    assert f"List-Unsubscribe: {UNSUBSCRIBE}" in recorded["raw_data"]
    assert sleeps == []


def test_ses_sends_names_and_a_subject_that_are_not_ascii_as_encoded_words(ses, moto_endpoint):
    recording = Recording(ses)
    message = outgoing_in_spanish()
    message_id = SesMailer(NAMED_SENDER, CONFIGURATION_SET, client=recording).send(message)

    # SES takes a display name in the request only as encoded words: the addresses alone.
    [request] = recording.calls
    assert request["FromEmailAddress"] == SENDER
    assert request["Destination"] == {"ToAddresses": [NAMED_PATIENT]}
    recorded = sent_by_moto(moto_endpoint, message_id)
    assert recorded["source"] == SENDER
    assert NAMED_PATIENT in recorded["destinations"]
    check_arrived_in_spanish(recorded["raw_data"].encode("utf-8"), message)


def test_ses_request_carries_the_configuration_set_and_kind_tag(ses, moto_endpoint):
    recording = Recording(ses)
    message = outgoing("receipt")
    message_id = SesMailer(SENDER, CONFIGURATION_SET, client=recording).send(message)

    [request] = recording.calls
    assert request["FromEmailAddress"] == SENDER
    assert request["Destination"] == {"ToAddresses": [PATIENT]}
    assert request["ConfigurationSetName"] == CONFIGURATION_SET
    assert request["EmailTags"] == [{"Name": "kind", "Value": "receipt"}]
    assert set(request["Content"]) == {"Raw"}
    check_arrived(request["Content"]["Raw"]["Data"], message)
    assert moto_has(moto_endpoint, message_id) == 1


def test_ses_without_a_configuration_set_names_none(ses, moto_endpoint):
    recording = Recording(ses)
    message_id = SesMailer(SENDER, client=recording).send(outgoing("escalation"))

    [request] = recording.calls
    assert "ConfigurationSetName" not in request
    assert request["EmailTags"] == [{"Name": "kind", "Value": "escalation"}]
    assert moto_has(moto_endpoint, message_id) == 1


def test_ses_unverified_sender_is_permanent(ses):
    sleeps = Sleeps()
    recording = Recording(ses)
    mailer = SesMailer("stranger@unverified.example.net", client=recording, sleep=sleeps)
    with pytest.raises(PermanentMailError) as rejected:
        mailer.send(outgoing())

    assert "SES rejected the message" in rejected.value.message
    assert "MessageRejected" in rejected.value.message
    assert len(recording.calls) == 1
    assert sleeps == []


def test_ses_throttling_is_retried_with_backoff(ses, moto_endpoint, caplog):
    caplog.set_level(logging.DEBUG)
    sleeps = Sleeps()
    recording = Recording(ses, failures=["TooManyRequestsException", "Throttling"])
    message = outgoing("reminder")
    message_id = SesMailer(SENDER, client=recording, sleep=sleeps).send(message)

    assert len(recording.calls) == 3
    assert sleeps == [1.0, 2.0]
    # The same bytes on every attempt.
    assert len({call["Content"]["Raw"]["Data"] for call in recording.calls}) == 1
    check_arrived(sent_by_moto(moto_endpoint, message_id)["raw_data"].encode(), message)
    assert "José" not in caplog.text


@pytest.mark.parametrize(
    "code",
    [
        "TooManyRequestsException",
        "Throttling",
        "ThrottlingException",
        "InternalFailure",
        "ServiceUnavailable",
        "SomethingNewAndBroken",  # unknown, but a 5xx status is SES's trouble, not ours
    ],
)
def test_ses_always_throttled_gives_up_transient(ses, code):
    sleeps = Sleeps()
    recording = Recording(ses, failures=[code] * 10)
    with pytest.raises(TransientMailError) as deferred:
        SesMailer(SENDER, client=recording, attempts=4, sleep=sleeps).send(outgoing())

    assert len(recording.calls) == 4
    assert sleeps == [1.0, 2.0, 4.0]
    assert code in deferred.value.message
    assert "4 attempts" in deferred.value.message


@pytest.mark.parametrize(
    ("code", "meaning"),
    [
        ("MessageRejected", "SES rejected the message"),
        ("MailFromDomainNotVerifiedException", "MAIL FROM domain is not verified"),
        ("AccountSuspendedException", "stopped the portal's account"),
        ("BadRequestException", "refused the request as invalid"),
        ("NotFoundException", "could not find"),
    ],
)
def test_ses_permanent_errors_are_not_retried(ses, code, meaning):
    sleeps = Sleeps()
    recording = Recording(ses, failures=[code])
    with pytest.raises(PermanentMailError) as refused:
        SesMailer(SENDER, client=recording, sleep=sleeps).send(outgoing())

    assert meaning in refused.value.message
    assert isinstance(refused.value, MailError)
    assert len(recording.calls) == 1
    assert sleeps == []


def test_ses_unreachable_endpoint_is_retried_then_transient(moto_endpoint, monkeypatch):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SESV2", f"http://127.0.0.1:{free_port()}")
    sleeps = Sleeps()
    with pytest.raises(TransientMailError) as deferred:
        SesMailer(SENDER, attempts=2, sleep=sleeps).send(outgoing())

    assert "could not reach SES" in deferred.value.message
    assert sleeps == [1.0]


def test_ses_makes_no_client_until_the_first_send(monkeypatch):
    made = []
    monkeypatch.setattr("boto3.client", lambda *a, **k: made.append(a))
    SesMailer(SENDER, configuration_set=CONFIGURATION_SET)
    assert made == []


class FixedTime:
    """A monotonic clock that moves only when slept on."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 6))
        self.now += seconds


def test_ses_paces_its_sends_at_its_share_of_the_rate(ses, moto_endpoint):
    time_ = FixedTime()
    mailer = SesMailer(
        SENDER, rate=10, senders=2, sleep=time_.sleep, monotonic=time_.monotonic
    )  # 10 a second shared by 2: one every 0.2 s each

    for _ in range(3):
        mailer.send(outgoing())
    time_.now += 1.0  # a quiet second: the next goes at once
    mailer.send(outgoing())

    assert time_.slept == [0.2, 0.2]


def test_ses_reads_the_accounts_rate_when_none_is_set(ses, moto_endpoint):
    time_ = FixedTime()
    quota = boto3.client("ses")
    assert quota.get_send_quota()["MaxSendRate"] == 1  # moto's account
    mailer = SesMailer(SENDER, senders=4, sleep=time_.sleep, monotonic=time_.monotonic)

    mailer.send(outgoing())
    mailer.send(outgoing())

    assert time_.slept == [4.0]  # 1 a second shared by 4 senders


def test_ses_sends_at_the_lowest_rate_when_the_rate_cannot_be_read(ses, moto_endpoint, caplog):
    class NoQuota:
        def get_send_quota(self):
            raise RuntimeError("AccessDenied")

    time_ = FixedTime()
    mailer = SesMailer(SENDER, quota_client=NoQuota(), sleep=time_.sleep, monotonic=time_.monotonic)

    mailer.send(outgoing())
    mailer.send(outgoing())

    assert time_.slept == [1.0]
    assert "could not be read" in caplog.text
