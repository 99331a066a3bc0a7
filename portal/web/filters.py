"""Template filters (|money, |date, |local_time, |badge) and the fixed_url global."""

from collections.abc import Callable
from datetime import date, datetime

from flask import Flask, request, url_for
from markupsafe import Markup

from portal.domain.money import cents_to_plain, format_cents
from portal.web import current_services


def format_date(value: date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def local_time(value: datetime) -> str:
    local = value.astimezone(current_services().settings.tz)
    hour = local.hour % 12 or 12
    return f"{format_date(local)}, {hour}:{local:%M} {local:%p} {local:%Z}"


def status_badge(status: str) -> Markup:
    """A status as a badge: the markup of _macros.html's status_badge, without the cost of a
    macro call on every row of the patient's pages."""
    return Markup('<span class="badge badge-{}">{}</span>').format(
        status.replace(" ", "-"), status.capitalize()
    )


FIXED_URLS_KEPT = 64


def fixed_url_for(app: Flask) -> Callable[..., str]:
    """fixed_url(endpoint, filename=None): url_for for the URLs every page links to (the
    static files, the patient's fixed pages), built once per script root: they differ only
    by it, and building each again cost the pages more than their balances."""
    built: dict[tuple[str, str, str | None], str] = {}

    def fixed_url(endpoint: str, filename: str | None = None) -> str:
        key = (request.script_root, endpoint, filename)
        url = built.get(key)
        if url is None:
            url = url_for(endpoint, filename=filename) if filename else url_for(endpoint)
            if len(built) < FIXED_URLS_KEPT:
                built[key] = url
        return url

    return fixed_url


def init_app(app: Flask) -> None:
    app.add_template_global(fixed_url_for(app), "fixed_url")
    app.add_template_filter(status_badge, "badge")
    app.add_template_filter(format_cents, "money")
    app.add_template_filter(cents_to_plain, "plain_amount")
    app.add_template_filter(format_date, "date")
    app.add_template_filter(local_time, "local_time")
