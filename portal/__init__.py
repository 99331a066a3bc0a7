"""Patient billing portal.

The package imports nothing itself, so services and Lambda functions load without Flask;
`create_app` (portal.app) builds the web application. In the Lambda zip it first installs
the code compiled ahead for @dataclass (portal/dataclass_code.py).
"""

from typing import TYPE_CHECKING

from portal import dataclass_code

dataclass_code.install()

if TYPE_CHECKING:
    from flask import Flask

    from portal.config import Settings
    from portal.services.context import Services


def create_app(settings: "Settings | None" = None, services: "Services | None" = None) -> "Flask":
    """Wire settings and services into a Flask app; builds services when none are given."""
    from portal.app import create_app as build

    return build(settings, services)
