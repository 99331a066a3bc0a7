"""HTTP security on every response: the Content-Security-Policy (no inline script or style
anywhere), HSTS behind HTTPS, nosniff, the referrer policy, no framing, caching only of
pages that are the same for everyone, and the session cookie's attributes. Error pages
(400, 404, 405, 413, 500) carry the same headers.

`header_problems` and `inline_problems` are also what tests/integration/test_route_access.py
checks on every route."""

import re
from dataclasses import replace
from http.cookies import SimpleCookie
from pathlib import Path

import pytest

from portal import create_app
from portal.services.notices import opt_out_url
from tests.integration.conftest import GUARANTOR, lookup, sign_in, token_from
from tests.integration.staff_helpers import make_staff, post_form, staff_sign_in

STRICT_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
PDF_CSP = "frame-ancestors 'none'"  # Chrome's PDF viewer breaks under style-src/object-src
HSTS = "max-age=63072000; includeSubDomains"
ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
}
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"
INLINE = {
    "a style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
    "a <style> element": re.compile(r"<style[\s>]", re.IGNORECASE),
    "an inline <script>": re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE),
    "an event handler attribute": re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: address": re.compile(r"javascript:", re.IGNORECASE),
}


def header_problems(response, https: bool, public: bool = False) -> list[str]:
    """What is wrong with the response's security headers; `public` for a page that is
    the same for everyone (which may be cached unless it sets the session cookie)."""
    headers = response.headers
    problems = []
    csp = PDF_CSP if response.mimetype == "application/pdf" else STRICT_CSP
    if headers.get("Content-Security-Policy") != csp:
        problems.append(f"Content-Security-Policy {headers.get('Content-Security-Policy')!r}")
    for name, value in ALWAYS.items():
        if headers.get(name) != value:
            problems.append(f"{name} {headers.get(name)!r}")
    hsts = headers.get("Strict-Transport-Security")
    if hsts != (HSTS if https else None):
        problems.append(f"Strict-Transport-Security {hsts!r}")
    cache = headers.get("Cache-Control", "")
    if public and response.status_code in (200, 304) and "Set-Cookie" not in headers:
        if not cache or "no-store" in cache or "private" in cache:
            problems.append(f"a public page that could be cached has Cache-Control {cache!r}")
    elif cache != "no-store":
        problems.append(f"Cache-Control {cache!r}, not no-store")
    return problems


def inline_problems(html: str) -> list[str]:
    """Inline script or style that the Content-Security-Policy would block."""
    return [f"{what}: {m.group(0)[:80]!r}" for what, rx in INLINE.items() if (m := rx.search(html))]


def session_cookie(response) -> tuple[str, dict[str, str]]:
    """The name and attributes (lower-case keys) of the session cookie the response sets."""
    found = [v for v in response.headers.getlist("Set-Cookie") if "portal_session=" in v]
    assert len(found) == 1, response.headers.getlist("Set-Cookie")
    name_value, *attributes = (part.strip() for part in found[0].split(";"))
    parsed = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        parsed[key.lower()] = value
    return name_value.partition("=")[0], parsed


@pytest.fixture
def https_app(settings, services):
    """The same store behind https://, as in production."""
    secure = replace(services, settings=replace(settings, base_url="https://portal.test"))
    app = create_app(services=secure)
    app.config["TESTING"] = True
    return app


@pytest.fixture
def failing_app(app):
    """Unexpected errors become 500 pages, as in production, instead of reaching the test."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


# -- headers on ordinary pages --------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "public"),
    [
        ("/", True),
        ("/how-to-pay", True),
        ("/static/portal.css", True),
        ("/static/portal.js", True),
        ("/api/v1/openapi.json", True),
        ("/pay", False),
        ("/healthz", False),
        ("/staff/login", False),
    ],
)
def test_anonymous_pages_carry_every_header(client, path, public):
    response = client.get(path)

    assert response.status_code == 200
    assert header_problems(response, https=False, public=public) == []


def test_signed_in_pages_carry_every_header_and_are_never_stored(patient, clock):
    for path in ("/account", "/statements/S-2026-000123", "/"):
        # A minute on, the response writes the session's last-seen time into the cookie:
        # never stored.
        clock.advance(seconds=61)
        response = patient.get(path)
        assert response.status_code == 200, path
        assert "Set-Cookie" in response.headers, path
        assert header_problems(response, https=False) == [], path
        if path in ("/account", "/statements/S-2026-000123"):
            # Within the minute the cookie is left as it is; the page is still never stored.
            again = patient.get(path)
            assert "Set-Cookie" not in again.headers, path
            assert header_problems(again, https=False) == [], path


def test_a_statement_pdf_allows_the_browsers_viewer_but_not_framing(patient):
    response = patient.get("/statements/S-2026-000123.pdf")

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Security-Policy"] == PDF_CSP
    assert header_problems(response, https=False) == []


def test_staff_pages_carry_every_header(client, services, lopez):
    make_staff(services, "ada", "admin")
    staff_sign_in(client, services, "ada")
    for path in ("/staff/", "/staff/accounts/100234", "/staff/reports/monthly", "/staff/users"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert header_problems(response, https=False) == [], path


# -- HSTS -------------------------------------------------------------------------------------


def test_no_hsts_over_plain_http_on_this_machine(client):
    assert "Strict-Transport-Security" not in client.get("/pay").headers


def test_hsts_when_the_portal_is_served_over_https(https_app):
    client = https_app.test_client()
    for path in ("/pay", "/", "/static/portal.css", "/no-such-page"):
        response = client.get(path)
        assert response.headers.get("Strict-Transport-Security") == HSTS, path


def test_hsts_when_the_request_itself_came_over_https(client):
    response = client.get("/pay", base_url="https://portal.test")

    assert response.headers.get("Strict-Transport-Security") == HSTS
    assert header_problems(response, https=True) == []


# -- caching ----------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/", "/faq", "/privacy", "/api/v1/openapi.json"])
def test_public_pages_may_be_cached_by_anyone(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert "Set-Cookie" not in response.headers
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_static_files_may_be_cached_and_revalidated(client):
    first = client.get("/static/portal.css")
    assert first.headers["Cache-Control"] == "no-cache"
    assert first.headers["ETag"]

    again = client.get("/static/portal.css", headers={"If-None-Match": first.headers["ETag"]})

    assert again.status_code == 304
    assert header_problems(again, https=False, public=True) == []


def test_a_public_page_that_sets_the_session_cookie_is_not_stored(client, lopez, clock):
    sign_in(client)
    clock.advance(seconds=61)  # the session's last-seen time is written again

    response = client.get("/faq")

    assert "Set-Cookie" in response.headers
    assert response.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/pay", "/account", "/payments/pay_unknown", "/healthz"])
def test_other_pages_are_never_stored(client, lopez, path):
    assert client.get(path).headers["Cache-Control"] == "no-store"


# -- error pages ------------------------------------------------------------------------------


def test_not_found(client):
    response = client.get("/no-such-page")

    assert response.status_code == 404
    assert header_problems(response, https=False) == []


def test_not_found_in_the_api(client):
    response = client.get("/api/v1/no-such-thing")

    assert response.status_code == 404
    assert response.is_json
    assert header_problems(response, https=False) == []


@pytest.mark.parametrize(("method", "path"), [("GET", "/payments"), ("PUT", "/pay")])
def test_method_not_allowed(client, method, path):
    response = client.open(path, method=method)

    assert response.status_code == 405
    assert header_problems(response, https=False) == []


def test_a_form_without_its_csrf_token(client, lopez):
    response = client.post("/pay", data=GUARANTOR)

    assert response.status_code == 400
    assert "This form was out of date" in response.get_data(as_text=True)
    assert header_problems(response, https=False) == []


def test_a_body_over_the_limit(client, app):
    too_big = app.config["MAX_CONTENT_LENGTH"] + 1
    response = client.post(
        "/pay", data=b"x" * too_big, content_type="application/x-www-form-urlencoded"
    )

    assert response.status_code == 413
    assert header_problems(response, https=False) == []


def test_an_unexpected_error_on_a_page(failing_app, services, lopez, monkeypatch):
    token = opt_out_url(services, "100234").rsplit("/", 1)[1]

    def broken(account_number):
        raise RuntimeError("the store broke")

    monkeypatch.setattr(services.store, "get_account", broken)
    response = failing_app.test_client().get(f"/reminders/stop/{token}")

    assert response.status_code == 500
    assert header_problems(response, https=False) == []


def test_an_unexpected_error_in_the_api(failing_app, services, monkeypatch):
    def broken():
        raise RuntimeError("the store broke")

    monkeypatch.setattr(services.store, "ping", broken)
    response = failing_app.test_client().get("/healthz")

    assert response.status_code == 500
    assert header_problems(response, https=False) == []


def test_an_unexpected_error_on_a_public_page_is_not_cached(failing_app, services, monkeypatch):
    """The public site is cacheable only when it worked."""

    def broken(*args, **kwargs):
        raise RuntimeError("the template broke")

    monkeypatch.setattr("portal.web.site.render_template", broken)
    response = failing_app.test_client().get("/faq")

    assert response.status_code == 500
    assert header_problems(response, https=False, public=True) == []


# -- the session cookie -----------------------------------------------------------------------


def test_the_local_session_cookie_is_httponly_lax_and_host_only(client, lopez):
    name, attributes = session_cookie(lookup(client))

    assert name == "portal_session"
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"
    assert "domain" not in attributes
    assert "secure" not in attributes  # plain http on this machine


def test_behind_https_the_session_cookie_is_secure_and_host_prefixed(https_app, lopez):
    client = https_app.test_client()

    response = lookup(client)

    assert response.status_code == 303
    name, attributes = session_cookie(response)
    assert name == "__Host-portal_session"
    assert "secure" in attributes
    assert "httponly" in attributes
    assert attributes["samesite"] == "Lax"
    assert attributes["path"] == "/"  # a __Host- cookie needs Path=/ and no Domain
    assert "domain" not in attributes
    assert SimpleCookie(response.headers["Set-Cookie"])  # well-formed
    assert client.get("/account").status_code == 200  # and the browser is signed in with it


# -- no inline script or style, so the policy breaks nothing --------------------------------


def test_templates_have_no_inline_script_style_or_handlers():
    found = {}
    for template in sorted(TEMPLATES.rglob("*.html")):
        if template.relative_to(TEMPLATES).parts[0] == "email":
            continue  # e-mail clients need inline styles; no CSP applies there
        problems = inline_problems(template.read_text())
        if problems:
            found[str(template.relative_to(TEMPLATES))] = problems
    assert found == {}


def test_inline_problems_finds_what_the_policy_blocks():
    assert inline_problems('<p class="x" style="color:red">') != []
    assert inline_problems("<script>alert(1)</script>") != []
    assert inline_problems('<button onclick="go()">') != []
    assert inline_problems('<script src="/static/portal.js" defer></script>') == []
    assert inline_problems('<svg class="segno"><path stroke="#000" d="M4 4.5h7"/></svg>') == []


def test_the_new_staff_users_qr_code_is_drawn_without_inline_style(client, services):
    make_staff(services, "ada", "admin")
    staff_sign_in(client, services, "ada")

    data = {"username": "newbie", "role": "associate", "password": "a long enough passphrase"}
    response = post_form(client, "/staff/users", data, token_page="/staff/users")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<svg width="' in html and 'class="segno"' in html
    assert "break-anywhere" in html
    assert inline_problems(html) == []
    assert header_problems(response, https=False) == []


def test_the_charts_and_the_checkout_page_have_no_inline_style(client, services, lopez):
    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")
    for path in ("/staff/reports/monthly", "/staff/reports/aging", "/staff/reports/deposits"):
        html = client.get(path).get_data(as_text=True)
        assert inline_problems(html) == [], path

    patient = client.application.test_client()
    sign_in(patient)
    token = token_from(patient, "/account")
    started = patient.post("/payments", data={"amount": "10.00", "csrf_token": token})
    checkout = patient.get(started.headers["Location"])
    assert checkout.status_code == 200
    assert inline_problems(checkout.get_data(as_text=True)) == []
