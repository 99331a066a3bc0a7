"""The public site: the same pages built into static files (S3) and served by the app."""

import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner

from portal import create_app
from portal.bootstrap import build_services, practice_details, site_renderer
from portal.cli import cli
from portal.resources import static_dir
from portal.services.static_site import PAGES, build_site

BASE_URL = "https://portal.example.org"
APP_PATHS = ("/", "/how-to-pay", "/faq", "/contact", "/privacy")
BUILT_FILES = ("index.html", "how-to-pay.html", "faq.html", "contact.html", "privacy.html")
# Every page in each language: the default's at the top, Spanish in es/.
EVERY_FILE = (*BUILT_FILES, *(f"es/{name}" for name in BUILT_FILES))
STATIC_FILES = sorted(
    p.relative_to(static_dir()).as_posix() for p in static_dir().rglob("*") if p.is_file()
)


class Links(HTMLParser):
    """Every href and src on a page, and every id (for #fragment targets)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)
            if name == "id" and value:
                self.ids.add(value)


def parse(html: str) -> Links:
    parser = Links()
    parser.feed(html)
    parser.close()
    return parser


def is_internal(link: str) -> bool:
    """Not another site, not mailto:/tel:, not a fragment on the same page."""
    return not (
        re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", link)
        or link.startswith("//")
        or link.startswith("#")
    )


def visible(html: str) -> str:
    """The page's text without tags, whitespace collapsed."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).strip()


@pytest.fixture
def site_settings(settings):
    return replace(
        settings,
        base_url=BASE_URL,
        practice_name="Riverside Family Medicine",
        mail_from="billing@riverside.example",
    )


@pytest.fixture
def site_app(site_settings, clock):
    built = build_services(site_settings, clock=clock)
    built.store.migrate()
    app = create_app(services=built)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def built(site_settings, tmp_path):
    out = tmp_path / "site"
    result = build(site_settings, out)
    return out, result


def build(settings, out: Path):
    """build_site as `portal build-static` calls it (the Jinja renderer, the practice's details)."""
    return build_site(
        settings, out, render=site_renderer().render, practice=practice_details(settings)
    )


def built_pages(out: Path, language: str = "") -> dict[str, str]:
    """The built pages by their path in the build (`faq.html`, `es/faq.html`): every
    language's, or one language folder's ("" for the default's)."""
    pages = {
        p.relative_to(out).as_posix(): p.read_text(encoding="utf-8")
        for p in sorted(out.rglob("*.html"))
        if p.relative_to(out).parts[0] != "static"
    }
    if language is None:
        return pages
    return {name: html for name, html in pages.items() if Path(name).parent == Path(language)}


def every_built_page(out: Path) -> dict[str, str]:
    return built_pages(out, None)  # type: ignore[arg-type]


# -- the static build -----------------------------------------------------------------------


def test_build_writes_every_page_and_copies_static(built):
    out, result = built

    assert sorted(p.relative_to(out).as_posix() for p in result.pages) == sorted(EVERY_FILE)
    for name in EVERY_FILE:
        assert (out / name).is_file(), name
    assert sorted(every_built_page(out)) == sorted(EVERY_FILE)  # nothing else
    assert "portal.css" in STATIC_FILES
    for name in STATIC_FILES:
        copied = out / "static" / name
        assert copied.read_bytes() == (static_dir() / name).read_bytes(), name
    assert len(result.assets) == len(STATIC_FILES)
    assert result.base_url == BASE_URL


def test_every_internal_link_in_the_build_resolves_to_a_file(built):
    out, _ = built
    checked = 0
    for name, html in every_built_page(out).items():
        page = parse(html)
        for link in page.links:
            if not is_internal(link):
                continue
            assert not link.startswith("/"), f"{name}: {link} only works at the site's root"
            parts = urlsplit(link)
            target = (out / name).parent.joinpath(parts.path).resolve()
            assert target.is_relative_to(out.resolve()), f"{name}: {link} leaves the site"
            assert target.is_file(), f"{name}: {link} is not a file in the build"
            if parts.fragment:
                target_ids = parse(target.read_text(encoding="utf-8")).ids
                assert parts.fragment in target_ids, f"{name}: {link} has no such anchor"
            checked += 1
        for link in page.links:
            if link.startswith("#") and link != "#":
                assert link[1:] in page.ids, f"{name}: {link} has no such anchor"
    assert checked >= 5 * len(EVERY_FILE)


@pytest.mark.parametrize(("language", "up"), [("", ""), ("es", "../")])
def test_every_page_links_between_the_site_pages_and_to_the_assets(built, language, up):
    out, _ = built
    for name, html in built_pages(out, language).items():
        links = set(parse(html).links)
        assert {f"{up}static/portal.css", f"{up}static/favicon.svg"} <= links, name
        assert set(BUILT_FILES) - {Path(name).name} <= links | {"index.html"}, name
        assert "index.html" in links, name


@pytest.mark.parametrize(("language", "pay"), [("", "/pay"), ("es", "/language/es?next=/pay")])
def test_links_to_the_portal_are_absolute_to_the_base_url(built, language, pay):
    """A Spanish page's links open the portal in Spanish (through its language switch)."""
    out, _ = built
    for name, html in built_pages(out, language).items():
        links = parse(html).links
        absolute = [link for link in links if re.match(r"^(https?:)?//", link)]
        assert absolute, name
        for link in absolute:
            assert link.startswith(BASE_URL + "/"), f"{name}: {link}"
        assert f"{BASE_URL}{pay}" in links, f"{name} has no Pay my bill link"
        assert "localhost" not in html and "127.0.0.1" not in html, name
        assert "csrf" not in html.lower(), name
        assert "/staff" not in html, name


def test_a_base_url_with_a_path_keeps_it(site_settings, tmp_path):
    settings = replace(site_settings, base_url="https://example.org/billing/")
    build(settings, tmp_path / "site")

    html = (tmp_path / "site" / "index.html").read_text(encoding="utf-8")

    assert 'href="https://example.org/billing/pay"' in html
    assert "//pay" not in html


def test_building_again_over_the_same_folder_replaces_the_pages(site_settings, built):
    out, _ = built
    (out / "faq.html").write_text("stale", encoding="utf-8")
    (out / "static" / "portal.css").write_text("stale", encoding="utf-8")

    build(replace(site_settings, practice_name="Hillside Clinic"), out)

    assert "Hillside Clinic" in (out / "faq.html").read_text(encoding="utf-8")
    assert (out / "static" / "portal.css").read_bytes() == (
        static_dir() / "portal.css"
    ).read_bytes()


# -- what the pages say ----------------------------------------------------------------------


def test_pages_carry_the_practice_name_and_useful_content(built):
    out, _ = built
    pages = {name: visible(html) for name, html in built_pages(out).items()}
    for name, text in pages.items():
        assert "Riverside Family Medicine" in text, name
        assert "Pay my bill" in text, name

    how = pages["how-to-pay.html"]
    for words in (
        "account number",
        "last name",
        "date of birth",
        "By phone",
        "By mail",
        "payable to Riverside Family Medicine",
        "What we never ask for",
        "Social Security number",
        "gift card",
    ):
        assert words in how, words

    faq = pages["faq.html"]
    for words in (
        "after my insurance paid",
        "Deductible",
        "Explanation of Benefits",
        "CPT",
        "ICD-10",
        "payment plan",
        "receipt",
        "safe to pay online",
    ):
        assert words in faq, words

    contact = built_pages(out)["contact.html"]
    assert 'href="mailto:billing@riverside.example"' in contact  # PORTAL_MAIL_FROM
    assert re.search(r'href="tel:\+\d{11}"', contact)
    assert "never your card number" in visible(contact)

    privacy = pages["privacy.html"]
    for words in (
        "What we collect",
        "payment provider",
        "no diagnoses, procedure codes",
        "one cookie",
        "15 minutes",
        "How long we keep it",
        "Notice of Privacy Practices",
    ):
        assert words in privacy, words


def test_example_contact_details_are_marked_as_such(built):
    out, result = built
    assert result.example_contact_details
    for name, html in built_pages(out).items():
        assert "Example details." in html, name
    for name, html in built_pages(out, "es").items():
        assert "Datos de ejemplo." in html, name


# -- the same pages in the app ---------------------------------------------------------------


def test_the_app_serves_every_site_page(site_app):
    client = site_app.test_client()
    for path in APP_PATHS:
        response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        html = response.get_data(as_text=True)
        assert "Riverside Family Medicine" in html
        assert 'href="/pay"' in html, path  # the portal, relative to the app
        assert BASE_URL not in html, path
        assert "csrf" not in html.lower(), path
        assert "Set-Cookie" not in response.headers, path


def test_every_internal_link_on_the_app_pages_answers(site_app):
    client = site_app.test_client()
    checked = set()
    for path in APP_PATHS:
        page = parse(client.get(path).get_data(as_text=True))
        for link in page.links:
            if not is_internal(link):
                continue
            assert link.startswith("/"), f"{path}: {link}"
            target = urlsplit(link).path
            if target in checked:
                continue
            response = client.get(target)
            assert response.status_code != 404, f"{path}: {link} -> 404"
            assert response.status_code < 400, f"{path}: {link} -> {response.status_code}"
            checked.add(target)
    assert set(APP_PATHS) | {"/pay", "/static/portal.css"} <= checked


def test_home_is_the_site_page_with_a_pay_button_and_quick_pay_still_works(client):
    home = client.get("/")

    assert home.status_code == 200  # it used to redirect to /pay
    html = home.get_data(as_text=True)
    assert re.search(r'<a class="button primary cta" href="/pay">Pay my bill</a>', html)
    quick_pay = client.get("/pay")
    assert quick_pay.status_code == 200
    assert 'name="account_number"' in quick_pay.get_data(as_text=True)


def test_the_app_and_the_build_render_the_same_text(site_app, built):
    out, _ = built
    client = site_app.test_client()
    for page in PAGES:
        for path, built_file in (
            (page.path, page.filename),
            (f"/es{page.path}", f"es/{page.filename}"),
        ):
            served = visible(client.get(path).get_data(as_text=True))
            assert served == visible((out / built_file).read_text(encoding="utf-8")), path


def test_the_site_follows_the_apps_script_root(site_app):
    """Behind an API Gateway stage (/prod), every link keeps the prefix."""
    client = site_app.test_client()
    html = client.get("/faq", base_url="https://abc.example/prod/").get_data(as_text=True)
    internal = [link for link in parse(html).links if is_internal(link)]
    assert internal
    for link in internal:
        assert link.startswith("/prod/"), link


# -- the command -----------------------------------------------------------------------------


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return {
        "PORTAL_SQLITE_PATH": str(tmp_path / "cli.sqlite3"),
        "PORTAL_SECRET_KEY": "cli-test-secret-key-0123456789",
        "PORTAL_BASE_URL": BASE_URL + "/",
        "PORTAL_PRACTICE_NAME": "Lakeview Pediatrics",
    }


def test_build_static_command_writes_the_site(cli_env, tmp_path):
    out = tmp_path / "public"
    result = CliRunner().invoke(
        cli, ["build-static", "--out", str(out)], env=cli_env, catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    assert f"Wrote 10 pages and {len(STATIC_FILES)} assets to {out}/" in result.stdout
    assert f"go to {BASE_URL}\n" in result.stdout
    assert "Warning" not in result.output
    assert "templates/site/_practice.html" in result.stderr  # the example details
    for name in BUILT_FILES:
        assert "Lakeview Pediatrics" in (out / name).read_text(encoding="utf-8")
    assert f'href="{BASE_URL}/pay"' in (out / "index.html").read_text(encoding="utf-8")


def test_build_static_defaults_to_build_site(cli_env, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["build-static"], env=cli_env, catch_exceptions=False)

    assert result.exit_code == 0, result.output
    assert (tmp_path / "build" / "site" / "index.html").is_file()
    assert (tmp_path / "build" / "site" / "static" / "portal.css").is_file()


def test_build_static_warns_about_a_local_base_url(cli_env, tmp_path):
    env = {**cli_env, "PORTAL_BASE_URL": "http://127.0.0.1:5000"}
    result = CliRunner().invoke(
        cli, ["build-static", "--out", str(tmp_path / "s")], env=env, catch_exceptions=False
    )

    assert result.exit_code == 0, result.output
    assert "Warning: PORTAL_BASE_URL is a local address" in result.stderr


def test_build_static_is_also_a_flask_command(site_app, cli_env, tmp_path):
    """`flask --app portal.wsgi portal build-static`, like the other commands."""
    out = tmp_path / "flask-site"
    runner = site_app.test_cli_runner()
    result = runner.invoke(args=["portal", "build-static", "--out", str(out)], env=cli_env)

    assert result.exit_code == 0, result.output
    assert f"go to {BASE_URL}" in result.stdout
    assert "Lakeview Pediatrics" in (out / "index.html").read_text(encoding="utf-8")
