"""What the console shows of reminders and e-mails: the dashboard's accounts past the final
notice and disputed payments, and each account's reminder stage and mail log."""

import dataclasses
from datetime import date, timedelta

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.payments import Payment, PaymentStatus
from portal.domain.statements import Statement
from portal.ports.mail import TransientMailError
from portal.services import ledger as posting
from portal.services.notices import deliver, reminder_message
from portal.services.statements import import_statement
from tests.conftest import NOW, line
from tests.integration.staff_helpers import make_staff, staff_sign_in, text

TODAY = date(2026, 11, 28)


def overdue(services, number: str, days: int, email: str = "pat@example.com") -> Account:
    account = Account(
        number,
        Guarantor("Pat", f"Late{number}", date(1970, 1, 1), email=email),
        (Patient("P1", "Pat", f"Late{number}", date(1970, 1, 1)),),
    )
    due = TODAY - timedelta(days=days)
    dated = due - timedelta(days=30)
    service = line(service_date=dated - timedelta(days=5))
    statement = Statement(f"S-{number}", number, dated, due, (service,))
    import_statement(services, account, statement, notify=False)
    return account


def signed_in(client, services):
    make_staff(services, "alice")
    staff_sign_in(client, services, "alice")
    return client


def test_the_dashboard_lists_accounts_past_the_final_notice(client, services):
    overdue(services, "500070", 70)
    overdue(services, "500020", 20)

    page = signed_in(client, services).get("/staff/").get_data(as_text=True)

    section = page.split('id="final-heading"')[1]
    assert "500070" in section and "S-500070" in section
    assert "500020" not in section


def test_the_dashboard_lists_card_payments_in_dispute(client, services):
    overdue(services, "500030", 30)
    store = services.store
    store.create_payment(
        Payment("pay_disp", "500030", 1000, PaymentStatus.PENDING, "card", "sandbox", NOW)
    )
    posting.post_payment(store, "pay_disp", "ref-disp", 1000, NOW)
    store.set_dispute("pay_disp", True)

    page = signed_in(client, services).get("/staff/").get_data(as_text=True)

    assert "Card payments in dispute" in page
    assert "pay_disp" in page.split("<caption>Card payments in dispute</caption>")[1]


def test_the_account_page_shows_the_reminder_stage_and_the_next_one(client, services):
    overdue(services, "500031", 31)
    services.store.opt_out_of_reminders("500031", NOW)

    page = signed_in(client, services).get("/staff/accounts/500031").get_data(as_text=True)

    stage = text(page.split('data-testid="reminder-stage">')[1].split("</p>")[0])
    assert "31 days past due: reminder stage (30 days)." in stage
    assert "Next: final notice on" in stage
    assert "opted out" in stage


def test_the_account_page_lists_each_e_mail_sent_or_tried(client, services):
    account = overdue(services, "500040", 40)
    message = reminder_message(services, account, "reminder", "S-500040", 3000, TODAY, 40)
    deliver(services, message, "500040")

    class Down:
        def send(self, message):
            raise TransientMailError("the relay is not answering")

    deliver(dataclasses.replace(services, mailer=Down()), message, "500040")

    page = signed_in(client, services).get("/staff/accounts/500040").get_data(as_text=True)

    log = text(page.split('id="reminders-heading"')[1].split("</section>")[0])
    assert "failed: the relay is not answering" in log
    assert log.count("reminder") >= 2 and "sent" in log
    assert [m.outcome for m in services.store.mail_log("500040")] == ["failed", "sent"]
