"""Issue 18: the catalogs. translations/messages.pot holds every marked string of the
patient pages (make messages was run), and each language's catalog translates every one of
them, with the same placeholders."""

import re
from pathlib import Path

import pytest
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from portal.config import Settings

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "translations"
PLACEHOLDER = re.compile(r"%\(\w+\)[sd]")
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "N_": None}


def read(path: Path):
    with open(path, "rb") as handle:
        return read_po(handle)


def ids(catalog) -> set:
    return {m.id if isinstance(m.id, str) else tuple(m.id) for m in catalog if m.id}


def test_the_template_holds_every_marked_string():
    with open(ROOT / "babel.cfg") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = {
        message if isinstance(message, str) else tuple(message)
        for _, _, message, _, _ in extract_from_dir(
            ROOT, method_map, options_map, keywords=KEYWORDS
        )
    }

    assert found == ids(read(TRANSLATIONS / "messages.pot")), "run make messages"


@pytest.mark.parametrize("language", [c for c in Settings().languages if c != "en"])
def test_every_message_is_translated_with_the_same_placeholders(language):
    catalog = read(TRANSLATIONS / language / "LC_MESSAGES" / "messages.po")
    template = read(TRANSLATIONS / "messages.pot")

    assert ids(catalog) >= ids(template)
    problems = []
    for message in catalog:
        if not message.id:
            continue
        sources = [message.id] if isinstance(message.id, str) else list(message.id)
        targets = [message.string] if isinstance(message.string, str) else list(message.string)
        wanted = set(PLACEHOLDER.findall(sources[-1]))
        for target in targets:
            if not target or message.fuzzy:
                problems.append(f"untranslated: {sources[0]!r}")
            elif set(PLACEHOLDER.findall(target)) != wanted:
                problems.append(f"placeholders differ: {sources[0]!r} -> {target!r}")
    assert not problems, problems


# Issue 18: one register (usted) everywhere, and the billing words US Spanish-language
# insurers use. The forms below are the informal second person only (usted's are not here).
INFORMAL = re.compile(
    r"\b(tú|tu|tus|te|ti|contigo|tienes|puedes|quieres|debes|eres|estás)\b", re.IGNORECASE
)
BILLING_WORDS = {
    "deductible": "deducible",
    "coinsurance": "coaseguro",
    "copay": "copago",
    "balance": "saldo",
}


@pytest.mark.parametrize("domain", ["messages", "email"])
def test_spanish_speaks_to_the_patient_as_usted_with_the_insurers_billing_words(domain):
    catalog = read(TRANSLATIONS / "es" / "LC_MESSAGES" / f"{domain}.po")
    informal, other_words = [], []
    for message in catalog:
        if not message.id:
            continue
        english = " ".join([message.id] if isinstance(message.id, str) else message.id)
        spanish = " ".join([message.string] if isinstance(message.string, str) else message.string)
        if INFORMAL.search(spanish):
            informal.append(spanish)
        for word, translation in BILLING_WORDS.items():
            if re.search(rf"\b{word}s?\b", english, re.IGNORECASE) and translation not in (
                spanish.lower()
            ):
                other_words.append((word, spanish))
    assert informal == []
    assert other_words == []
