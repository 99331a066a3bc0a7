"""The e-mail templates' compiled code kept on disk (portal/wording/compiled_gettext.py,
TranslatedBytecodeCache): loaded by the next renderer instead of compiled again, keyed by
the words it was compiled with, and compiled again when the file cannot be read."""

from gettext import NullTranslations
from pathlib import Path

from jinja2 import DictLoader
from jinja2.bccache import bc_magic

from portal.wording.compiled_gettext import TranslatedBytecodeCache, TranslatedEnvironment

SOURCE = "<p>{{ _('Pay online') }} {{ name }}</p>"


class Words(NullTranslations):
    def __init__(self, words: dict[str, str]) -> None:
        super().__init__()
        self.words = words

    def gettext(self, message: str) -> str:
        return self.words.get(message, message)


def environment(cache: TranslatedBytecodeCache, words: dict[str, str]) -> TranslatedEnvironment:
    env = TranslatedEnvironment(
        loader=DictLoader({"t.html": SOURCE}),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        bytecode_cache=cache,
    )
    env.install_gettext_translations(Words(words), newstyle=True)  # type: ignore[attr-defined]
    env.fixed_translations = Words(words)
    return env


def compiles(env: TranslatedEnvironment) -> list[str]:
    """The templates the environment compiles from their source while used."""
    seen: list[str] = []
    compile_source = env.compile

    def counted(source, name=None, filename=None, raw=False, defer_init=False):  # type: ignore[no-untyped-def]
        seen.append(str(name))
        return compile_source(source, name, filename, raw, defer_init)

    env.compile = counted  # type: ignore[method-assign]
    return seen


def test_the_next_renderer_loads_the_compiled_template(tmp_path: Path):
    first = environment(TranslatedBytecodeCache("es-1", "setup", str(tmp_path)), {})
    compiled = compiles(first)
    assert first.get_template("t.html").render(name="Ana") == "<p>Pay online Ana</p>"
    assert compiled == ["t.html"]

    second = environment(TranslatedBytecodeCache("es-1", "setup", str(tmp_path)), {})
    loaded = compiles(second)
    assert second.get_template("t.html").render(name="Ana") == "<p>Pay online Ana</p>"
    assert loaded == []


def test_other_words_or_other_code_compile_anew(tmp_path: Path):
    environment(TranslatedBytecodeCache("en", "setup", str(tmp_path)), {}).get_template("t.html")
    spanish = {"Pay online": "Pagar en línea"}
    for catalog, setup in [("es-1", "setup"), ("en", "other setup")]:
        env = environment(TranslatedBytecodeCache(catalog, setup, str(tmp_path)), spanish)
        compiled = compiles(env)
        assert env.get_template("t.html").render(name="Ana") == "<p>Pagar en línea Ana</p>"
        assert compiled == ["t.html"]


def test_an_unreadable_cache_file_is_compiled_again(tmp_path: Path):
    environment(TranslatedBytecodeCache("en", "setup", str(tmp_path)), {}).get_template("t.html")
    for cached in tmp_path.iterdir():
        cached.write_bytes(bc_magic)  # Jinja's header, then nothing

    env = environment(TranslatedBytecodeCache("en", "setup", str(tmp_path)), {})
    compiled = compiles(env)
    assert env.get_template("t.html").render(name="Ana") == "<p>Pay online Ana</p>"
    assert compiled == ["t.html"]


def test_no_cache_when_the_code_that_compiles_cannot_be_read(tmp_path: Path):
    """A module whose file is not there (a frozen or trimmed install): no cache, templates
    compiled as Jinja does, nothing fails."""
    from portal.wording.compiled_gettext import bytecode_cache

    assert bytecode_cache("en", tmp_path / "gone.py") is None
    assert bytecode_cache("en", __file__) is not None
