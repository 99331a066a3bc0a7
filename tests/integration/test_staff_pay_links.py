"""A pay link sent from the staff account page, by text or e-mail: audited, at most three
an account a day (also when two clicks race), texts only with consent and in quiet hours."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from portal.adapters.outbox_sms import read_outbox
from portal.domain.errors import InvalidInput
from portal.domain.staff import AuditAction
from portal.domain.texting import SmsConsent
from portal.services.pay_links import linked_account
from portal.services.staff_pay_links import send_pay_link
from tests.conftest import NOW
from tests.integration.conftest import eml_files, path_of, read_eml
from tests.integration.staff_helpers import (
    audit_since,
    flashes,
    last_audit_id,
    make_staff,
    post_form,
    staff_sign_in,
)

PAGE = "/staff/accounts/100234"
PHONE = "+15555550123"


@pytest.fixture
def associate(app, services, lopez):
    make_staff(services, "alice", "associate")
    client = app.test_client()
    staff_sign_in(client, services, "alice")
    return client


def agree(services, zone: str = "") -> None:
    services.store.save_sms_consent(
        SmsConsent("100234", PHONE, NOW - timedelta(days=1), "intake form", None, zone)
    )


def send(client, channel: str) -> list[str]:
    response = post_form(client, f"{PAGE}/pay-link", {"channel": channel})
    assert response.status_code == 303
    assert path_of(response.headers["Location"]) == PAGE
    return flashes(client.get(PAGE).get_data(as_text=True))


def texts(services) -> list[dict]:
    return read_outbox(services.settings.sms_outbox_dir)


def test_the_account_page_offers_a_pay_link(associate):
    html = associate.get(PAGE).get_data(as_text=True)
    assert "Send a pay link" in html and 'value="text"' in html and 'value="email"' in html


def test_a_pay_link_by_text_goes_to_the_agreed_number_and_is_audited(associate, services):
    agree(services)
    before = last_audit_id(services)
    assert f"Pay link sent by text to {PHONE}." in send(associate, "text")
    [text] = texts(services)
    assert text["to"] == PHONE and text["kind"] == "pay-link"
    token = text["body"].split("http://portal.test/pay/")[1].split()[0]
    assert linked_account(services, token) == "100234"
    for private in ("Maria", "Lopez", "$", "75.50", "99213", "J06.9", "Office visit", "1984"):
        assert private not in text["body"]
    [entry] = [e for e in audit_since(services, before) if e.action is AuditAction.SEND_PAY_LINK]
    assert (entry.actor, entry.account_number, entry.subject) == (
        "alice",
        "100234",
        f"text {PHONE}",
    )
    assert [m.kind for m in services.store.mail_log("100234")] == ["text-pay-link"]


def test_a_pay_link_by_email_carries_the_link_and_nothing_private(associate, services, outbox):
    assert "Pay link sent by e-mail to maria@example.com." in send(associate, "email")
    [path] = eml_files(outbox)
    message = read_eml(path)
    assert message["X-Portal-Message-Kind"] == "statement"
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert "http://portal.test/pay/" in body
        for private in ("99213", "J06.9", "Office visit", "1984", "2015", "$"):
            assert private not in body, private


def test_no_text_without_consent_or_after_a_stop(associate, services):
    assert any("has not agreed to texts" in f for f in send(associate, "text"))
    agree(services)
    services.store.save_sms_consent(services.store.sms_consent("100234").stopped(NOW))
    assert any("has not agreed to texts" in f for f in send(associate, "text"))
    assert texts(services) == []


def test_no_text_outside_the_patients_hours(associate, services):
    agree(services, "Pacific/Honolulu")  # 10:00 in New York is 5:00 in Honolulu
    assert any("from 8 a.m. to 9 p.m." in f for f in send(associate, "text"))
    assert texts(services) == []


def test_at_most_three_a_day_then_tomorrow_again(associate, services, clock, outbox):
    agree(services)
    for channel in ("text", "email", "text"):
        assert any(f.startswith("Pay link sent") for f in send(associate, channel))
    assert any("At most 3 pay links a day" in f for f in send(associate, "email"))
    assert len(texts(services)) == 2 and len(eml_files(outbox)) == 1
    clock.set(datetime(2026, 11, 29, 15, 0, tzinfo=UTC))
    staff_sign_in(associate, services, "alice")
    assert any(f.startswith("Pay link sent") for f in send(associate, "email"))


def test_a_failed_send_does_not_use_up_a_link(associate, services, monkeypatch):
    agree(services)

    class Refusing:
        def send(self, text):
            from portal.ports.sms import PermanentSmsError

            raise PermanentSmsError("The text was not sent: SNS refused the number.")

    working = services.texts
    services.texts = Refusing()
    assert any("not sent" in f for f in send(associate, "text"))
    services.texts = working
    for _ in range(3):
        assert any(f.startswith("Pay link sent") for f in send(associate, "text"))


def test_clicks_at_once_cannot_pass_the_limit(services, lopez):
    agree(services)
    start = threading.Barrier(6)
    results: list[str] = []

    def click():
        start.wait()
        try:
            results.append(send_pay_link(services, "alice", "100234", "text", "127.0.0.1"))
        except InvalidInput as exc:
            results.append(exc.message)

    threads = [threading.Thread(target=click) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(PHONE) == 3
    assert len(texts(services)) == 3


def test_an_unknown_account_is_not_found(associate):
    response = post_form(associate, "/staff/accounts/999999/pay-link", {"channel": "text"})
    assert response.status_code == 404


def consent_line(client) -> str:
    html = client.get(PAGE).get_data(as_text=True)
    start = html.index('data-testid="sms-consent">') + len('data-testid="sms-consent">')
    return html[start : html.index("</p>", start)].strip()


def test_the_account_page_says_whether_texts_may_go(associate, services):
    assert consent_line(associate) == "Texts: the guarantor has not agreed to texts."
    agree(services, "America/Chicago")
    line = consent_line(associate)
    assert line.startswith(f"Texts: on, to {PHONE} (agreed ") and "intake form" in line
    assert "America/Chicago" in line
    services.store.save_sms_consent(services.store.sms_consent("100234").stopped(NOW))
    assert consent_line(associate).startswith("Texts: stopped ")
