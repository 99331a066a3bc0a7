"""Template filters: |money, |date, |local_time."""

from datetime import date, datetime

from flask import Flask

from portal.domain.money import cents_to_plain, format_cents
from portal.web import current_services


def format_date(value: date) -> str:
    return f"{value:%b} {value.day}, {value.year}"


def local_time(value: datetime) -> str:
    local = value.astimezone(current_services().settings.tz)
    hour = local.hour % 12 or 12
    return f"{format_date(local)}, {hour}:{local:%M} {local:%p} {local:%Z}"


def init_app(app: Flask) -> None:
    app.add_template_filter(format_cents, "money")
    app.add_template_filter(cents_to_plain, "plain_amount")
    app.add_template_filter(format_date, "date")
    app.add_template_filter(local_time, "local_time")
