"""Templates compiled once per language: a page's fixed words are translated when its template
is compiled, not looked up on every render.

A patient page makes sixty-odd `_("...")` calls; through Jinja's gettext each is two context
calls, a catalog look-up and a `%` format, a fifth of the page's time (bench/statement_page.py
--profile). Each language gets its own overlay of the app's environment (its own template
cache) whose code generator writes `_("literal")`, `gettext("literal")` and the singular
`{% trans %}` blocks as their translation: `Markup("...")` under autoescape, with any keyword
values formatted into it (escaped) as Jinja's newstyle gettext does. Everything else (plurals,
contexts, messages that are not a literal) still goes through the gettext callables."""

from collections.abc import Callable
from gettext import NullTranslations
from typing import Any

from flask.templating import Environment
from jinja2 import Template, nodes
from jinja2.compiler import CodeGenerator, Frame

# The names the templates call gettext by (Jinja's i18n extension installs both).
GETTEXT_NAMES = frozenset({"_", "gettext"})


def binds_gettext_name(template: nodes.Template) -> bool:
    """Whether the template assigns one of the gettext names itself (`{% set _ = ... %}`, a
    loop or macro argument, an import alias): its calls then are not gettext's."""
    for name in template.find_all(nodes.Name):
        if name.ctx in ("store", "param") and name.name in GETTEXT_NAMES:
            return True
    for imported in template.find_all(nodes.FromImport):
        for item in imported.names:
            alias = item[1] if isinstance(item, tuple) else item
            if alias in GETTEXT_NAMES:
                return True
    return False


def literal_message(node: nodes.Call) -> str | None:
    """The message of `_("literal", name=value, ...)`; None for any other call."""
    if not isinstance(node.node, nodes.Name) or node.node.name not in GETTEXT_NAMES:
        return None
    if node.dyn_args is not None or node.dyn_kwargs is not None or len(node.args) != 1:
        return None
    message = node.args[0]
    if not isinstance(message, nodes.Const) or not isinstance(message.value, str):
        return None
    return message.value


class TranslatingCodeGenerator(CodeGenerator):
    """Writes gettext calls on a literal message as the message's translation in the
    environment's language (`environment.fixed_translations`); the rest as Jinja does."""

    literal_gettext = False

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        translations = getattr(self.environment, "fixed_translations", None)
        self.literal_gettext = translations is not None and not binds_gettext_name(node)
        super().visit_Template(node, frame)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        message = literal_message(node) if self.literal_gettext and not forward_caller else None
        if message is None or frame.eval_ctx.volatile:
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        translations: NullTranslations = self.environment.fixed_translations  # type: ignore[attr-defined]
        text = translations.gettext(message)
        autoescape = frame.eval_ctx.autoescape
        if not node.kwargs:
            try:
                text = text % {}  # newstyle gettext formats every message ("%%" is "%")
            except (KeyError, TypeError, ValueError):  # fails at render, as it would at runtime
                super().visit_Call(node, frame, forward_caller=forward_caller)
                return
            self.write(f"Markup({text!r})" if autoescape else repr(text))
            return
        self.write(f"(Markup({text!r}) % {{" if autoescape else f"({text!r} % {{")
        for keyword in node.kwargs:
            self.write(f"{keyword.key!r}: ")
            self.visit(keyword.value, frame)
            self.write(", ")
        self.write("})")


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
