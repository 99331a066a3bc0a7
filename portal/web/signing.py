"""The session cookie's and the CSRF token's signing, done once instead of on every request:
Flask builds the cookie's serializer again for each request, and Flask-WTF signs the
session's CSRF token again for each page (a serializer, JSON and an HMAC each time)."""

from collections.abc import Callable
from typing import Any

from flask import Flask, current_app, g, session
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import generate_csrf
from itsdangerous import URLSafeTimedSerializer
from markupsafe import Markup

CSRF_FIELD = "csrf_token"  # Flask-WTF's default field and session key (WTF_CSRF_FIELD_NAME)
TOKENS_KEPT = 4096


class SessionCookies(SecureCookieSessionInterface):
    """Flask's signed session cookie, its serializer built once per set of secret keys."""

    def __init__(self) -> None:
        self.serializers: dict[tuple, URLSafeTimedSerializer | None] = {}

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, *(app.config["SECRET_KEY_FALLBACKS"] or ()))
        if keys not in self.serializers:
            self.serializers[keys] = super().get_signing_serializer(app)
        return self.serializers[keys]


def signed_csrf_tokens() -> Callable[[], str]:
    """The pages' csrf_token(): Flask-WTF's generate_csrf, whose signed token is kept per
    session token and reused on the session's later pages. Its tokens carry no time limit
    (WTF_CSRF_TIME_LIMIT None: Flask-WTF checks their signature, not their age), so one
    signed earlier is as good as one signed now; with a time limit every page signs anew."""
    signed: dict[tuple[Any, str], str] = {}

    def csrf_token() -> str:
        token = g.get(CSRF_FIELD)
        if token:  # this request's, as generate_csrf keeps it
            return token
        config = current_app.config
        if (
            config.get("WTF_CSRF_FIELD_NAME", CSRF_FIELD) != CSRF_FIELD
            or config.get("WTF_CSRF_TIME_LIMIT", 3600) is not None
        ):
            return generate_csrf()
        secret = config.get("WTF_CSRF_SECRET_KEY") or current_app.secret_key
        raw = session.get(CSRF_FIELD)
        token = signed.get((secret, raw)) if isinstance(raw, str) else None
        if token is None:
            token = generate_csrf()
            raw = session.get(CSRF_FIELD)
            if isinstance(raw, str):
                if len(signed) >= TOKENS_KEPT:
                    signed.clear()
                signed[(secret, raw)] = token
        setattr(g, CSRF_FIELD, token)
        return token

    return csrf_token


CSRF_INPUT = Markup('<input type="hidden" name="csrf_token" value="%s">')


def init_app(app: Flask) -> None:
    """After CSRFProtect.init_app, whose csrf_token global this replaces. csrf_input() is the
    form field with the token (_macros.html exports it as csrf_field): a Python call, not a
    macro's, on every form of every page."""
    app.session_interface = SessionCookies()
    csrf_token = signed_csrf_tokens()
    app.jinja_env.globals["csrf_token"] = csrf_token
    app.jinja_env.globals["csrf_input"] = lambda: CSRF_INPUT % csrf_token()
