"""Template filters (|money, |date, |local_time, |badge, |in_language) and the fixed_url
global. Money and dates are formatted for the page's language (Babel; es in the US
convention, es_US), on the practice's calendar."""

from collections.abc import Callable
from datetime import date, datetime, tzinfo
from typing import Any
from urllib.parse import quote, urlencode

from babel import Locale
from babel.dates import format_date as babel_date
from babel.dates import format_time as babel_time
from flask import Flask, request, url_for
from markupsafe import Markup
from werkzeug.routing.converters import UnicodeConverter

from portal.domain.money import cents_to_plain
from portal.domain.statements import LineItem
from portal.web import current_services
from portal.web.language import current_formatting_locale, gettext, page_state
from portal.web.service_words import (
    badge_label,
    in_page_language,
    method_name,
    method_words,
    saved_method_label,
)
from portal.wording.dollars import dollars_writer


def format_money(cents: int) -> str:
    """1234567 -> "$12,345.67": US dollars, written as the page's language writes them."""
    return formats_of(current_formatting_locale()).dollars(cents)


def format_date(value: date) -> str:
    """Nov 30, 2026 in English; 30 nov 2026 in Spanish."""
    return formats_of(current_formatting_locale()).date(value)


DATES_KEPT = 4096  # a page shows the same few dates again and again (due dates, a schedule's)
LOCALES_KEPT = 64


class LocaleFormats:
    """One locale's money and date formats. Kept per locale object: Babel's Locale hashes and
    compares itself in Python, which a cache keyed on the locale pays on every amount."""

    def __init__(self, locale: Locale) -> None:
        self.locale = locale
        self.dollars = dollars_writer(locale)
        self.dates: dict[date, str] = {}
        self.clocks: dict[tuple[int, int], str] = {}

    def date(self, value: date) -> str:
        text = self.dates.get(value)
        if text is None:
            text = babel_date(value, "medium", locale=self.locale)
            if len(self.dates) < DATES_KEPT:
                self.dates[value] = text
        return text

    def clock(self, moment: datetime) -> str:
        """3:04 PM: the same for every day (one per minute of the day, kept)."""
        key = (moment.hour, moment.minute)
        text = self.clocks.get(key)
        if text is None:
            # CLDR puts a narrow no-break space before AM/PM; the pages keep a plain one.
            text = babel_time(moment, "h:mm a", locale=self.locale).replace("\u202f", " ")
            self.clocks[key] = text
        return text


_formats: dict[int, LocaleFormats] = {}


def formats_of(locale: Locale) -> LocaleFormats:
    kept = _formats.get(id(locale))
    if kept is None or kept.locale is not locale:  # it holds its locale: the id is not reused
        if len(_formats) >= LOCALES_KEPT:
            _formats.clear()
        kept = _formats[id(locale)] = LocaleFormats(locale)
    return kept


def local_time(value: datetime) -> str:
    """The moment on the practice's clock: Nov 30, 2026, 3:04 PM EST."""
    return time_in_zone(value, current_services().settings.tz)


def time_in_zone(value: datetime, zone: tzinfo) -> str:
    local = value.astimezone(zone)
    formats = formats_of(current_formatting_locale())
    return f"{formats.date(local.date())}, {formats.clock(local)} {local:%Z}"


def status_badge(status: str) -> Markup:
    """A status as a badge: the markup of _macros.html's status_badge, without the cost of a
    macro call on every row of the patient's pages."""
    return Markup('<span class="badge badge-%s">%s</span>') % (
        status.replace(" ", "-"),
        badge_label(status),
    )


FIXED_URLS_KEPT = 64


def fixed_url_for(app: Flask) -> Callable[..., str]:
    """fixed_url(endpoint, filename=None, **values): url_for for the URLs every page links to
    (the static files, the patient's fixed pages, the language switch's for each language),
    built once per script root and values: they differ only by those, and building each
    again cost the pages more than their balances. Not for a row's values (a statement's
    id): those are many, and only the first FIXED_URLS_KEPT URLs are kept."""
    built: dict[tuple, str] = {}

    def fixed_url(endpoint: str, filename: str | None = None, **values: Any) -> str:
        key = (request.script_root, endpoint, filename, *values.items())
        url = built.get(key)
        if url is None:
            if filename:
                values["filename"] = filename
            url = url_for(endpoint, **values)
            if len(built) < FIXED_URLS_KEPT:
                built[key] = url
        return url

    return fixed_url


PATH_SAFE = "!$&'()*+,/:;=@"  # what werkzeug's default converter leaves as it is in a path
STAND_IN = "portal-row-value"


def row_url_for(app: Flask) -> Callable[..., str]:
    """row_url(endpoint, name=value): url_for for the link on each row of a page (a
    statement's, a payment's), for a route with that one value in its path and werkzeug's
    default converter. url_for runs once per script root and endpoint, with a stand-in that
    each row's value replaces, quoted as the converter quotes it; any other route is built
    by url_for itself."""
    shapes: dict[tuple[str, str, str], tuple[str, str] | None] = {}

    def shape(endpoint: str, name: str) -> tuple[str, str] | None:
        rules = app.url_map._rules_by_endpoint.get(endpoint, [])
        if len(rules) != 1 or app.url_default_functions:
            return None
        rule = rules[0]
        converter = rule._converters.get(name)
        if rule.arguments != {name} or rule.defaults or type(converter) is not UnicodeConverter:
            return None
        stand_in: dict[str, Any] = {name: STAND_IN}
        built = url_for(endpoint, **stand_in)
        if built.count(STAND_IN) != 1:
            return None
        before, after = built.split(STAND_IN)
        return before, after

    def row_url(endpoint: str, **values: Any) -> str:
        if len(values) != 1:
            return url_for(endpoint, **values)
        ((name, value),) = values.items()
        key = (request.script_root, endpoint, name)
        if key not in shapes:
            shapes[key] = shape(endpoint, name)
        parts = shapes[key]
        if parts is None:
            return url_for(endpoint, **values)
        return f"{parts[0]}{quote(str(value), safe=PATH_SAFE)}{parts[1]}"

    return row_url


QUERY_SAFE = "!$'()*,/:;?@"  # the characters werkzeug's url_for leaves as they are in a query


def with_query(url: str, **values: str) -> str:
    """url_for(endpoint, **path_values, **values), given url_for(endpoint, **path_values)
    built once for a page's rows: the query written as url_for writes it."""
    return f"{url}?{urlencode(list(values.items()), safe=QUERY_SAFE)}"


def line_description(line: LineItem) -> Markup:
    """A line's description in the page's language: the practice's Spanish one on a Spanish
    page when it sent one; else the English one, marked as English on a page in another
    language (screen readers read it in English)."""
    language = page_state().language
    if language == "en":
        return Markup.escape(line.description)
    if language == "es" and line.description_es:
        return Markup.escape(line.description_es)
    return Markup('<span lang="en">%s</span> <span class="muted">(%s)</span>') % (
        line.description,
        gettext("in English"),
    )


def init_app(app: Flask) -> None:
    app.add_template_global(fixed_url_for(app), "fixed_url")
    app.add_template_global(row_url_for(app), "row_url")
    app.add_template_filter(status_badge, "badge")
    app.add_template_filter(format_money, "money")
    app.add_template_filter(cents_to_plain, "plain_amount")
    app.add_template_filter(format_date, "date")
    app.add_template_filter(local_time, "local_time")
    app.add_template_filter(line_description, "description")
    app.add_template_filter(with_query, "with_query")
    app.add_template_filter(in_page_language, "in_language")
    app.add_template_filter(method_words, "method_words")
    app.add_template_filter(method_name, "method_name")
    app.add_template_filter(saved_method_label, "saved_method")
