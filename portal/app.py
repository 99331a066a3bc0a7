"""The Flask application factory: wiring only."""

from datetime import timedelta

from flask import Flask, render_template
from flask_wtf.csrf import CSRFError, CSRFProtect

from portal.bootstrap import STATIC_DIR, TEMPLATE_DIR, Services, build_services
from portal.config import Settings
from portal.domain.payments import MANUAL_METHODS

csrf = CSRFProtect()


def create_app(settings: Settings | None = None, services: Services | None = None) -> Flask:
    """Wire settings and services into a Flask app; builds services when none are given."""
    if services is None:
        services = build_services(settings or Settings.from_env())
    settings = services.settings

    app = Flask(
        __name__,
        template_folder=str(TEMPLATE_DIR),
        static_folder=str(STATIC_DIR),
        static_url_path="/static",
    )
    app.config.update(
        SECRET_KEY=settings.secret_key,
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=15),
        SESSION_COOKIE_NAME="portal_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        MAX_CONTENT_LENGTH=5 * 1024 * 1024,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the (15-minute idle) session
    )
    app.extensions["portal"] = services
    csrf.init_app(app)

    from portal.web import (
        api,
        filters,
        optout,
        patient,
        site,
        staff,
        staff_accounts,
        staff_import,
        staff_keys,
        staff_queue,
        staff_reports,
    )

    filters.init_app(app)
    for module in (
        site,
        patient,
        optout,
        staff,
        staff_accounts,
        staff_queue,
        staff_reports,
        staff_import,
        api,
    ):
        app.register_blueprint(module.bp)
    app.register_blueprint(staff_keys.bp)
    csrf.exempt(api.bp)  # API clients prove themselves with a bearer key, not a cookie
    csrf.exempt(optout.stop)  # one-click opt-out (RFC 8058): mail clients send no CSRF token
    if settings.payments == "sandbox":
        from portal.web import sandbox

        app.register_blueprint(sandbox.bp)
    if settings.payments == "stripe":
        from portal.web import webhooks

        csrf.exempt(webhooks.bp)  # Stripe proves itself with the signature on the raw body
        app.register_blueprint(webhooks.bp)

    @app.context_processor
    def practice():
        return {
            "practice_name": settings.practice_name,
            "manual_methods": MANUAL_METHODS,
        }

    @app.after_request
    def no_caching_of_account_data(response):
        response.headers.setdefault("Cache-Control", "no-store")
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    @app.errorhandler(CSRFError)
    def csrf_error(error):
        message = "This form was out of date or came from another site. Please try again."
        return render_template("error.html", title="Please try again", message=message), 400

    @app.errorhandler(403)
    def forbidden(error):
        message = "You cannot open this page with the session you have."
        return render_template("error.html", title="Not allowed", message=message), 403

    @app.errorhandler(404)
    def not_found(error):
        message = "We could not find that page. Start again from the Quick Pay page."
        return render_template("error.html", title="Page not found", message=message), 404

    from portal.cli import register

    register(app)
    return app
