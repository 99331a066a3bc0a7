"""Signing out ends the patient's session on the server, not only in this browser."""

from tests.conftest import csrf_token
from tests.integration.conftest import path_of, sign_in


def test_a_copy_of_the_cookie_stops_working_after_sign_out(app, client, lopez):
    sign_in(client)
    copied = client.get_cookie("portal_session").value
    token = csrf_token(client.get("/account").get_data(as_text=True))

    assert client.post("/signout", data={"csrf_token": token}).status_code == 303

    thief = app.test_client()
    thief.set_cookie("portal_session", copied)
    response = thief.get("/account")
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"


def test_a_session_ended_on_the_server_is_refused(client, services, lopez):
    sign_in(client)
    with client.session_transaction() as session:
        services.store.end_web_session(session["sid"])

    response = client.get("/account")
    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"
