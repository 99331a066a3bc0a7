"""Quick Pay lookup, lockout, CSRF and the patient session."""

import re

import pytest

from portal import create_app
from portal.bootstrap import build_services
from portal.config import Settings
from tests.conftest import csrf_token
from tests.integration.conftest import (
    GUARANTOR,
    lookup,
    lookup_error,
    path_of,
    sign_in,
    token_from,
)

GENERIC = (
    "We could not find an account with those details. Check them against your statement "
    "and try again."
)


def assert_signed_out(client) -> None:
    response = client.get("/account")
    assert response.status_code in (302, 303)
    assert path_of(response.headers["Location"]) == "/pay"
    with client.session_transaction() as session:
        assert "account_number" not in session


def test_the_form_has_labelled_fields(client):
    response = client.get("/pay")
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    for name, label in (
        ("account_number", "Account number"),
        ("last_name", "Last name"),
        ("date_of_birth", "Date of birth"),
    ):
        assert re.search(rf'<label[^>]*for="{name}"[^>]*>{label}</label>', html), label
        assert re.search(rf'<input[^>]*name="{name}"', html), name
    assert csrf_token(html)


@pytest.mark.parametrize(
    ("last_name", "date_of_birth"),
    [
        ("Lopez", "1984-03-12"),  # the guarantor
        ("  LOPEZ ", "1984-03-12"),
        ("Lopez", "2015-06-02"),  # the patient Ana
        ("nunez lopez", "2018-01-09"),  # the patient José Núñez-Lopez
        ("  NÚÑEZ-lopez ", "2018-01-09"),
        ("NunezLopez", "2018-01-09"),
    ],
)
def test_a_correct_lookup_opens_the_account(client, lopez, last_name, date_of_birth):
    response = lookup(client, last_name=last_name, date_of_birth=date_of_birth)

    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == "/account"
    page = client.get("/account")
    assert page.status_code == 200
    assert "100234" in page.get_data(as_text=True)


def test_account_number_with_spaces_and_dashes_is_found(client, lopez):
    response = lookup(client, account_number=" 100-234 ")

    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == "/account"


def test_every_wrong_detail_gets_the_same_generic_message(client, lopez):
    attempts = {
        "wrong last name": {"last_name": "Smith"},
        "wrong date of birth": {"date_of_birth": "1984-03-13"},
        "unknown account": {"account_number": "999999"},
        "name of one person, birth date of another": {"date_of_birth": "2018-01-09"},
    }
    answers = {}
    for what, fields in attempts.items():
        response = lookup(client, **fields)
        answers[what] = (response.status_code, lookup_error(response.get_data(as_text=True)))
        assert "/account" not in response.headers.get("Location", "")

    assert set(answers.values()) == {(401, GENERIC)}, answers
    assert_signed_out(client)


def test_five_failures_lock_the_account_until_fifteen_minutes_pass(client, lopez, clock):
    for _ in range(5):
        assert lookup(client, last_name="Smith").status_code == 401

    refused = lookup(client)  # the correct details
    html = refused.get_data(as_text=True)

    assert refused.status_code == 429
    assert "paused for 15 minutes" in html
    assert GENERIC not in html
    assert_signed_out(client)

    clock.advance(minutes=16)
    sign_in(client)
    assert client.get("/account").status_code == 200


def test_failures_from_many_addresses_lock_the_account_itself(client, lopez, clock):
    for i in range(5):
        response = lookup(client, address=f"10.0.0.{i + 1}", last_name="Smith")
        assert response.status_code == 401

    refused = lookup(client, address="10.0.9.9")

    assert refused.status_code == 429
    assert "paused for 15 minutes" in refused.get_data(as_text=True)
    assert_signed_out(client)

    clock.advance(minutes=16)
    sign_in(client, address="10.0.9.9")


def test_four_failures_do_not_lock(client, lopez):
    for _ in range(4):
        assert lookup(client, last_name="Smith").status_code == 401

    sign_in(client)


def test_failures_older_than_fifteen_minutes_do_not_count(client, lopez, clock):
    for _ in range(4):
        assert lookup(client, last_name="Smith").status_code == 401
    clock.advance(minutes=16)
    assert lookup(client, last_name="Smith").status_code == 401

    sign_in(client)


def test_five_failures_from_one_address_lock_that_address(client, app, lopez, clock):
    attacker = "203.0.113.7"
    for i in range(5):
        response = lookup(client, address=attacker, account_number=f"90000{i}")
        assert response.status_code == 401

    refused = lookup(client, address=attacker)  # correct details, but from that address
    assert refused.status_code == 429
    assert "paused for 15 minutes" in refused.get_data(as_text=True)

    other = app.test_client()
    sign_in(other, address="198.51.100.20")
    assert other.get("/account", environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 200

    clock.advance(minutes=16)
    sign_in(client, address=attacker)


def test_a_post_without_csrf_token_is_refused_and_opens_no_session(client, lopez):
    client.get("/pay")
    response = client.post("/pay", data=dict(GUARANTOR))

    assert response.status_code == 400
    assert_signed_out(client)


def test_a_post_with_a_wrong_csrf_token_is_refused(client, lopez):
    client.get("/pay")
    response = client.post("/pay", data={**GUARANTOR, "csrf_token": "not-the-token"})

    assert response.status_code == 400
    assert_signed_out(client)


def test_account_needs_a_session(client, lopez):
    response = client.get("/account")

    assert response.status_code in (302, 303)
    assert path_of(response.headers["Location"]) == "/pay"


def test_statement_page_needs_a_session(client, lopez):
    response = client.get("/statements/S-2026-000123")
    assert response.status_code in (302, 303)
    assert path_of(response.headers["Location"]) == "/pay"


def test_session_ends_after_fifteen_idle_minutes(client, lopez, clock):
    sign_in(client)
    assert client.get("/account").status_code == 200

    clock.advance(minutes=16)
    response = client.get("/account")

    assert response.status_code in (302, 303)
    assert path_of(response.headers["Location"]) == "/pay"
    assert_signed_out(client)


def test_activity_every_ten_minutes_keeps_the_session(client, lopez, clock):
    sign_in(client)
    for _ in range(4):  # 40 minutes in all
        clock.advance(minutes=10)
        assert client.get("/account").status_code == 200


def test_signout_ends_the_session(client, lopez):
    sign_in(client)
    token = token_from(client, "/account")

    response = client.post("/signout", data={"csrf_token": token})

    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == "/pay"
    assert_signed_out(client)


def test_signout_without_csrf_token_keeps_the_session(client, lopez):
    sign_in(client)

    response = client.post("/signout")

    assert response.status_code == 400
    assert client.get("/account").status_code == 200


def test_an_unknown_account_is_locked_like_a_real_one(client, lopez):
    """The lock does not tell an attacker which account numbers exist."""
    for i in range(5):
        response = lookup(client, address=f"10.1.0.{i + 1}", account_number="999999")
        assert response.status_code == 401

    refused = lookup(client, address="10.1.9.9", account_number="999999")

    assert refused.status_code == 429
    assert "paused for 15 minutes" in refused.get_data(as_text=True)
    sign_in(client, address="10.1.9.9")  # another account is not affected


def test_the_session_cookie_is_httponly_and_samesite(client, lopez):
    response = lookup(client)

    cookie = next(
        value
        for value in response.headers.getlist("Set-Cookie")
        if value.startswith("portal_session=")
    )
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_session_cookie_is_secure_behind_https(tmp_path, clock, lopez):
    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(tmp_path / "portal.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "https://portal.test",
        }
    )
    app = create_app(services=build_services(settings, clock=clock))
    client = app.test_client()

    response = lookup(client)

    cookie = next(
        value
        for value in response.headers.getlist("Set-Cookie")
        if value.startswith("__Host-portal_session=")
    )
    assert "Secure" in cookie
    assert "Path=/" in cookie
    assert "Domain" not in cookie


def test_signing_in_starts_a_new_session(client, lopez):
    """The anonymous session's CSRF token does not carry over into the signed-in one."""
    anonymous_token = token_from(client, "/pay")
    sign_in(client)

    response = client.post("/signout", data={"csrf_token": anonymous_token})

    assert response.status_code == 400
    assert client.get("/account").status_code == 200


def test_a_successful_lookup_resets_the_accounts_failure_count(app, lopez):
    for i in range(4):
        assert (
            lookup(app.test_client(), address=f"10.2.0.{i}", last_name="Smith").status_code == 401
        )
    sign_in(app.test_client(), address="10.2.0.50")

    for i in range(4):
        assert (
            lookup(app.test_client(), address=f"10.2.1.{i}", last_name="Smith").status_code == 401
        )

    sign_in(app.test_client(), address="10.2.0.51")
