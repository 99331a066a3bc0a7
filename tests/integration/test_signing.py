"""The session cookie's serializer and the CSRF token, signed once (portal/web/signing.py):
a token given on one page of a session is taken on a form of any later page of it, never
in another session, and the session cookie still needs the app's key."""

import pytest
from flask import session
from flask_wtf.csrf import generate_csrf, validate_csrf
from wtforms import ValidationError

from tests.conftest import csrf_token
from tests.integration.conftest import sign_in


def test_a_session_keeps_one_signed_token_and_any_page_of_it_takes_it(client, lopez):
    sign_in(client)
    first = csrf_token(client.get("/account").get_data(as_text=True))
    later = csrf_token(client.get("/statements/S-2026-000123").get_data(as_text=True))

    assert later == first
    response = client.post("/payments", data={"amount": "10.00", "csrf_token": first})
    assert response.status_code == 303


def test_a_token_from_another_session_is_refused(app, lopez):
    one, other = app.test_client(), app.test_client()
    sign_in(one)
    sign_in(other)
    token = csrf_token(one.get("/account").get_data(as_text=True))

    assert csrf_token(other.get("/account").get_data(as_text=True)) != token
    response = other.post("/payments", data={"amount": "10.00", "csrf_token": token})
    assert response.status_code == 400
    assert "This form was out of date" in response.get_data(as_text=True)


def test_signing_in_again_gives_a_new_token_and_the_old_one_is_refused(client, lopez):
    sign_in(client)
    before = csrf_token(client.get("/account").get_data(as_text=True))
    client.post("/signout", data={"csrf_token": before})
    sign_in(client)
    after = csrf_token(client.get("/account").get_data(as_text=True))

    assert after != before
    response = client.post("/payments", data={"amount": "10.00", "csrf_token": before})
    assert response.status_code == 400


def test_the_token_kept_is_one_flask_wtf_signs_for_the_session(app, client, lopez):
    sign_in(client)
    page_token = csrf_token(client.get("/account").get_data(as_text=True))
    with client.session_transaction() as kept:
        raw = kept["csrf_token"]
    with app.test_request_context():
        session["csrf_token"] = raw
        validate_csrf(page_token)  # raises ValidationError when it is not this session's
        session["csrf_token"] = "another session's token"
        with pytest.raises(ValidationError):
            validate_csrf(page_token)


def test_with_a_time_limit_every_page_signs_its_token_anew(app, client, lopez, monkeypatch):
    app.config["WTF_CSRF_TIME_LIMIT"] = 3600
    signed = []
    import portal.web.signing as signing

    def counted():
        signed.append(1)
        return generate_csrf()

    monkeypatch.setattr(signing, "generate_csrf", counted)
    sign_in(client)
    client.get("/account")
    signed.clear()
    client.get("/account")

    assert signed  # not the token kept from the page before


def test_the_session_cookie_needs_the_apps_key_or_a_fallback(app, client, lopez):
    sign_in(client)
    assert client.get("/account").status_code == 200
    old = app.secret_key
    app.secret_key = "another-key-0123456789abcdef0123456789"

    assert client.get("/account").status_code == 302  # the cookie no longer opens a session
    app.config["SECRET_KEY_FALLBACKS"] = [old]
    assert client.get("/account").status_code == 200
