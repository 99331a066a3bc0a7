"""Renders the public site's pages (templates/site/) for the static build, with Jinja2.

portal/services/static_site.py builds the site with the `render` of one of these (given to
it by `portal build-static`); the app serves the same templates through Flask.
"""

from collections.abc import Mapping
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape


class SiteRenderer:
    """A plain Jinja environment for the build: autoescaped, and strict about typos."""

    def __init__(self, template_dir: str | Path):
        self._env = Environment(
            loader=FileSystemLoader(str(template_dir)),
            autoescape=select_autoescape(enabled_extensions=("html",)),
            undefined=StrictUndefined,
        )

    def render(self, template: str, context: Mapping[str, object]) -> str:
        """The page `template` (a name under templates/, e.g. "site/faq.html") as HTML."""
        return self._env.get_template(template).render(context)
