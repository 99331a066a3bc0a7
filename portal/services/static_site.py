"""The public site: home, how to pay, FAQ, contact and privacy notice.

The same templates (templates/site/) serve two ways:

- the Flask app renders them at `/`, `/how-to-pay`, ... (web/site.py) with `AppLinks`:
  every link is a path on the app itself (`/faq`, `/pay`, `/static/portal.css`);
- `build_site` renders them to files for S3 + CloudFront with `BuildLinks`: links between
  site pages are relative files (`faq.html`, `index.html`), assets are `static/...`, and
  links into the portal are absolute to PORTAL_BASE_URL (`https://.../pay`).

Every page is in every language of PORTAL_LANGUAGES: the first (the default) at the top
(`/faq`, `faq.html`), each other under its code (`/es/faq`, `es/faq.html`); each page names
its other languages' versions (hreflang alternates) and links to them (the language switch).
The words are the `messages` catalog's (`make messages`), as on the patient pages.

Templates only ever call `site_url(page)`, `alternate_url(page, language)`,
`portal_url(path)` and `static_url(filename)`, so neither kind of link is written twice.
Nothing here needs Flask, a request or Jinja: `build_site` is given the function that
renders a page (portal/adapters/site_renderer.py, built by bootstrap) and the practice's
details (services.practice).
"""

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from urllib.parse import quote, urlsplit

from babel import Locale, UnknownLocaleError

from portal.config import Settings
from portal.domain.catalog import N_
from portal.domain.practice import PracticeDetails, public_mail_from
from portal.resources import static_dir

DEFAULT_OUT_DIR = "build/site"

# Renders a page: (its template's name, e.g. "site/faq.html", page_context() and the page's
# language) -> HTML.
RenderPage = Callable[[str, Mapping[str, object], str], str]


@dataclass(frozen=True)
class Page:
    name: str  # the blueprint endpoint and the name templates pass to site_url()
    path: str  # where the app serves it
    filename: str  # the file in the static build
    template: str
    nav_label: str


PAGES: tuple[Page, ...] = (
    Page("home", "/", "index.html", "site/home.html", N_("Home")),
    Page("how_to_pay", "/how-to-pay", "how-to-pay.html", "site/how_to_pay.html", N_("How to pay")),
    Page("faq", "/faq", "faq.html", "site/faq.html", N_("Questions")),
    Page("contact", "/contact", "contact.html", "site/contact.html", N_("Contact")),
    Page("privacy", "/privacy", "privacy.html", "site/privacy.html", N_("Privacy")),
)
# The practice's details the pages show in words (templates/site/_practice.html, the
# practice's to set), so the catalog has them: a practice that changes them adds the new
# words' translation to translations/<lang>/LC_MESSAGES/messages.po.
PRACTICE_WORDS = (
    N_("Monday to Friday, 8:30 a.m. to 5:00 p.m."),
    N_("at least seven years after your last payment or visit, or longer where the law requires"),
    N_("January 1, 2026"),
)
PAGES_BY_NAME = {page.name: page for page in PAGES}


def _page(name: str) -> Page:
    try:
        return PAGES_BY_NAME[name]
    except KeyError:
        known = ", ".join(PAGES_BY_NAME)
        raise ValueError(f"no site page {name!r} (known: {known})") from None


def _portal_path(path: str) -> str:
    if not path.startswith("/") or path.startswith("//"):
        raise ValueError(f"portal_url() takes a path starting with one '/', not {path!r}")
    return path


@cache
def language_name(code: str) -> str:
    """A language's name in itself, as the switch shows it: "English", "Español" (read once:
    the switch is on every page)."""
    try:
        name = Locale.parse(code).get_display_name(code)
    except (UnknownLocaleError, ValueError):
        return code
    return (name or code)[:1].upper() + (name or code)[1:]


def language_folder(language: str, languages: tuple[str, ...]) -> str:
    """Where a language's pages are: "" for the default (the first), else its code."""
    return "" if not languages or language == languages[0] else language


def in_language(path: str, language: str, languages: tuple[str, ...]) -> str:
    """A portal path as a page in `language` links to it: through the language switch
    (/language/es?next=/pay) for any but the default, so the portal opens in it too."""
    if not language_folder(language, languages):
        return path
    return f"/language/{language}?next={quote(path, safe='/')}"


class AppLinks:
    """Links as the Flask app serves the site: paths under the app's script root, a
    language's pages under /<code>/ (the default's at the top)."""

    def __init__(
        self, script_root: str = "", language: str = "en", languages: tuple[str, ...] = ("en",)
    ):
        self.root = script_root.rstrip("/")
        self.language, self.languages = language, languages

    def site_url(self, name: str) -> str:
        return self.alternate_url(name, self.language)

    def alternate_url(self, name: str, language: str) -> str:
        folder = language_folder(language, self.languages)
        return self.root + (f"/{folder}" if folder else "") + _page(name).path

    def portal_url(self, path: str) -> str:
        return self.root + in_language(_portal_path(path), self.language, self.languages)

    def static_url(self, filename: str) -> str:
        return f"{self.root}/static/{filename}"


class BuildLinks:
    """Links in the static build: relative files (a language's pages in its own folder), and
    the portal at its public address. With `site_url` (the site's own public address) the
    alternates are absolute, as search engines want them."""

    def __init__(
        self,
        base_url: str,
        language: str = "en",
        languages: tuple[str, ...] = ("en",),
        site_url: str = "",
    ):
        self.base_url = base_url.rstrip("/")
        self.language, self.languages = language, languages
        self.site_root = site_url.rstrip("/")
        self.up = "../" if language_folder(language, languages) else ""

    def site_url(self, name: str) -> str:
        return _page(name).filename

    def alternate_url(self, name: str, language: str) -> str:
        folder = language_folder(language, self.languages)
        path = (f"{folder}/" if folder else "") + _page(name).filename
        return f"{self.site_root}/{path}" if self.site_root else self.up + path

    def portal_url(self, path: str) -> str:
        return self.base_url + in_language(_portal_path(path), self.language, self.languages)

    def static_url(self, filename: str) -> str:
        return f"{self.up}static/{filename}"


def page_context(settings: Settings, links: AppLinks | BuildLinks, page: Page) -> dict:
    """Everything a site template uses; the same in the app and in the build."""
    return {
        "language": links.language,
        "languages": links.languages,
        "alternate_url": links.alternate_url,
        "language_names": [(code, language_name(code)) for code in links.languages],
        "practice_name": settings.practice_name,
        # The practice's sending address, offered as the default contact e-mail when it is
        # a real one (templates/site/_practice.html decides what is shown).
        "mail_from": public_mail_from(settings.mail_from),
        "page": page,
        "pages": PAGES,
        "site_url": links.site_url,
        "portal_url": links.portal_url,
        "static_url": links.static_url,
    }


@dataclass(frozen=True)
class BuildResult:
    out_dir: Path
    pages: tuple[Path, ...]
    assets: tuple[Path, ...]
    base_url: str
    example_contact_details: bool  # still the placeholders in templates/site/_practice.html

    @property
    def local_base_url(self) -> bool:
        host = urlsplit(self.base_url).hostname or ""
        return host in ("localhost", "127.0.0.1", "::1") or host.endswith(".localhost")


def build_site(
    settings: Settings,
    out_dir: str | Path = DEFAULT_OUT_DIR,
    *,
    render: RenderPage,
    practice: PracticeDetails,
    static: Path | None = None,
    site_url: str = "",
) -> BuildResult:
    """Render every site page in every language to `out_dir` with `render` (the default
    language's at the top, each other's in a folder named by its code) and copy static/ to
    `out_dir/static/`; `practice` (the billing office's details) says whether they are
    still the examples; `site_url`, the site's public address, makes the alternates absolute.

    Existing files of the same names are replaced; nothing else in `out_dir` is removed.
    """
    out = Path(out_dir)
    languages = settings.languages
    out.mkdir(parents=True, exist_ok=True)

    pages = []
    for language in languages:
        links = BuildLinks(settings.base_url, language, languages, site_url)
        folder = out / language_folder(language, languages)
        folder.mkdir(exist_ok=True)
        for page in PAGES:
            html = render(page.template, page_context(settings, links, page), language)
            target = folder / page.filename
            target.write_text(html, encoding="utf-8")
            pages.append(target)

    assets = []
    static = static or static_dir()
    for source in sorted(static.rglob("*")):
        relative = source.relative_to(static)
        if source.is_dir() or any(part.startswith(".") for part in relative.parts):
            continue
        target = out / "static" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        assets.append(target)

    return BuildResult(
        out_dir=out,
        pages=tuple(pages),
        assets=tuple(assets),
        base_url=settings.base_url.rstrip("/"),
        example_contact_details=practice.examples,
    )
