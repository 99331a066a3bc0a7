"""Templates compiled once per process (portal/wording/compiled_templates.py): a second app
reuses the first one's code, and nothing that changes the code is shared: another catalog of
the same language, another source, other environment settings."""

from gettext import NullTranslations
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.support import Translations
from jinja2 import Environment, FileSystemLoader

from portal.wording.compiled_gettext import TranslatedEnvironment
from portal.wording.compiled_templates import ProcessTemplateCode, catalog_digest


def catalog(tmp_path: Path, name: str, hello: str) -> Translations:
    messages = Catalog(locale="es")
    messages.add("Hello", hello)
    path = tmp_path / f"{name}.mo"
    with path.open("wb") as handle:
        write_mo(handle, messages)
    with path.open("rb") as handle:
        return Translations(handle)


@pytest.fixture
def templates(tmp_path: Path) -> Path:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "page.html").write_text("<p>{{ _('Hello') }} {{ name }}</p>")
    return folder


def environment(folder: Path, cache: ProcessTemplateCode, translations=None, **options):
    env = TranslatedEnvironment(
        loader=FileSystemLoader(folder),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        bytecode_cache=cache,
        **options,
    )
    env.install_gettext_translations(translations or Translations(), newstyle=True)  # type: ignore[attr-defined]
    env.fixed_translations = translations or Translations()
    return env


@pytest.fixture
def compiles(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the templates Jinja parses and compiles."""
    names: list[str] = []
    real = Environment.compile

    def counted(self, source, name=None, filename=None, raw=False, defer_init=False):
        names.append(name)
        return real(self, source, name, filename, raw, defer_init)

    monkeypatch.setattr(Environment, "compile", counted)
    return names


def test_a_second_environment_reuses_the_code(templates, tmp_path, compiles):
    cache = ProcessTemplateCode()
    spanish = catalog(tmp_path, "a", "Hola")
    first = environment(templates, cache, spanish).get_template("page.html")
    second = environment(templates, cache, catalog(tmp_path, "b", "Hola"))
    assert second.get_template("page.html").render(name="<Ana>") == "<p>Hola &lt;Ana&gt;</p>"
    assert first.render(name="Ana") == "<p>Hola Ana</p>"
    assert compiles == ["page.html"]


def test_another_catalog_of_the_language_is_compiled_again(templates, tmp_path, compiles):
    cache = ProcessTemplateCode()
    environment(templates, cache, catalog(tmp_path, "a", "Hola")).get_template("page.html")
    other = environment(templates, cache, catalog(tmp_path, "b", "Buenas"))
    assert other.get_template("page.html").render(name="Ana") == "<p>Buenas Ana</p>"
    assert compiles == ["page.html", "page.html"]


def test_a_changed_source_is_compiled_again(templates, tmp_path, compiles):
    cache = ProcessTemplateCode()
    spanish = catalog(tmp_path, "a", "Hola")
    environment(templates, cache, spanish).get_template("page.html")
    (templates / "page.html").write_text("<b>{{ _('Hello') }}</b>")
    again = environment(templates, cache, spanish).get_template("page.html")
    assert again.render() == "<b>Hola</b>"
    assert compiles == ["page.html", "page.html"]


def test_other_settings_are_compiled_again(templates, tmp_path, compiles):
    cache = ProcessTemplateCode()
    spanish = catalog(tmp_path, "a", "Hola")
    environment(templates, cache, spanish).get_template("page.html")
    unescaped = environment(templates, cache, spanish)
    unescaped.autoescape = False
    assert unescaped.get_template("page.html").render(name="<b>") == "<p>Hola <b></p>"
    assert compiles == ["page.html", "page.html"]


class Shouting(NullTranslations):
    """A catalog whose words come from its code, not from gettext's table."""

    def gettext(self, message):
        return message.upper()


def test_a_catalog_with_its_own_gettext_code_is_never_shared(templates, compiles):
    cache = ProcessTemplateCode()
    assert catalog_digest(Shouting()) is None
    for _ in range(2):
        page = environment(templates, cache, Shouting()).get_template("page.html")
        assert page.render(name="Ana") == "<p>HELLO Ana</p>"
    assert compiles == ["page.html", "page.html"]


def test_the_app_uses_the_process_cache():
    from portal.app import PortalFlask
    from portal.wording.compiled_templates import TEMPLATE_CODE

    assert PortalFlask.jinja_options["bytecode_cache"] is TEMPLATE_CODE
