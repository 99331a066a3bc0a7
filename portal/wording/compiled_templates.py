"""Each template's compiled code kept for the process, shared by every Jinja environment that
asks for it: an app made again in the same process, as the tests make
one per test, does not parse and compile its templates again.

A template's code depends on its source (the bucket's checksum), on the environment's
settings (syntax, whitespace, autoescape, extensions, the i18n policies) and on the catalog its
literal messages were translated from at compile time (portal/wording/compiled_gettext.py):
the key holds all of them, so two catalogs of one language never share code."""

import hashlib
import itertools
from gettext import NullTranslations
from types import CodeType
from weakref import WeakKeyDictionary

from jinja2 import Environment
from jinja2.bccache import Bucket, BytecodeCache


def catalog_digest(translations: NullTranslations | None) -> str | None:
    """A digest of the messages a catalog (and its fallbacks) translates; None for a catalog
    that does not keep them in gettext's table (its own gettext code, which a digest of the
    table would not tell apart)."""
    digest = hashlib.sha256()
    while translations is not None:
        catalog = getattr(translations, "_catalog", None)
        if catalog is None and type(translations) is not NullTranslations:
            return None
        catalog = catalog or {}
        digest.update(type(translations).__qualname__.encode())
        for key, value in sorted(catalog.items(), key=repr):
            digest.update(repr((key, value)).encode())
        translations = getattr(translations, "_fallback", None)
    return digest.hexdigest()


def compile_settings(environment: Environment, name: str) -> str:
    """What of the environment the compiled code of template `name` depends on."""
    autoescape = environment.autoescape
    return repr(
        (
            type(environment).__module__,
            type(environment).__qualname__,
            environment.code_generator_class.__qualname__,
            environment.block_start_string,
            environment.block_end_string,
            environment.variable_start_string,
            environment.variable_end_string,
            environment.comment_start_string,
            environment.comment_end_string,
            environment.line_statement_prefix,
            environment.line_comment_prefix,
            environment.trim_blocks,
            environment.lstrip_blocks,
            environment.newline_sequence,
            environment.keep_trailing_newline,
            environment.optimized,
            environment.finalize is not None,
            autoescape(name) if callable(autoescape) else autoescape,
            sorted(environment.extensions),
            sorted(
                (key, value)
                for key, value in environment.policies.items()
                if value is None or isinstance(value, str | int | bool)
            ),
        )
    )


class ProcessTemplateCode(BytecodeCache):
    """Compiled template code in memory, keyed by what it was compiled from (the
    environment's settings, its catalog's digest, the template's name and file); its
    source's checksum is checked on every load."""

    def __init__(self) -> None:
        self._code: dict[str, tuple[str, CodeType]] = {}
        self._digests: WeakKeyDictionary[NullTranslations, str] = WeakKeyDictionary()
        self._unknown = itertools.count()

    def _catalog_key(self, environment: Environment) -> str:
        translations = getattr(environment, "fixed_translations", None)
        if translations is None:
            return "-"
        digest = self._digests.get(translations)
        if digest is None:
            digest = catalog_digest(translations) or f"catalog {next(self._unknown)}"
            self._digests[translations] = digest
        return digest

    def get_bucket(
        self, environment: Environment, name: str, filename: str | None, source: str
    ) -> Bucket:
        compiled_from = compile_settings(environment, name), self._catalog_key(environment), name
        key = self.get_cache_key(repr(compiled_from), filename)
        bucket = Bucket(environment, key, self.get_source_checksum(source))
        self.load_bytecode(bucket)
        return bucket

    def load_bytecode(self, bucket: Bucket) -> None:
        found = self._code.get(bucket.key)
        if found is not None and found[0] == bucket.checksum:
            bucket.code = found[1]

    def dump_bytecode(self, bucket: Bucket) -> None:
        if bucket.code is not None:
            self._code[bucket.key] = (bucket.checksum, bucket.code)

    def clear(self) -> None:
        self._code.clear()


# One per process, for the app's environments (the e-mail renderer keeps its templates'
# code on disk: portal/wording/compiled_gettext.py).
TEMPLATE_CODE = ProcessTemplateCode()
