"""Opt-out links carry an opaque token: random, kept with the account, the same in every
reminder. Links sent before (the signed account number) still work. On both stores, through
the Flask app."""

import base64
import binascii
import contextlib
import dataclasses
import secrets
import threading
from datetime import date
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from portal import create_app
from portal.bootstrap import build_services
from portal.ports.store import Store
from portal.services.notices import OPT_OUT_SALT, deliver, reminder_message
from tests.conftest import NOW, lopez_account, statement
from tests.integration.conftest import eml_files, path_of, read_eml

ACCOUNT = "100234"


def seed(store: Store, number: str = ACCOUNT) -> None:
    account = dataclasses.replace(lopez_account(), account_number=number)
    store.import_statement(account, statement(f"S-{number}", account_number=number), NOW)


@pytest.fixture
def portal(store, settings, clock):
    services = dataclasses.replace(build_services(settings, clock=clock), store=store)
    seed(store)
    app = create_app(services=services)
    app.config["TESTING"] = True
    return services, app.test_client()


def send_reminder(services) -> str:
    """Send a reminder; the opt-out link it carries (header and body agree)."""
    message = reminder_message(
        services, lopez_account(), "reminder", f"S-{ACCOUNT}", 3000, date(2026, 11, 30), 29
    )
    deliver(services, message, ACCOUNT)
    sent = read_eml(eml_files(Path(services.settings.outbox_dir))[-1])
    header = str(sent["List-Unsubscribe"]).strip()
    assert header.startswith("<http://portal.test/reminders/stop/") and header.endswith(">")
    link = header[1:-1]
    for part in sent.walk():
        if part.get_content_maintype() == "text":
            assert link in part.get_content()
    return link


def decodings(token: str) -> list[bytes]:
    """Whatever the token, or any dot-separated part of it, decodes to in the usual ways."""
    found = []
    for piece in [token, *token.split(".")]:
        for text in (piece, piece.replace("-", "+").replace("_", "/")):
            for padded in (text, text + "=" * (-len(text) % 4)):
                for decode in (
                    base64.b64decode,
                    base64.urlsafe_b64decode,
                    base64.b32decode,
                    base64.b16decode,
                    base64.b85decode,
                ):
                    with contextlib.suppress(binascii.Error, ValueError):
                        found.append(decode(padded))
    return found


def opted_out(services) -> bool:
    return services.store.get_account(ACCOUNT).reminders_opted_out_at is not None


# -- the store -------------------------------------------------------------------------


def test_an_opt_out_token_is_kept_once_per_account(store: Store):
    seed(store)
    seed(store, "100235")

    assert store.opt_out_token(ACCOUNT, "token-one") == "token-one"
    assert store.opt_out_token(ACCOUNT, "token-two") == "token-one"
    assert store.opt_out_token("100235", "token-three") == "token-three"
    # A money change rewrites the account: the token stays.
    store.import_statement(lopez_account(), statement("S-2026-000777", (500,)), NOW)
    assert store.opt_out_token(ACCOUNT, "token-four") == "token-one"

    assert store.account_of_opt_out_token("token-one") == ACCOUNT
    assert store.account_of_opt_out_token("token-three") == "100235"
    for never_kept in ("token-two", "token-four", "made-up"):
        assert store.account_of_opt_out_token(never_kept) is None
    with pytest.raises(KeyError):
        store.opt_out_token("999999", "token-five")
    assert store.account_of_opt_out_token("token-five") is None


def test_racing_first_uses_agree_on_one_token(store: Store):
    seed(store)
    got: list[str] = []

    def first_use(n: int) -> None:
        got.append(store.opt_out_token(ACCOUNT, f"racer-{n}"))

    threads = [threading.Thread(target=first_use, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(got) == 4 and len(set(got)) == 1
    assert [store.account_of_opt_out_token(f"racer-{n}") for n in range(4)].count(ACCOUNT) == 1


# -- through the app -------------------------------------------------------------------


def test_the_reminder_link_is_opaque_the_same_each_time_and_stops_reminders(portal):
    services, client = portal
    link = send_reminder(services)
    token = link.rsplit("/", 1)[1]

    assert ACCOUNT not in token
    assert len(token) >= 32
    for decoded in decodings(token):
        assert ACCOUNT.encode() not in decoded, decoded
        assert ACCOUNT.encode("utf-16-le") not in decoded, decoded
    assert send_reminder(services) == link  # the same link in every e-mail

    page = client.get(path_of(link))
    assert page.status_code == 200
    assert f'action="{path_of(link)}"' in page.get_data(as_text=True)
    assert not opted_out(services)

    done = client.post(path_of(link), data="List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert "no more payment reminders" in done.get_data(as_text=True)
    assert services.store.get_account(ACCOUNT).reminders_opted_out_at == NOW


def test_a_link_sent_before_the_tokens_were_opaque_still_works(portal):
    services, client = portal
    old = URLSafeSerializer(services.settings.secret_key, salt=OPT_OUT_SALT).dumps(ACCOUNT)

    assert client.get(f"/reminders/stop/{old}").status_code == 200
    assert not opted_out(services)
    done = client.post(f"/reminders/stop/{old}", data="List-Unsubscribe=One-Click")
    assert done.status_code == 200
    assert "no more payment reminders" in done.get_data(as_text=True)
    assert opted_out(services)


def test_a_made_up_token_gets_a_clear_page_and_changes_nothing(portal):
    services, client = portal
    real = send_reminder(services).rsplit("/", 1)[1]
    made_up = [
        secrets.token_urlsafe(24),
        real[:-1] + ("A" if real[-1] != "A" else "B"),
        real[:10],
        "x" * 5000,
        URLSafeSerializer("another-key-0123456789abcdef", salt=OPT_OUT_SALT).dumps(ACCOUNT),
    ]
    for token in made_up:
        for response in (
            client.get(f"/reminders/stop/{token}"),
            client.post(f"/reminders/stop/{token}", data="List-Unsubscribe=One-Click"),
        ):
            html = response.get_data(as_text=True)
            assert response.status_code == 404, token
            assert "Not a valid link" in html
            assert "This link to stop payment reminders is not valid" in html
            assert ACCOUNT not in html and "Maria" not in html
    assert not opted_out(services)
    assert services.store.account_of_opt_out_token(made_up[0]) is None
    assert services.store.get_account(ACCOUNT).reminders_opted_out_at is None
