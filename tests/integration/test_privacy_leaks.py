"""Hardening item 5: no diagnosis or procedure code, no code description and no date of birth
in anything that leaves the portal: Stripe requests, e-mails, logs, URLs.

One run drives the whole portal the way a practice uses it: statements imported through
`POST /api/v1/statements`, `portal import` and the supervisors' upload page (with statement
notices); Quick Pay lookups that post dates of birth (wrong ones, a lock-out, the guarantor's
and a child's); the patient pages and PDFs; card payments through Stripe Checkout against the
local stand-in (paid by notification and by the return page, one still on its way that fails,
an expired one, Stripe failing, a refund from the supervisor's form, a dispute) and through
the sandbox (declined, paid, left, refunded through the refunds service); the staff console
(every page it links to, notes, a check payment, an adjustment, an escalation, a receipt sent
again); the reminder job on the day and 15, 30, 60 and 90 days later, with the escalation
e-mails to the billing inbox; the one-click opt-out from a reminder.

Everything that leaves the portal is captured: every .eml of the outbox (headers, subject and
every part decoded), every request the Stripe stand-in received (path, query, decoded form,
headers) and every answer given to Stripe's notifications, every log record of any logger
(at DEBUG on the root logger, with the portal's loggers made to propagate) and the output of
the command-line runs, every URL asked for or redirected to, every link in an e-mail or on a
page (with the signed tokens in them decoded) and every response header. All of it is
scanned for the statements' procedure and diagnosis codes (with and without the dot), their
descriptions and every date of birth in eleven formats: nothing may be found.

The scanner is shown able to fail: it finds every code and description on the statement
pages and every date of birth in the Quick Pay form bodies and on the staff account pages,
and it finds each needle planted in a copy of the captured material, through each channel's
own decoding (base64 and quoted-printable e-mail parts, an RFC 2047 subject, a Stripe form
body, a log record's arguments and extras, a percent-encoded query, a signed token).
"""

import base64
import copy
import csv
import html
import io
import json
import logging
import re
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qsl, quote, quote_plus, unquote_plus, urlencode, urlsplit

import pytest
from click.testing import CliRunner
from itsdangerous import URLSafeSerializer

from portal import create_app
from portal.adapters.outbox_sms import read_outbox
from portal.cli import cli
from portal.config import Settings
from portal.domain.payments import PaymentStatus
from portal.ports.payments import OffSessionCharge, SetupRequest
from portal.services.api_keys import create_api_key
from portal.services.imports import CSV_COLUMNS
from portal.services.refunds import refund_payment
from tests.conftest import csrf_token
from tests.integration.conftest import path_of, token_from
from tests.integration.staff_helpers import make_staff, post_form, staff_sign_in
from tests.stripe_fixtures import event, session_object, signed
from tests.stripe_stub import Recorded

TODAY = date(2026, 11, 28)  # NOW is 10:00 in New York on this day
BILLING_INBOX = "billing-office@example.org"
BASE_URL = "http://portal.test"
GOOD_CARD, DECLINED_CARD = "4242424242424242", "4000000000000002"
NEEDS_YOU_CARD = "4000002500003155"  # saved; every charge of it needs the patient
STRIPE_ID = re.compile(r"/(cs|pi|re)_test_\w+")  # a Stripe object id in a path


# -- the statements: distinctive codes, descriptions and dates of birth -------------------------


@dataclass(frozen=True)
class Procedure:
    system: str
    code: str
    description: str
    marker: str  # the description's one word that cannot turn up by accident


PROCEDURES = {
    "ear": Procedure(
        "CPT", "0583T", "Quellmark tympanostomy with iontophoresis, left ear", "Quellmark"
    ),
    "graft": Procedure(
        "HCPCS", "Q4163", "Vorlandia dermal matrix skin graft, per sq cm", "Vorlandia"
    ),
    "nerve": Procedure(
        "CPT", "0729T", "Bluthmann's cryoablation of a saphenous nerve branch", "Bluthmann"
    ),
    "blood": Procedure("CPT", "0401U", "Marrowind thrombophilia genotyping panel", "Marrowind"),
    "kit": Procedure("HCPCS", "K1034", "Zephyrine home antigen test kit, per unit", "Zephyrine"),
}


def person(first: str, last: str, born: str, email: str = "", patient_id: str = "") -> dict:
    found = {"first_name": first, "last_name": last, "date_of_birth": born}
    if patient_id:
        return {"patient_id": patient_id, **found}
    return {**found, "email": email, "phone": "+15555550100", "preferred_language": "en"}


def line(line_id: str, patient_id: str, served: date, what: str, dx: list, owed: int) -> dict:
    procedure = PROCEDURES[what]
    return {
        "line_id": line_id,
        "patient_id": patient_id,
        "service_date": served.isoformat(),
        "provider": "Dr. Imogen Farrow",
        "code_system": procedure.system,
        "code": procedure.code,
        "description": procedure.description,
        "description_es": f"Procedimiento {procedure.marker}ito",
        "diagnosis_codes": dx,
        "charge_cents": owed + 9000 + 2500,
        "insurance_paid_cents": 9000,
        "adjustment_cents": 2500,
        "patient_responsibility_cents": owed,
    }


def statement(
    statement_id: str, guarantor: dict, patients: list, due: date, lines: list, number: str
) -> dict:
    dated = due - timedelta(days=30)
    return {
        "statement_id": statement_id,
        "account_number": number,
        "statement_date": dated.isoformat(),
        "due_date": due.isoformat(),
        "guarantor": guarantor,
        "patients": patients,
        "lines": [line(i[0], i[1], dated - timedelta(days=12), *i[2:]) for i in lines],
    }


# 310001 pays by card through Stripe; the guarantor is also a patient, with two children.
HARRIET = person("Harriet", "Quill-Vance", "1958-02-27", "harriet.qv@example.com")
HARRIET_PATIENTS = [
    person("Harriet", "Quill-Vance", "1958-02-27", patient_id="P0"),
    person("Oskar", "Vance", "2012-10-23", patient_id="P1"),
    person("Mira", "Vance", "2017-05-19", patient_id="P2"),
]
# 330001 has a payment plan (the sandbox's card that needs the patient), through default.
YUSUF = person("Yusuf", "Okonkwo-Lindqvist", "1961-04-03", "y.ol@example.com")
YUSUF_PATIENTS = [
    person("Yusuf", "Okonkwo-Lindqvist", "1961-04-03", patient_id="P1"),
    person("Ilse", "Lindqvist", "2009-11-21", patient_id="P2"),
]
# 310002 pays through the sandbox.
DESMOND = person("Desmond", "Achterberg", "1983-09-14", "d.achterberg@example.com")
DESMOND_PATIENTS = [
    person("Desmond", "Achterberg", "1983-09-14", patient_id="P1"),
    person("Lotte", "Achterberg", "2015-08-13", patient_id="P2"),
]


def reminder_account(number: str, first: str, last: str, born: str, email: str, days: int):
    """An account whose one statement is `days` past due today."""
    guarantor = person(first, last, born, email)
    patients = [person(first, last, born, patient_id="P1")]
    lines = [("1", "P1", "kit", ["R46.81", "Z91.038"], 6000)]
    return statement(
        f"S-2026-{number}", guarantor, patients, TODAY - timedelta(days), lines, number
    )


API_STATEMENTS = [
    statement(
        "S-2026-310001",
        HARRIET,
        HARRIET_PATIENTS,
        date(2026, 9, 30),
        [("1", "P1", "ear", ["W61.62XD"], 6000)],
        "310001",
    ),
    statement(
        "S-2026-310002",
        HARRIET,
        HARRIET_PATIENTS,
        date(2026, 12, 1),
        [
            ("1", "P2", "graft", ["T63.441A", "Y93.D1"], 8000),
            ("2", "P0", "nerve", ["V97.33XD"], 4000),
        ],
        "310001",
    ),
    reminder_account("320015", "Ines", "Marchetti", "1949-12-31", "ines.m@example.com", 15),
    reminder_account("320030", "Tobias", "Wren", "1991-07-16", "tobias.wren@example.com", 30),
]
CLI_STATEMENTS = [
    statement(
        "S-2026-310101",
        DESMOND,
        DESMOND_PATIENTS,
        date(2026, 12, 2),
        [
            ("1", "P2", "blood", ["Z91.038"], 7500),
            ("2", "P1", "kit", ["R46.81", "W61.62XD"], 2500),
        ],
        "310002",
    ),
]
# Refused (the charge does not add up): the command line says so, and must not quote codes.
CLI_REJECTED = statement(
    "S-2026-310199",
    DESMOND,
    DESMOND_PATIENTS,
    date(2026, 12, 2),
    [("1", "P2", "ear", [], 100)],
    "310002",
)
CLI_REJECTED["lines"][0]["charge_cents"] += 1
# As a clerk might type it: a US-format birth date and a code in lower case. Both are
# refused, and the refusal printed by `portal import` must not repeat them.
CLI_REJECTED_AS_TYPED = copy.deepcopy(CLI_REJECTED)
CLI_REJECTED_AS_TYPED["patients"][1]["date_of_birth"] = "08/13/2015"
CLI_REJECTED_AS_TYPED["lines"][0]["diagnosis_codes"] = ["w61.62xd"]
UPLOADED_STATEMENTS = [
    reminder_account("320060", "Agnieszka", "Holm", "1976-03-29", "a.holm@example.com", 60),
    reminder_account("320090", "Ruairi", "Delacroix", "2004-08-17", "", 90),  # no address
    # Walked through the whole schedule: due today, reminded at 15 and 30, final at 60,
    # escalated at 90 days.
    reminder_account("320000", "Beatrix", "Solano", "1967-01-25", "b.solano@example.com", 0),
    # Pays over three months, on a card the bank asks the patient to confirm each time.
    statement(
        "S-2026-330001",
        YUSUF,
        YUSUF_PATIENTS,
        TODAY + timedelta(days=20),
        [("1", "P1", "graft", ["W61.62XD"], 20000), ("2", "P2", "nerve", ["Z91.038"], 10000)],
        "330001",
    ),
]
# Two of the reminder accounts agreed to texts (issue 22): their stages go by text too.
for _record, _phone in zip(API_STATEMENTS[2:], ("+15555550215", "+15555550230"), strict=True):
    _record["guarantor"]["sms_consent"] = {
        "phone": _phone,
        "given_at": "2026-06-01T09:00:00-04:00",
        "source": "front desk",
    }
ALL_STATEMENTS = [*API_STATEMENTS, *CLI_STATEMENTS, CLI_REJECTED, *UPLOADED_STATEMENTS]
WALKER = "b.solano@example.com"


def csv_rows(records: list[dict]) -> str:
    """The statements as `portal import` reads a CSV: one row per line item, in dollars."""
    out = io.StringIO()
    writer = csv.DictWriter(out, CSV_COLUMNS, extrasaction="ignore")
    writer.writeheader()
    for record in records:
        patients = {p["patient_id"]: p for p in record["patients"]}
        for item in record["lines"]:
            patient = patients[item["patient_id"]]
            row = {
                **record,
                **{f"guarantor_{k}": v for k, v in record["guarantor"].items()},
                **{f"patient_{k}": v for k, v in patient.items() if k != "patient_id"},
                **item,
                "diagnosis_codes": ";".join(item["diagnosis_codes"]),
            }
            for name in ("charge", "insurance_paid", "adjustment", "patient_responsibility"):
                row[name] = f"{item[name + '_cents'] / 100:.2f}"
            writer.writerow(row)
    return out.getvalue()


# -- the needles --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Needle:
    label: str
    pattern: re.Pattern[str]
    sample: str  # a text the pattern finds: what the self-check plants
    anchor: str  # lower case, in every text the pattern finds: a quick first test


def _bounded(text: str, edge: str = "A-Za-z0-9") -> re.Pattern[str]:
    """`text` standing on its own (not inside a longer word or number), any case, any
    run of white space where it has a space (e-mail bodies wrap lines)."""
    words = r"\s+".join(re.escape(word) for word in text.split())
    return re.compile(rf"(?<![{edge}]){words}(?![{edge}])", re.IGNORECASE)


def birth_formats(born: date) -> list[str]:
    return [
        born.isoformat(),  # 1980-04-12
        f"{born:%m/%d/%Y}",  # 04/12/1980
        f"{born.month}/{born.day}/{born.year}",  # 4/12/1980
        f"{born:%Y%m%d}",  # 19800412
        f"{born:%B} {born.day}, {born.year}",  # April 12, 1980
        f"{born:%b} {born.day}, {born.year}",  # Apr 12, 1980 (the portal's |date)
        f"{born.day} {born:%B} {born.year}",  # 12 April 1980
        f"{born:%d/%m/%Y}",  # 12/04/1980
        f"{born:%m-%d-%Y}",  # 04-12-1980
        f"{born:%Y/%m/%d}",  # 1980/04/12
        f"{born:%m%d%Y}",  # 04121980
    ]


def needles_for(records: Iterable[dict]) -> list[Needle]:
    found: dict[str, Needle] = {}

    def add(label: str, text: str, edge: str = "A-Za-z0-9", anchor: str = "") -> None:
        anchor = (anchor or text).lower()
        found.setdefault(label, Needle(label, _bounded(text, edge), text, anchor))

    for record in records:
        people = [record["guarantor"], *record["patients"]]
        for who in people:
            born = date.fromisoformat(who["date_of_birth"])
            for text in birth_formats(born):
                add(f"date of birth {born} as {text!r}", text, "0-9", str(born.year))
        for item in record["lines"]:
            code = item["code"]
            add(f"procedure code {code}", code)
            marker = next(p.marker for p in PROCEDURES.values() if p.code == code)
            add(f"description of {code}", item["description"], anchor=marker)
            add(f"description of {code} ({marker})", marker)
            add(f"Spanish description of {code}", item["description_es"], anchor=marker)
            for dx in item["diagnosis_codes"]:
                add(f"diagnosis code {dx}", dx)
                if "." in dx:
                    add(f"diagnosis code {dx} without its dot", dx.replace(".", ""))
    return list(found.values())


# Health words a patient or the billing office may write in a question, a request for help
# or a reply (issue 17): shown on the portal's pages, never in an e-mail, a log or a URL.
HEALTH_WORDS = ("Glimmerwort", "Pellucidine", "Vexamyl")
NEEDLES = needles_for(ALL_STATEMENTS) + [
    Needle(f"health word {word} written in a case", _bounded(word), word, word.lower())
    for word in HEALTH_WORDS
]


# -- the scanner --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    channel: str  # e-mail | stripe | log | url | header
    where: str
    text: str


@dataclass(frozen=True)
class Leak:
    channel: str
    where: str
    needle: str
    excerpt: str

    def __str__(self) -> str:
        return f"[{self.channel}] {self.needle} in {self.where}: ...{self.excerpt}..."


def variants(text: str) -> list[str]:
    """The text as sent, with HTML entities resolved and percent-encoding undone."""
    unescaped = html.unescape(text)
    forms = [text, unescaped, unquote_plus(text), unquote_plus(unescaped)]
    return list(dict.fromkeys(forms))


def find_leaks(items: Iterable[Item], needles: list[Needle] = NEEDLES) -> list[Leak]:
    leaks: dict[tuple[str, str, str], Leak] = {}
    for item in items:
        for text in variants(item.text):
            lowered = text.lower()
            for needle in needles:
                key = (item.channel, item.where, needle.label)
                if key in leaks or needle.anchor not in lowered:
                    continue
                match = needle.pattern.search(text)
                if match:
                    start, end = max(match.start() - 40, 0), match.end() + 40
                    excerpt = text[start:end].replace("\n", " ")
                    leaks[key] = Leak(item.channel, item.where, needle.label, excerpt)
    return list(leaks.values())


# -- what each channel carries, decoded ----------------------------------------------------------


def email_items(name: str, raw: bytes) -> list[Item]:
    """Every header (RFC 2047 decoded) and every part (base64/quoted-printable decoded) of an
    RFC 5322 message, and the raw file as well."""
    message = message_from_bytes(raw, policy=policy.default)
    items = [Item("e-mail", f"{name} (raw)", raw.decode("utf-8", "replace"))]
    for part_number, part in enumerate(message.walk()):
        for header, value in part.items():
            items.append(Item("e-mail", f"{name} part {part_number} {header}", str(value)))
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        items.append(
            Item("e-mail", f"{name} part {part_number} ({part.get_content_type()})", content)
        )
    return items


def email_links(raw: bytes) -> list[str]:
    message = message_from_bytes(raw, policy=policy.default)
    links = re.findall(r"<(https?://[^>]+)>", str(message.get("List-Unsubscribe", "")))
    for part in message.walk():
        if part.get_content_maintype() != "text":
            continue
        content = part.get_content()
        links += [html.unescape(u) for u in re.findall(r'href="([^"]+)"', content)]
        links += re.findall(r"https?://[^\s<>\"']+", content)
    return list(dict.fromkeys(links))


def stripe_items(number: int, request: Recorded) -> list[Item]:
    where = f"request {number} {request.method} {request.path}"
    params = "\n".join(f"{key}={value}" for key, value in request.params.items())
    headers = "\n".join(f"{name}: {value}" for name, value in request.headers.items())
    return [
        Item("stripe", f"{where} (url)", request.url),
        Item("stripe", f"{where} (parameters)", params),
        Item("stripe", f"{where} (body)", request.body),
        Item("stripe", f"{where} (headers)", headers),
    ]


_PEEK = URLSafeSerializer("only-reading-the-payload")


def token_payloads(url: str) -> list[str]:
    """What the signed tokens in a URL carry (a sandbox checkout id, an opt-out token): the
    payload of an itsdangerous token is only base64 (maybe zlib) of JSON, readable by anyone."""
    parts = urlsplit(url)
    pieces = [*parts.path.split("/"), *(value for _, value in parse_qsl(parts.query))]
    found = []
    for piece in pieces:
        if "." not in piece:
            continue
        starts = [0] + [i + 1 for i, ch in enumerate(piece) if ch == "_"]
        for start in starts:
            payload = piece[start:].rsplit(".", 1)[0]
            try:
                value = _PEEK.load_payload(payload.encode())
            except Exception:
                continue
            found.append(json.dumps(value))
            break
    return found


def url_items(where: str, url: str) -> list[Item]:
    items = [Item("url", where, url)]
    items += [Item("url", f"{where} (signed token)", payload) for payload in token_payloads(url)]
    return items


_STANDARD_RECORD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class Collector(logging.Handler):
    """Every record of every logger, formatted with its traceback and any `extra` fields
    (what a JSON log formatter in production would print)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[tuple[str, str]] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append((record.name, log_text(self, record)))


def log_text(handler: logging.Handler, record: logging.LogRecord) -> str:
    text = handler.format(record)
    extras = {k: v for k, v in vars(record).items() if k not in _STANDARD_RECORD}
    if extras:
        text += " " + " ".join(f"{k}={v!r}" for k, v in extras.items())
    return text


@dataclass
class Exchange:
    app: str
    method: str
    url: str
    status: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    text: str = ""  # the answer, when it is text (HTML, JSON, CSV)
    mimetype: str = ""

    @property
    def page(self) -> str:
        return self.text if self.mimetype == "text/html" else ""


class Recorder:
    """WSGI middleware: every request (method, path, query, body) and every response (status,
    headers, and the HTML) of an app."""

    def __init__(self, app, name: str, log: list[Exchange]):
        self.inner, self.name, self.log = app.wsgi_app, name, log
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        query = environ.get("QUERY_STRING", "")
        url = quote(environ.get("PATH_INFO", "")) + (f"?{query}" if query else "")
        exchange = Exchange(self.name, environ["REQUEST_METHOD"], url, body=body)
        self.log.append(exchange)

        def recording(status, headers, exc_info=None):
            exchange.status, exchange.headers = status, list(headers)
            return start_response(status, headers, exc_info)

        chunks = self.inner(environ, recording)
        try:
            data = b"".join(chunks)
        finally:
            if hasattr(chunks, "close"):
                chunks.close()
        mimetype = dict(exchange.headers).get("Content-Type", "").split(";")[0].strip()
        exchange.mimetype = mimetype
        if mimetype.startswith("text/") or mimetype == "application/json":
            exchange.text = data.decode("utf-8", "replace")
        return [data]


def text_items(texts: list[dict]) -> list[Item]:
    """Every text message sent (the outbox's JSON files), and the links in them."""
    items: list[Item] = []
    for number, text in enumerate(texts):
        where = f"text {number} ({text['kind']} to {text['to']})"
        items.append(Item("text", where, text["body"]))
        for link in re.findall(r"https?://\S+", text["body"]):
            items += url_items(f"link in {where}", link)
    return items


def page_links(page: str, attributes: str = "href|src|action") -> list[str]:
    return [html.unescape(u) for u in re.findall(rf'(?:{attributes})="([^"]*)"', page)]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(tmp_path / "portal.sqlite3"),
        "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
        "PORTAL_SMS_OUTBOX_DIR": str(tmp_path / "sms"),
        "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
        "PORTAL_BASE_URL": BASE_URL,
        "PORTAL_BILLING_INBOX": BILLING_INBOX,
        "PORTAL_MAIL_FROM": "billing@practice.example.org",
    }


@pytest.fixture
def settings(env) -> Settings:
    """The shared fixtures' settings, with a billing inbox for the escalations."""
    return Settings.from_env(env)


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A DEBUG handler on the root logger; every portal logger made to reach it."""
    handler = Collector()
    root = logging.getLogger()
    saved_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    changed = []
    for name, logger in list(logging.root.manager.loggerDict.items()):
        if not isinstance(logger, logging.Logger):
            continue
        ours = name.split(".")[0] in ("portal", "functions")
        changed.append((logger, logger.propagate, logger.disabled, logger.level))
        logger.propagate, logger.disabled = True, False
        if ours:
            logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        for logger, propagate, disabled, level in changed:
            logger.propagate, logger.disabled = propagate, disabled
            logger.setLevel(level)


@dataclass
class Portal:
    """The two apps on one SQLite file and outbox: card payments by Stripe (the stand-in) and
    by the sandbox, with every HTTP exchange recorded."""

    stripe_app: object
    sandbox_app: object
    exchanges: list[Exchange]

    def client(self, sandbox: bool = False):
        return (self.sandbox_app if sandbox else self.stripe_app).test_client()


@pytest.fixture
def portal(stripe_services, services, stub, collector) -> Portal:
    exchanges: list[Exchange] = []
    apps = []
    for name, built in (("stripe", stripe_services), ("sandbox", services)):
        app = create_app(services=built)
        app.config["TESTING"] = True
        Recorder(app, name, exchanges)
        apps.append(app)
    return Portal(apps[0], apps[1], exchanges)


# -- driving the portal -------------------------------------------------------------------------


def quick_pay(client, number: str, last_name: str, born: str, address: str):
    environ = {"REMOTE_ADDR": address}
    page = client.get("/pay", environ_base=environ)
    data = {
        "account_number": number,
        "last_name": last_name,
        "date_of_birth": born,
        "csrf_token": csrf_token(page.get_data(as_text=True)),
    }
    return client.post("/pay", data=data, environ_base=environ)


def signed_in(client, number: str, last_name: str, born: str, address: str):
    response = quick_pay(client, number, last_name, born, address)
    assert response.status_code == 303, response.get_data(as_text=True)
    assert urlsplit(response.headers["Location"]).path == "/account"
    return client


def post_plan_form(client, **fields: str) -> str:
    response = client.post(
        "/plans/new", data={**fields, "csrf_token": token_from(client, "/plans/new")}
    )
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def start_payment(client, amount: str):
    token = token_from(client, "/account")
    return client.post("/payments", data={"amount": amount, "csrf_token": token})


def stripe_checkout(client, stub, amount: str) -> tuple[str, str]:
    """POST /payments, then open Stripe's page: (payment id, Checkout Session id)."""
    response = start_payment(client, amount)
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(f"{stub.base}/pay/cs_test_"), location
    with urllib.request.urlopen(location, timeout=10) as page:
        assert f"${amount}".encode() in page.read()
    session_id = urlsplit(location).path.rsplit("/", 1)[1]
    return stub.sessions[session_id]["client_reference_id"], session_id


def notify(client, kind: str, obj: dict, expected: int = 200):
    body, headers = signed(event(kind, obj))
    response = client.post("/webhooks/stripe", data=body, headers=headers)
    assert response.status_code == expected, (kind, response.get_json())
    return response


def crawl(client, start: list[str], prefix: str, limit: int = 80) -> list[str]:
    """GET the pages and every page they link to under `prefix` (breadth first), except the
    PDFs (slow to draw: a few are fetched on purpose). The language switch is followed too
    (the pages after it are read in that language); the client's language is put back after."""
    with client.session_transaction() as session:
        language = session.get("language")
    seen: list[str] = []
    queue = list(start)
    while queue and len(seen) < limit:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.append(path)
        response = client.get(path)
        assert response.status_code in (200, 302, 303), (path, response.status_code)
        if response.mimetype != "text/html":
            continue
        for link in page_links(response.get_data(as_text=True), "href"):
            parts = urlsplit(link)
            if parts.netloc not in ("", urlsplit(BASE_URL).netloc):
                continue
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            if target.startswith(prefix) and target not in seen and not target.endswith(".pdf"):
                queue.append(target)
    with client.session_transaction() as session:
        if language is None:
            session.pop("language", None)
        else:
            session["language"] = language
    return seen


def problems(page: str) -> list[str]:
    """The error messages on a page that refused a form."""
    found = re.findall(r'<div class="error-summary".*?</div>', page, re.S)
    return [html.unescape(re.sub(r"<[^>]+>", "", text)).strip() for text in found]


def run_cli(env: dict[str, str], *args: str, code: int = 0):
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result


def outbox_messages(outbox: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(outbox.glob("*.eml"))}


# -- the test -----------------------------------------------------------------------------------


def test_nothing_that_leaves_the_portal_carries_codes_descriptions_or_dates_of_birth(
    portal, stripe_services, services, stub, env, tmp_path, collector, capsys, monkeypatch
):
    web, staff = portal.client(), portal.client()
    cli_output: list[tuple[str, str]] = []

    # Staff and an API key.
    make_staff(stripe_services, "sofia", "admin")
    make_staff(stripe_services, "sam", "associate")
    key = create_api_key(stripe_services, "ehr", actor="test").key

    # -- statements in, three ways (each new statement is announced by e-mail) ----------------
    api = web.post(
        "/api/v1/statements",
        json={"statements": API_STATEMENTS},
        headers={"Authorization": f"Bearer {key}"},
    )
    assert api.get_json() == {"imported": 4, "unchanged": 0, "rejected": []}
    csv_file = tmp_path / "statements.csv"
    csv_file.write_text(csv_rows([*CLI_STATEMENTS, CLI_REJECTED_AS_TYPED]), encoding="utf-8")
    result = run_cli(env, "import", str(csv_file), code=1)
    assert "1 imported, 0 unchanged, 1 rejected." in result.output
    cli_output.append(("portal import", result.output))
    json_file = json.dumps({"statements": UPLOADED_STATEMENTS}).encode()
    staff_sign_in(staff, stripe_services, "sofia")
    upload = staff.post(
        "/staff/import",
        data={
            "file": (io.BytesIO(json_file), "statements.json"),
            "csrf_token": token_from(staff, "/staff/import"),
        },
        content_type="multipart/form-data",
    )
    assert upload.status_code == 200, upload.get_data(as_text=True)
    assert stripe_services.store.get_statement("S-2026-320000") is not None

    # -- Quick Pay: wrong details, a bad date format, a lock-out, then the right ones ---------
    assert quick_pay(web, "310001", "Vance", "1958-02-27", "203.0.113.5").status_code == 401
    assert quick_pay(web, "310001", "Quill-Vance", "02/27/1958", "203.0.113.5").status_code == 422
    guesses = ["1991-07-16", "1976-03-29", "2004-08-17", "1967-01-25", "1983-09-14", "1958-02-27"]
    answers = [
        quick_pay(portal.client(), "320015", "Marchetti", born, "198.51.100.7").status_code
        for born in guesses
    ]
    assert answers == [401] * 5 + [429]
    signed_in(web, "310001", "Quill-Vance", "1958-02-27", "203.0.113.9")
    child = signed_in(portal.client(), "310001", "Vance", "2012-10-23", "203.0.113.10")
    sandbox = signed_in(portal.client(sandbox=True), "310002", "Achterberg", "2015-08-13", "::1")
    # The child Lotte sees her father's lines only by date and amount; he sees them in full.
    father = signed_in(portal.client(sandbox=True), "310002", "Achterberg", "1983-09-14", "::1")

    # -- the patient pages and PDFs ------------------------------------------------------------
    statement_pages = []
    for client in (web, child, sandbox, father):
        for path in crawl(client, ["/account"], "/"):
            if path.startswith("/statements/") and not path.endswith(".pdf"):
                statement_pages.append(client.get(path).get_data(as_text=True))
    assert len(statement_pages) >= 5
    for statement_id in ("S-2026-310001", "S-2026-310002"):
        pdf = child.get(f"/statements/{statement_id}.pdf")
        assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    assert (
        child.post("/signout", data={"csrf_token": token_from(child, "/account")}).status_code
        == 303
    )

    # -- card payments through Stripe Checkout --------------------------------------------------
    # Paid, reported by Stripe's notification.
    paid, session = stripe_checkout(web, stub, "40.00")
    notify(web, "checkout.session.completed", stub.complete(session))
    assert web.get(f"/payments/{paid}?session_id={session}").status_code == 200
    # Paid, found by the return page before the notification; the notification comes late.
    early, session = stripe_checkout(web, stub, "10.00")
    stub.complete(session)
    assert web.get(f"/payments/{early}?session_id={session}").status_code == 200
    notify(web, "checkout.session.completed", dict(stub.sessions[session]))
    # Still on its way (a bank debit), then failed: escalated.
    failing, session = stripe_checkout(web, stub, "25.00")
    notify(web, "checkout.session.completed", stub.complete(session, paid=False))
    notify(web, "checkout.session.async_payment_failed", dict(stub.sessions[session]))
    # Left open until Stripe expired it.
    expired, session = stripe_checkout(web, stub, "15.00")
    notify(web, "checkout.session.expired", stub.expire(session))
    assert web.get(f"/payments/{expired}?canceled=1").status_code == 200
    # Stripe not answering.
    stub.fail_next(500, "api_error", None, "An unknown error occurred", times=3)
    assert start_payment(web, "20.00").status_code == 502
    status = {p: stripe_services.store.get_payment(p).status for p in (paid, early, failing)}
    assert status == {
        paid: PaymentStatus.SUCCEEDED,
        early: PaymentStatus.SUCCEEDED,
        failing: PaymentStatus.FAILED,
    }
    # A refund from the supervisor's form, then Stripe's charge.refunded.
    refund = post_form(
        staff, f"/staff/payments/{paid}/refund", {"amount": "5.00", "request_key": "r1"}
    )
    assert refund.status_code == 303
    intent = stripe_services.store.get_payment(paid).gateway_reference
    notify(web, "charge.refunded", stub.charge(intent))
    assert stripe_services.store.get_payment(paid).refunded_cents == 500
    # A dispute (it names only the PaymentIntent: the portal asks Stripe whose it is), won.
    intent = stripe_services.store.get_payment(early).gateway_reference
    dispute = {
        "id": "dp_test_privacy",
        "object": "dispute",
        "amount": 1000,
        "charge": stub.payment_intents[intent]["latest_charge"],
        "payment_intent": intent,
        "status": "needs_response",
        "reason": "fraudulent",
        "metadata": {},
    }
    notify(web, "charge.dispute.created", dispute)
    assert stripe_services.store.get_payment(early).status is PaymentStatus.DISPUTED
    notify(web, "charge.dispute.closed", {**dispute, "status": "won"})
    # Someone else's checkout on the same Stripe account: acknowledged, ignored.
    notify(web, "checkout.session.completed", session_object("pay_elsewhere", 999, metadata={}))

    # -- card payments through the sandbox -----------------------------------------------------
    checkout = start_payment(sandbox, "30.00")
    assert checkout.status_code == 303
    page = path_of(checkout.headers["Location"])
    card = {"expiry": "12/30", "cvc": "123"}
    declined = sandbox.post(
        page, data={"card_number": DECLINED_CARD, **card, "csrf_token": token_from(sandbox, page)}
    )
    assert declined.status_code == 402
    done = sandbox.post(
        page, data={"card_number": GOOD_CARD, **card, "csrf_token": token_from(sandbox, page)}
    )
    assert done.status_code == 303
    assert sandbox.get(path_of(done.headers["Location"])).status_code == 200
    sandbox_paid = path_of(done.headers["Location"]).rsplit("/", 1)[1]
    left = path_of(start_payment(sandbox, "12.00").headers["Location"])
    gone = sandbox.post(f"{left}/cancel", data={"csrf_token": token_from(sandbox, left)})
    assert (
        gone.status_code == 303
        and sandbox.get(path_of(gone.headers["Location"])).status_code == 200
    )
    refund_payment(services, "sofia", sandbox_paid, "3.00", "sandbox-refund-1")
    assert services.store.get_payment(sandbox_paid).refunded_cents == 300

    # -- saved payment methods (a plan's card or bank account, charged off-session) ------------
    # Through Stripe: the setup page's Customer carries only the plan's id; a card and a
    # bank account saved; each charged; the bank debit asked about again.
    base = stripe_services.settings.base_url
    for number, (card_number, account) in enumerate(
        (("4000000000000341", None), (None, "000123456789")), start=1
    ):
        back = f"{base}/plans/plan_privacy_{number}"
        setup = stripe_services.payments.create_setup(
            SetupRequest(f"plan_privacy_{number}", back + "?session_id={CHECKOUT_SESSION_ID}", back)
        )
        stub.complete_setup(setup.session_id, card=card_number, bank_account=account)
        method = stripe_services.payments.setup_outcome(setup.session_id)
        charged = stripe_services.payments.charge_saved(
            OffSessionCharge(
                f"pay_privacy_{number}",
                method,
                2500,
                "Payment plan installment 1 of 3",
                f"plan-privacy_{number}-1-1",
            )
        )
        stripe_services.payments.charge_status(charged.reference)
    # Through the sandbox's setup page.
    setup = services.payments.create_setup(
        SetupRequest("plan_privacy_3", f"{base}/plans/plan_privacy_3", f"{base}/plans")
    )
    page = path_of(setup.url)
    saved = sandbox.post(
        page,
        data={
            "method": "card",
            "card_number": GOOD_CARD,
            **card,
            "csrf_token": token_from(sandbox, page),
        },
    )
    assert saved.status_code == 303

    # -- a payment plan on the patient's pages, through Stripe, and the daily charge run ------
    # The guarantor Harriet ($135.00 owed) chooses two months on the 28th (the first due
    # today), agrees, saves a card on Stripe's setup page; the agreement's copy is e-mailed;
    # the charge run (the scheduled function) charges the first installment off-session.
    offer = web.get("/plans/new").get_data(as_text=True)
    assert "Pay over time" in offer and "$135.00" in offer, problems(offer)
    choice = {"months": "2", "installment": "", "day": str(TODAY.day)}
    review = web.post(
        "/plans/new",
        data={**choice, "step": "review", "csrf_token": csrf_token(offer)},
    ).get_data(as_text=True)
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', review).group(1)
    to_setup = web.post(
        "/plans/new",
        data={
            **choice,
            "step": "agree",
            "agree": "yes",
            "digest": digest,
            "csrf_token": csrf_token(review),
        },
    )
    assert to_setup.status_code == 303, problems(to_setup.get_data(as_text=True))
    setup_session = to_setup.headers["Location"].rsplit("/", 1)[1]
    stub.complete_setup(setup_session, card=GOOD_CARD)
    [plan] = stripe_services.store.account_plans("310001")
    back = web.get(f"/plans/{plan.plan_id}/saved?session_id={setup_session}")
    assert back.status_code == 303
    plan_page = web.get(path_of(back.headers["Location"])).get_data(as_text=True)
    assert "Visa ending in 4242" in plan_page, problems(plan_page)
    import functions.plans
    import functions.reminders

    monkeypatch.setattr(functions.reminders, "_container", stripe_services)
    assert functions.plans.handler({}, None)["charged"] == 1
    [attempt] = stripe_services.store.get_plan(plan.plan_id).attempts
    assert stub.payment_intents[attempt.reference]["status"] == "succeeded"

    # -- a payment plan: set up on the pages, charged by `portal plans charge`, one installment
    # paid through the link of its e-mail, the others missed: every plan e-mail is sent ------
    planner = signed_in(
        portal.client(sandbox=True), "330001", "Okonkwo-Lindqvist", "1961-04-03", "::1"
    )
    choice = {"months": "3", "day": "1"}
    reviewed = post_plan_form(planner, step="review", **choice)
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', reviewed).group(1)
    agreed = planner.post(
        "/plans/new",
        data={
            **choice,
            "step": "agree",
            "agree": "yes",
            "digest": digest,
            "csrf_token": token_from(planner, "/plans/new"),
        },
    )
    setup_page = path_of(agreed.headers["Location"])
    saved = planner.post(
        setup_page,
        data={
            "method": "card",
            "card_number": NEEDS_YOU_CARD,
            **card,
            "csrf_token": token_from(planner, setup_page),
        },
    )
    plan_page = path_of(path_of(saved.headers["Location"]))
    assert planner.get(plan_page).status_code == 303
    plan_id = plan_page.split("/")[2].split("?")[0]
    for day in ("2026-11-28", "2026-12-01"):  # the notice, then the charge the bank holds
        result = run_cli(env, "plans", "charge", "--as-of", day)
        cli_output.append((f"portal plans charge --as-of {day}", result.output))
    link = f"/plans/{plan_id}/installments/1/pay"
    assert planner.get(link).status_code == 200
    opened = planner.post(link, data={"csrf_token": token_from(planner, link)})
    page = path_of(opened.headers["Location"])
    done = planner.post(
        page, data={"card_number": GOOD_CARD, **card, "csrf_token": token_from(planner, page)}
    )
    assert done.status_code == 303
    assert planner.get(f"/plans/{plan_id}").status_code == 200
    for day in ("2026-12-29", "2027-01-01", "2027-01-09", "2027-02-01", "2027-02-09"):
        result = run_cli(env, "plans", "charge", "--as-of", day)
        cli_output.append((f"portal plans charge --as-of {day}", result.output))
    assert services.store.get_plan(plan_id).defaulted_at is not None

    # -- the staff console: what associates and supervisors do ---------------------------------
    actions = [
        ("/staff/accounts/310001/notes", {"text": "Called the guarantor; paying by check."}),
        (
            "/staff/accounts/310001/payments",
            {
                "method": "check",
                "amount": "12.00",
                "check_number": "5512",
                "request_key": "a1" * 16,
            },
        ),
        (
            "/staff/accounts/310002/adjustments",
            {
                "statement_id": "S-2026-310101",
                "kind": "adjustment",
                "amount": "2.00",
                "reason": "Prompt-pay courtesy",
            },
        ),
        ("/staff/accounts/320030/escalations", {"kind": "other", "reason": "Asks for a call."}),
        (f"/staff/payments/{paid}/resend", {}),
        # Harriet asks on the phone to pay over time: the plan link, e-mailed.
        ("/staff/accounts/330001/plan-link", {}),  # his plan defaulted: a new one is offered
    ]
    for path, data in actions:
        response = post_form(staff, path, data)
        assert response.status_code == 303, (path, problems(response.get_data(as_text=True)))
    queue = stripe_services.store.escalations()
    assert queue
    post_form(staff, f"/staff/escalations/{queue[0].escalation_id}", {"owner": "sam"})
    post_form(
        staff, f"/staff/escalations/{queue[-1].escalation_id}/resolve", {"resolution": "Called."}
    )
    assert staff.get("/staff/search?q=Quill-Vance").status_code == 200
    assert staff.get("/staff/search?q=310001").status_code in (200, 302)

    # -- patients ask, staff answer (issue 17), with health words in every text ---------------
    question = web.get("/statements/S-2026-310002/question?line=1").get_data(as_text=True)
    asked = web.post(
        "/statements/S-2026-310002/question",
        data={
            "csrf_token": csrf_token(question),
            "request_key": request_key_in(question, "/statements/S-2026-310002/question"),
            "line_id": "1",
            "reason": "insurance_should_pay",
            "message": f"My {HEALTH_WORDS[0]} graft (T63.441A, Vorlandia) should be covered.",
        },
    )
    assert asked.status_code == 303, problems(asked.get_data(as_text=True))
    question_id = path_of(asked.headers["Location"]).rsplit("/", 1)[1]
    help_form = web.get("/account/help").get_data(as_text=True)
    helped = web.post(
        "/account/help",
        data={
            "csrf_token": csrf_token(help_form),
            "request_key": request_key_in(help_form, "/account/help"),
            "household_size": "4",
            "income_band": "25k_50k",
            "what_happened": f"{HEALTH_WORDS[1]} infusions for my daughter cost us everything.",
        },
    )
    assert helped.status_code == 303, problems(helped.get_data(as_text=True))
    help_id = path_of(helped.headers["Location"]).rsplit("/", 1)[1]
    asked_more = staff_case_form(
        staff,
        question_id,
        "reply",
        {"kind": "more_info", "text": f"Was the {HEALTH_WORDS[2]} prescribed by Dr. Farrow?"},
    )
    assert asked_more.status_code == 303, problems(asked_more.get_data(as_text=True))
    case_page = web.get(f"/account/cases/{question_id}").get_data(as_text=True)
    answered = web.post(
        f"/account/cases/{question_id}/reply",
        data={
            "csrf_token": csrf_token(case_page),
            "request_key": request_key_in(case_page, f"/account/cases/{question_id}/reply"),
            "message": f"Yes, {HEALTH_WORDS[2]} 20 mg for {HEALTH_WORDS[0]}.",
        },
    )
    assert answered.status_code == 303, problems(answered.get_data(as_text=True))
    for case_id, outcome, statement_id, words in (
        (question_id, "correction", "S-2026-310002", HEALTH_WORDS[0]),
        (help_id, "assistance_discount", "S-2026-310002", HEALTH_WORDS[1]),
    ):
        resolved = staff_case_form(
            staff,
            case_id,
            "resolve",
            {
                "outcome": outcome,
                "explanation": f"We lowered the bill for the {words} care.",
                "amount": "1.00",
                "ledger_reason": f"{words} billed in error",
                "statement_id": statement_id,
            },
        )
        assert resolved.status_code == 303, problems(resolved.get_data(as_text=True))
        assert web.get(f"/account/cases/{case_id}").status_code == 200
    assert staff.get("/staff/reports/cases?format=csv").status_code == 200

    # -- the reminder job: today (the scheduled function), then 15, 30, 60, 90 days on ---------
    counts = functions.reminders.handler({}, None)
    assert counts["sent"] >= 3 and counts["escalated"] >= 1, counts
    result = run_cli(env, "reminders", "--as-of", (TODAY + timedelta(15)).isoformat(), "--dry-run")
    cli_output.append(("portal reminders --dry-run", result.output))
    for days in (15, 30, 60, 90):
        as_of = (TODAY + timedelta(days)).isoformat()
        result = run_cli(env, "reminders", "--as-of", as_of)
        cli_output.append((f"portal reminders --as-of {as_of}", result.output))

    # The console afterwards: every page it links to, the PDFs, the CSV downloads.
    pages = crawl(staff, ["/staff/", "/staff/escalations"], "/staff/", limit=120)
    assert any("format=csv" in p for p in pages) and len(pages) >= 20, pages
    assert all(f"/staff/accounts/{r['account_number']}" in pages for r in ALL_STATEMENTS), pages
    pdf = staff.get("/staff/accounts/320090/statements/S-2026-320090.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    # -- links in the e-mails: a receipt, a staff link, the one-click opt-out -------------------
    messages = outbox_messages(Path(env["PORTAL_OUTBOX_DIR"]))
    parsed = {
        name: message_from_bytes(raw, policy=policy.default) for name, raw in messages.items()
    }
    walker = [m for m in parsed.values() if m["To"] == WALKER]
    assert [m["X-Portal-Message-Kind"] for m in walker] == [
        "statement",
        "reminder",
        "reminder",
        "final-notice",
    ]
    [plan_link] = [m for m in parsed.values() if m["Subject"].startswith("Set up a payment plan")]
    assert (plan_link["To"], plan_link["X-Portal-Message-Kind"]) == (YUSUF["email"], "reminder")
    assert "Pay over time" in plan_link.get_body(("plain",)).get_content()
    stop = re.search(r"<([^>]+)>", walker[-1]["List-Unsubscribe"]).group(1)
    outsider = portal.client()
    assert outsider.get(path_of(stop)).status_code == 200
    assert outsider.post(path_of(stop), data="List-Unsubscribe=One-Click").status_code == 200
    for name, raw in messages.items():
        kind = parsed[name]["X-Portal-Message-Kind"]
        for link in email_links(raw):
            if link.startswith(BASE_URL) and kind in ("receipt", "escalation"):
                assert (staff if kind == "escalation" else outsider).get(
                    path_of(link)
                ).status_code == 200

    # -- a pay link from the staff page, by text and by e-mail -----------------------------------
    for channel in ("text", "email"):
        sent = staff.post(
            "/staff/accounts/320015/pay-link",
            data={"channel": channel, "csrf_token": token_from(staff, "/staff/accounts/320015")},
        )
        assert sent.status_code == 303

    # -- everything that left the portal ------------------------------------------------------
    printed = capsys.readouterr()
    items = captured(portal, messages, stub, collector, cli_output, printed)
    texts = read_outbox(env["PORTAL_SMS_OUTBOX_DIR"])
    assert {t["kind"] for t in texts} >= {"reminder", "pay-link"}, texts
    items += text_items(texts)
    assert_capture_is_real(items, parsed, stub, collector, portal)
    assert_request_lines_name_no_one(printed.out, portal)
    assert_scanner_finds_what_is_there(portal, statement_pages, guesses)
    self_check(items, messages, stub.requests, collector)

    # -- and nothing leaked ------------------------------------------------------------------------
    leaks = find_leaks(items)
    assert not leaks, f"{len(leaks)} leaks:\n" + "\n".join(str(leak) for leak in leaks[:60])


def request_key_in(html: str, action: str) -> str:
    """The request key of the page's form posting to `action`."""
    form = re.search(rf'action="{re.escape(action)}".*?</form>', html, re.S)
    assert form, f"no form for {action}"
    return re.search(r'name="request_key"[^>]*value="([0-9a-f]{32})"', form.group(0)).group(1)


def staff_case_form(staff, case_id: str, action: str, data: dict):
    """Send one of the staff case page's forms, as the page gives it."""
    page = staff.get(f"/staff/cases/{case_id}").get_data(as_text=True)
    path = f"/staff/cases/{case_id}/{action}"
    key = request_key_in(page, path) if action != "assign" else ""
    return staff.post(path, data={**data, "csrf_token": csrf_token(page), "request_key": key})


def captured(portal: Portal, messages, stub, collector, cli_output, printed) -> list[Item]:
    """Everything that left the portal, decoded, by channel."""
    items: list[Item] = []
    for name, raw in messages.items():
        items += email_items(name, raw)
        items += [u for link in email_links(raw) for u in url_items(f"link in {name}", link)]
    for number, request in enumerate(stub.requests):
        items += stripe_items(number, request)
    for exchange in portal.exchanges:
        where = f"{exchange.app} {exchange.method} {exchange.url}"
        items += url_items(f"request {where}", exchange.url)
        for header, value in exchange.headers:
            if header.lower() == "location":
                items += url_items(f"redirect from {where}", value)
            items.append(Item("header", f"{header} of {where}", value))
        for link in page_links(exchange.page):
            items += url_items(f"link on {where}", link)
        if exchange.url.startswith("/webhooks/"):  # the answer Stripe gets
            items.append(Item("stripe", f"answer to {where} ({exchange.status})", exchange.text))
    items += [Item("log", f"record of {name}", text) for name, text in collector.lines]
    items += [Item("log", f"output of {what}", text) for what, text in cli_output]
    items += [
        Item("log", "standard output", printed.out),
        Item("log", "standard error", printed.err),
    ]
    return items


def assert_capture_is_real(items: list[Item], parsed: dict, stub, collector, portal) -> None:
    """Every channel was used, by every path the run took."""
    # The portal's own loggers still reach the root logger.
    for name, logger in logging.root.manager.loggerDict.items():
        if isinstance(logger, logging.Logger) and name.split(".")[0] in ("portal", "functions"):
            assert logger.propagate and not logger.disabled, name
    kinds = Counter(m["X-Portal-Message-Kind"] for m in parsed.values())
    assert set(kinds) == {
        "statement",
        "receipt",
        "reminder",
        "final-notice",
        "escalation",
        "plan-agreement",
        "plan-upcoming",
        "plan-failed",
        "plan-defaulted",
        "refund",
        "case-update",
    }, kinds
    assert kinds["plan-agreement"] == 2, kinds
    assert kinds["plan-upcoming"] == 2 and kinds["plan-failed"] == 3, kinds
    assert kinds["statement"] >= 7 and kinds["receipt"] >= 3 and kinds["escalation"] >= 2, kinds
    escalations = [m for m in parsed.values() if m["X-Portal-Message-Kind"] == "escalation"]
    assert {m["To"] for m in escalations} == {BILLING_INBOX}
    assert len(parsed) >= 20
    calls = Counter(f"{r.method} {STRIPE_ID.sub('/<id>', r.path)}" for r in stub.requests)
    assert calls["POST /v1/checkout/sessions"] >= 5, calls
    assert calls["POST /v1/refunds"] >= 1, calls
    assert calls["GET /v1/checkout/sessions/<id>"] >= 1, calls
    assert calls["GET /v1/payment_intents/<id>"] >= 1, calls
    assert calls["POST /v1/customers"] >= 3 and calls["POST /v1/payment_intents"] >= 3, calls
    # The plan set up on the patient's pages: its setup session and the one charged off-session.
    setups = [
        r
        for r in stub.requests
        if r.path == "/v1/checkout/sessions" and r.params.get("mode") == "setup"
    ]
    assert len(setups) >= 3, calls
    off_session = [r for r in stub.requests if r.params.get("off_session") == "true"]
    assert any(r.params.get("description", "").endswith("of 2") for r in off_session), calls
    assert calls["GET /pay/<id>"] >= 4, calls
    assert all(r.headers.get("Idempotency-Key") for r in stub.requests if r.method == "POST")
    loggers = Counter(name for name, _ in collector.lines)
    for name in (
        "portal.services.payments",
        "portal.services.webhooks",
        "portal.services.refunds",
        "portal.services.reminders",
        "portal.services.cases",
        "portal.adapters.stripe_gateway",
        "stripe",
    ):
        assert loggers[name] >= 1, (name, loggers)
    assert sum(n for name, n in loggers.items() if name.startswith("portal.")) >= 20, loggers
    assert len(portal.exchanges) >= 100, len(portal.exchanges)
    channels = Counter(item.channel for item in items)
    assert channels["url"] >= 500 and channels["header"] >= 500, channels
    assert channels["e-mail"] >= 300 and channels["stripe"] >= 50, channels
    assert channels["log"] >= 100, channels


REQUEST_LINE_FIELDS = {"request_id", "method", "route", "status", "ms", "store_calls"}


def people_needles(records: Iterable[dict]) -> list[Needle]:
    """Every guarantor's and patient's first and last name, and every account number."""
    found: dict[str, Needle] = {}
    for record in records:
        for who in (record["guarantor"], *record["patients"]):
            for part in ("first_name", "last_name"):
                name = who[part]
                found.setdefault(name, Needle(f"name {name}", _bounded(name), name, name.lower()))
        number = record["account_number"]
        found.setdefault(number, Needle(f"account {number}", _bounded(number), number, number))
    return list(found.values())


def assert_request_lines_name_no_one(out: str, portal: Portal) -> None:
    """The JSON line of every request (portal/web/request_log.py) was written, carries only
    its six fields, and names no one: no name and no account number, besides the codes,
    descriptions, dates of birth and health words no channel may carry."""
    lines = [json.loads(text) for text in out.splitlines() if text.startswith('{"')]
    requests = [line for line in lines if set(line) == REQUEST_LINE_FIELDS]
    assert len(requests) >= len(portal.exchanges) >= 100, (len(requests), len(portal.exchanges))
    assert {line["status"] // 100 for line in requests} >= {2, 3, 4}
    assert all(line["route"] is None or line["route"].startswith("/") for line in requests)
    text = "\n".join(json.dumps(line) for line in lines)
    needles = NEEDLES + people_needles(ALL_STATEMENTS)
    assert find_leaks([Item("log", "JSON lines", text)], needles) == []
    # The scanner finds a name and an account number where they are.
    planted = Item("log", "planted", text + ' {"route": "/pay", "who": "Harriet 310001"}')
    assert {leak.needle for leak in find_leaks([planted], people_needles(ALL_STATEMENTS))} == {
        "name Harriet",
        "account 310001",
    }


def assert_scanner_finds_what_is_there(portal: Portal, statement_pages, guesses) -> None:
    """The codes and descriptions are on the statement pages (the patient's own view), the
    dates of birth in the Quick Pay form bodies and on the staff account pages: the scanner
    finds every one there, so finding none elsewhere means something."""
    labels = {n.label for n in NEEDLES}
    code_labels = {
        n for n in labels if not n.startswith("date of birth") and not n.startswith("health word")
    }
    on_pages = {
        leak.needle for leak in find_leaks(Item("page", "statement", p) for p in statement_pages)
    }
    # The Spanish descriptions are shown to patients reading Spanish only: looked for in
    # the statements as the practice sent them instead.
    spanish = {n for n in code_labels if n.startswith("Spanish description")}
    assert code_labels - spanish - on_pages == {n for n in code_labels if "without its dot" in n}, (
        "a code or description is missing from the statement pages: the data did not import"
    )
    sent = (Item("import", "", json.dumps(r, ensure_ascii=False)) for r in ALL_STATEMENTS)
    assert spanish and spanish <= {leak.needle for leak in find_leaks(sent)}
    lookups = [e for e in portal.exchanges if e.method == "POST" and e.url == "/pay"]
    posted = {
        leak.needle for leak in find_leaks(Item("form", "", e.body.decode()) for e in lookups)
    }
    assert {f"date of birth {b} as {b!r}" for b in guesses} <= posted
    # The words written in questions and replies are on the case pages, patients' and staff's.
    case_pages = [e.page for e in portal.exchanges if "/cases/" in e.url and e.page]
    on_case_pages = {leak.needle for leak in find_leaks(Item("page", "", p) for p in case_pages)}
    assert {f"health word {w} written in a case" for w in HEALTH_WORDS} <= on_case_pages
    accounts = [e.page for e in portal.exchanges if e.url.startswith("/staff/accounts/")]
    shown = {leak.needle for leak in find_leaks(Item("page", "", p) for p in accounts if p)}
    for record in ALL_STATEMENTS:
        for who in (record["guarantor"], *record["patients"]):
            born = date.fromisoformat(who["date_of_birth"])
            assert f"date of birth {born} as {f'{born:%b} {born.day}, {born.year}'!r}" in shown


def self_check(items: list[Item], messages: dict[str, bytes], requests, collector) -> None:
    """Plant each needle in a copy of captured material and find it again, through the same
    decoding each channel gets."""
    # Every needle, in the middle of a real message's text part.
    text_part = next(i for i in items if i.channel == "e-mail" and "(text/plain)" in i.where)
    middle = len(text_part.text) // 2
    for needle in NEEDLES:
        planted = Item(
            "e-mail",
            "planted",
            f"{text_part.text[:middle]} {needle.sample}.\n{text_part.text[middle:]}",
        )
        found = {leak.needle for leak in find_leaks([planted])}
        assert needle.label in found, (needle.label, found)
    assert not find_leaks([text_part]), "the real text is clean before planting"

    description = PROCEDURES["nerve"].description  # has an apostrophe: &#39; in HTML
    dx, born = "T63.441A", date(1958, 2, 27)

    # A real message, its text part base64, its HTML quoted-printable, the subject RFC 2047.
    raw = next(iter(messages.values()))
    real = message_from_bytes(raw, policy=policy.default)
    copy = EmailMessage()
    for header in ("From", "To", "Date", "X-Portal-Message-Kind"):
        copy[header] = real[header]
    copy["Subject"] = f"Résumé«{dx}»ÄÖÜßè"  # one word, not ASCII: base64 (RFC 2047)
    text = real.get_body(("plain",)).get_content()
    body = real.get_body(("html",)).get_content()
    copy.set_content(text + f"\nSeen for {description}\n", cte="base64")
    copy.add_alternative(
        body.replace("</body>", f"<p>born {born:%B} {born.day}, {born.year}</p></body>"),
        subtype="html",
        cte="quoted-printable",
    )
    encoded = copy.as_bytes()
    assert dx.encode() not in encoded and description.encode() not in encoded
    assert b"=?utf-8?" in encoded.lower() and b"base64" in encoded
    found = {leak.needle for leak in find_leaks(email_items("planted.eml", encoded))}
    assert {
        f"diagnosis code {dx}",
        "description of 0729T",
        f"date of birth {born} as 'February 27, 1958'",
    } <= found, found

    # A Stripe request: the line's name carrying a description, the form body encoded.
    checkout = next(r for r in requests if r.method == "POST" and r.path == "/v1/checkout/sessions")
    params = {**checkout.params, "line_items[0][price_data][product_data][name]": description}
    planted = Recorded(
        checkout.method,
        checkout.path,
        checkout.query,
        params,
        checkout.headers,
        urlencode(params),
    )
    found = {leak.needle for leak in find_leaks(stripe_items(0, planted))}
    assert "description of 0729T" in found and "procedure code 0729T" not in found

    # A log record: a date of birth as an argument, a code in an `extra` field.
    record = logging.makeLogRecord(
        {
            "name": "portal.web.patient",
            "levelno": logging.INFO,
            "levelname": "INFO",
            "msg": "lookup for %s",
            "args": (born,),
            "diagnosis": dx,
        }
    )
    found = {
        leak.needle for leak in find_leaks([Item("log", "planted", log_text(collector, record))])
    }
    assert {f"date of birth {born} as '1958-02-27'", f"diagnosis code {dx}"} <= found

    # URLs: a percent-encoded query, and a signed token carrying a description.
    url = next(i.text for i in items if i.channel == "url" and i.text.startswith("/account"))
    query = f"{url}?dob={quote_plus(f'{born:%m/%d/%Y}')}&q={quote_plus(description)}"
    assert "/" not in query.split("?dob=")[1].split("&")[0]
    found = {leak.needle for leak in find_leaks(url_items("planted", query))}
    assert {f"date of birth {born} as '02/27/1958'", "description of 0729T"} <= found
    token = URLSafeSerializer("another secret", salt="sandbox-checkout").dumps(
        ["pay_x", description]
    )
    assert "Bluthmann" not in token
    found = {
        leak.needle
        for leak in find_leaks(url_items("planted", f"/sandbox/checkout/cs_sbx_{token}"))
    }
    assert "description of 0729T" in found


def test_the_scanner_does_not_take_look_alikes_for_leaks():
    """Statement numbers, amounts, account numbers, ids and other dates are not codes."""
    harmless = [
        "S-2026-310001 S-2026-310002 $60.00 $120.00 6000 account 310001 ending in 0001",
        "Reminder: balance of $105.83 past due since December 1, 2026 (12/01/2026)",
        "pay_0583t1f0401ua9 cs_test_K1034x 20261128T150000 Q41630 0729TX W61.62XDX",
        "1958 02 27 and 19580228 and 02/27/19580 and 1958-02-270",
        base64.b64encode(b"Quellmark").decode(),
    ]
    assert find_leaks(Item("log", str(n), text) for n, text in enumerate(harmless)) == []
    assert len(NEEDLES) >= 100
