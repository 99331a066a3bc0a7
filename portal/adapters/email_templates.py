"""Renders e-mail bodies from templates/email/<kind>.txt and <kind>.html, in a language.

The words come from the gettext domain `email` (translations/<lang>/LC_MESSAGES/email.mo,
compiled from the .po at install); money and dates are written by Babel as the language
writes them in the US (es_US: "30 de noviembre de 2026", "$1,234.56"). A language without a
compiled catalog, or a tag no catalog answers, is written in English.
"""

import functools
import hashlib
import io
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.support import NullTranslations, Translations
from jinja2 import FileSystemLoader, StrictUndefined, select_autoescape

from portal.domain.catalog import N_
from portal.domain.timeline import MoneyEvent, phrase_words
from portal.resources import resource_dir
from portal.wording.compiled_gettext import TranslatedEnvironment, bytecode_cache
from portal.wording.dollars import dollars_in, parsed_locale

DOMAIN = "email"
_LANGUAGE = re.compile(r"[a-z]{2,3}")
DEFAULT_LANGUAGE = "en"
# The locale each language's money and dates are written in: the practice is in the US.
LOCALES = {"en": "en_US", "es": "es_US"}
# The practice's details the e-mails show in words (templates/site/_practice.html, which is
# the site's to set), so the catalog has them: a practice that changes its hours adds the
# new words' translation to translations/<lang>/LC_MESSAGES/email.po.
PRACTICE_TEMPLATE = "site/_practice.html"
PRACTICE_VALUES = ("practice_name", "mail_from")  # what it reads of a message's values
PRACTICE_WORDS = (N_("Monday to Friday, 8:30 a.m. to 5:00 p.m."),)


def email_translations_dir() -> Path | None:
    """translations/ (next to the package or inside the wheel); None when not shipped."""
    try:
        return resource_dir("translations")
    except FileNotFoundError:
        return None


def locale_of(language: str) -> str:
    """The Babel locale a language's money and dates are written in: LOCALES, else the
    language as spoken in the US, else the language alone, else US English."""
    for name in (LOCALES.get(language), f"{language}_US", language):
        if not name:
            continue
        try:
            return str(Locale.parse(name))
        except (UnknownLocaleError, ValueError):
            continue
    return LOCALES[DEFAULT_LANGUAGE]


def primary_language(tag: str | None) -> str:
    """ "es-MX", "es_US", "ES" -> "es"; empty, or not a language tag -> "en" (a tag names
    a folder of translations/: nothing else may)."""
    value = (tag or "").strip().replace("_", "-").split("-")[0].lower()
    return value if _LANGUAGE.fullmatch(value) else DEFAULT_LANGUAGE


@dataclass
class BabelWording:
    """One language's catalog and formats (portal.ports.mail.Wording)."""

    language: str
    translations: NullTranslations = field(default_factory=NullTranslations)
    locale: str = LOCALES[DEFAULT_LANGUAGE]

    def gettext(self, message: str) -> str:
        return self.translations.gettext(message)

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        return self.translations.ngettext(singular, plural, n)

    def money(self, cents: int) -> str:
        return dollars_in(cents, parsed_locale(self.locale))

    def long_date(self, day: date) -> str:
        return _formatted_date(day, "long", self.locale)

    def short_date(self, day: date) -> str:
        return _formatted_date(day, "medium", self.locale)

    def event_words(self, event: MoneyEvent) -> str:
        """An account's money event (portal/domain/timeline.py) in this language."""
        if not event.phrase:
            return event.words
        return phrase_words(self.gettext(event.phrase), event.values, self.money)


@functools.lru_cache(maxsize=4096)
def _formatted_date(day: date, form: str, locale: str) -> str:
    """A date in words, formatted once: a run's messages name the same few due dates. US
    English's without Babel, whose locale data costs a process tens of milliseconds to
    read the first time (tests/unit/test_email_language.py holds these to Babel's)."""
    if locale == "en_US" and form in ENGLISH_MONTHS:
        return f"{ENGLISH_MONTHS[form][day.month - 1]} {day.day}, {day.year}"
    return format_date(day, form, locale=locale)


_MONTHS: tuple[str, ...] = ("January", "February", "March", "April", "May", "June", "July")
_MONTHS += ("August", "September", "October", "November", "December")
ENGLISH_MONTHS = {"long": _MONTHS, "medium": tuple(m[:3] for m in _MONTHS)}


class _Lazy:
    """An object made on first use (a template that reads none of it costs nothing)."""

    def __init__(self, make: Callable[[], object]) -> None:
        self._make = make
        self._made: object = None

    def __getattr__(self, name: str) -> object:
        if name.startswith("_"):  # copy, pickle and the like ask before __init__ ran
            raise AttributeError(name)
        if self._made is None:
            self._made = self._make()
        return getattr(self._made, name)


class EmailRenderer:
    def __init__(self, template_dir: str | Path, translations_dir: str | Path | None = None):
        self._template_dir = str(template_dir)
        found = Path(translations_dir) if translations_dir else email_translations_dir()
        self._translations_dir = found
        # One wording and one Jinja environment per language, made on first use: the
        # templates ship with the package and are not looked at on disk again for each
        # message (a reminder run renders hundreds).
        self._wordings: dict[str, BabelWording] = {}
        self._envs: dict[str, TranslatedEnvironment] = {}
        self._catalogs: dict[str, str] = {}  # a digest of each language's compiled catalog
        self._practices: dict[tuple[object, ...], object] = {}

    def wording(self, language: str) -> BabelWording:
        wanted = primary_language(language)
        if wanted not in self._wordings:
            self._wordings[wanted] = self._load(wanted)
        return self._wordings[wanted]

    def _load(self, language: str) -> BabelWording:
        if language == DEFAULT_LANGUAGE or self._translations_dir is None:
            return self._english()
        catalog = self._translations_dir / language / "LC_MESSAGES" / f"{DOMAIN}.mo"
        if not catalog.is_file():
            return self._english()
        compiled = catalog.read_bytes()
        self._catalogs[language] = hashlib.sha256(compiled).hexdigest()
        translations = Translations(io.BytesIO(compiled), domain=DOMAIN)
        return BabelWording(language, translations, locale_of(language))

    def _english(self) -> BabelWording:
        if DEFAULT_LANGUAGE not in self._wordings:
            self._wordings[DEFAULT_LANGUAGE] = BabelWording(DEFAULT_LANGUAGE)
        return self._wordings[DEFAULT_LANGUAGE]

    def _env(self, wording: BabelWording) -> TranslatedEnvironment:
        env = self._envs.get(wording.language)
        if env is None:
            env = TranslatedEnvironment(
                loader=FileSystemLoader(self._template_dir),
                autoescape=select_autoescape(
                    enabled_extensions=("html",), default_for_string=False
                ),
                undefined=StrictUndefined,
                trim_blocks=True,
                lstrip_blocks=True,
                auto_reload=False,
                extensions=["jinja2.ext.i18n"],
                bytecode_cache=bytecode_cache(self._catalogs.get(wording.language, "-"), __file__),
            )
            env.install_gettext_translations(wording.translations, newstyle=True)  # type: ignore[attr-defined]
            env.fixed_translations = wording.translations  # literal messages, at compile time
            env.filters["money"] = wording.money
            env.filters["long_date"] = wording.long_date
            env.filters["short_date"] = wording.short_date
            env.filters["event_words"] = wording.event_words
            # Words that come as values (the practice's hours): looked up, never trusted as
            # markup (gettext's own result is, in an HTML template).
            env.filters["translated"] = wording.gettext
            env.globals["html_lang"] = wording.language
            self._envs[wording.language] = env
        return env

    def _practice(self, env: TranslatedEnvironment, context: dict[str, object]) -> object:
        """templates/site/_practice.html as a module (its values and macros), as the
        templates imported it with their context (it reads the practice's name and the
        mail address from it): made once for each language, name and address."""
        values = {name: context[name] for name in PRACTICE_VALUES if name in context}
        key = (env.globals["html_lang"], *(str(values.get(name)) for name in PRACTICE_VALUES))
        module = self._practices.get(key)
        if module is None:
            module = env.get_template(PRACTICE_TEMPLATE).make_module(values)
            self._practices[key] = module
        return module

    def render(
        self, kind: str, language: str = DEFAULT_LANGUAGE, **context: object
    ) -> tuple[str, str]:
        """The text and HTML bodies of a message of this kind, in `language`. The
        templates read the billing office's phone and hours as `practice`
        (templates/site/_practice.html), made here once per practice name and address."""
        env = self._env(self.wording(language))
        if "practice" not in context:
            context["practice"] = _Lazy(lambda: self._practice(env, context))
        text = env.get_template(f"email/{kind}.txt").render(**context)
        html = env.get_template(f"email/{kind}.html").render(**context)
        return text, html
