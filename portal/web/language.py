"""The language of a page: which one is chosen, the switch between them, and the locale that
formats money and dates in it. Staff pages are always in English."""

from dataclasses import dataclass
from functools import cache, cached_property
from gettext import NullTranslations
from urllib.parse import urlsplit

from babel import Locale, UnknownLocaleError
from flask import (
    Blueprint,
    Flask,
    abort,
    has_request_context,
    redirect,
    request,
    session,
    url_for,
)
from flask.globals import _cv_app, _cv_request
from flask_babel import get_locale, get_translations

from portal.services.static_site import language_name
from portal.web import current_services

bp = Blueprint("language", __name__)

SOURCE_LANGUAGE = "en"  # the language the pages are written in; staff pages stay in it
CHOSEN = "language"  # session key: the language picked with the switch
PREFERRED = "preferred_language"  # session key: the signed-in account's language


def is_staff_request() -> bool:
    """Staff pages, the JSON API and the processor's webhooks are English only."""
    blueprint = request.blueprint or ""
    return (
        request.path.startswith("/staff")
        or blueprint.startswith("staff")
        or blueprint in ("api", "webhooks")
    )


def select_language() -> str:
    """The switch's choice for this session; else the signed-in account's language; else
    the browser's best match (Accept-Language); else the first of PORTAL_LANGUAGES."""
    languages = current_services().settings.languages
    if not has_request_context():
        return languages[0]
    if is_staff_request():
        return SOURCE_LANGUAGE
    if request.blueprint == "site":  # the public site: its path says (/es/faq)
        code = (request.view_args or {}).get("lang")
        return code if code in languages[1:] else languages[0]
    for key in (CHOSEN, PREFERRED):
        if session.get(key) in languages:
            return session[key]
    return request.accept_languages.best_match(languages) or languages[0]


@cache
def parsed_language(code: str) -> Locale:
    return Locale.parse(code)


def select_locale() -> Locale:
    """select_language()'s choice as Babel's Locale, parsed once per language: Flask-Babel
    parses a selector's text again on every request."""
    return parsed_language(select_language())


def page_language() -> str:
    """The language of the page being rendered (for <html lang>), as a BCP 47 tag."""
    return page_state().tag


@cache
def formatting_locale(language: str) -> Locale:
    """The locale money and dates are formatted in: the language as written in the United
    States (es -> es_US) when Babel knows it, else the language itself."""
    try:
        return Locale.parse(f"{language}_US")
    except UnknownLocaleError:  # Babel has no US variant of the language
        return Locale.parse(language)


@dataclass(frozen=True)
class PageLanguage:
    locale: Locale | None  # as Flask-Babel chose it for the request (None: no request)
    translations: NullTranslations
    formatting: Locale  # money and dates

    @property
    def is_source(self) -> bool:
        return self.locale is None or self.locale.language == SOURCE_LANGUAGE

    @cached_property
    def tag(self) -> str:
        """The language as a BCP 47 tag (es-US)."""
        return str(self.locale).replace("_", "-") if self.locale else SOURCE_LANGUAGE

    @cached_property
    def language(self) -> str:
        """The tag's language alone (es)."""
        return self.tag.split("-")[0]


NO_REQUEST = PageLanguage(None, NullTranslations(), formatting_locale(SOURCE_LANGUAGE))
_PAGE = "_portal_page_language"


def page_state() -> PageLanguage:
    """The page's language, its catalog and the locale of its money and dates, found once
    per request: Flask-Babel finds each again on every call (tens of microseconds, and a
    page makes a hundred calls). Found again when Flask-Babel's choice changes (its
    force_locale)."""
    if _cv_request.get(None) is None:
        return NO_REQUEST
    # The request's `g` itself, not through its proxy: the proxy cost most of each call.
    page_globals = _cv_app.get().g.__dict__
    chosen = getattr(page_globals.get("_flask_babel"), "babel_locale", None)
    state = page_globals.get(_PAGE)
    if state is None or chosen is None or state.locale is not chosen:
        locale = get_locale()
        language = locale.language if locale else SOURCE_LANGUAGE
        state = PageLanguage(locale, get_translations(), formatting_locale(language))
        page_globals[_PAGE] = state
    return state


def current_formatting_locale() -> Locale:
    return page_state().formatting


def gettext(message: str, **values) -> str:
    """The message in the page's language, with %(name)s values (as Flask-Babel's)."""
    text = page_state().translations.gettext(message)
    return text % values if values else text


def page_translations() -> tuple[str, NullTranslations] | None:
    """The page's language and catalog, which its templates are compiled in
    (portal/web/template_language.py); None outside a request."""
    state = page_state()
    return None if state.locale is None else (str(state.locale), state.translations)


def install_gettext(app: Flask) -> None:
    """The templates' _(), gettext and ngettext through page_state(), in place of
    Flask-Babel's (the same catalogs, looked up once per request), and the templates compiled
    once per language, their literal messages translated then."""
    app.jinja_env.page_translations = page_translations  # type: ignore[attr-defined]
    app.jinja_env.install_gettext_callables(  # type: ignore[attr-defined]  # jinja2.ext.i18n
        gettext=lambda s: page_state().translations.gettext(s),
        ngettext=lambda s, p, n: page_state().translations.ngettext(s, p, n),
        newstyle=True,
        pgettext=lambda c, s: page_state().translations.pgettext(c, s),
        npgettext=lambda c, s, p, n: page_state().translations.npgettext(c, s, p, n),
    )


def language_links() -> list[tuple[str, str]]:
    """(code, name) of the languages the switch offers: all but the page's own."""
    current = page_language().split("-")[0]
    return [
        (code, language_name(code))
        for code in current_services().settings.languages
        if code != current
    ]


def switch_target() -> str:
    """Where the switch on this page leads back to: this page (its path and query when it
    was a GET; its path when that answers a GET too), else the patient's starting page."""
    if request.method == "GET":
        query = request.query_string.decode("utf-8", "replace")
        return request.path + (f"?{query}" if query else "")
    rule = request.url_rule
    if rule is not None and rule.methods and "GET" in rule.methods:
        return request.path
    return url_for("patient.account" if "account_number" in session else "patient.lookup")


def same_site_path(target: str | None) -> str | None:
    """`target` when it is a path on this site ("/account?x=1"); None for anything that could
    lead elsewhere (an absolute URL, "//host", a backslash, a scheme, control characters)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(c in target for c in "\\\r\n\t") or any(ord(c) < 32 for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@bp.get("/language/<code>")
def switch(code: str):
    """Keep `code` as the language of this session and go back to the page the switch was
    on (?next=, a path on this site only; else Quick Pay)."""
    if code not in current_services().settings.languages:
        abort(404)
    session[CHOSEN] = code
    return redirect(same_site_path(request.args.get("next")) or url_for("patient.lookup"), 303)
