"""The public site in every language (issue 18): each page built and served in English at
the top and in Spanish under es/ (/es/ in the app), naming its other languages' versions
(hreflang) and linking to them, and no English left on a page in another language: every
page is built in a pseudo-language made from the catalog (tests/integration/
test_pseudo_locale_pages.py) and any word outside the catalog fails."""

import re
from dataclasses import replace
from pathlib import Path

import pytest

import portal.app
from portal.adapters.site_renderer import SiteRenderer
from portal.bootstrap import build_services, practice_details
from portal.resources import template_dir
from portal.services.static_site import PAGES, build_site
from tests.integration.test_pseudo_locale_pages import PSEUDO, pseudo_catalog, untranslated
from tests.integration.test_static_site import BASE_URL, built_pages, visible

SITE_URL = "https://www.riverside.example"


@pytest.fixture
def site_settings(settings):
    return replace(
        settings,
        base_url=BASE_URL,
        practice_name="Riverside Family Medicine",
        mail_from="billing@riverside.example",
    )


def build(settings, out: Path, translations: Path | None = None, site_url: str = ""):
    renderer = SiteRenderer(template_dir(), translations or portal.app.translations_dir())
    return build_site(
        settings,
        out,
        render=renderer.render,
        practice=practice_details(settings),
        site_url=site_url,
    )


def alternates(html: str) -> dict[str, str]:
    return dict(re.findall(r'<link rel="alternate" hreflang="([\w-]+)" href="([^"]+)">', html))


def test_every_page_is_built_in_spanish_under_es(site_settings, tmp_path):
    out = tmp_path / "site"
    build(site_settings, out)
    spanish = {Path(name).name: html for name, html in built_pages(out, "es").items()}

    assert sorted(spanish) == sorted(page.filename for page in PAGES)
    for name, html in spanish.items():
        assert '<html lang="es">' in html, name
        assert alternates(html) == {
            "en": f"../{name}",
            "es": f"../es/{name}",
            "x-default": f"../{name}",
        }, name
        switch = re.search(r'data-testid="language-switch">(.*?)</nav>', html, re.S)
        assert switch and f'href="../{name}" lang="en" hreflang="en">English</a>' in switch[1]
    for name, html in built_pages(out).items():
        assert '<html lang="en">' in html, name
        assert alternates(html)["es"] == f"es/{name}", name
        assert f'href="es/{name}" lang="es" hreflang="es">Español</a>' in html, name

    home = visible(spanish["index.html"])
    assert "Pague su factura de Riverside Family Medicine" in home
    assert "Pagar mi factura" in home and "Pay my bill" not in home
    faq = visible(spanish["faq.html"])
    for words in ("Deducible", "Copago", "coaseguro", "Explicación de Beneficios", "saldo"):
        assert words in faq, words
    privacy = visible(spanish["privacy.html"])
    assert "“Pago del estado de cuenta S-…”" in privacy
    assert "Última actualización: 1 de enero de 2026." in privacy
    contact = visible(spanish["contact.html"])
    assert "Horario: de lunes a viernes, de 8:30 a. m. a 5:00 p. m. Tenga a mano" in contact


def test_with_the_sites_address_the_alternates_are_absolute(site_settings, tmp_path):
    out = tmp_path / "site"
    build(site_settings, out, site_url=SITE_URL + "/")

    html = (out / "es" / "faq.html").read_text(encoding="utf-8")

    assert alternates(html) == {
        "en": f"{SITE_URL}/faq.html",
        "es": f"{SITE_URL}/es/faq.html",
        "x-default": f"{SITE_URL}/faq.html",
    }
    assert f'href="{SITE_URL}/faq.html" lang="en"' in html  # the switch


def test_a_site_in_english_only_has_no_language_folder_or_switch(site_settings, tmp_path):
    out = tmp_path / "site"
    build(replace(site_settings, languages=("en",)), out)

    assert not (out / "es").exists()
    html = (out / "faq.html").read_text(encoding="utf-8")
    assert alternates(html) == {"en": "faq.html", "x-default": "faq.html"}
    assert 'hreflang="es"' not in html


@pytest.fixture
def site_app(site_settings, clock):
    built = build_services(site_settings, clock=clock)
    built.store.migrate()
    app = portal.app.create_app(services=built)
    app.config["TESTING"] = True
    return app


def test_the_app_serves_every_page_in_spanish_under_es(site_app):
    client = site_app.test_client()
    client.get("/language/en?next=/pay")  # the session's language does not change the site's
    for page in PAGES:
        response = client.get(f"/es{page.path}")
        assert response.status_code == 200, page.path
        html = response.get_data(as_text=True)
        assert '<html lang="es">' in html, page.path
        assert alternates(html)["en"] == page.path
        assert 'href="/language/es?next=/pay"' in html, page.path  # the portal in Spanish
        english = client.get(page.path, headers={"Accept-Language": "es"})
        assert '<html lang="en">' in english.get_data(as_text=True), page.path
    assert client.get("/fr/faq").status_code == 404
    assert client.get("/en/faq").status_code == 404  # the default's pages are at the top


# -- no English left: the pseudo-language ----------------------------------------------------

PRACTICE_DATA = [
    "Riverside Family Medicine - Billing Office",
    "Riverside Family Medicine",
    "100 Example Street, Suite 200",
    "Springfield, ST 00000",
    "(555) 010-0123",
    "billing@riverside.example",
]


def test_every_page_in_another_language_has_no_english_left(site_settings, tmp_path):
    catalogs = pseudo_catalog(tmp_path / "i18n")
    out = tmp_path / "site"
    build(replace(site_settings, languages=("en", PSEUDO)), out, catalogs)

    pages = built_pages(out, PSEUDO)

    assert len(pages) == len(PAGES)
    for name, html in pages.items():
        assert f'<html lang="{PSEUDO}">' in html, name
        left = untranslated(html, PRACTICE_DATA)
        assert not left, f"{name}: not in the catalog: {left}"


def test_the_apps_pages_in_another_language_have_no_english_left(
    site_settings, clock, tmp_path, monkeypatch
):
    catalogs = pseudo_catalog(tmp_path / "i18n")
    monkeypatch.setattr(portal.app, "translations_dir", lambda: catalogs)
    built = build_services(replace(site_settings, languages=("en", PSEUDO)), clock=clock)
    app = portal.app.create_app(services=built)
    client = app.test_client()

    for page in PAGES:
        html = client.get(f"/{PSEUDO}{page.path}").get_data(as_text=True)
        assert f'<html lang="{PSEUDO}">' in html, page.path
        left = untranslated(html, PRACTICE_DATA)
        assert not left, f"{page.path}: not in the catalog: {left}"


def test_the_check_finds_english_on_a_built_page(site_settings, tmp_path):
    catalogs = pseudo_catalog(tmp_path / "i18n")
    out = tmp_path / "site"
    build(replace(site_settings, languages=("en", PSEUDO)), out, catalogs)
    html = (out / PSEUDO / "faq.html").read_text(encoding="utf-8")

    assert untranslated(html.replace("</main>", "<p>Call us</p></main>"), PRACTICE_DATA) == [
        "Call",
        "us",
    ]
    assert 'lang="en" hreflang="en">English</a>' in html  # the switch: English, marked so
