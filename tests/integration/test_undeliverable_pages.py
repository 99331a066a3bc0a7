"""Undeliverable e-mail on the pages: the staff account page says why no e-mail goes to the
guarantor, the patient's own page asks for a new address, and the staff list shows each
bad address with its accounts and a button that marks it corrected (audited)."""

from portal.domain.staff import AuditAction
from portal.services.mail_feedback import apply_ses_event
from portal.services.notices import Delivery, deliver, statement_notice
from tests.conftest import statement
from tests.integration.conftest import sign_in
from tests.integration.staff_helpers import (
    by_testid,
    flashes,
    make_staff,
    post_form,
    staff_sign_in,
)
from tests.ses_events import bounce, complaint

MARIA = "maria@example.com"
NOTICE = "Our e-mails to you are not being delivered"


def bounced(services, address: str = MARIA, account: str = "100234", event_id: str = "sns-1"):
    apply_ses_event(services, bounce(address, account), event_id)


def staff_client(app, services, username: str = "sam", role: str = "associate"):
    make_staff(services, username, role)
    client = app.test_client()
    staff_sign_in(client, services, username)
    return client


def test_the_staff_account_page_says_the_address_bounced(app, services, lopez):
    client = staff_client(app, services)
    assert (
        by_testid(
            client.get("/staff/accounts/100234").get_data(as_text=True), "email-undeliverable"
        )
        is None
    )

    bounced(services)
    page = client.get("/staff/accounts/100234").get_data(as_text=True)

    said = by_testid(page, "email-undeliverable")
    assert said is not None
    assert said.startswith("E-mail to this address bounced on ")
    assert said.endswith(": undeliverable.")
    assert "Nov 28, 2026" in said or "2026-11-28" in said or "November 28, 2026" in said


def test_the_patient_page_asks_for_a_new_address_only_when_mail_bounced(client, services, lopez):
    sign_in(client)
    assert NOTICE not in client.get("/account").get_data(as_text=True)

    apply_ses_event(services, complaint(MARIA, "100234"), "sns-2")
    page = client.get("/account").get_data(as_text=True)

    assert NOTICE in page and "update your e-mail address" in page
    assert MARIA not in page  # the page does not show the address


def test_the_staff_list_shows_the_address_and_marking_it_corrected_resumes_mail(
    app, services, lopez, smith
):
    bounced(services)
    bounced(services, "john@example.com", "100777", "sns-3")
    client = staff_client(app, services)

    page = client.get("/staff/mail/undeliverable").get_data(as_text=True)

    assert page.count('data-testid="undeliverable-row"') == 2
    assert MARIA in page and 'href="/staff/accounts/100234"' in page
    assert "Permanent/General" in page
    viewed = services.store.audit_entries(actor="sam")
    assert viewed[0].action is AuditAction.VIEW_UNDELIVERABLE

    done = post_form(
        client,
        "/staff/mail/undeliverable/corrected",
        {"address": MARIA},
        "/staff/mail/undeliverable",
    )

    assert done.status_code == 303 and done.headers["Location"].endswith(
        "/staff/mail/undeliverable"
    )
    assert services.store.undeliverable(MARIA) is None
    assert services.store.undeliverable("john@example.com") is not None
    entry = services.store.audit_entries(account_number="100234")[0]
    assert (entry.actor, entry.action) == ("sam", AuditAction.MARK_ADDRESS_CORRECTED)
    account = services.store.get_account("100234")
    assert deliver(services, statement_notice(services, account, statement(), 3000), "100234") is (
        Delivery.SENT
    )
    page = client.get("/staff/mail/undeliverable").get_data(as_text=True)
    assert "Marked corrected" in " ".join(flashes(page))
    assert page.count('data-testid="undeliverable-row"') == 1


def test_marking_an_address_not_listed_or_none_says_so_and_changes_nothing(app, services, lopez):
    bounced(services)
    client = staff_client(app, services)
    audited = len(services.store.audit_entries())

    for form in ({"address": "nobody@example.com"}, {"address": ""}, {}):
        answer = post_form(
            client, "/staff/mail/undeliverable/corrected", form, "/staff/mail/undeliverable"
        )
        assert answer.status_code == 303
        page = client.get(answer.headers["Location"]).get_data(as_text=True)
        assert any("not on the list" in f or "Choose an address" in f for f in flashes(page))

    assert services.store.undeliverable(MARIA) is not None
    # only the list's own views were audited
    views = services.store.audit_entries()[: len(services.store.audit_entries()) - audited]
    assert {e.action for e in views} == {AuditAction.VIEW_UNDELIVERABLE}
