"""What patients see of a remittance (issue 20): plain sentences on the statement page, in
English and Spanish, never the codes; a statement a remittance paid off gets no more
reminders; the month's insurance column is what the remittances posted."""

import json
import re
from datetime import UTC, date, datetime
from email import message_from_bytes
from pathlib import Path

import pytest

from portal.domain.insurer_words import code_words
from portal.services import statement_pdf
from portal.services.accounts import account_view
from portal.services.imports import import_records
from portal.services.reminders import run_reminders
from portal.services.remittances import import_remittances
from portal.services.reports import monthly_summary
from portal.services.statement_pdf import render_statement_pdf
from tests.integration.conftest import sign_in
from tests.integration.staff_helpers import text
from tests.integration.test_statement_pdf import text_of
from tests.remittances import GOOD, HERE, corpus_text


@pytest.fixture
def statements(services):
    records = json.loads((HERE / "statements.json").read_text())["statements"]
    assert import_records(services, records, "tester").imported == len(records)


def notes(client, statement_id: str) -> list[str]:
    page = client.get(f"/statements/{statement_id}").get_data(as_text=True)
    section = re.search(r'data-testid="insurer-notes">(.*?)</section>', page, re.S)
    return (
        [text(li) for li in re.findall(r"<li>.*?</li>", section.group(1), re.S)] if section else []
    )


def osei(client, **extra):
    sign_in(client, account_number="300200", last_name="Osei", date_of_birth="1980-01-15")


def test_the_statement_says_what_the_insurer_paid_and_what_went_to_the_deductible(
    client, services, statements
):
    import_remittances(services, corpus_text(GOOD / "02_deductible_coinsurance_copay.835"), "t")
    osei(client)

    assert notes(client, "S-R-200") == [
        "Your insurer paid $132.50 more after this statement",
        "$40.00 of this went to your deductible",
        "$40.00 of this is your coinsurance",
        "$20.00 of this is your copay",
    ]
    page = client.get("/statements/S-R-200").get_data(as_text=True)
    assert "CO-45" not in page and "PR-1" not in page and "CHK-2002" not in page


def test_the_same_words_in_spanish(client, services, statements):
    import_remittances(services, corpus_text(GOOD / "02_deductible_coinsurance_copay.835"), "t")
    osei(client)
    client.get("/language/es?next=/account")

    assert notes(client, "S-R-200") == [
        "Su seguro pagó $132.50 más después de este estado de cuenta",
        "$40.00 de esto se aplicó a su deducible",
        "$40.00 de esto es su coaseguro",
        "$20.00 de esto es su copago",
    ]


def test_a_secondary_payment_tells_the_patient_it_paid_the_rest(client, services, statements):
    import_remittances(services, corpus_text(GOOD / "04_secondary_after_statement.835"), "t")
    sign_in(client, account_number="300400", last_name="Dubois", date_of_birth="1980-01-15")

    assert notes(client, "S-R-400") == ["Your insurer paid $62.10 more after this statement"]


def test_a_statement_without_remittances_says_nothing_of_insurers(client, services, statements):
    osei(client)

    assert notes(client, "S-R-200") == []


def test_a_statement_paid_off_by_a_remittance_gets_no_reminders(services, statements, outbox):
    import_remittances(services, corpus_text(GOOD / "01_paid_in_full.835"), "t")

    summary = run_reminders(services, datetime(2026, 12, 20, 15, 0, tzinfo=UTC))

    messages = [message_from_bytes(p.read_bytes()) for p in Path(outbox).glob("*.eml")]
    recipients = {
        m["To"]
        for m in messages
        if m["X-Portal-Message-Kind"] in ("reminder", "final-notice", "escalation")
    }
    assert summary.sent > 0
    assert "ingrid@example.com" in recipients  # the denied claim: still owed
    assert "maria@example.com" not in recipients  # paid off by the remittance


def test_the_months_insurance_column_is_what_the_remittances_posted(services, statements):
    before = monthly_summary(services, date(2026, 11, 1))
    for name in (
        "01_paid_in_full.835",
        "02_deductible_coinsurance_copay.835",
        "04_secondary_after_statement.835",
        "05a_original_payment.835",
        "05b_reversal_and_correction.835",
        "07_several_claims_and_transactions.835",
    ):
        import_remittances(services, corpus_text(GOOD / name), "t")
    records = services.store.remittances_imported(
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    )
    posted = sum(r.posted_cents for r in records)

    after = monthly_summary(services, date(2026, 11, 1))

    assert posted == 15000 + 13250 + 6210 + 10000 + 1000 + 10200 + 10000
    assert after.insurance_payments_cents - before.insurance_payments_cents == posted


def test_staff_see_codes_with_the_portals_words():
    assert code_words("45") == "Charge above the fee the practice's contract allows"
    assert code_words("N115") == "Decided by a local coverage determination (LCD)"
    assert code_words("ZZZ") == ""


def test_the_pdf_statement_says_it_too_in_the_guarantors_language(services, statements):
    import_remittances(services, corpus_text(GOOD / "02_deductible_coinsurance_copay.835"), "t")

    english = " ".join(text_of(render_statement_pdf(services, "300200", "S-R-200")).split())
    view = account_view(services, "300200")
    [item] = [s for s in view.statements if s.statement.statement_id == "S-R-200"]
    pdf = statement_pdf._render(
        view, item, services.practice, "", services.clock.now(), services.emails.wording("es")
    )
    spanish = " ".join(text_of(pdf).split())

    assert "From your insurer since this statement" in english
    assert "Your insurer paid $132.50 more after this statement" in english
    assert "$40.00 of this went to your deductible" in english
    assert "CO-45" not in english and "PR-1" not in english
    assert "Su seguro pagó $132.50 más después de este estado de cuenta" in spanish
