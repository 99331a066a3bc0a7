"""Templates compiled in one language: their fixed words are translated when a template is
compiled, not looked up on every render.

A patient page or an e-mail makes dozens of `_("...")` calls; through Jinja's gettext each
is two context calls, a catalog look-up and a `%` format, a fifth of a page's time
(bench/statement_page.py --profile). An environment with `fixed_translations` (one per
language, each with its own template cache) has its code generator write `_("literal")`,
`gettext("literal")` and the singular `{% trans %}` blocks as their translation:
`Markup("...")` under autoescape, with any keyword values formatted into it (escaped) as
Jinja's newstyle gettext does. A plural on literal messages (`ngettext("a", "as", n)`, a
`{% trans %}` with `{% pluralize %}`) is written as a plain call of `plural_message` on the
same catalog, not through the context (which copies itself for a call inside a loop).
Everything else (contexts, messages that are not a literal) still goes through the gettext
callables.

The same code generator writes each autoescaped `{{ value }}` as `escaped_text(value)`:
markupsafe.escape's text without making a Markup of each piece, which Jinja only joins."""

import contextlib
import functools
import hashlib
from gettext import NullTranslations
from pathlib import Path
from typing import Any

from jinja2 import Environment, nodes
from jinja2.bccache import Bucket, FileSystemBytecodeCache
from jinja2.compiler import CodeGenerator, Frame
from markupsafe import Markup
from markupsafe import _escape_inner as escape_inner  # escape()'s own, without the Markup

# The names the templates call gettext by (Jinja's i18n extension installs both).
GETTEXT_NAMES = frozenset({"_", "gettext"})
PLURAL_NAME = "ngettext"


def binds_gettext_name(template: nodes.Template) -> bool:
    """Whether the template assigns one of the gettext names itself (`{% set _ = ... %}`, a
    loop or macro argument, an import alias): its calls then are not gettext's."""
    for name in template.find_all(nodes.Name):
        if name.ctx in ("store", "param") and name.name in GETTEXT_NAMES | {PLURAL_NAME}:
            return True
    for imported in template.find_all(nodes.FromImport):
        for item in imported.names:
            alias = item[1] if isinstance(item, tuple) else item
            if alias in GETTEXT_NAMES | {PLURAL_NAME}:
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


def literal_plural(node: nodes.Call) -> tuple[str, str] | None:
    """The singular and plural of `ngettext("literal", "literals", n, name=value, ...)`."""
    if not isinstance(node.node, nodes.Name) or node.node.name != PLURAL_NAME:
        return None
    if node.dyn_args is not None or node.dyn_kwargs is not None or len(node.args) != 3:
        return None
    singular, plural = node.args[0], node.args[1]
    if not all(isinstance(m, nodes.Const) and isinstance(m.value, str) for m in (singular, plural)):
        return None
    return singular.value, plural.value  # type: ignore[attr-defined]


def plural_message(
    translations: NullTranslations,
    autoescape: bool,
    singular: str,
    plural: str,
    num: int,
    variables: dict[str, Any],
) -> str:
    """Jinja's newstyle ngettext on the catalog the template was compiled in."""
    variables.setdefault("num", num)
    text = translations.ngettext(singular, plural, num)
    return (Markup(text) if autoescape else text) % variables


def escaped_text(value: Any) -> str:
    """markupsafe.escape(value) as text: the same characters, for a piece of a template's
    output, which Jinja joins into the page (its blocks, macros and `set` blocks make their
    joined output Markup again)."""
    if type(value) is str:
        return escape_inner(value)
    if hasattr(value, "__html__"):
        return value.__html__()
    return escape_inner(str(value))


class TranslatingCodeGenerator(CodeGenerator):
    """Writes gettext calls on a literal message as the message's translation in the
    environment's language (`environment.fixed_translations`); the rest as Jinja does."""

    literal_gettext = False

    def visit_Template(self, node: nodes.Template, frame: Frame | None = None) -> None:
        translations = getattr(self.environment, "fixed_translations", None)
        self.literal_gettext = translations is not None and not binds_gettext_name(node)
        self.writeline(f"from {__name__} import escaped_text, plural_message")
        super().visit_Template(node, frame)

    def _output_child_pre(self, node: nodes.Expr, frame: Frame, finalize: Any) -> None:
        if not frame.eval_ctx.autoescape or frame.eval_ctx.volatile:
            super()._output_child_pre(node, frame, finalize)
            return
        self.write("escaped_text(")
        if finalize.src is not None:
            self.write(finalize.src)

    def translation(self, message: str) -> str:
        translations: NullTranslations = self.environment.fixed_translations  # type: ignore[attr-defined]
        return translations.gettext(message)

    def _output_child_to_const(self, node: nodes.Expr, frame: Frame, finalize: Any) -> str:
        """`{{ _("literal") }}` without values, output as it is: its translation becomes part
        of the template's text, joined with the text around it when the template is compiled
        (no Markup, escape or yield for it at render)."""
        message = literal_message(node) if isinstance(node, nodes.Call) else None
        if message is None or not self.literal_gettext or node.kwargs or frame.eval_ctx.volatile:  # type: ignore[attr-defined]
            return super()._output_child_to_const(node, frame, finalize)
        try:
            text = self.translation(message) % {}
        except (KeyError, TypeError, ValueError):  # fails at render, as it would at runtime
            raise nodes.Impossible() from None
        return finalize.const(Markup(text) if frame.eval_ctx.autoescape else text)

    def visit_Call(self, node: nodes.Call, frame: Frame, forward_caller: bool = False) -> None:
        plural = literal_plural(node) if self.literal_gettext and not forward_caller else None
        if plural is not None and not frame.eval_ctx.volatile:
            self.write(
                f"plural_message(environment.fixed_translations, {frame.eval_ctx.autoescape!r},"
                f" {plural[0]!r}, {plural[1]!r}, "
            )
            self.visit(node.args[2], frame)
            self.write(", {")
            for keyword in node.kwargs:
                self.write(f"{keyword.key!r}: ")
                self.visit(keyword.value, frame)
                self.write(", ")
            self.write("})")
            return
        message = literal_message(node) if self.literal_gettext and not forward_caller else None
        if message is None or frame.eval_ctx.volatile:
            super().visit_Call(node, frame, forward_caller=forward_caller)
            return
        text = self.translation(message)
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


class TranslatedEnvironment(Environment):
    """A Jinja environment whose templates are compiled in one language (`fixed_translations`;
    None: as Jinja compiles them)."""

    code_generator_class = TranslatingCodeGenerator
    fixed_translations: NullTranslations | None = None


class TranslatedBytecodeCache(FileSystemBytecodeCache):
    """Jinja's cache of compiled templates on disk (its own per-user folder in the system's
    temporary folder), for environments compiled in one language: a process that renders
    an e-mail loads its compiled template instead of compiling it again (a tenth of a
    second for a reminder run's few templates).

    A compiled template holds its words, so each entry is keyed by the words too: the
    environment's catalog (`catalog`, a digest of its compiled file), whether words are
    fixed at compile time at all, and the code that compiles them (this module and the
    `setup` that made the environment, a digest of its source). Jinja keys the rest: the
    template's name, file and source, Jinja's and Python's versions."""

    def __init__(self, catalog: str, setup: str, directory: str | None = None) -> None:
        super().__init__(directory)
        self.tag = f"{catalog}|{setup}|{source_digest(__file__)}"

    def get_bucket(
        self, environment: Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        fixed = getattr(environment, "fixed_translations", None) is not None
        key = self.get_cache_key(f"{self.tag}|{fixed}|{name}", filename)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        try:
            self.load_bytecode(bucket)
        except Exception:  # unreadable: compiled again (and written over)
            bucket.reset()
        return bucket

    def dump_bytecode(self, bucket: Bucket) -> None:
        # A full or read-only disk: the next process compiles it again.
        with contextlib.suppress(OSError):
            super().dump_bytecode(bucket)


@functools.cache
def source_digest(path: str) -> str:
    """A digest of a file (a module's source), to key what was built from it."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def bytecode_cache(catalog: str, setup: str | Path) -> TranslatedBytecodeCache | None:
    """The cache for an environment made by the code in the file `setup`; None where the
    system's temporary folder offers no folder of the user's own (Jinja refuses one another
    user could write), or a module's file cannot be read."""
    try:
        return TranslatedBytecodeCache(catalog, source_digest(str(setup)))
    except (OSError, RuntimeError):
        return None
