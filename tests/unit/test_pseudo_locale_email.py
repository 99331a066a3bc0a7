"""Every word an e-mail shows comes from the `email` catalog.

A pseudo-language is built from translations/email.pot at test time: each msgstr is its
msgid between ⟦ and ⟧. Every e-mail kind is rendered in it (text and HTML, each branch, see
tests/email_samples.py); with the markup, the marked words and the data values (names,
numbers, links, amounts and dates) taken out, no word may be left: a word left is one a
template (or the code building its values or its subject) writes without the catalog.
"""

import html as html_lib
import io
import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

from portal.adapters.email_templates import DOMAIN, EmailRenderer
from portal.config import Settings
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.plans import SavedMethod
from portal.domain.statements import Statement
from portal.domain.viewers import Viewer
from portal.resources import resource_dir, template_dir
from portal.services.context import Services
from portal.services.notices import (
    escalation_message,
    method_label,
    plan_agreement_message,
    plan_link_message,
    reminder_message,
    statement_notice,
)
from portal.services.plan_notices import DECLINE_REASONS, reason_words
from portal.services.refund_notices import HOW_PHRASES, how_words
from tests.email_samples import KINDS, samples

PSEUDO = "xx"
OPEN, CLOSE = "⟦", "⟧"
MARKED = re.compile(f"{OPEN}[^{OPEN}{CLOSE}]*{CLOSE}")
TAG = re.compile(r"<[^>]*>")
WORD = re.compile(r"[^\W\d_]{2,}")


def pseudo_catalog(pot: Path, dest: Path) -> Path:
    """translations/<PSEUDO>/LC_MESSAGES/email.mo under `dest`, every msgstr marked."""
    with pot.open("rb") as handle:
        template = read_po(handle)
    catalog = Catalog(locale="en", domain=DOMAIN)  # English plural rules: one and other
    for message in template:
        if not message.id:
            continue
        if isinstance(message.id, tuple):
            string: str | tuple[str, ...] = tuple(f"{OPEN}{m}{CLOSE}" for m in message.id)
        else:
            string = f"{OPEN}{message.id}{CLOSE}"
        catalog.add(message.id, string, flags=message.flags)
    target = dest / PSEUDO / "LC_MESSAGES" / f"{DOMAIN}.mo"
    target.parent.mkdir(parents=True)
    with target.open("wb") as handle:
        write_mo(handle, catalog)
    return dest


@pytest.fixture(scope="module")
def emails(tmp_path_factory) -> EmailRenderer:
    pot = resource_dir("translations") / f"{DOMAIN}.pot"
    return EmailRenderer(template_dir(), pseudo_catalog(pot, tmp_path_factory.mktemp("pseudo")))


def data_values(emails: EmailRenderer, context: dict) -> list[str]:
    """The values a context shows as they are written: strings, amounts, dates."""
    words = emails.wording(PSEUDO)
    found: list[str] = ["(555) 010-0123"]  # the practice's phone (templates/site)
    for value in context.values():
        if isinstance(value, str):
            found += [value, *value.splitlines()]  # the HTML shows a text's lines apart
        elif isinstance(value, bool):
            continue
        elif isinstance(value, int):
            found.append(words.money(value))
        elif isinstance(value, date):
            found += [words.long_date(value), words.short_date(value)]
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, tuple):
                    found += [v for v in item if isinstance(v, str)]
                    found += [words.money(v) for v in item if isinstance(v, int)]
    return sorted((v for v in found if v), key=len, reverse=True)


def leftover_words(shown: str, values: list[str]) -> list[str]:
    """The words of `shown` outside the markers once markup and values are out."""
    text = html_lib.unescape(TAG.sub(" ", shown))
    previous = None
    while previous != text:  # a marked phrase may hold another (the hours in a sentence)
        previous, text = text, MARKED.sub(" ", text)
    for value in values:
        text = text.replace(value, " ")
    return WORD.findall(text)


def test_the_pseudo_language_marks_words():
    """The check itself: a word outside the catalog is found."""
    assert leftover_words(f"<p>{OPEN}Hello{CLOSE} Maria, pay now</p>", ["Maria"]) == [
        "pay",
        "now",
    ]
    assert leftover_words(f"{OPEN}Call {OPEN}Monday{CLOSE}{CLOSE}", []) == []


def test_every_kind_is_rendered():
    assert {kind for kind, _ in samples()} == set(KINDS)
    on_disk = {
        p.stem for p in (template_dir() / "email").glob("*.txt") if not p.stem.startswith("_")
    }
    assert on_disk == set(KINDS)


@pytest.mark.parametrize("number", range(len(samples())))
def test_every_word_of_every_email_is_in_the_catalog(emails, number):
    kind, context = samples()[number]
    text, html = emails.render(kind, PSEUDO, **context)
    values = data_values(emails, context)
    assert OPEN in text and OPEN in html  # the pseudo-language was used
    assert leftover_words(text, values) == [], (kind, "text", text)
    assert leftover_words(html, values) == [], (kind, "html", html)


ACCOUNT = Account(
    "100234", Guarantor("Maria", "Lopez", date(1984, 3, 12), "m@example.com", "", PSEUDO)
)
STATEMENT = Statement("S-2026-000123", "100234", date(2026, 11, 1), date(2026, 11, 30), ())
PRACTICE = "Springfield Family Medicine"


@pytest.fixture
def builders(emails) -> Services:
    settings = Settings.from_env(
        {
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
            "PORTAL_PRACTICE_NAME": PRACTICE,
        }
    )
    # Only what the message builders read: the settings and the templates.
    return Services(settings, None, None, None, emails, None, None, None)  # type: ignore[arg-type]


def test_every_subject_is_in_the_catalog(builders, emails):
    services = builders
    words = emails.wording(PSEUDO)
    messages = [
        statement_notice(services, ACCOUNT, STATEMENT, 3000),
        reminder_message(
            services, ACCOUNT, "reminder", "S-1", 3000, date(2026, 11, 30), 3, opt_out_token="t"
        ),
        reminder_message(
            services, ACCOUNT, "final-notice", "S-1", 3000, date(2026, 11, 30), 3, "t"
        ),
        plan_agreement_message(services, ACCOUNT, "Visa", "text", "plan-2026-12", "today"),
        plan_link_message(services, ACCOUNT, 60000),
    ]
    for message in messages:
        assert message is not None
        assert leftover_words(message.subject, [PRACTICE, words.money(3000)]) == [], message.subject
    # The staff's escalation is in English whatever the account's language.
    assert escalation_message(services, ACCOUNT, "S-1", 3000, 90).subject.startswith("Account")


def test_method_labels_and_refund_wording_are_in_the_catalog(emails):
    words = emails.wording(PSEUDO)
    card = SavedMethod("pm_1", "cus_1", "card", "visa", "4242")
    bank = SavedMethod("pm_2", "cus_1", "us_bank_account", "STRIPE TEST BANK", "6789")
    assert leftover_words(method_label(words, card), ["Visa", "4242"]) == []
    assert leftover_words(method_label(words, bank), ["6789"]) == []
    for how in (*HOW_PHRASES, "by check number 1234"):
        assert leftover_words(how_words(words, how), ["1234"]) == [], how


def test_every_word_of_the_pdf_statement_is_in_the_catalog(services, emails):
    """The PDF statement too: its text read back, the data of the statement taken out."""
    from pypdf import PdfReader

    from portal.services.statement_pdf import render_statement_pdf
    from portal.services.statements import import_statement
    from tests.conftest import line

    services.emails = emails
    account = Account(
        "100234",
        Guarantor("Maria", "Lopez", date(1984, 3, 12), preferred_language=PSEUDO),
        (
            Patient("P1", "Ana", "Lopez", date(2015, 6, 2)),
            Patient("P2", "Jose", "Lopez", date(2018, 1, 9)),
        ),
    )
    old = Statement(
        "S-2026-000100",
        "100234",
        date(2026, 9, 1),
        date(2026, 9, 30),
        (line("1", "P2", 900, service_date=date(2026, 8, 14)),),
    )
    new = Statement(
        "S-2026-000123",
        "100234",
        date(2026, 11, 1),
        date(2026, 11, 30),
        (line("1"), line("2", "P2", 2000)),
    )
    for statement in (old, new):
        import_statement(services, account, statement, notify=False)
    data = render_statement_pdf(services, "100234", "S-2026-000123", Viewer.patients(["P1"]))
    shown = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    words = emails.wording(PSEUDO)
    practice = services.practice
    values = [
        practice.name,
        *practice.mailing_address,
        practice.phone,
        practice.email,
        "http://portal.test/pay",
        "Maria Lopez",
        "Ana Lopez",
        "Jose Lopez",
        "Office visit, established patient",
        "Dr. Chen",
        "CPT 99213",
        "J06.9",
        "100234",
        "S-2026-000123",
        "over 120",
        *(
            words.short_date(d)
            for d in (date(2026, 11, 1), date(2026, 11, 30), date(2026, 11, 28), date(2026, 10, 14))
        ),
    ]
    amounts = re.findall(r"-?\$[0-9,]+\.[0-9]{2}", shown)
    text = " ".join(shown.split())
    assert OPEN in text
    assert leftover_words(text, sorted(values + amounts, key=len, reverse=True)) == [], text


def test_every_reason_a_gateway_gives_for_a_failed_try_is_in_the_catalog(emails):
    """The reasons the adapters write (Attempt.message) are the ones the notice translates;
    one it does not know is left out of a message that is not in English."""
    from portal.adapters import sandbox_gateway, stripe_gateway

    written = {
        stripe_gateway.DECLINED_MESSAGE,
        stripe_gateway.HARD_DECLINED_MESSAGE,
        stripe_gateway.DEBIT_RETURNED,
        *stripe_gateway.DEBIT_FAILURES.values(),
        *(m for outcome, m in sandbox_gateway.SETTLED.values() if m),
        # A try the bank asks the patient to confirm is told without its reason.
        *(
            m
            for o, m in sandbox_gateway.CHARGED.values()
            if o.name in ("SOFT_DECLINE", "HARD_DECLINE")
        ),
    }
    assert written <= set(DECLINE_REASONS), written - set(DECLINE_REASONS)
    words = emails.wording(PSEUDO)
    for reason in DECLINE_REASONS:
        assert leftover_words(reason_words(words, reason), []) == [], reason
    assert reason_words(words, "Something the processor said.") == ""
    assert reason_words(emails.wording("en"), "Something the processor said.") != ""


def test_every_text_message_and_processor_line_is_in_the_catalog(services, emails):
    """The billing texts, and the lines the payment processor shows (a checkout's, a plan
    installment's): the same catalog, in the account's language."""
    from portal.domain.payments import checkout_line, installment_line
    from portal.services.texting import (
        confirm_text,
        help_text,
        pay_link_text,
        reminder_text,
        start_text,
        stop_text,
    )

    services.emails = emails
    link = "http://portal.test/s/abc123"
    data = [services.practice.name, services.practice.phone, link]
    texts = [
        pay_link_text(services, ACCOUNT, link),
        reminder_text(services, ACCOUNT, link),
        *(made(services, ACCOUNT) for made in (confirm_text, help_text, stop_text, start_text)),
    ]
    for text in texts:
        assert OPEN in text and leftover_words(text, data) == [], text

    gettext = emails.wording(PSEUDO).gettext
    lines = [
        checkout_line(["S-2026-000123"], gettext),
        checkout_line(["S-2026-000100", "S-2026-000123"], gettext),
        checkout_line([], gettext),
        installment_line(2, 6, gettext),
    ]
    for shown in lines:
        assert OPEN in shown and leftover_words(shown, []) == [], shown
