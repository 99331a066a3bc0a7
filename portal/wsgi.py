"""The WSGI entry point (Zappa's app_function "portal.wsgi.app"): built once per cold start."""

from portal import create_app

app = create_app()
