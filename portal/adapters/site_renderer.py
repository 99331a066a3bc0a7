"""Renders the public site's pages (templates/site/) for the static build, with Jinja2.

portal/services/static_site.py builds the site with the `render` of one of these (given to
it by `portal build-static`); the app serves the same templates through Flask. The words are
the `messages` catalog's (translations/<lang>/LC_MESSAGES/messages.mo), as in the app.
"""

from collections.abc import Mapping
from pathlib import Path

from babel.support import NullTranslations, Translations
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

DOMAIN = "messages"


class SiteRenderer:
    """A plain Jinja environment per language for the build: autoescaped, strict about
    typos, its gettext the language's catalog (the written English where there is none)."""

    def __init__(self, template_dir: str | Path, translations_dir: str | Path | None = None):
        self._template_dir = str(template_dir)
        self._translations_dir = Path(translations_dir) if translations_dir else None
        self._envs: dict[str, Environment] = {}

    def _env(self, language: str) -> Environment:
        if language not in self._envs:
            env = Environment(
                loader=FileSystemLoader(self._template_dir),
                autoescape=select_autoescape(enabled_extensions=("html",)),
                undefined=StrictUndefined,
                extensions=["jinja2.ext.i18n"],
            )
            env.install_gettext_translations(  # type: ignore[attr-defined]  # jinja2.ext.i18n
                self._translations(language), newstyle=True
            )
            self._envs[language] = env
        return self._envs[language]

    def _translations(self, language: str) -> NullTranslations:
        if self._translations_dir is None:
            return NullTranslations()
        return Translations.load(str(self._translations_dir), [language], DOMAIN)

    def render(self, template: str, context: Mapping[str, object], language: str = "en") -> str:
        """The page `template` (a name under templates/, e.g. "site/faq.html") as HTML, in
        `language`."""
        return self._env(language).get_template(template).render(context)
