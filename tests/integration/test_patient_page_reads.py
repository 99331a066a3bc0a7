"""The account and statement pages: one store read each (the browser session with what the
page shows; the account page one more, for the patient's questions, which live apart from
the ledger), the session rules kept on that read, and the plain amount form."""

import pytest

from tests.integration.conftest import path_of, sign_in, start_payment

PAGES = ("/account", "/statements/S-2026-000123")
READS = {
    "/account": ["patient_page", "account_cases"],
    "/statements/S-2026-000123": ["patient_page"],
}
IDLE = "For your privacy, your session ended after 15 minutes without activity."


@pytest.fixture
def store_calls(services, monkeypatch) -> list[str]:
    """The names of the Store methods called, in order."""
    calls: list[str] = []
    store = services.store
    for name in dir(type(store)):
        method = getattr(store, name)
        if not name.startswith("_") and callable(method):
            monkeypatch.setattr(store, name, counting(calls, name, method))
    return calls


def counting(calls: list[str], name: str, method):
    def counted(*args, **kwargs):
        calls.append(name)
        return method(*args, **kwargs)

    return counted


@pytest.mark.parametrize("path", PAGES)
def test_each_page_reads_the_store_once(patient, store_calls, path):
    store_calls.clear()

    response = patient.get(path)

    assert response.status_code == 200
    assert "S-2026-000123" in response.get_data(as_text=True)
    assert store_calls == READS[path]


@pytest.mark.parametrize("path", PAGES)
def test_the_pages_keep_a_session_in_use_and_end_one_idle_for_15_minutes(
    patient, services, clock, path
):
    with patient.session_transaction() as session:
        sid = session["sid"]
    clock.advance(minutes=14)
    assert patient.get(path).status_code == 200
    clock.advance(minutes=14)  # 28 minutes after sign-in, 14 after the last request
    assert patient.get(path).status_code == 200

    clock.advance(minutes=16)
    response = patient.get(path)

    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"
    assert IDLE in patient.get("/pay").get_data(as_text=True)
    assert services.store.web_session_subject(sid, clock.now()) is None
    assert patient.get(path).status_code == 302  # and it stays ended


@pytest.mark.parametrize("path", PAGES)
def test_a_cookie_that_names_someone_else_than_the_server_ends_the_session(
    patient, services, clock, path
):
    with patient.session_transaction() as session:
        sid = session["sid"]
        session["viewer"] = ["P1"]  # the server's record says the guarantor signed in

    response = patient.get(path)

    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"
    assert services.store.web_session_subject(sid, clock.now()) is None


@pytest.mark.parametrize("path", PAGES)
def test_a_session_ended_on_the_server_shows_nothing(patient, services, path):
    with patient.session_transaction() as session:
        services.store.end_web_session(session["sid"])

    response = patient.get(path)

    assert response.status_code == 302
    assert path_of(response.headers["Location"]) == "/pay"
    assert IDLE not in patient.get("/pay").get_data(as_text=True)


def test_an_amount_too_long_is_refused_with_the_field_marked(patient):
    response = start_payment(patient, "1" * 21)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    message = "Enter the amount in dollars and cents, for example 25.00."
    assert f'<li><a href="#amount">{message}</a></li>' in html
    assert f'<p class="field-error" id="amount-error">{message}</p>' in html
    assert 'aria-describedby="amount-hint amount-error" aria-invalid="true"' in html
    assert f'value="{"1" * 21}"' in html


def test_a_payment_without_a_csrf_token_is_refused(patient, services):
    response = patient.post("/payments", data={"amount": "10.00"})

    assert response.status_code == 400
    assert services.store.account_records("100234").payments == ()


def test_the_pages_forms_carry_a_csrf_token(patient):
    html = patient.get("/account").get_data(as_text=True)

    forms = html.count("<form ")
    assert forms == 3  # sign out, pay the balance, pay another amount
    assert html.count('<input type="hidden" name="csrf_token" value="') == forms


def test_signing_in_again_after_idle_shows_the_pages(client, lopez, clock):
    sign_in(client)
    clock.advance(minutes=16)
    assert client.get("/account").status_code == 302

    sign_in(client)

    for path in PAGES:
        assert client.get(path).status_code == 200


@pytest.mark.parametrize("path", PAGES)
def test_the_cookie_is_set_again_only_when_its_last_seen_time_is_a_minute_old(patient, clock, path):
    """Requests within a minute of the last-seen time leave the signed cookie as it is;
    a session in use every 50 seconds goes on past 15 minutes; idle time counts from the
    last time written, so a session ends at most a minute early, never late."""
    patient.get(path)  # the first page's forms put the CSRF secret in the session
    assert "Set-Cookie" not in patient.get(path).headers
    clock.advance(seconds=59)
    assert "Set-Cookie" not in patient.get(path).headers
    clock.advance(seconds=1)
    assert "Set-Cookie" in patient.get(path).headers  # written: a minute after sign-in

    for _ in range(24):  # 20 minutes of a request every 50 seconds
        clock.advance(seconds=50)
        assert patient.get(path).status_code == 200

    clock.advance(minutes=15, seconds=1)
    assert patient.get(path).status_code == 302
