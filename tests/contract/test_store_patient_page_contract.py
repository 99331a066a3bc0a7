"""Store.patient_page on every adapter: the browser session and what a patient's page shows,
read together (the account page, or one statement page)."""

from dataclasses import replace
from datetime import date, timedelta

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.statements import Statement
from portal.ports.ledger import ImportOutcome, PatientPage
from portal.ports.store import Store
from portal.services import ledger as posting
from tests.conftest import NOW, line, lopez_account, statement
from tests.contract.test_store_contract import (
    ACCOUNT,
    NEWER,
    OLDER,
    pending,
    records,
    seed,
)

SID = "sid-page"
SUBJECT = f"patient:{ACCOUNT}:guarantor"


def signed_in(store: Store) -> None:
    """The seeded account with a third statement, older than both and imported last (so
    that import order and date order differ), a posted payment and a pending one, and a
    browser session."""
    seed_with_an_older_statement_last(store)
    store.create_payment(pending("pay_posted", 4000, NOW + timedelta(minutes=1)))
    posting.post_payment(store, "pay_posted", "ref-1", 4000, NOW + timedelta(minutes=2))
    store.create_payment(pending("pay_open", 1500, NOW + timedelta(minutes=3)))
    assert store.opt_out_of_reminders(ACCOUNT, NOW)  # a field of the account read with it
    store.open_web_session(SID, SUBJECT, NOW)


def seed_with_an_older_statement_last(store: Store) -> None:
    seed(store)
    early = Statement(
        "S-2026-000050",
        ACCOUNT,
        date(2026, 6, 1),
        date(2026, 6, 30),
        (line("1", owed=1200, service_date=date(2026, 5, 2)),),
    )
    assert store.import_statement(lopez_account(), early, NOW) is ImportOutcome.IMPORTED


def test_the_account_page_reads_the_session_and_every_statement_without_lines(store: Store):
    signed_in(store)
    full = records(store)

    page = store.patient_page(SID, NOW + timedelta(hours=1), ACCOUNT)

    assert page.subject == SUBJECT
    assert page.records is not None
    assert page.records.account == full.account
    assert page.records.account.reminders_opted_out_at == NOW
    assert [p.patient_id for p in page.records.account.patients] == ["P1", "P2"]
    # Oldest first, as account_records, but only what the account page shows of each.
    assert [s.statement_id for s in page.records.statements] == [
        "S-2026-000050",
        OLDER,
        NEWER,
    ]
    assert page.records.statements == tuple(replace(s, lines=()) for s in full.statements)
    assert page.records.entries == full.entries
    assert page.records.payments == full.payments
    assert {p.payment_id for p in page.records.payments} == {"pay_posted", "pay_open"}


def test_a_statement_page_reads_only_that_statement_with_its_lines(store: Store):
    signed_in(store)
    full = records(store)

    page = store.patient_page(SID, NOW, ACCOUNT, NEWER)

    assert page.subject == SUBJECT
    assert page.records is not None
    assert page.records.account == full.account
    assert page.records.statements == (store.get_statement(NEWER),)
    assert [len(s.lines) for s in page.records.statements] == [2]
    assert page.records.entries == full.entries  # the account's balance, not only this one's
    assert page.records.payments == ()


def test_a_statement_of_another_account_or_none_is_not_read(store: Store):
    signed_in(store)
    kim = Guarantor("Kim", "Park", date(1970, 1, 1))
    other = Account("200100", kim, (Patient("P1", "Kim", "Park", date(1970, 1, 1)),))
    theirs = statement("S-2026-009999", (5000,), account_number="200100")
    assert store.import_statement(other, theirs, NOW) is ImportOutcome.IMPORTED

    for statement_id in ("S-2026-009999", "S-2026-404404"):
        page = store.patient_page(SID, NOW, ACCOUNT, statement_id)
        assert page.subject == SUBJECT
        assert page.records is not None
        assert page.records.statements == ()
        assert page.records.entries == records(store).entries


def test_an_ended_or_day_old_session_reads_nothing_of_the_account(store: Store):
    signed_in(store)

    day_later = NOW + timedelta(days=1, seconds=1)
    assert store.patient_page(SID, day_later, ACCOUNT) == PatientPage(None, None)
    assert store.patient_page("unknown", NOW, ACCOUNT, NEWER) == PatientPage(None, None)
    store.end_web_session(SID)
    assert store.patient_page(SID, NOW, ACCOUNT) == PatientPage(None, None)


def test_an_unknown_account_has_no_records_but_the_session_answers(store: Store):
    store.open_web_session(SID, "patient:999999:guarantor", NOW)

    assert store.patient_page(SID, NOW, "999999") == PatientPage("patient:999999:guarantor", None)
    assert store.patient_page(SID, NOW, "999999", NEWER) == PatientPage(
        "patient:999999:guarantor", None
    )
