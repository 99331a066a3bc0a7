"""Issue 18: the language of the patient pages (switch, account, browser, default), the
switch itself, and staff pages in English whatever the patient side uses."""

import re
from dataclasses import replace

import pytest

from portal.config import ConfigError, Settings
from portal.domain.accounts import Guarantor
from portal.services.statements import import_statement
from tests.conftest import lopez_account, statement
from tests.integration.conftest import GUARANTOR, path_of, sign_in


def html_lang(response) -> str:
    match = re.search(r'<html lang="([^"]+)">', response.get_data(as_text=True))
    assert match, "no <html lang>"
    return match.group(1)


def spanish_reader(services):
    """Account 100234 whose guarantor reads Spanish (preferred_language "es")."""
    account = lopez_account()
    account = replace(account, guarantor=replace(account.guarantor, preferred_language="es"))
    import_statement(services, account, statement(), notify=False)
    return account


def test_with_nothing_known_the_page_is_in_the_first_language(client):
    assert html_lang(client.get("/pay")) == "en"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("es", "es"),
        ("es-MX,es;q=0.9,en;q=0.5", "es"),
        ("en-US,en;q=0.9,es;q=0.8", "en"),
        ("fr-FR,fr;q=0.9", "en"),  # not offered: the first language
        ("fr;q=1.0,es;q=0.3", "es"),
    ],
)
def test_before_signing_in_the_browser_languages_choose(client, header, expected):
    response = client.get("/pay", headers={"Accept-Language": header})

    assert html_lang(response) == expected


def test_the_switch_keeps_its_choice_for_the_session_and_goes_back_to_the_same_page(client):
    response = client.get("/language/es?next=/pay%3Ffrom%3Dstatement")

    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == "/pay?from=statement"
    # The choice beats the browser's language, on every page after.
    english_browser = {"Accept-Language": "en-US,en;q=0.9"}
    assert html_lang(client.get("/pay", headers=english_browser)) == "es"
    client.get("/language/en?next=/pay")
    assert html_lang(client.get("/pay", headers={"Accept-Language": "es"})) == "en"


def test_once_signed_in_the_account_language_chooses(client, services):
    spanish_reader(services)
    sign_in(client)

    assert html_lang(client.get("/account", headers={"Accept-Language": "en"})) == "es"
    with client.session_transaction() as session:
        assert session["preferred_language"] == "es"


def test_a_choice_made_before_signing_in_stays_after_it(client, services):
    spanish_reader(services)
    client.get("/language/en?next=/pay")
    sign_in(client)

    assert html_lang(client.get("/account")) == "en"


def test_the_account_language_is_forgotten_at_sign_out(client, services):
    spanish_reader(services)
    sign_in(client)
    client.get("/account")
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/account").text)[1]
    client.post("/signout", data={"csrf_token": token})

    assert html_lang(client.get("/pay", headers={"Accept-Language": "en"})) == "en"


def test_an_account_language_the_portal_does_not_offer_is_not_used(client, services):
    account = lopez_account()
    guarantor: Guarantor = replace(account.guarantor, preferred_language="de")
    import_statement(services, replace(account, guarantor=guarantor), statement(), notify=False)
    sign_in(client)

    assert html_lang(client.get("/account", headers={"Accept-Language": "es"})) == "es"


def test_staff_pages_are_english_whatever_the_patient_side_uses(client):
    client.get("/language/es?next=/pay")

    response = client.get("/staff/login", headers={"Accept-Language": "es"})

    assert html_lang(response) == "en"
    assert "Español" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/pay",
        "//evil.example/pay",
        "/\\evil.example/pay",
        "\\\\evil.example",
        "http:/evil.example",
        "javascript:alert(1)",
        "/pay\r\nSet-Cookie: x=1",
        "pay",
        "",
    ],
)
def test_the_switch_never_leads_to_another_site(client, target):
    response = client.get("/language/es", query_string={"next": target})

    assert response.status_code == 303
    assert response.headers["Location"] in ("/pay", "http://localhost/pay")
    assert html_lang(client.get("/pay")) == "es"


def test_the_switch_refuses_a_language_not_offered(client):
    response = client.get("/language/fr?next=/pay")

    assert response.status_code == 404
    assert html_lang(client.get("/pay")) == "en"


def test_every_patient_page_shows_the_switch_to_the_other_language(client):
    html = client.get("/pay").get_data(as_text=True)
    links = re.findall(
        r'<a href="(/language/[^"]+)" lang="(\w+)" hreflang="(\w+)">([^<]+)</a>', html
    )

    assert links == [("/language/es?next=/pay", "es", "es", "Español")]
    spanish = client.get("/pay", headers={"Accept-Language": "es"}).get_data(as_text=True)
    assert '<a href="/language/en?next=/pay" lang="en" hreflang="en">English</a>' in spanish


def test_a_form_answered_by_post_switches_back_to_a_page_that_answers_get(client):
    client.post("/pay", data={**GUARANTOR, "csrf_token": "wrong"})
    html = client.post("/pay", data=GUARANTOR).get_data(as_text=True)

    assert "/language/es?next=/pay" in html


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("en,ES", "lowercase language codes"),
        ("en,,es", "lowercase language codes"),
        ("en,es,en", "names a language twice"),
        ("en,fr", "no catalog for fr"),
    ],
)
def test_portal_languages_is_checked_with_a_clear_message(value, problem):
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"PORTAL_LANGUAGES": value})

    assert any(p.startswith("PORTAL_LANGUAGES: ") and problem in p for p in raised.value.problems)


def test_portal_languages_default_and_order():
    assert Settings.from_env({}).languages == ("en", "es")
    assert Settings.from_env({"PORTAL_LANGUAGES": " es , en "}).languages == ("es", "en")
