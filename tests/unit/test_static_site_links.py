"""The public site's links: app paths when served, relative files and the portal when built."""

import pytest

from portal.services.static_site import PAGES, AppLinks, BuildLinks


def test_the_pages_have_distinct_names_paths_and_files():
    assert [p.name for p in PAGES] == ["home", "how_to_pay", "faq", "contact", "privacy"]
    assert len({p.path for p in PAGES}) == len({p.filename for p in PAGES}) == len(PAGES)
    assert PAGES[0].path == "/" and PAGES[0].filename == "index.html"
    for page in PAGES:
        assert page.filename.endswith(".html") and "/" not in page.filename


def test_app_links_are_paths_on_the_app():
    links = AppLinks()
    assert links.site_url("home") == "/"
    assert links.site_url("how_to_pay") == "/how-to-pay"
    assert links.portal_url("/pay") == "/pay"
    assert links.static_url("portal.css") == "/static/portal.css"


def test_app_links_keep_the_script_root():
    links = AppLinks("/prod/")
    assert links.site_url("home") == "/prod/"
    assert links.site_url("faq") == "/prod/faq"
    assert links.portal_url("/pay") == "/prod/pay"
    assert links.static_url("favicon.svg") == "/prod/static/favicon.svg"


def test_build_links_are_relative_files_and_the_portal_at_its_address():
    links = BuildLinks("https://portal.example.org/")
    assert links.site_url("home") == "index.html"
    assert links.site_url("privacy") == "privacy.html"
    assert links.static_url("portal.css") == "static/portal.css"
    assert links.portal_url("/pay") == "https://portal.example.org/pay"
    assert BuildLinks("https://x.example/stage").portal_url("/pay") == "https://x.example/stage/pay"


@pytest.mark.parametrize("links", [AppLinks(), BuildLinks("https://portal.example.org")])
def test_unknown_pages_and_odd_portal_paths_are_refused(links):
    with pytest.raises(ValueError, match="no site page 'pricing'"):
        links.site_url("pricing")
    for path in ("pay", "//evil.example/pay", "https://evil.example/pay"):
        with pytest.raises(ValueError, match="portal_url"):
            links.portal_url(path)
