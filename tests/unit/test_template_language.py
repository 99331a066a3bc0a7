"""Templates compiled per language (portal/web/template_language.py): the page a template
compiled for a language renders is the page Jinja's gettext renders at runtime, and the
literal messages are no longer looked up at runtime."""

from gettext import NullTranslations

import pytest
from flask import Flask
from jinja2 import DictLoader, Environment
from markupsafe import Markup

from portal.web.template_language import LanguageEnvironment

SPANISH = {
    "Hello": "Hola",
    "Pay %(amount)s now": "Pague %(amount)s ahora",
    "Hi %(name)s": "Hola %(name)s",
    "Hi %(name)s, you owe %(amount)s": "Hola %(name)s, usted debe %(amount)s",
    "100%% sure": "100%% seguro",
    "Read the <em>terms</em>": "Lea los <em>términos</em>",
    "%(num)s line": "%(num)s línea",
    "%(num)s lines": "%(num)s líneas",
    "Missing %(value)s": "Falta %(value)s",
}

TEMPLATES = {
    "base.html": "<title>{% block title %}{{ _('Hello') }}{% endblock %}</title>"
    "{% block body %}{% endblock %}",
    "page.html": """{% extends "base.html" %}{% import "macros.html" as m %}
{% block body %}
{{ _("Hello") }}|{{ gettext("Hello") }}|{{ _("Not in the catalog") }}
{{ _("Pay %(amount)s now", amount=amount) }}
{% trans name=name %}Hi {{ name }}{% endtrans %}
{% trans %}Hi {{ name }}, you owe {{ amount }}{% endtrans %}
{{ _("100%% sure") }}|{{ _("Read the <em>terms</em>") }}
{% trans num=2 %}{{ num }} line{% pluralize %}{{ num }} lines{% endtrans %}
{{ ngettext("%(num)s line", "%(num)s lines", 1) }}
{{ _(message) }}|{{ _("Hello")|upper }}|{{ (_("Hello") ~ name)|length }}
{{ m.label() }}
{% endblock %}""",
    "macros.html": "{% macro label() %}<b>{{ _('Hello') }}</b>{% endmacro %}",
    # The template binds `_` itself: its calls are not gettext's and stay as written.
    "shadow.html": "{% set _ = attrs.update({'x': 1}) %}{{ _ }}|{{ gettext('Hello') }}",
    # A template that binds ngettext itself: its plurals stay its own.
    "own_plural.html": "{% set ngettext = plural %}{{ ngettext('a', 'b', 2) }}|{{ _('Hello') }}",
    "text.txt": "{{ _('Pay %(amount)s now', amount=amount) }} {{ _('Read the <em>terms</em>') }}",
}
VALUES = {
    "amount": "<$5 & up>",
    "name": "Ana <script>",
    "message": "Hello",
    "attrs": {},
    "plural": lambda singular, plural, n: f"own {singular if n == 1 else plural}",
}


class Catalog(NullTranslations):
    def gettext(self, message):
        return SPANISH.get(message, message)

    def ngettext(self, singular, plural, n):
        return SPANISH.get(singular if n == 1 else plural, singular if n == 1 else plural)


def environment(fixed: bool) -> LanguageEnvironment:
    app = Flask(__name__)
    env = LanguageEnvironment(
        app,
        loader=DictLoader(TEMPLATES),
        autoescape=lambda name: bool(name and name.endswith(".html")),
        extensions=["jinja2.ext.i18n"],
    )
    catalog = Catalog()
    env.install_gettext_translations(catalog, newstyle=True)  # type: ignore[attr-defined]
    env.policies["ext.i18n.trimmed"] = True
    if fixed:
        env.fixed_translations = catalog
    return env


@pytest.mark.parametrize(
    "name, spanish",
    [
        ("page.html", "Hola"),
        ("shadow.html", "Hola"),
        ("own_plural.html", "own b"),
        ("text.txt", "Pague"),
    ],
)
def test_a_template_compiled_for_the_language_renders_what_runtime_gettext_renders(name, spanish):
    compiled = environment(fixed=True).get_template(name).render(VALUES)
    at_runtime = environment(fixed=False).get_template(name).render(VALUES)

    assert compiled == at_runtime
    assert spanish in compiled


def test_the_page_has_its_translations_and_its_values_escaped():
    page = environment(fixed=True).get_template("page.html").render(VALUES)

    assert "Pague &lt;$5 &amp; up&gt; ahora" in page
    assert "Hola Ana &lt;script&gt;, usted debe &lt;$5 &amp; up&gt;" in page
    assert "100% seguro|Lea los <em>términos</em>" in page
    assert "2 líneas" in page and "1 línea" in page
    assert "<b>Hola</b>" in page and "<title>Hola</title>" in page
    assert "Not in the catalog" in page
    text = environment(fixed=True).get_template("text.txt").render(VALUES)
    assert text == "Pague <$5 & up> ahora Lea los <em>términos</em>"


def test_literal_messages_are_compiled_to_their_translation():
    env = environment(fixed=True)
    source = env.compile(TEMPLATES["page.html"], "page.html", raw=True)

    assert "Markup('Hola')" in source
    assert "Markup('Pague %(amount)s ahora') % {'amount': " in source
    assert "'Hello'" not in source  # no literal is left to look up
    # Plurals on literal messages call the compiled-in catalog directly, not through the
    # context; a message that is not a literal still goes through gettext at runtime.
    assert "plural_message(environment.fixed_translations, True, '%(num)s line'" in source
    assert "context.call((undefined(name='ngettext')" not in source
    assert "(undefined(name='_') if l_0__ is missing else l_0__)" in source
    runtime = environment(fixed=False).compile(TEMPLATES["page.html"], "page.html", raw=True)
    assert "'Hello'" in runtime and "Markup('Hola')" not in runtime


def test_a_literal_message_output_alone_becomes_part_of_the_template_text():
    env = environment(fixed=True)
    source = env.compile("<p>{{ _('Hello') }} <b>{{ _('100%% sure') }}</b></p>", raw=True)

    assert "yield '<p>Hola <b>100% seguro</b></p>'" in source
    assert "Markup(" not in source and "escape(" not in source
    text = env.compile("{{ _('Read the <em>terms</em>') }}!", "text.txt", raw=True)
    assert "yield 'Lea los <em>términos</em>!'" in text


def test_a_message_whose_values_are_missing_fails_as_at_runtime():
    env = environment(fixed=True)
    with pytest.raises(KeyError):
        env.from_string("{{ _('Missing %(value)s') }}").render()


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_email_compiled_in_its_language_is_the_email_gettext_renders(language):
    """The e-mail renderer compiles its templates in each language
    (portal/adapters/email_templates.py); each sample of every kind and branch renders the same
    as with Jinja's runtime gettext on the same catalog."""
    from portal.adapters.email_templates import EmailRenderer
    from portal.resources import template_dir
    from tests.email_samples import samples

    compiled = EmailRenderer(template_dir())
    runtime = EmailRenderer(template_dir())
    wording = runtime.wording(language)
    env = runtime._env(wording)
    env.fixed_translations = None  # as Jinja compiles them: gettext called at render
    assert compiled._env(compiled.wording(language)).fixed_translations is not None
    for kind, context in samples():
        assert compiled.render(kind, language, **context) == runtime.render(
            kind, language, **context
        ), kind
    kind, context = samples()[0]
    english = runtime.render(kind, "en", **context)
    assert (compiled.render(kind, language, **context) == english) is (language == "en")


class Html:
    def __html__(self):
        return "<i>safe</i>"


OUTPUT = """{% macro m(x) %}<b>{{ x }}</b>{% endmacro %}
{% macro box() %}<div>{{ caller() }}</div>{% endmacro %}
{{ text }}|{{ safe }}|{{ html }}|{{ number }}|{{ nothing }}|{{ missing }}|{{ m(text) }}
{% set block %}<p>{{ text }}</p>{% endset %}{{ block }}|{{ block|length }}
{% filter upper %}{{ text }}{% endfilter %}|{% call box() %}{{ text }}{{ safe }}{% endcall %}
{% autoescape false %}{{ text }}{% endautoescape %}|{{ text ~ safe }}|{{ [text, safe]|join }}"""
OUTPUT_VALUES = {
    "text": "<a href='x'>&\"",
    "safe": Markup("<em>ok</em>"),
    "html": Html(),
    "number": 5,
    "nothing": None,
}


@pytest.mark.parametrize("fixed", [True, False])
def test_output_is_escaped_as_jinja_escapes_it(fixed):
    """The code generator writes `{{ value }}` with escaped_text, not markupsafe.escape."""
    env = environment(fixed=fixed)
    env.autoescape = True
    plain = Environment(autoescape=True, extensions=["jinja2.ext.i18n"])
    source = env.compile(OUTPUT, raw=True)

    assert "escaped_text(" in source and "escape(" not in source.replace("escaped_text(", "")
    assert env.from_string(OUTPUT).render(OUTPUT_VALUES) == plain.from_string(OUTPUT).render(
        OUTPUT_VALUES
    )
