"""The staff session: who is signed in, role checks, and the helpers every console page uses."""

from datetime import date, datetime, timedelta
from functools import wraps

from flask import (
    abort,
    flash,
    g,
    redirect,
    request,
    session,
    url_for,
)

from portal.domain.aging import practice_date
from portal.domain.errors import InvalidInput
from portal.domain.staff import Role
from portal.web import IDLE_LIMIT, SEEN_EVERY, current_services


def address() -> str:
    return request.remote_addr or "unknown"


def now() -> datetime:
    return current_services().clock.now()


def time_since(key: str) -> timedelta:
    return now() - datetime.fromisoformat(session.get(key, "1970-01-01T00:00:00+00:00"))


def load_staff_user() -> None:
    """The signed-in staff user, unless idle too long or signed out everywhere since."""
    g.staff = None
    username = session.get("staff_user")
    if not username:
        return
    user = current_services().store.get_staff_user(username)
    if (
        user is None
        or user.session_epoch != session.get("staff_epoch")
        or time_since("staff_seen_at") > IDLE_LIMIT
    ):
        session.clear()
        flash("Your staff session ended. Please sign in again.", "info")
        return
    if time_since("staff_seen_at") >= SEEN_EVERY:
        session["staff_seen_at"] = now().isoformat()
    g.staff = user


def staff_required(role: Role = Role.ASSOCIATE):
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if "account_number" in session:
                abort(403)  # a patient's session never opens a staff page
            if g.staff is None:
                return redirect(url_for("staff.login"))
            if not g.staff.role.allows(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def today() -> date:
    return practice_date(now(), current_services().settings.tz)


# Dates a billing report can be about; outside them the calendar arithmetic would overflow.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def date_arg(name: str, default: date, errors: list[str]) -> date:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors.append(f"{name}: use a date like 2026-11-28.")
        return default
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        errors.append(f"{name}: use a date between {FIRST_YEAR} and {LAST_YEAR}.")
        return default
    return value


def period_args(days: int, errors: list[str]) -> tuple[date, date]:
    """A report's period from its `from` and `to` arguments: by default the `days` days
    ending today; a start after the end is named in `errors` and taken as the end."""
    this_day = today()
    since = date_arg("from", this_day - timedelta(days=days - 1), errors)
    until = date_arg("to", this_day, errors)
    if since > until:
        errors.append("The start date is after the end date.")
        since = until
    return since, until


def choice_arg(name: str, allowed: set[str], errors: list[str]) -> str | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        errors.append(f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}.")
        return None
    return value


def field_error(form, exc: InvalidInput) -> None:
    field = getattr(form, exc.field, None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, exc.message]
    else:
        flash(exc.message, "error")
