"""E-mails in the guarantor's language: the renderer picks the catalog for a language tag
(English for one not shipped), and writes money and dates as that language does."""

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from portal.adapters.email_templates import EmailRenderer
from portal.resources import resource_dir, template_dir
from tests.email_catalogs import compile_catalogs, renderer
from tests.email_samples import samples

SAMPLES = dict(samples())


@pytest.fixture(scope="module")
def emails(tmp_path_factory) -> EmailRenderer:
    return renderer(compile_catalogs(tmp_path_factory.mktemp("catalogs")))


@pytest.mark.parametrize("tag", ["es", "es-MX", "es_US", "ES", " es "])
def test_a_spanish_tag_gets_the_spanish_catalog(emails, tag):
    text, html = emails.render("reminder", tag, **SAMPLES["reminder"])
    assert "Recordatorio de pago" in text
    assert "Payment reminder" not in text
    assert '<html lang="es">' in html
    assert "<title>Recordatorio de pago</title>" in html


@pytest.mark.parametrize(
    "tag", ["en", "", "fr", "zz-Latn", "en-GB", "../es", "es/../es", "es\x00", "x" * 500]
)
def test_english_or_an_unshipped_language_gets_english(emails, tag):
    text, html = emails.render("reminder", tag, **SAMPLES["reminder"])
    assert "Payment reminder" in text
    assert '<html lang="en">' in html
    assert emails.wording(tag).language == "en"


def test_without_compiled_catalogs_every_language_is_english(tmp_path):
    """A checkout whose catalogs are not compiled yet sends English, not a broken mix."""
    emails = EmailRenderer(template_dir(), tmp_path)
    text, html = emails.render("statement", "es", **SAMPLES["statement"])
    assert "Your statement is ready" in text
    assert '<html lang="en">' in html


def test_a_language_is_loaded_once(emails):
    assert emails.wording("es") is emails.wording("es-MX")
    assert emails.wording("fr") is emails.wording("en")


def test_money_and_dates_are_written_for_the_language(emails):
    english, spanish = emails.wording("en"), emails.wording("es")
    assert english.money(123456) == "$1,234.56"
    assert english.money(-5) == "-$0.05"
    assert english.long_date(date(2026, 11, 30)) == "November 30, 2026"
    assert english.short_date(date(2026, 11, 30)) == "Nov 30, 2026"
    assert spanish.money(123456) == "$1,234.56"  # es_US writes dollars as the US does
    assert spanish.long_date(date(2026, 11, 30)) == "30 de noviembre de 2026"
    assert spanish.short_date(date(2026, 1, 5)) == "5 ene 2026"


def test_amounts_are_exact_for_any_number_of_cents(emails):
    """Integer cents through Decimal: no float rounding on a large or odd amount."""
    for words in (emails.wording("en"), emails.wording("es")):
        assert words.money(999999999999) == "$9,999,999,999.99"
        assert words.money(1) == "$0.01"
        assert words.money(29) == "$0.29"


def test_a_spanish_reminder_reads_in_spanish_with_its_dates_and_amounts(emails):
    text, html = emails.render("reminder", "es", **{**SAMPLES["reminder"], "days_past_due": 12})
    assert "Hola, Maria:" in text
    assert "Total a pagar: $1,234.56" in text
    assert "Fecha de vencimiento: 30 de noviembre de 2026 (hace 12 días)" in text
    assert "de lunes a viernes, de 8:30 a. m. a 5:00 p. m." in text
    assert "30 de noviembre de 2026 (hace 12 días)" in html
    assert "<strong>$1,234.56</strong>" in html


def test_one_day_is_singular_in_both_languages(emails):
    context = {**SAMPLES["reminder"], "days_past_due": 1}
    assert "(1 day ago)" in emails.render("reminder", "en", **context)[0]
    assert "(hace 1 día)" in emails.render("reminder", "es", **context)[0]


def test_html_values_are_escaped_inside_translated_sentences(emails):
    context = {**SAMPLES["statement"], "practice_name": "Smith & <Sons>", "first_name": "<b>Ana"}
    for language in ("en", "es"):
        _, html = emails.render("statement", language, **context)
        assert "<b>Ana" not in html and "&lt;b&gt;Ana" in html
        assert "Smith &amp; &lt;Sons&gt;" in html


# -- the catalogs ----------------------------------------------------------------------------

PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
TAGS = re.compile(r"</?\w+")


def _catalog(path: Path):
    with path.open("rb") as handle:
        return read_po(handle)


def test_the_template_holds_what_the_sources_mark():
    """translations/email.pot is extracted again from the sources with
    translations/babel-email.cfg: a word added to a template or a subject without
    re-extracting fails here (and then in the pseudo-language test)."""
    top = resource_dir("translations").parent
    with (top / "translations" / "babel-email.cfg").open() as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    keywords = {**DEFAULT_KEYWORDS, "N_": None}
    extracted = {
        message for _, _, message, _, _ in extract_from_dir(top, method_map, options_map, keywords)
    }
    ids = {m if isinstance(m, str) else m[0] for m in extracted}
    pot = _catalog(top / "translations" / "email.pot")
    assert ids == {m.id if isinstance(m.id, str) else m.id[0] for m in pot if m.id}


def test_the_spanish_catalog_translates_every_message_with_the_same_values():
    translations = resource_dir("translations")
    pot = _catalog(translations / "email.pot")
    spanish = _catalog(translations / "es" / "LC_MESSAGES" / "email.po")
    for template in pot:
        if not template.id:
            continue
        message = spanish.get(template.id)
        assert message is not None and not message.fuzzy, template.id
        ids = template.id if isinstance(template.id, tuple) else (template.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        for string in strings:
            assert string.strip(), template.id
            assert set(PLACEHOLDER.findall(string)) == set(PLACEHOLDER.findall(ids[0])), string
            assert sorted(TAGS.findall(string)) == sorted(TAGS.findall(ids[0])), string


@pytest.mark.parametrize("form", ["long", "medium"])
def test_english_dates_are_babels_without_reading_its_locale_data(form):
    """US English dates are written without Babel (its locale data costs a process tens of
    milliseconds on first use): every day of four years, and the ends of the calendar,
    exactly as Babel writes them."""
    from datetime import timedelta

    from babel.dates import format_date

    from portal.adapters.email_templates import _formatted_date

    first = date(2024, 1, 1)
    days = [first + timedelta(days=n) for n in range(4 * 366)]
    for day in [*days, date(1, 1, 1), date(999, 12, 31), date(9999, 12, 31)]:
        assert _formatted_date(day, form, "en_US") == format_date(day, form, locale="en_US")
