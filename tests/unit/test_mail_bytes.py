"""OutgoingMessage.to_bytes (written directly, portal/ports/mime.py) against the email
package's own build (OutgoingMessage.to_email, the default policy): read back with
`email.message_from_bytes(..., policy=email.policy.default)`, both say the same thing.

Where the direct build declines a value (another address form, text that looks like an
encoded word) to_bytes is the email package's build; `direct_only` proves a value was
written directly, by making the email package's build fail."""

import email
import re
from contextlib import contextmanager
from email import policy
from email.message import EmailMessage
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from portal.ports.mail import KIND_HEADER, OutgoingMessage, PermanentMailError, bare_address
from portal.ports.mime import encode_text
from tests.examples import examples

SENDER = "billing@example.org"
CRLF = b"\r\n"


@contextmanager
def direct_only():
    """Within: to_bytes may not fall back to the email package's build."""

    def refused(*args, **kwargs):
        raise AssertionError("to_bytes fell back to the email package's build")

    with mock.patch.object(OutgoingMessage, "to_email", refused):
        yield


def read(data: bytes) -> EmailMessage:
    message = email.message_from_bytes(data, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def old_bytes(message: OutgoingMessage, sender: str) -> bytes:
    """The message as the mailers sent it before to_bytes."""
    return message.to_email(sender).as_bytes()


def mailbox(header) -> tuple[str, str]:
    [address] = header.addresses
    return address.display_name, address.addr_spec


def bodies(message: EmailMessage) -> list[tuple[str, str]]:
    """(content type, decoded text) of each part, line ends as LF."""
    return [
        (part.get_content_type(), part.get_content().replace("\r\n", "\n"))
        for part in message.iter_parts()
    ]


def as_sent(text: str) -> str:
    """A body as every build sends it: lines split as bytes split them, each ending in LF."""
    return b"\n".join(text.encode("utf-8").splitlines()).decode("utf-8") + "\n"


def named(name: str, address: str) -> str:
    """`name <address>` as a person would write it: plain words, or a quoted string (the
    address alone without a name)."""
    if not name:
        return address
    if re.fullmatch(r'[^\s"(),.:;<>@\[\]\\]+(?: [^\s"(),.:;<>@\[\]\\]+)*', name):
        return f"{name} <{address}>"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}" <{address}>'


def check_wire_form(data: bytes) -> None:
    """CRLF line ends only, no line over 998 octets, an ASCII header block."""
    assert data.endswith(CRLF)
    lines = data.split(CRLF)
    assert all(b"\r" not in line and b"\n" not in line for line in lines)
    assert all(len(line) <= 998 for line in lines)
    head = data.split(CRLF + CRLF, 1)[0]
    assert head.isascii()


def check_as_meant(
    message: OutgoingMessage, data: bytes, sender: tuple[str, str], to: tuple[str, str]
) -> None:
    """`data` read back is the message as meant: the mailboxes, the subject, the kind and
    extra headers, both bodies (as the email package's build sends them: the payloads are
    its own, test_a_body_is_encoded_as_set_content_encodes_it). Not compared with what
    that build reads back: it is not always what was meant (see the tests at the end)."""
    new = read(data)
    assert not new.defects
    assert all(not new[name].defects for name in new)
    assert mailbox(new["From"]) == sender
    assert mailbox(new["To"]) == to
    assert new["Subject"] == message.subject
    assert new.get_all(KIND_HEADER) == [message.kind]
    for name, value in message.headers.items():
        assert new.get_all(name) == [value]
    assert new.get_content_type() == "multipart/alternative"
    assert bodies(new) == [
        ("text/plain", as_sent(message.text)),
        ("text/html", as_sent(message.html)),
    ]
    assert new["Date"].datetime and new["Message-ID"]


MADE_EACH_TIME = rb"(?m)^(Date|Message-ID): .*$|=+\d+=="  # and the boundary


def check_is_the_email_packages(message: OutgoingMessage, sender: str, data: bytes) -> None:
    """`data` is the email package's build, but for the date, Message-ID and boundary."""
    old = message.to_email(sender)
    expected = old.as_bytes(policy=old.policy.clone(linesep="\r\n"))
    assert re.sub(MADE_EACH_TIME, b"", data) == re.sub(MADE_EACH_TIME, b"", expected)


def regular(name: str) -> bool:
    return name == " ".join(name.split())


def written_directly(message: OutgoingMessage, names: list[str]) -> bool:
    """What the direct build surely takes on (portal/ports/mime.py): display names with
    single spaces, short if not ASCII (one encoded word), values without an encoded word
    or spaces at either end."""
    values = [message.subject, *message.headers.values(), *names]
    return all(
        regular(name) and (name.isascii() or len(name.encode()) <= 20) for name in names
    ) and all("=?" not in value and value == value.strip(" ") for value in values)


@contextmanager
def watching_fallback():
    """Within: the list yielded gets an entry each time to_bytes falls back."""
    calls: list[tuple] = []
    original = OutgoingMessage.to_email

    def recorded(self, *args, **kwargs):
        calls.append(args)
        return original(self, *args, **kwargs)

    with mock.patch.object(OutgoingMessage, "to_email", recorded):
        yield calls


# -- generated values --------------------------------------------------------------------------

# Anything check_headers lets through: no control characters, no line separators.
header_text = st.text(
    st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\u2028\u2029"),
    max_size=120,
)
words = st.sampled_from(
    [
        "José",
        "Núñez",
        "Clínica",
        "Señora",
        "O'Brien",
        "Dr.",
        "Smith,",
        '"Bo"',
        "a\\b",
        "日本語",
        "Ünïcödé",
        "😀",
        "Family",
        "Practice",
        "x" * 90,
        "(billing)",
        "<office>",
        "=",
        "?",
        "_",
        "=?utf-8?q?x?=",
    ]
)
phrases = st.lists(words, min_size=1, max_size=12).map(" ".join)
display_names = st.one_of(st.just(""), phrases, header_text)
subjects = st.one_of(phrases, header_text.filter(lambda s: s == s.strip(" ")))
body_lines = st.one_of(
    st.sampled_from(["From here on", "From ", ".", "..", "-- ", "=", "=3D", "--==", ""]),
    st.text(max_size=200),
    st.just("é" * 120),
    st.just("long " * 60),
)
bodies_text = st.lists(body_lines, max_size=14).flatmap(
    lambda lines: st.sampled_from(["\n", "\r\n", "\r"]).map(lambda end: end.join(lines))
)
local_parts = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}[A-Za-z0-9]", fullmatch=True).filter(
    lambda s: ".." not in s
)
addresses = st.builds("{}@example.org".format, local_parts)
unsubscribe = st.builds(
    "<https://portal.example.org/reminders/stop/{}>".format,
    st.text(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", min_size=1, max_size=300
    ),
)


@st.composite
def outgoing(draw, names=display_names, subject=subjects, text=bodies_text):
    """(message, sender's (name, address), recipient's (name, address))."""
    headers = {}
    if draw(st.booleans()):
        headers["List-Unsubscribe"] = draw(unsubscribe)
        headers["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    if draw(st.booleans()):
        headers["X-Portal-Note"] = draw(subject)
    sender = (draw(names), SENDER)
    to = (draw(names), draw(addresses))
    message = OutgoingMessage(
        kind=draw(st.sampled_from(["receipt", "statement", "reminder", "final-notice"])),
        to=named(*to),
        subject=draw(subject),
        text=draw(text),
        html=draw(text),
        headers=headers,
    )
    return message, sender, to


PROPERTY = settings(max_examples=examples(300), suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(case=outgoing())
@example(
    case=(
        OutgoingMessage(
            "statement",
            named("Núñez, José", "jose@example.org"),
            "Señora " * 30,
            "é\n.\n",
            "<p>é</p>",
        ),
        ("Clínica Señora", SENDER),
        ("Núñez, José", "jose@example.org"),
    )
)
def test_the_bytes_read_back_as_meant(case):
    message, sender, to = case
    with watching_fallback() as fell_back:
        data = message.to_bytes(named(*sender))
    check_wire_form(data)
    if fell_back:
        assert not written_directly(message, [sender[0], to[0]])
        check_is_the_email_packages(message, named(*sender), data)
    else:
        check_as_meant(message, data, sender, to)


# No word too long for a line: the email package then writes encoded words after a space
# that is read back doubled ("Practice  xxx...": test_the_bytes_read_back_as_meant holds the
# direct build to the subject as meant there).
ascii_words = st.sampled_from(
    ["Demo", "Family", "Practice", "O'Brien", "Mary-Jo", "Dr", "Smith", "x" * 40, "$42.10", "#7"]
)
ascii_phrases = st.lists(ascii_words, min_size=1, max_size=12).map(" ".join)


@PROPERTY
@given(
    case=outgoing(
        names=st.one_of(st.just(""), ascii_phrases),
        subject=ascii_phrases,
        text=st.text(st.characters(max_codepoint=127), max_size=400),
    )
)
def test_all_ascii_the_headers_and_bodies_are_the_email_packages(case):
    message, (sender_name, _), _ = case
    sender = named(sender_name, SENDER)
    with direct_only():
        data = message.to_bytes(sender, linesep="\n")
    new, old = read(data), read(message.to_email(sender).as_bytes())
    made_here = ("Date", "Message-ID", "Content-Type")  # Content-Type: the boundary
    same = [(n, str(v)) for n, v in new.items() if n not in made_here]
    # Where the email package starts a value on the line after the field name, Python's
    # parser reads it back with a leading space.
    assert same == [(n, str(v).lstrip(" ")) for n, v in old.items() if n not in made_here]
    assert new.get_content_type() == old.get_content_type()
    for new_part, old_part in zip(new.iter_parts(), old.iter_parts(), strict=True):
        assert new_part["Content-Type"] == old_part["Content-Type"]
        assert new_part["Content-Transfer-Encoding"] == old_part["Content-Transfer-Encoding"]
        assert new_part.get_payload() == old_part.get_payload()


@PROPERTY
@given(text=bodies_text)
def test_a_body_is_encoded_as_set_content_encodes_it(text):
    old = EmailMessage()
    old.set_content(text)
    cte, payload = encode_text(text)
    assert cte == old["Content-Transfer-Encoding"]
    assert payload.decode("utf-8") == old.get_payload()


def test_a_non_ascii_display_name_is_encoded_words_the_address_plain():
    message = OutgoingMessage("statement", '"Núñez, José" <jose@example.org>', "Hola", "t", "h")
    with direct_only():
        data = message.to_bytes("Clínica Señora <billing@example.org>")
    head = data.split(CRLF + CRLF, 1)[0].decode("ascii")
    assert "From: =?utf-8?q?Cl=C3=ADnica_Se=C3=B1ora?= <billing@example.org>\r\n" in head
    assert re.search(r"\r\nTo: =\?utf-8\?[qb]\?[^?]+\?= <jose@example\.org>\r\n", head)
    arrived = read(data)
    assert mailbox(arrived["From"]) == ("Clínica Señora", "billing@example.org")
    assert mailbox(arrived["To"]) == ("Núñez, José", "jose@example.org")
    # The Message-ID is in the sender's domain (not "example.org>").
    assert re.fullmatch(r"<[^<>@]+@example\.org>", arrived["Message-ID"])


def test_a_long_non_ascii_subject_is_encoded_words_folded_under_78_columns():
    subject = "Su estado de cuenta de la Clínica Señora Núñez está listo: " * 4
    message = OutgoingMessage("statement", "maria@example.com", subject.strip(), "t", "h")
    with direct_only():
        data = message.to_bytes(SENDER)
    head = data.split(CRLF + CRLF, 1)[0].decode("ascii")
    lines = head.split("\r\n")
    assert all(len(line) <= 78 for line in lines)
    at = next(i for i, line in enumerate(lines) if line.startswith("Subject:"))
    folded = lines[at + 1 : at + 5]
    assert all(line.startswith(" =?utf-8?") for line in folded)
    assert all(
        len(word) <= 75 for line in lines[at : at + 5] for word in re.findall(r"=\?\S+\?=", line)
    )
    assert read(data)["Subject"] == subject.strip()


def test_a_long_ascii_header_is_folded_at_spaces():
    subject = "Final notice: Demo Family Practice balance of $1,234.56 past due " * 3
    stop = "<https://portal.example.org/reminders/stop/" + "A" * 60 + ">"
    message = OutgoingMessage(
        "final-notice", "maria@example.com", subject.strip(), "t", "h", {"List-Unsubscribe": stop}
    )
    with direct_only():
        data = message.to_bytes(SENDER)
    head = data.split(CRLF + CRLF, 1)[0].decode("ascii")
    assert "=?" not in head
    # A URL is one word: on the field's line, however long, rather than as encoded words.
    assert f"\r\nList-Unsubscribe: {stop}\r\n" in head
    assert all(len(line) <= 78 for line in head.split("\r\n") if stop not in line)
    assert head.count("\r\n ") == 3  # the subject folded twice, the boundary once
    assert read(data)["Subject"] == subject.strip()


@pytest.mark.parametrize(
    "sender, to",
    [
        ("billing@exámple.org", "maria@example.com"),  # not an ASCII domain
        (SENDER, "maría@example.com"),  # not an ASCII local part
        (SENDER, '"maria lopez"@example.com'),  # a quoted local part
        (SENDER, "Maria <maria@example.com>, Jose <jose@example.com>"),  # two mailboxes
    ],
)
def test_an_address_the_direct_build_cannot_write_is_the_email_packages(sender, to):
    message = OutgoingMessage("receipt", to, "Receipt", "t", "h")
    with direct_only(), pytest.raises(AssertionError, match="fell back"):
        message.to_bytes(sender)
    try:
        old_bytes(message, sender)
    except UnicodeEncodeError:  # the email package will not write a non-ASCII domain
        with pytest.raises(UnicodeEncodeError):
            message.to_bytes(sender)
        return
    check_is_the_email_packages(message, sender, message.to_bytes(sender))


def test_text_that_looks_like_an_encoded_word_is_left_to_the_email_package():
    message = OutgoingMessage("receipt", SENDER, "=?utf-8?q?Hola?=", "t", "h")
    with direct_only(), pytest.raises(AssertionError, match="fell back"):
        message.to_bytes(SENDER)
    assert read(message.to_bytes(SENDER))["Subject"] == read(old_bytes(message, SENDER))["Subject"]


@pytest.mark.parametrize(
    "fields",
    [
        {"to": "maria@example.com\r\nBcc: x@y.com"},
        {"subject": "Receipt\nBcc: x@y.com"},
        {"kind": "receipt\u2028Bcc: x@y.com"},
        {"headers": {"X-A\r\nBcc": "x@y.com"}},
        {"headers": {"List-Unsubscribe": "<mailto:a@b.c>\rBcc: x@y.com"}},
    ],
)
def test_a_header_that_could_carry_others_is_refused(fields):
    values = dict(kind="receipt", to="maria@example.com", subject="Receipt", text="t", html="h")
    message = OutgoingMessage(**{**values, **fields})
    with pytest.raises(PermanentMailError, match="header"):
        message.to_bytes(SENDER)


def test_a_sender_that_could_carry_other_headers_is_refused():
    message = OutgoingMessage("receipt", "maria@example.com", "Receipt", "t", "h")
    with pytest.raises(PermanentMailError, match="From header"):
        message.to_bytes("Clínica\r\nBcc: x@y.com <billing@example.org>")


def test_the_bare_address_of_a_named_sender():
    assert bare_address("Clínica Señora <billing@example.org>") == "billing@example.org"
    assert bare_address(SENDER) == SENDER


def test_a_long_display_name_is_folded_without_ending_the_header_block():
    """The email package's build folds this name with an empty line in the From field:
    the headers end there, and the message reads back with no To, no kind and no parts."""
    name = "Family = " + "x" * 90 + " " + "x" * 90 + " = Practice"
    message = OutgoingMessage("receipt", "maria@example.com", "Receipt", "Hello\n", "<p>Hello</p>")
    sender = f"{name} <{SENDER}>"
    assert b"\n\n " in old_bytes(message, sender)
    assert read(old_bytes(message, sender))[KIND_HEADER] is None
    with direct_only():
        data = message.to_bytes(sender)
    check_wire_form(data)
    check_as_meant(message, data, (name, SENDER), ("", "maria@example.com"))


def test_a_long_subject_reads_back_without_a_doubled_space():
    """The email package's build writes the long word as encoded words after a trailing
    space and a fold, and Python's parser reads two spaces back."""
    subject = "Demo Demo Demo Demo Demo Demo Demo Demo Practice Practice " + "x" * 90
    message = OutgoingMessage("receipt", "maria@example.com", subject, "t", "h")
    assert read(old_bytes(message, SENDER))["Subject"] != subject
    with direct_only():
        data = message.to_bytes(SENDER)
    assert read(data)["Subject"] == subject
