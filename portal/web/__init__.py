"""The web layer: thin views that parse input, call one service and render."""

from datetime import datetime, timedelta

from flask import current_app

from portal.services.context import Services

IDLE_LIMIT = timedelta(minutes=15)  # patient and staff sessions end after this long idle
# The last-seen time in the session cookie is written again once it is this old, not on
# every request (each write signs and sets the cookie again). Idle time is counted from
# the last write, so a session ends at most this much before 15 minutes, never after.
SEEN_EVERY = timedelta(minutes=1)


def seen_again(seen: datetime, now: datetime) -> bool:
    """Whether a session last seen at `seen` needs its last-seen time written at `now`."""
    return now - seen >= SEEN_EVERY


def current_services() -> Services:
    """The services of the app handling the request (built once by the app factory)."""
    return current_app.extensions["portal"]
