"""The web layer: thin views that parse input, call one service and render."""

from flask import current_app

from portal.bootstrap import Services


def services() -> Services:
    return current_app.extensions["portal"]
