"""The public site served by the app: home, how to pay, FAQ, contact, privacy notice.

The same templates are built into static files by `portal build-static`
(portal/services/static_site.py); here every link is a path on this app.

Every page is in each language of PORTAL_LANGUAGES: the default's at its path (`/faq`),
each other's under the language's code (`/es/faq`). The path alone sets the language (the
pages are the same for everyone, and cached): portal.web.language reads it.
"""

from flask import Blueprint, abort, render_template, request

from portal.services.static_site import PAGES, AppLinks, Page, page_context
from portal.web import current_services

bp = Blueprint("site", __name__)


def site_language(code: str | None) -> str:
    """The language of a site page at /<code>/... (the default's when there is no code);
    404 for a code that is not another of the site's languages."""
    languages = current_services().settings.languages
    if code is None:
        return languages[0]
    if code not in languages[1:]:
        abort(404)
    return code


def _view(page: Page):
    def view(lang: str | None = None):
        settings = current_services().settings
        links = AppLinks(request.script_root, site_language(lang), settings.languages)
        return render_template(page.template, **page_context(settings, links, page))

    view.__name__ = page.name
    view.__doc__ = f"The public {page.nav_label.lower()} page."
    return view


# A language code (es, haw): with strict_slashes off, any other first segment without its
# slash (/no-such-page) stays the app's 404 rather than a redirect to /no-such-page/.
LANGUAGE = "<string(minlength=2,maxlength=3):lang>"

for _page in PAGES:
    _page_view = _view(_page)
    bp.add_url_rule(_page.path, _page.name, _page_view, methods=["GET"])
    bp.add_url_rule(
        f"/{LANGUAGE}{_page.path}", _page.name, _page_view, methods=["GET"], strict_slashes=False
    )
