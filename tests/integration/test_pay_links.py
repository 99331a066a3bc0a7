"""Pay links: signed, expiring, for one account; Quick Pay with the account number filled in."""

import base64
import json
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from portal.services.pay_links import linked_account, pay_link, pay_link_token
from tests.conftest import csrf_token
from tests.integration.conftest import lookup, lookup_error, path_of

NOT_VALID = "This link can no longer be used."


def link_path(services, number: str = "100234") -> str:
    return "/pay/" + pay_link_token(services, number)


def account_field(html: str) -> str:
    match = re.search(r'<input[^>]*name="account_number"[^>]*>', html)
    assert match, "no account number field"
    value = re.search(r'value="([^"]*)"', match.group(0))
    return value.group(1) if value else ""


def test_a_link_opens_quick_pay_with_the_account_number_filled(client, services, lopez):
    page = client.get(link_path(services))
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert account_field(html) == "100234"
    assert "Lopez" not in html and "1984" not in html
    assert page.headers["Cache-Control"] == "no-store"
    # The patient types only the last name and date of birth.
    form = {
        "account_number": account_field(html),
        "last_name": "Lopez",
        "date_of_birth": "1984-03-12",
        "csrf_token": csrf_token(html),
    }
    signed_in = client.post("/pay", data=form)
    assert signed_in.status_code == 303
    assert path_of(signed_in.headers["Location"]) == "/account"


def test_the_link_carries_no_name_amount_or_health_details(services, lopez):
    url = pay_link(services, "100234")
    assert url.startswith("http://portal.test/pay/")
    token = url.rsplit("/", 1)[1]
    payload = token.split(".")[0]
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    assert decoded[0] == "100234" and isinstance(decoded[1], int) and len(decoded) == 2
    assert len(url) < 80  # short enough for a text


def test_the_link_works_for_the_configured_days_then_stops(client, services, clock, lopez):
    path = link_path(services)
    clock.advance(days=30)
    assert client.get(path).status_code == 200
    clock.advance(days=1)
    expired = client.get(path)
    assert expired.status_code == 404
    assert NOT_VALID in lookup_error(expired.get_data(as_text=True))
    assert account_field(expired.get_data(as_text=True)) == ""


def expired_and_tampered(client, services, clock) -> tuple[str, str]:
    expired_path = link_path(services)
    clock.advance(days=31)
    fresh = pay_link_token(services, "100234")
    payload, signature = fresh.split(".")
    tampered_path = "/pay/" + payload + "." + ("A" if signature[0] != "A" else "B") + signature[1:]
    pages = []
    for path in (expired_path, tampered_path):
        page = client.get(path)
        assert page.status_code == 404
        html = page.get_data(as_text=True).replace(path, "/pay/LINK")  # the language links
        pages.append(re.sub(r'value="[^"]*"', "", html))
    return pages[0], pages[1]


def test_an_expired_and_a_tampered_link_get_the_same_page(client, services, clock, lopez):
    expired, tampered = expired_and_tampered(client, services, clock)
    assert expired == tampered
    assert "expired" not in expired.lower() and "tampered" not in expired.lower()


def test_a_link_for_another_account_cannot_be_made_from_one(services, lopez):
    token = pay_link_token(services, "100234")
    signature = token.split(".")[1]
    other = base64.urlsafe_b64encode(json.dumps(["100235", 99999]).encode()).decode().rstrip("=")
    assert linked_account(services, f"{other}.{signature}") is None
    assert linked_account(services, token) == "100234"
    for bad in ("", "x", "x.y", token + "x", token.replace(".", ""), "%00"):
        assert linked_account(services, bad) is None


def test_a_link_signed_with_another_key_is_refused(services, lopez):
    from dataclasses import replace

    other = replace(
        services, settings=replace(services.settings, secret_key="another-key-" + "k" * 20)
    )
    assert linked_account(services, pay_link_token(other, "100234")) is None


def test_the_lookup_lockout_applies_to_links(client, services, clock, lopez):
    path = link_path(services)
    for _ in range(5):
        assert lookup(client, last_name="Smith").status_code == 401
    locked = client.get(path)
    assert locked.status_code == 429
    assert "paused for 15 minutes" in locked.get_data(as_text=True)
    # Details typed after following the link are refused while the lock holds.
    assert lookup(client).status_code == 429
    clock.advance(minutes=16)
    assert client.get(path).status_code == 200


def test_link_failures_count_toward_the_lockout(client, services, lopez):
    path = link_path(services)
    for _ in range(5):
        html = client.get(path).get_data(as_text=True)
        form = {
            "account_number": account_field(html),
            "last_name": "Smith",
            "date_of_birth": "1984-03-12",
            "csrf_token": csrf_token(html),
        }
        assert client.post("/pay", data=form).status_code == 401
    assert client.get(path).status_code == 429


def test_the_link_page_is_in_spanish_for_a_spanish_browser(client, services, lopez):
    page = client.get(link_path(services), headers={"Accept-Language": "es"})
    assert page.status_code == 200
    assert "número de cuenta" in page.get_data(as_text=True).lower()
    expired = client.get("/pay/not-a-link", headers={"Accept-Language": "es"})
    assert expired.status_code == 404
    assert NOT_VALID not in expired.get_data(as_text=True)


def test_the_link_lasts_the_configured_days(tmp_path, clock, lopez, services):
    from dataclasses import replace

    short = replace(services, settings=replace(services.settings, pay_link_days=2))
    token = pay_link_token(short, "100234")
    clock.advance(days=2)
    assert linked_account(short, token) == "100234"
    clock.advance(days=1)
    assert linked_account(short, token) is None


ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."


@given(position=st.integers(min_value=0), replacement=st.sampled_from(ALPHABET))
def test_no_one_character_change_opens_another_account(services_for_links, position, replacement):
    """A changed character is refused, or (base64's unused last bits) reads as the same
    link: it never names another account."""
    token = services_for_links[1]
    index = position % len(token)
    changed = token[:index] + replacement + token[index + 1 :]
    assert linked_account(services_for_links[0], changed) in (None, "100234")


@pytest.fixture(scope="module")
def services_for_links(tmp_path_factory):
    from portal.bootstrap import build_services
    from portal.clock import FixedClock
    from portal.config import Settings
    from tests.conftest import NOW

    folder = tmp_path_factory.mktemp("links")
    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(folder / "portal.sqlite3"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_BASE_URL": "http://portal.test",
        }
    )
    services = build_services(settings, clock=FixedClock(NOW))
    return services, pay_link_token(services, "100234")
