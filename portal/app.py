"""The Flask application factory: wiring only."""

from collections.abc import Callable
from datetime import timedelta
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote_to_bytes

from flask import Flask, Response, render_template, request, session
from flask_babel import Babel
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.routing import Rule

from portal.bootstrap import build_services
from portal.config import Settings
from portal.domain.payments import MANUAL_METHODS
from portal.resources import static_dir, template_dir, translations_dir
from portal.services.context import Services
from portal.web.template_language import LanguageEnvironment
from portal.wording.compiled_templates import TEMPLATE_CODE

csrf = CSRFProtect()
babel = Babel()


class PortalRule(Rule):
    """A URL rule whose url_for builders are compiled on their first use. Werkzeug compiles
    two per rule (each from an AST) as the rule is added: about 40 ms of every cold start
    for the portal's rules, most of which a given Lambda container never links to."""

    def _compile_builder(self, append_unknown: bool = True) -> Callable[..., tuple[str, str]]:
        attribute = "_build_unknown" if append_unknown else "_build"
        compile_builder = super()._compile_builder

        def build_on_first_use(rule: Rule, **values: Any) -> tuple[str, str]:
            built = compile_builder(append_unknown).__get__(rule, None)
            setattr(rule, attribute, built)
            return built(**values)

        return build_on_first_use


class PortalFlask(Flask):
    url_rule_class = PortalRule
    jinja_environment = LanguageEnvironment  # templates compiled once per page language
    # Every template kept once compiled, in a plain dict: Jinja's default LRU cache takes a
    # lock and reorders its queue on each of a page's several look-ups, and the templates
    # are few (they ship with the package). Their code is compiled once per process.
    jinja_options = MappingProxyType(  # type: ignore[assignment]
        {"cache_size": -1, "bytecode_cache": TEMPLATE_CODE}
    )


# No inline script or style anywhere (not even style="" attributes); no data: images:
# the staff QR code is inline SVG markup, not an image.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
# Chrome shows a PDF through a generated page with inline styles and an <embed>, which
# object-src/style-src would block (crbug.com/271452): a PDF only forbids being framed.
PDF_CONTENT_SECURITY_POLICY = "frame-ancestors 'none'"
HSTS = "max-age=63072000; includeSubDomains"
SESSION_COOKIE = "portal_session"
# The browser takes a __Host- cookie only with Secure, Path=/ and no Domain, so no other
# host or path can set or shadow the session cookie.
SECURE_SESSION_COOKIE = "__Host-portal_session"
PUBLIC_PAGE_CACHE = "public, max-age=300"


def is_public(endpoint: str | None) -> bool:
    """Pages that are the same for everyone: the static files, the public site, the API's
    own description. Everything else may show account data."""
    return endpoint == "static" or endpoint == "api.openapi" or (endpoint or "").startswith("site.")


def refuse_forms_that_are_not_utf8():
    """A form field that is not UTF-8 is refused whole (400) before any view reads it:
    werkzeug would otherwise keep an undecodable %FF as the literal text "%FF"."""
    if request.mimetype != "application/x-www-form-urlencoded" or request.blueprint == "api":
        return None  # the API answers in JSON (415 for a form)
    body = request.get_data(cache=True)  # the form is parsed from this cached copy later
    try:
        for field in body.split(b"&"):
            unquote_to_bytes(field.replace(b"+", b" ")).decode("utf-8")
    except UnicodeDecodeError:
        message = _("What was sent is not UTF-8 text. Type it again and send the form again.")
        return render_template("error.html", title=_("Not readable"), message=message), 400
    return None


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Wire settings and services into a Flask app; builds services when none are given."""
    if services is None:
        services = build_services(settings or Settings.from_env())
    settings = services.settings

    app = PortalFlask(
        __name__,
        template_folder=str(template_dir()),
        static_folder=str(static_dir()),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=15),
        # The cookie is set when the session changes (its last-seen time: once a minute,
        # portal/web/__init__.py), not on every request.
        SESSION_REFRESH_EACH_REQUEST=False,
        SESSION_COOKIE_NAME=SECURE_SESSION_COOKIE if settings.secure_cookies else SESSION_COOKIE,
        SESSION_COOKIE_PATH="/",
        SESSION_COOKIE_DOMAIN=None,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (15-minute idle) session
        BABEL_DEFAULT_LOCALE=settings.languages[0],
        BABEL_TRANSLATION_DIRECTORIES=str(translations_dir()),
        # WTForms' own messages in the page's language (patient forms give their own).
        WTF_I18N_ENABLED=True,
    )
    app.extensions["portal"] = services
    from portal.web import request_log

    request_log.init_app(app)  # first: its line starts before any other hook may answer
    # Before the CSRF check, which would otherwise read a form of bad bytes as an empty one
    # and answer with a vague "out of date".
    app.before_request(refuse_forms_that_are_not_utf8)
    csrf.init_app(app)
    from portal.web import signing

    signing.init_app(app)  # after CSRFProtect: its csrf_token global is replaced

    from portal.web import language

    babel.init_app(app, locale_selector=language.select_locale)
    language.install_gettext(app)
    # {% trans %} blocks are read with their line breaks and indentation folded, as
    # babel.cfg extracts them.
    app.jinja_env.policies["ext.i18n.trimmed"] = True

    from portal.web import (
        api,
        cases,
        filters,
        optout,
        patient,
        plans,
        site,
        staff,
        staff_accounts,
        staff_cases,
        staff_credit,
        staff_import,
        staff_keys,
        staff_mail,
        staff_pay_links,
        staff_plans,
        staff_queue,
        staff_remittances,
        staff_reports,
        staff_webhooks,
        texts,
        texts_inbound,
    )

    filters.init_app(app)
    for module in (
        site,
        language,
        patient,
        cases,
        plans,
        optout,
        staff,
        staff_accounts,
        staff_credit,
        staff_queue,
        staff_cases,
        staff_reports,
        staff_import,
        api,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(staff_keys.bp)
    app.register_blueprint(staff_plans.bp)
    app.register_blueprint(staff_mail.bp)
    app.register_blueprint(staff_pay_links.bp)
    app.register_blueprint(staff_remittances.bp)
    app.register_blueprint(staff_webhooks.bp)
    csrf.exempt(api.bp)  # API clients prove themselves with a bearer key, not a cookie
    csrf.exempt(optout.stop)  # one-click opt-out (RFC 8058): mail clients send no CSRF token
    app.register_blueprint(texts.bp)
    app.register_blueprint(texts_inbound.bp)
    csrf.exempt(texts_inbound.bp)  # SNS proves itself with the message signature
    if settings.payments == "sandbox":
        from portal.web import sandbox

        app.register_blueprint(sandbox.bp)
    if settings.payments == "stripe":
        from portal.web import webhooks

        csrf.exempt(webhooks.bp)  # Stripe proves itself with the signature on the raw body
        app.register_blueprint(webhooks.bp)

    # The same for every page: template globals, not a context processor run per request.
    app.jinja_env.globals.update(
        practice_name=settings.practice_name,
        manual_methods=MANUAL_METHODS,
        page_language=language.page_language,
        language_links=language.language_links,
        switch_target=language.switch_target,
        is_staff_page=language.is_staff_request,
    )

    @app.after_request
    def no_caching_of_account_data(response: Response) -> Response:
        """Security headers on every response, error pages included. Only public pages
        may be cached, and only when the response does not carry the session cookie."""
        headers = response.headers
        if response.mimetype == "application/pdf":
            headers["Content-Security-Policy"] = PDF_CONTENT_SECURITY_POLICY
        else:
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Referrer-Policy"] = "same-origin"
        headers["X-Frame-Options"] = "DENY"
        if settings.secure_cookies or request.is_secure:
            headers["Strict-Transport-Security"] = HSTS
        cacheable = (
            is_public(request.endpoint)
            and response.status_code in (200, 304)
            and not app.session_interface.should_set_cookie(app, session)
        )
        if not cacheable:
            headers["Cache-Control"] = "no-store"
        elif request.endpoint != "static":  # static files keep Flask's revalidation headers
            headers["Cache-Control"] = PUBLIC_PAGE_CACHE
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = _("This form was out of date or came from another site. Please try again.")
        return render_template("error.html", title=_("Please try again"), message=message), 400

    @app.errorhandler(413)
    def too_large(error):
        limit = app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
        message = _(
            "What was sent is too large: the limit is %(limit)s MB. Send less and try again.",
            limit=limit,
        )
        return render_template("error.html", title=_("Too large"), message=message), 413

    @app.errorhandler(403)
    def forbidden(error):
        message = _("You cannot open this page with the session you have.")
        return render_template("error.html", title=_("Not allowed"), message=message), 403

    @app.errorhandler(404)
    def not_found(error):
        message = _("We could not find that page. Start again from the Quick Pay page.")
        return render_template("error.html", title=_("Page not found"), message=message), 404

    from portal.cli import register

    register(app)
    return app
