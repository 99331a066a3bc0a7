"""Admins add staff users in the browser; the authenticator QR code is shown once."""

import re

import pyotp

from portal.domain.staff import Role
from tests.integration.staff_helpers import make_staff, post_form, staff_sign_in


def signed_in_admin(client, services):
    make_staff(services, "root", "admin")
    staff_sign_in(client, services, "root")
    return client


def add(client, **fields):
    data = {"username": "new.person", "role": "supervisor", "password": "a-long-password"}
    return post_form(client, "/staff/users", {**data, **fields}, token_page="/staff/users")


def test_adding_a_user_shows_the_qr_code_once(client, services):
    signed_in_admin(client, services)

    response = add(client)
    html = response.get_data(as_text=True)

    assert response.status_code == 200
    user = services.store.get_staff_user("new.person")
    assert user is not None and user.role is Role.SUPERVISOR
    assert '<svg width="' in html and 'class="segno"' in html
    uri = re.search(r"otpauth://totp/[^<\s]+", html).group(0).replace("&amp;", "&")
    assert pyotp.parse_uri(uri).secret == user.totp_secret

    again = client.get("/staff/users").get_data(as_text=True)
    assert "segno" not in again and user.totp_secret not in again
    assert "new.person" in again  # listed, without its secret

    entry = services.store.audit_entries(actor="root", limit=1)[0]
    assert (entry.action.value, entry.subject) == ("add_staff_user", "new.person (supervisor)")


def test_bad_new_users_are_refused_on_their_field(client, services):
    signed_in_admin(client, services)

    short = add(client, password="too-short")
    assert short.status_code == 422
    assert "at least 12 characters" in short.get_data(as_text=True)

    bad_name = add(client, username="has space")
    assert bad_name.status_code == 422
    assert "starting with a letter" in bad_name.get_data(as_text=True)

    taken = add(client, username="root")
    assert taken.status_code == 422
    assert "There is already a staff user" in taken.get_data(as_text=True)

    assert [u.username for u in services.store.staff_users()] == ["root"]
