"""The public site served by the app: home, how to pay, FAQ, contact, privacy notice.

The same templates are built into static files by `portal build-static`
(portal/services/static_site.py); here every link is a path on this app.
"""

from flask import Blueprint, render_template, request

from portal.services.static_site import PAGES, AppLinks, Page, page_context
from portal.web import current_services

bp = Blueprint("site", __name__)


def _view(page: Page):
    def view():
        links = AppLinks(request.script_root)
        return render_template(
            page.template, **page_context(current_services().settings, links, page)
        )

    view.__name__ = page.name
    view.__doc__ = f"The public {page.nav_label.lower()} page."
    return view


for _page in PAGES:
    bp.add_url_rule(_page.path, _page.name, _view(_page), methods=["GET"])
