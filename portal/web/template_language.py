"""The app's templates compiled once per page language (portal/wording/compiled_gettext.py):
each language gets its own overlay of the app's environment, with its own template cache."""

from collections import ChainMap
from collections.abc import Callable, KeysView, MutableMapping
from gettext import NullTranslations
from typing import Any

from flask.templating import Environment
from jinja2 import Template

from portal.wording.compiled_gettext import TranslatingCodeGenerator


class TemplateGlobals(ChainMap):
    """A template's globals (Jinja's ChainMap of its own and the environment's), copied into
    every render's context and subtracted from the page's on each import of a template
    (`{% from "_macros.html" import ... %}`): keys() is a plain dict's, not a Python loop
    over a key view, and a global is found without a KeyError from each map before its
    own."""

    def keys(self) -> KeysView:  # type: ignore[override]
        return dict.fromkeys(self).keys()

    def __getitem__(self, key: Any) -> Any:
        for mapping in self.maps:
            if key in mapping:
                return mapping[key]
        return self.__missing__(key)


class LanguageEnvironment(Environment):
    """The app's Jinja environment: hands out each template as compiled for the language of
    the page being rendered (`page_translations()` gives its locale name and catalog; None
    outside a request, where the gettext callables are used as they are)."""

    code_generator_class = TranslatingCodeGenerator
    fixed_translations: NullTranslations | None = None
    page_translations: Callable[[], tuple[str, NullTranslations] | None] = staticmethod(
        lambda: None
    )

    def for_language(self) -> Environment:
        if self.fixed_translations is not None:
            return self  # already one language's (its templates' extends and imports)
        page = self.page_translations()
        if page is None:
            return self
        language, translations = page
        languages: dict[str, LanguageEnvironment] = self.__dict__.setdefault("languages", {})
        overlay = languages.get(language)
        if overlay is None or overlay.fixed_translations is not translations:
            overlay = self.overlay()  # type: ignore[assignment]
            overlay.fixed_translations = translations
            languages[language] = overlay
        return overlay

    def make_globals(self, d: MutableMapping[str, Any] | None) -> MutableMapping[str, Any]:
        return TemplateGlobals(d if d is not None else {}, self.globals)

    def get_template(self, name: Any, parent: str | None = None, globals: Any = None) -> Template:
        overlay = self.for_language()
        if overlay is self:
            return super().get_template(name, parent, globals)
        return overlay.get_template(name, parent, globals)

    def select_template(
        self, names: Any, parent: str | None = None, globals: Any = None
    ) -> Template:
        overlay = self.for_language()
        if overlay is self:
            return super().select_template(names, parent, globals)
        return overlay.select_template(names, parent, globals)
