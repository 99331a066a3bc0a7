"""An outgoing message's MIME bytes, assembled directly (no email.headerregistry).

Building an `EmailMessage` with the modern policy parses and folds every header with
email.headerregistry; for the portal's messages (a handful of headers, two text parts) that
was most of a statement run's time. Here the same message is written out as bytes:

- Addresses: a bare `local@domain` or `Display Name <local@domain>` (the name plain words,
  or a quoted string), the address all ASCII dot-atoms. A non-ASCII display name becomes
  RFC 2047 encoded words (the name only; the address stays as it is).
- Unstructured fields (Subject, the kind header, List-Unsubscribe, ...): ASCII folded at
  spaces under 78 columns where a space allows it; anything else as encoded words.
- Bodies: encoded exactly as `EmailMessage.set_content` encodes a str under the default
  policy (7bit, 8bit, quoted-printable or base64 by the same rule), so the part's payload
  is the same bytes.

Whatever this cannot write with certainty of the same meaning (another address form, a
header the email package treats as structured, text that already looks like an encoded
word, a line that would pass 998 octets) makes `multipart_alternative` return None, and the
caller builds the message with the email package instead.
"""

import binascii
import random
import re
import sys
from email import quoprimime
from email.headerregistry import HeaderRegistry

MAX_LINE = 78  # RFC 5322's SHOULD, the default policy's max_line_length
HARD_LINE = 998  # RFC 5322's MUST (without the CRLF)
MAX_ENCODED_WORD = 75  # RFC 2047 section 2

# Header names the default policy parses as structured (addresses, dates, MIME fields):
# extra headers of these names are left to the email package.
STRUCTURED = frozenset(HeaderRegistry().registry)

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = rf"{_ATOM}(?:\.{_ATOM})*@{_ATOM}(?:\.{_ATOM})*"
_BARE_ADDRESS = re.compile(_ADDRESS)
# A phrase of words (no RFC 5322 specials, single spaces between) or one quoted string.
_WORD = r'[^\s"(),.:;<>@\[\]\\]+'
_NAMED_ADDRESS = re.compile(
    rf'(?:(?P<words>{_WORD}(?: {_WORD})*)|"(?P<quoted>(?:[^"\\]|\\.)*)") ?<(?P<address>{_ADDRESS})>'
)
_QUOTED_PAIR = re.compile(r"\\(.)")
_NEEDS_QUOTES = re.compile(r'[][\\()<>@,:;".]')  # email.utils.specialsre
_ESCAPED = re.compile(r'[\\"]')

# Q encoding in a phrase may leave only these as they are (RFC 2047 section 5 (3)).
_Q_PLAIN = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789!*+-/")
_Q_BYTE = [chr(b) if b in _Q_PLAIN else "_" if b == 0x20 else f"={b:02X}" for b in range(256)]
_EW_OVERHEAD = len("=?utf-8?q?") + len("?=")


def multipart_alternative(
    fields: list[tuple[str, str, str]], text: str, html: str, linesep: str
) -> bytes | None:
    """The message's bytes: the header fields in order, then MIME-Version and a
    multipart/alternative body of `text` (text/plain) and `html` (text/html), lines ending
    in `linesep`. Each field is (name, value, how): "address" (one mailbox),
    "unstructured", "verbatim" (a value made here, such as Date or Message-ID) or "extra"
    (unstructured, unless the email package gives the name a structure: then None).
    None when a field or body cannot be written here with the same meaning."""
    lines: list[str] = []
    for name, value, kind in fields:
        if kind == "address":
            folded = address_field(name, value)
        elif kind == "verbatim":
            folded = [f"{name}: {value}"]
        elif kind == "unstructured" or name.lower() not in STRUCTURED:
            folded = unstructured_field(name, value)
        else:
            return None
        if folded is None:
            return None
        lines += folded
    try:
        text_part = _text_part("plain", text)
        html_part = _text_part("html", html)
    except UnicodeEncodeError:  # a lone surrogate: the email package's to say what happens
        return None
    boundary = _boundary(text_part, html_part)
    lines += [
        "MIME-Version: 1.0",
        "Content-Type: multipart/alternative;",
        f' boundary="{boundary}"',
        "",
        f"--{boundary}",
    ]
    head = "\n".join(lines)
    if not head.isascii() or any(len(line) > HARD_LINE for line in lines):
        return None  # (a verbatim value given that is not ASCII)
    # The newline before each boundary belongs to the boundary (RFC 2046 section 5.1.1).
    data = (
        head.encode("ascii")
        + b"\n"
        + text_part
        + f"\n--{boundary}\n".encode("ascii")
        + html_part
        + f"\n--{boundary}--\n".encode("ascii")
    )
    if linesep != "\n":
        data = data.replace(b"\n", linesep.encode("ascii"))
    return data


# -- header fields -----------------------------------------------------------------------------


def address_field(name: str, value: str) -> list[str] | None:
    """The lines of an address field holding one mailbox; None for any other form."""
    if "=?" in value:
        return None
    if _BARE_ADDRESS.fullmatch(value):
        return _fold(name, [value])
    match = _NAMED_ADDRESS.fullmatch(value)
    if match is None:
        return None
    address = match["address"]
    words = match["words"]
    display = words if words is not None else _QUOTED_PAIR.sub(r"\1", match["quoted"])
    if not display:
        return _fold(name, [address])
    if display != " ".join(display.split()):
        # Spaces at either end or in a run: the email package reads them back changed
        # whichever way they are written; its own build says what it says.
        return None
    if display.isascii():
        quoted = _ESCAPED.sub(r"\\\g<0>", display)
        if _NEEDS_QUOTES.search(display):
            quoted = f'"{quoted}"'
        return _fold(name, [*quoted.split(" "), f"<{address}>"])
    # One encoded word only: between two, RFC 2047 readers drop the space and Python's
    # address parser puts one in, so a longer name is left to the email package.
    encoded = _encoded_words(display, _first_room(name))
    if encoded is None or len(encoded) > 1:
        return None
    return _fold(name, [*encoded, f"<{address}>"])


def unstructured_field(name: str, value: str) -> list[str] | None:
    """The lines of an unstructured field: ASCII folded at spaces (a word too long for a
    line of 78 on a line of its own, as a URL in List-Unsubscribe must stay readable),
    anything else as encoded words."""
    if "=?" in value:
        return None
    if value.isascii() and value == value.strip(" "):
        lines = _fold(name, value.split(" "))
        if all(len(line) <= HARD_LINE for line in lines):
            return lines
        # A word of nearly 1,000 characters: encoded words can be cut anywhere.
    encoded = _encoded_words(value, _first_room(name))
    if encoded is None:
        return None
    return _fold(name, encoded)


def _first_room(name: str) -> int:
    """How long the first encoded word may be to stay on the field's first line."""
    return min(MAX_ENCODED_WORD, MAX_LINE - len(f"{name}: "))


def _fold(name: str, tokens: list[str]) -> list[str]:
    """`name:` and the tokens, each after one space, a line broken before a token that would
    take it past MAX_LINE (the space then starts the next line, so unfolding gives the value
    back). The first token stays on the first line, however long (a value starting on the
    next line is read back with a leading space by Python's own parser). Empty tokens (a
    run of spaces) never start a line."""
    lines = [f"{name}: {tokens[0]}"]
    for token in tokens[1:]:
        if token and len(lines[-1]) + 1 + len(token) > MAX_LINE:
            lines.append(" " + token)
        else:
            lines[-1] += " " + token
    return lines


def _encoded_words(text: str, first_room: int) -> list[str] | None:
    """`text` as RFC 2047 encoded words in UTF-8 (Q or B, whichever is shorter), cut between
    characters, the first at most `first_room` characters long when a character fits in
    that, the others at most 75; decoded and joined they give `text` back exactly (the
    spaces between encoded words are not part of the text)."""
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return None
    use_q = sum(len(_Q_BYTE[b]) for b in data) <= 4 * -(-len(data) // 3)
    words: list[str] = []
    room = first_room - _EW_OVERHEAD
    chunk = b""
    for char in text:
        encoded_char = char.encode("utf-8")
        more = chunk + encoded_char
        if chunk and _encoded_length(more, use_q) > room:
            words.append(_encoded_word(chunk, use_q))
            room = MAX_ENCODED_WORD - _EW_OVERHEAD
            more = encoded_char
        chunk = more
    words.append(_encoded_word(chunk, use_q))
    return words


def _encoded_length(data: bytes, use_q: bool) -> int:
    if use_q:
        return len(data) + 2 * sum(len(_Q_BYTE[b]) > 1 for b in data)
    return 4 * -(-len(data) // 3)


def _encoded_word(data: bytes, use_q: bool) -> str:
    if use_q:
        return "=?utf-8?q?" + "".join(_Q_BYTE[b] for b in data) + "?="
    return f"=?utf-8?b?{binascii.b2a_base64(data, newline=False).decode('ascii')}?="


# -- bodies ------------------------------------------------------------------------------------


def _text_part(subtype: str, text: str) -> bytes:
    """A text/<subtype> part, headers and body, lines ending in LF."""
    cte, payload = encode_text(text)
    head = f'Content-Type: text/{subtype}; charset="utf-8"\nContent-Transfer-Encoding: {cte}\n\n'
    return head.encode("ascii") + payload


def encode_text(text: str) -> tuple[str, bytes]:
    """(Content-Transfer-Encoding, body bytes with LF line ends) for a UTF-8 text body, by
    the rule and with the result of email.contentmanager's set_text_content under the
    default policy (max_line_length 78, cte_type 8bit)."""
    lines = text.encode("utf-8").splitlines()
    if max((len(line) for line in lines), default=0) <= MAX_LINE:
        body = b"\n".join(lines) + b"\n"
        return ("7bit" if body.isascii() else "8bit"), body
    sniff = b"\n".join(lines[:10]) + b"\n"
    sniff_qp = quoprimime.body_encode(sniff.decode("latin-1"), MAX_LINE)
    if len(sniff_qp) > len(binascii.b2a_base64(sniff)):
        body = b"\n".join(lines) + b"\n"
        per_line = MAX_LINE // 4 * 3
        encoded = b"".join(
            binascii.b2a_base64(body[i : i + per_line]) for i in range(0, len(body), per_line)
        )
        return "base64", encoded
    if len(lines) <= 10:
        return "quoted-printable", sniff_qp.encode("ascii")
    body = b"\n".join(lines) + b"\n"
    return "quoted-printable", quoprimime.body_encode(body.decode("latin-1"), MAX_LINE).encode(
        "ascii"
    )


def _boundary(*parts: bytes) -> str:
    """A boundary found in neither part, in the form email.generator makes them."""
    while True:
        token = random.randrange(sys.maxsize)
        boundary = "=" * 15 + f"{token:019d}" + "=="
        marker = boundary.encode("ascii")
        if not any(marker in part for part in parts):
            return boundary
