"""The public site: home, how to pay, FAQ, contact and privacy notice.

The same templates (templates/site/) serve two ways:

- the Flask app renders them at `/`, `/how-to-pay`, ... (web/site.py) with `AppLinks`:
  every link is a path on the app itself (`/faq`, `/pay`, `/static/portal.css`);
- `build_site` renders them to files for S3 + CloudFront with `BuildLinks`: links between
  site pages are relative files (`faq.html`, `index.html`), assets are `static/...`, and
  links into the portal are absolute to PORTAL_BASE_URL (`https://.../pay`).

Templates only ever call `site_url(page)`, `portal_url(path)` and `static_url(filename)`,
so neither kind of link is written twice. Nothing here needs Flask, a request or Jinja:
`build_site` is given the function that renders a page (portal/adapters/site_renderer.py,
built by bootstrap) and the practice's details (services.practice).
"""

import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from portal.config import Settings
from portal.domain.practice import PracticeDetails, public_mail_from
from portal.resources import static_dir

DEFAULT_OUT_DIR = "build/site"

# Renders a page: (its template's name, e.g. "site/faq.html", and page_context()) -> HTML.
RenderPage = Callable[[str, Mapping[str, object]], str]


@dataclass(frozen=True)
class Page:
    name: str  # the blueprint endpoint and the name templates pass to site_url()
    path: str  # where the app serves it
    filename: str  # the file in the static build
    template: str
    nav_label: str


PAGES: tuple[Page, ...] = (
    Page("home", "/", "index.html", "site/home.html", "Home"),
    Page("how_to_pay", "/how-to-pay", "how-to-pay.html", "site/how_to_pay.html", "How to pay"),
    Page("faq", "/faq", "faq.html", "site/faq.html", "Questions"),
    Page("contact", "/contact", "contact.html", "site/contact.html", "Contact"),
    Page("privacy", "/privacy", "privacy.html", "site/privacy.html", "Privacy"),
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


class AppLinks:
    """Links as the Flask app serves the site: paths under the app's script root."""

    def __init__(self, script_root: str = ""):
        self.root = script_root.rstrip("/")

    def site_url(self, name: str) -> str:
        return self.root + _page(name).path

    def portal_url(self, path: str) -> str:
        return self.root + _portal_path(path)

    def static_url(self, filename: str) -> str:
        return f"{self.root}/static/{filename}"


class BuildLinks:
    """Links in the static build: relative files, and the portal at its public address."""

    def __init__(self, base_url: str):
        self.base_url = base_url.rstrip("/")

    def site_url(self, name: str) -> str:
        return _page(name).filename

    def portal_url(self, path: str) -> str:
        return self.base_url + _portal_path(path)

    def static_url(self, filename: str) -> str:
        return f"static/{filename}"


def page_context(settings: Settings, links: AppLinks | BuildLinks, page: Page) -> dict:
    """Everything a site template uses; the same in the app and in the build."""
    return {
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
) -> BuildResult:
    """Render every site page to `out_dir` with `render` and copy static/ to
    `out_dir/static/`; `practice` (the billing office's details) says whether they are
    still the examples.

    Existing files of the same names are replaced; nothing else in `out_dir` is removed.
    """
    out = Path(out_dir)
    links = BuildLinks(settings.base_url)
    out.mkdir(parents=True, exist_ok=True)

    pages = []
    for page in PAGES:
        html = render(page.template, page_context(settings, links, page))
        target = out / page.filename
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
        base_url=links.base_url,
        example_contact_details=practice.examples,
    )
