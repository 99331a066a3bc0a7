"""Renders e-mail bodies from templates/email/<kind>.txt and <kind>.html."""

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from portal.domain.money import format_cents


class EmailRenderer:
    def __init__(self, template_dir: str | Path):
        self._env = Environment(
            loader=FileSystemLoader(str(template_dir)),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            # The templates ship with the package: not looked at on disk again for each
            # message (a reminder run renders hundreds).
            auto_reload=False,
        )
        self._env.filters["money"] = format_cents

    def render(self, kind: str, **context: object) -> tuple[str, str]:
        """The text and HTML bodies of a message of this kind."""
        text = self._env.get_template(f"email/{kind}.txt").render(**context)
        html = self._env.get_template(f"email/{kind}.html").render(**context)
        return text, html
