"""Werkzeug compiles two URL-builder functions (Python source, compiled) for each of the
portal's 440 routes every time an app is made: about a third of a second per app, and the
integration tests make an app per test. A builder depends only on its rule's parts, defaults
and converters, so the tests compile each once per process and give every app the same one."""

from typing import Any

from werkzeug.routing.rules import Rule

_compile_builder = Rule._compile_builder
_compiled: dict[tuple, Any] = {}


def _builder_key(rule: Rule, append_unknown: bool) -> tuple:
    defaults = rule.defaults or {}
    return (
        rule.rule,
        tuple(rule._trace),
        tuple((name, type(converter)) for name, converter in rule._converters.items()),
        tuple(sorted((str(name), repr(value)) for name, value in defaults.items())),
        append_unknown,
    )


def _reused_builder(self: Rule, append_unknown: bool = True):
    key = _builder_key(self, append_unknown)
    if key not in _compiled:
        _compiled[key] = _compile_builder(self, append_unknown)
    return _compiled[key]


def reuse_compiled_url_builders() -> None:
    Rule._compile_builder = _reused_builder  # type: ignore[method-assign]
