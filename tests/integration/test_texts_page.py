"""The guarantor's billing texts page: agreeing (confirmed by a text at once) and stopping."""

from dataclasses import replace

from portal.adapters.outbox_sms import read_outbox
from portal.services.statements import import_statement
from tests.conftest import NOW, csrf_token, lopez_account, statement
from tests.integration.conftest import path_of, sign_in


def agree(client, **fields):
    page = client.get("/account/texts")
    assert page.status_code == 200
    data = {"phone": "(555) 555-0123", "time_zone": "America/Chicago", "agree": "y"}
    data.update(fields)
    data = {k: v for k, v in data.items() if v is not None}
    return client.post(
        "/account/texts", data={**data, "csrf_token": csrf_token(page.get_data(as_text=True))}
    )


def texts(services) -> list[dict]:
    return read_outbox(services.settings.sms_outbox_dir)


def test_the_account_page_links_to_billing_texts(client, lopez):
    sign_in(client)
    assert 'href="/account/texts"' in client.get("/account").get_data(as_text=True)


def test_agreeing_keeps_the_consent_and_a_text_confirms_it(client, services, lopez):
    sign_in(client)
    response = agree(client)
    assert response.status_code == 303 and path_of(response.headers["Location"]) == "/account/texts"
    consent = services.store.sms_consent("100234")
    assert (consent.phone, consent.source, consent.given_at) == ("+15555550123", "patient", NOW)
    assert consent.time_zone == "America/Chicago" and consent.active
    [text] = texts(services)
    assert text["to"] == "+15555550123" and text["kind"] == "sms-confirm"
    assert text["body"].startswith("Demo Family Practice:") and "STOP" in text["body"]
    for private in ("Lopez", "Maria", "$", "99213", "J06.9", "1984"):
        assert private not in text["body"]
    page = client.get("/account/texts").get_data(as_text=True)
    assert "Texts are on" in page and "+15555550123" in page


def test_without_ticking_the_box_nothing_is_kept_or_sent(client, services, lopez):
    sign_in(client)
    response = agree(client, agree=None)
    assert response.status_code == 422
    assert "Tick the box" in response.get_data(as_text=True)
    assert services.store.sms_consent("100234") is None and texts(services) == []


def test_a_number_that_is_not_a_mobile_one_is_refused(client, services, lopez):
    sign_in(client)
    response = agree(client, phone="555-0123")
    assert response.status_code == 422
    assert "area code" in response.get_data(as_text=True)
    assert services.store.sms_consent("100234") is None and texts(services) == []


def test_an_unknown_time_zone_is_refused(client, services, lopez):
    sign_in(client)
    assert agree(client, time_zone="Europe/Paris").status_code == 422
    assert services.store.sms_consent("100234") is None


def test_stopping_on_the_page_ends_texts(client, services, clock, lopez):
    sign_in(client)
    agree(client)
    clock.advance(minutes=1)
    token = csrf_token(client.get("/account/texts").get_data(as_text=True))
    response = client.post("/account/texts/stop", data={"csrf_token": token})
    assert response.status_code == 303
    assert services.store.sms_consent("100234").stopped_at == clock.now()
    assert "Turn on billing texts" in client.get("/account/texts").get_data(as_text=True)


def test_a_patient_who_is_not_the_guarantor_cannot_turn_texts_on(client, services, lopez):
    sign_in(client, last_name="Lopez", date_of_birth="2015-06-02")  # Ana, a patient
    response = agree(client)
    assert response.status_code == 200
    assert "Only the person responsible" in response.get_data(as_text=True)
    assert services.store.sms_consent("100234") is None and texts(services) == []


def test_the_page_needs_a_session(client, lopez):
    response = client.get("/account/texts")
    assert response.status_code == 302 and path_of(response.headers["Location"]) == "/pay"


def test_a_spanish_reading_guarantor_gets_the_page_and_the_text_in_spanish(client, services):
    account = lopez_account()
    account = replace(account, guarantor=replace(account.guarantor, preferred_language="es"))
    import_statement(services, account, statement(), notify=False)
    sign_in(client)
    client.get("/account")  # where signing in leads: the account's language is kept
    page = client.get("/account/texts").get_data(as_text=True)
    assert "Mensajes de facturación" in page
    agree(client)
    [text] = texts(services)
    assert "recibirá mensajes de facturación" in text["body"]
