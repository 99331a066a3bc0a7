"""The web layer: thin views that parse input, call one service and render."""

from datetime import timedelta

from flask import current_app

from portal.services.context import Services

IDLE_LIMIT = timedelta(minutes=15)  # patient and staff sessions end after this long idle


def current_services() -> Services:
    """The services of the app handling the request (built once by the app factory)."""
    return current_app.extensions["portal"]
