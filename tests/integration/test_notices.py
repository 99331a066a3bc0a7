"""Statement notices, reminders, the final notice, escalations, delivery and opt-out.

Every test ends by reading every .eml in the outbox with `checked_outbox`, which fails on
any health detail (codes, descriptions, provider, dates of birth) in any part or subject.
"""

from dataclasses import replace
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from itsdangerous import URLSafeSerializer

from portal.ports.ledger import ImportOutcome
from portal.ports.mail import KIND_HEADER, PermanentMailError, TransientMailError
from portal.services.notices import (
    OPT_OUT_SALT,
    Delivery,
    deliver,
    escalation_message,
    opt_out_account,
    opt_out_url,
    reminder_message,
    send_once,
    send_statement_notice,
)
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account, statement
from tests.integration.conftest import eml_files, path_of, read_eml

PRACTICE = "Demo Family Practice"
MARIA = "maria@example.com"
# From the statements' lines and the people on the account (tests/conftest.py).
HEALTH_DETAILS = (
    "99213",
    "J06.9",
    "Office visit",
    "established patient",
    "Dr. Chen",
    "Chen",
    "1984-03-12",
    "03/12/1984",
    "March 12, 1984",
    "2015-06-02",
    "06/02/2015",
    "June 2, 2015",
    "2018-01-09",
    "01/09/2018",
    "October 14",  # the dates of service
    "2026-10-14",
    "10/14/2026",
    "August 14",
    "2026-08-14",
)


def parts(message: EmailMessage) -> dict[str, str]:
    """content type -> decoded body of each text part."""
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if part.get_content_maintype() == "text"
    }


def checked_outbox(outbox: Path) -> list[EmailMessage]:
    """Every message in the outbox, oldest first, each checked: multipart text + HTML, a
    kind header, and no health detail in its subject, headers or either body."""
    messages = []
    for path in eml_files(outbox):
        message = read_eml(path)
        bodies = parts(message)
        assert message.get_content_type() == "multipart/alternative", path.name
        assert set(bodies) == {"text/plain", "text/html"}, path.name
        assert message[KIND_HEADER] in (
            "receipt",
            "statement",
            "reminder",
            "final-notice",
            "escalation",
        )
        everything = "\n".join([*(f"{k}: {v}" for k, v in message.items()), *bodies.values()])
        for detail in HEALTH_DETAILS:
            assert detail not in everything, (path.name, detail)
        messages.append(message)
    return messages


def of_kind(outbox: Path, kind: str) -> list[EmailMessage]:
    return [m for m in checked_outbox(outbox) if m[KIND_HEADER] == kind]


class FailingMailer:
    def __init__(self, error: Exception):
        self.error = error
        self.attempts = 0

    def send(self, message) -> str:
        self.attempts += 1
        raise self.error


def reminder(services, kind: str = "reminder"):
    return reminder_message(
        services, lopez_account(), kind, "S-2026-000100", 9550, date(2026, 9, 30), 59
    )


def unsubscribe_path(message: EmailMessage) -> str:
    header = str(message["List-Unsubscribe"]).strip()  # long enough to be folded
    assert header.startswith("<http://portal.test/reminders/stop/") and header.endswith(">")
    return path_of(header[1:-1])


# -- statement notices ---------------------------------------------------------------------


def test_a_statement_notice_goes_once_per_imported_statement(services, outbox):
    lopez = account = lopez_account()
    older = statement("S-2026-000100", (3000,), date(2026, 9, 1), date(2026, 9, 30))
    import_statement(services, account, older)
    import_statement(services, account, statement("S-2026-000123", (4550, 2000)))

    notices = of_kind(outbox, "statement")
    assert len(notices) == 2
    newest = notices[-1]
    text, html = parts(newest)["text/plain"], parts(newest)["text/html"]
    assert newest["To"] == MARIA
    assert newest["Subject"] == f"Your statement from {PRACTICE} is ready"
    for body in (text, html):
        assert "Hello Maria," in body
        assert PRACTICE in body
        assert "S-2026-000123" in body
        assert "$65.50" in body  # this statement
        assert "$95.50" in body  # the whole account, with the older statement
        assert "http://portal.test/pay" in body
        assert "(555) 010-0123" in body  # how to pay by phone, or ask for a plan
        assert "payment plan" in body
    assert "Ana" not in text  # the patient is not named

    # The same statement again: unchanged, and nothing sent.
    again = import_statement(services, lopez, statement("S-2026-000123", (4550, 2000)))
    assert again is ImportOutcome.UNCHANGED
    assert len(of_kind(outbox, "statement")) == 2

    # A new statement: one more notice.
    later = statement("S-2026-000150", (1234,), date(2026, 11, 20), date(2026, 12, 20))
    assert import_statement(services, lopez, later) is ImportOutcome.IMPORTED
    notices = of_kind(outbox, "statement")
    assert len(notices) == 3
    assert "S-2026-000150" in parts(notices[-1])["text/plain"]
    assert "$12.34" in parts(notices[-1])["text/plain"]
    assert send_statement_notice(services, lopez, later) is None  # claimed and sent

    # An import that asks for no notice sends none.
    quiet = statement("S-2026-000160", (500,), date(2026, 11, 25), date(2026, 12, 25))
    assert import_statement(services, lopez, quiet, notify=False) is ImportOutcome.IMPORTED
    assert len(of_kind(outbox, "statement")) == 3


def test_no_statement_notice_without_an_email_address(services, outbox):
    account = lopez_account(email="")

    assert import_statement(services, account, statement()) is ImportOutcome.IMPORTED
    assert send_statement_notice(services, account, statement()) is None
    assert checked_outbox(outbox) == []


def test_a_conflicting_statement_sends_nothing(services, outbox, lopez):
    before = len(checked_outbox(outbox))
    different = statement("S-2026-000123", (9999,))

    with pytest.raises(ValueError):
        import_statement(services, lopez, different)
    assert len(checked_outbox(outbox)) == before


@pytest.mark.parametrize(
    "error", [TransientMailError("421 try again later"), OSError("relay unreachable")]
)
def test_a_failed_statement_notice_does_not_fail_the_import(services, outbox, error):
    account = lopez_account()
    down = replace(services, mailer=FailingMailer(error))

    assert import_statement(down, account, statement()) is ImportOutcome.IMPORTED
    assert down.mailer.attempts == 1
    assert services.store.get_statement("S-2026-000123") is not None
    assert checked_outbox(outbox) == []

    # The claim was given back: once mail works the notice goes, once.
    assert send_statement_notice(services, account, statement()) is Delivery.SENT
    assert send_statement_notice(services, account, statement()) is None
    assert len(of_kind(outbox, "statement")) == 1


def test_a_refused_statement_notice_is_noted_and_not_retried(services, outbox):
    account = lopez_account()
    refusing = replace(
        services, mailer=FailingMailer(PermanentMailError("550 5.1.1 no such mailbox"))
    )

    assert import_statement(refusing, account, statement()) is ImportOutcome.IMPORTED

    (note,) = services.store.notes("100234")
    assert note.author == "system"
    assert note.text == (
        f"E-mail (statement) to {MARIA} could not be delivered: 550 5.1.1 no such mailbox"
    )
    assert send_statement_notice(services, account, statement()) is None
    assert checked_outbox(outbox) == []


# -- reminders, the final notice and opting out -------------------------------------------


@pytest.mark.parametrize(
    ("kind", "subject"),
    [
        ("reminder", f"Reminder: {PRACTICE} balance of $95.50 past due"),
        ("final-notice", f"Final notice: {PRACTICE} balance of $95.50 past due"),
    ],
)
def test_reminders_carry_a_one_click_opt_out(services, outbox, lopez, kind, subject):
    assert deliver(services, reminder(services, kind), "100234") is Delivery.SENT

    (sent,) = of_kind(outbox, kind)
    assert sent["To"] == MARIA
    assert sent["Subject"] == subject
    assert sent["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    link = "http://portal.test" + unsubscribe_path(sent)
    assert link == opt_out_url(services, "100234")
    assert opt_out_account(services, link.rsplit("/", 1)[1]) == "100234"
    for body in parts(sent).values():
        assert "Hello Maria," in body
        assert "S-2026-000100" in body
        assert "$95.50" in body
        assert "September 30, 2026" in body  # due date, not a health detail
        assert "http://portal.test/pay" in body
        assert "payment plan" in body
        assert link in body
        # The opt-out comes last, after the message itself.
        assert body.index(link) > body.index("http://portal.test/pay")


def test_the_opt_out_link_shows_a_page_whose_button_stops_reminders(
    services, client, outbox, lopez
):
    deliver(services, reminder(services), "100234")
    (sent,) = of_kind(outbox, "reminder")
    path = unsubscribe_path(sent)

    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f'action="{path}"' in html
    assert 'method="post"' in html
    assert services.store.get_account("100234").reminders_opted_out_at is None  # GET: nothing

    done = client.post(path)  # the button: no CSRF token needed
    text = done.get_data(as_text=True)
    assert done.status_code == 200
    assert f"You will get no more payment reminders from {PRACTICE}." in text
    assert "Receipts for payments still come." in text
    assert services.store.get_account("100234").reminders_opted_out_at == NOW

    again = client.post(path)
    assert again.status_code == 200
    assert "no more payment reminders" in again.get_data(as_text=True)
    assert services.store.get_account("100234").reminders_opted_out_at == NOW
    for body in (html, text):
        for private in ("100234", "Maria", "Lopez", "$", "S-2026"):
            assert private not in body, private
    checked_outbox(outbox)


def test_one_click_opt_out_from_the_mail_client(services, client, outbox, lopez):
    deliver(services, reminder(services, "final-notice"), "100234")
    (sent,) = of_kind(outbox, "final-notice")

    response = client.post(
        unsubscribe_path(sent),
        data="List-Unsubscribe=One-Click",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 200
    assert services.store.get_account("100234").reminders_opted_out_at == NOW
    checked_outbox(outbox)


def test_a_tampered_or_foreign_token_is_not_found_and_changes_nothing(
    services, client, outbox, lopez
):
    good = opt_out_url(services, "100234").rsplit("/", 1)[1]
    flipped = good[:-1] + ("A" if good[-1] != "A" else "B")
    # Links sent before the tokens were opaque: signed with another key, or for no account.
    other_key = URLSafeSerializer("x" * 32, salt=OPT_OUT_SALT).dumps("100234")
    unknown_account = URLSafeSerializer(services.settings.secret_key, salt=OPT_OUT_SALT).dumps(
        "999999"
    )
    for token in (flipped, "not-a-token", other_key, unknown_account):
        assert opt_out_account(services, token) in (None, "999999")
        for response in (
            client.get(f"/reminders/stop/{token}"),
            client.post(f"/reminders/stop/{token}", data="List-Unsubscribe=One-Click"),
        ):
            assert response.status_code == 404, token
            body = response.get_data(as_text=True)
            for private in ("100234", "Maria", "Lopez", "999999"):
                assert private not in body
    assert opt_out_account(services, flipped) is None
    assert services.store.get_account("100234").reminders_opted_out_at is None
    checked_outbox(outbox)


def test_the_escalation_goes_to_the_billing_inbox(services, outbox, lopez):
    inbox = "billing-team@practice.test"
    staffed = replace(services, settings=replace(services.settings, billing_inbox=inbox))

    message = escalation_message(staffed, lopez, "S-2026-000100", 9550, 91)
    assert deliver(staffed, message, "100234") is Delivery.SENT

    (sent,) = of_kind(outbox, "escalation")
    assert sent["To"] == inbox
    assert MARIA not in sent["To"]
    assert "final notice" in sent["Subject"]
    assert "List-Unsubscribe" not in sent
    for body in parts(sent).values():
        assert "http://portal.test/staff/accounts/100234" in body
        assert "final notice" in body
        assert "queue" in body
        assert "S-2026-000100" in body
        assert "$95.50" in body
        assert "91 days" in body


# -- delivery ------------------------------------------------------------------------------


def test_a_permanent_refusal_is_noted_on_the_account(services, outbox, lopez):
    before = len(checked_outbox(outbox))
    refusing = replace(
        services, mailer=FailingMailer(PermanentMailError("550 5.1.1 mailbox unavailable"))
    )

    assert deliver(refusing, reminder(services), "100234") is Delivery.REFUSED

    notes = services.store.notes("100234")
    reason = "550 5.1.1 mailbox unavailable"
    assert [(n.author, n.text) for n in notes] == [
        ("system", f"E-mail (reminder) to {MARIA} could not be delivered: {reason}")
    ]
    assert notes[0].created_at == NOW
    assert len(checked_outbox(outbox)) == before


def test_send_once_marks_a_refused_message_done(services, outbox, lopez):
    refusing = replace(services, mailer=FailingMailer(PermanentMailError("554 rejected")))

    assert send_once(refusing, "reminder", "100234:15", reminder(services), "100234") is (
        Delivery.REFUSED
    )
    # A refused address is not tried again every day.
    assert send_once(services, "reminder", "100234:15", reminder(services), "100234") is None
    assert of_kind(outbox, "reminder") == []


@pytest.mark.parametrize(
    "error", [TransientMailError("451 throttled"), RuntimeError("something else broke")]
)
def test_a_transient_failure_frees_the_claim(services, outbox, lopez, error):
    down = replace(services, mailer=FailingMailer(error))

    assert deliver(down, reminder(services), "100234") is Delivery.FAILED
    assert send_once(down, "reminder", "100234:15", reminder(services), "100234") is (
        Delivery.FAILED
    )
    assert services.store.notes("100234") == []  # nothing for staff: it will be retried

    assert send_once(services, "reminder", "100234:15", reminder(services), "100234") is (
        Delivery.SENT
    )
    assert send_once(services, "reminder", "100234:15", reminder(services), "100234") is None
    assert len(of_kind(outbox, "reminder")) == 1


def test_a_claim_whose_sender_died_is_taken_over(services, outbox, lopez):
    store = services.store
    assert store.claim("reminder", "dead", NOW - timedelta(minutes=11))
    assert store.claim("reminder", "busy", NOW - timedelta(minutes=5))

    # Claimed 11 minutes ago and never marked sent: its sender died.
    assert send_once(services, "reminder", "dead", reminder(services), "100234") is Delivery.SENT
    # Claimed 5 minutes ago: its sender may still be at it.
    assert send_once(services, "reminder", "busy", reminder(services), "100234") is None
    # Sent now: never again, however long ago.
    services.clock.advance(days=2)
    assert send_once(services, "reminder", "dead", reminder(services), "100234") is None
    assert len(of_kind(outbox, "reminder")) == 1
