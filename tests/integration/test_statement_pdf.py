"""The statement as a PDF: what it says (read back with pypdf), long statements over several
pages, the patient route's access rule (the same as the HTML statement page's) and the
audited console route."""

import io
import re
from datetime import date

import pytest
from pypdf import PdfReader

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.money import format_cents
from portal.domain.staff import AuditAction
from portal.domain.statements import Statement
from portal.services.errors import NotFound
from portal.services.statement_pdf import render_statement_pdf
from portal.services.statements import import_statement
from tests.conftest import line
from tests.integration.conftest import path_of, sign_in
from tests.integration.staff_helpers import audit_since, last_audit_id, make_staff, staff_sign_in

STATEMENT = "S-2026-000123"
PDF = f"/statements/{STATEMENT}.pdf"
BIRTH_DATES = ("1984-03-12", "2015-06-02", "2018-01-09", "Mar 12, 1984", "Jun 2, 2015")


def pages_text(data: bytes) -> list[str]:
    reader = PdfReader(io.BytesIO(data))
    return [" ".join(page.extract_text().split()) for page in reader.pages]


def text_of(data: bytes) -> str:
    """Every page's text, whitespace (including line wraps) collapsed to single spaces."""
    return " ".join(pages_text(data))


@pytest.fixture
def varied(services, lopez) -> Statement:
    """S-2026-000124 on account 100234: lines with their own codes, descriptions, providers
    and amounts, for both patients (one of them José Núñez-Lopez)."""
    lines = (
        line("1", "P1", 4550, code="99214", description="Office visit, moderate complexity"),
        line(
            "2",
            "P2",
            2000,
            provider="Priya Natarajan, NP",
            code="83036",
            description="Hemoglobin A1c test",
            charge_cents=9001,
            insurance_paid_cents=6001,
            adjustment_cents=1000,
            patient_responsibility_cents=2000,
        ),
        line(
            "3",
            "P2",
            1234,
            provider="Dr. Elena Sokolova, MD",
            code="80053",
            description="Comprehensive metabolic panel",
            diagnosis_codes=("E78.5", "I10"),
        ),
    )
    st = Statement("S-2026-000124", "100234", date(2026, 11, 10), date(2026, 12, 10), lines)
    import_statement(services, lopez, st, notify=False)
    return st


def test_the_pdf_shows_every_line_the_totals_and_how_to_pay(services, lopez, varied):
    text = text_of(render_statement_pdf(services, "100234", varied.statement_id))

    for item in varied.lines:
        assert f"CPT {item.code}" in text
        assert item.description in text
        assert item.provider in text
        for cents in (
            item.charge_cents,
            item.insurance_paid_cents,
            item.adjustment_cents,
            item.patient_responsibility_cents,
        ):
            assert format_cents(cents) in text
    assert "Ana Lopez" in text and "José Núñez-Lopez" in text  # non-ASCII as text
    assert "E78.5, I10" in text
    totals = " ".join(
        format_cents(c)
        for c in (
            varied.charges_cents,
            varied.insurance_paid_cents,
            varied.adjustments_cents,
            varied.total_cents,
        )
    )
    assert f"Totals {totals}" in text
    assert varied.total_cents == 4550 + 2000 + 1234
    # The guarantor, the account, the dates, what is due here and on the whole account.
    assert "Maria Lopez" in text and "Account number 100234" in text
    assert "Statement date Nov 10, 2026" in text and "Due date Dec 10, 2026" in text
    assert f"Due on this statement by Dec 10, 2026 {format_cents(7784)}" in text
    assert f"Balance due on the account {format_cents(3000 + 6550 + 7784)}" in text
    # Aging today (2026-11-28): $30.00 is 31-60 days past due, the rest current.
    assert "as of Nov 28, 2026" in text
    assert f"{format_cents(6550 + 7784)} $0.00 $30.00 $0.00 $0.00 $0.00" in text
    # The practice, and how to pay online without printing anyone's date of birth.
    assert "Demo Family Practice" in text and "100 Example Street, Suite 200" in text
    assert "(555) 010-0123" in text
    assert "http://portal.test/pay" in text
    assert "date of birth of the guarantor or patient" in text
    for birth_date in BIRTH_DATES:
        assert birth_date not in text


def test_a_partly_paid_statement_shows_what_is_left(services, lopez):
    from portal.services.staff_actions import post_manual_payment

    result = post_manual_payment(services, "alice", "100234", "cash", "40.00", "", "1" * 32, "")
    assert result.posted  # $30.00 to the older statement, $10.00 to this one
    text = text_of(render_statement_pdf(services, "100234", STATEMENT))
    assert "Paid or credited since $10.00" in text
    assert f"Due on this statement by Nov 30, 2026 {format_cents(6550 - 1000)}" in text
    assert f"Balance due on the account {format_cents(5550)}" in text


def test_a_200_line_statement_runs_over_pages_with_the_headings_repeated(services, lopez):
    lines = tuple(
        line(
            str(n),
            "P2" if n % 2 else "P1",
            owed=n,
            code=f"9{n:04d}",
            description=f"Procedure number {n}",
        )
        for n in range(1, 201)
    )
    st = Statement("S-2026-000300", "100234", date(2026, 11, 20), date(2026, 12, 20), lines)
    import_statement(services, lopez, st, notify=False)

    pages = pages_text(render_statement_pdf(services, "100234", "S-2026-000300"))

    assert len(pages) > 1
    headings = "Date Patient Provider Service Charge Insurance paid Adjustment You owe"
    for number, page in enumerate(pages, start=1):
        assert f"Page {number} of {len(pages)}" in page
    table_pages = [p for p in pages if "Procedure number" in p]
    assert len(table_pages) > 1
    assert all(headings in page for page in table_pages)
    text = " ".join(pages)
    for n in range(1, 201):
        assert f"CPT 9{n:04d}: Procedure number {n} " in text, n
    assert f"Totals {format_cents(st.charges_cents)}" in text
    assert format_cents(st.total_cents) == format_cents(sum(range(1, 201)))
    assert f"Due on this statement by Dec 20, 2026 {format_cents(st.total_cents)}" in text


def test_an_unknown_statement_is_not_found(services, lopez, smith):
    with pytest.raises(NotFound):
        render_statement_pdf(services, "100234", "S-2026-000200")  # smith's


# -- the patient route --------------------------------------------------------------------


def test_the_signed_in_patient_gets_the_pdf(patient):
    response = patient.get(PDF)

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert (
        response.headers["Content-Disposition"] == f'inline; filename="statement-{STATEMENT}.pdf"'
    )
    assert response.headers["Cache-Control"] == "no-store"
    assert response.data.startswith(b"%PDF-")
    text = text_of(response.data)
    assert f"Statement {STATEMENT}" in text and "$45.50" in text and "$20.00" in text


def test_the_statement_page_links_to_the_pdf(patient):
    html = patient.get(f"/statements/{STATEMENT}").get_data(as_text=True)
    assert f'href="{PDF}"' in html and "Download PDF" in html


def test_another_accounts_statement_is_refused_as_the_page_refuses_it(patient, smith):
    page = patient.get("/statements/S-2026-000200")
    pdf = patient.get("/statements/S-2026-000200.pdf")
    assert page.status_code == 404
    assert pdf.status_code == page.status_code
    assert pdf.mimetype != "application/pdf"
    assert "Smith" not in pdf.get_data(as_text=True)


def test_a_statement_that_does_not_exist_is_refused_as_the_page_refuses_it(patient):
    page = patient.get("/statements/S-1999-000001")
    pdf = patient.get("/statements/S-1999-000001.pdf")
    assert page.status_code == pdf.status_code == 404


def test_anonymous_visitors_are_sent_to_quick_pay_as_the_page_sends_them(client, lopez):
    page = client.get(f"/statements/{STATEMENT}")
    pdf = client.get(PDF)
    assert page.status_code == pdf.status_code == 302
    assert path_of(pdf.headers["Location"]) == path_of(page.headers["Location"]) == "/pay"


def test_the_other_account_signed_in_cannot_get_this_accounts_pdf(client, lopez, smith):
    sign_in(client, account_number="100777", last_name="Smith", date_of_birth="1970-05-05")
    assert client.get(f"/statements/{STATEMENT}.pdf").status_code == 404
    assert client.get("/statements/S-2026-000200.pdf").status_code == 200


# -- the console route --------------------------------------------------------------------


def test_the_console_pdf_is_audited(client, services, lopez):
    make_staff(services, "alice", "associate")
    staff_sign_in(client, services)
    account_page = client.get("/staff/accounts/100234").get_data(as_text=True)
    url = f"/staff/accounts/100234/statements/{STATEMENT}.pdf"
    assert f'href="{url}"' in account_page
    since = last_audit_id(services)

    response = client.get(url, environ_base={"REMOTE_ADDR": "10.1.2.3"})

    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Cache-Control"] == "no-store"
    assert "Maria Lopez" in text_of(response.data)
    entries = audit_since(services, since)
    assert [(e.actor, e.action, e.account_number, e.subject, e.address) for e in entries] == [
        ("alice", AuditAction.VIEW_STATEMENT, "100234", STATEMENT, "10.1.2.3")
    ]


def test_the_console_refuses_a_statement_of_another_account_without_auditing_it(
    client, services, lopez, smith
):
    make_staff(services, "alice", "associate")
    staff_sign_in(client, services)
    since = last_audit_id(services)
    response = client.get("/staff/accounts/100234/statements/S-2026-000200.pdf")
    assert response.status_code == 404
    assert audit_since(services, since) == []
    assert not re.search(rb"%PDF-", response.data)


def test_an_account_with_a_credit_shows_it(services):
    account = Account(
        "100900",
        Guarantor("Zoë", "Ångström", date(1960, 2, 3)),
        (Patient("P1", "Zoë", "Ångström", date(1960, 2, 3)),),
    )
    st = Statement(
        "S-2026-000900", "100900", date(2026, 11, 1), date(2026, 11, 30), (line("1", "P1", 500),)
    )
    import_statement(services, account, st, notify=False)
    from portal.services.staff_actions import post_manual_payment

    assert post_manual_payment(services, "a", "100900", "cash", "7.00", "", "9" * 32, "").posted
    text = text_of(render_statement_pdf(services, "100900", "S-2026-000900"))
    assert "Zoë Ångström" in text
    assert "Credit on the account $2.00" in text
    assert "Balance due on the account $0.00" in text
    assert "1960" not in text


# -- in the guarantor's language -------------------------------------------------------------


@pytest.fixture(scope="module")
def catalogs(tmp_path_factory):
    from tests.email_catalogs import compile_catalogs

    return compile_catalogs(tmp_path_factory.mktemp("catalogs"))


def spanish_account() -> Account:
    return Account(
        "100950",
        Guarantor("José", "Núñez", date(1970, 4, 4), preferred_language="es-MX"),
        (Patient("P1", "Iñaki", "Núñez", date(2012, 8, 8)),),
    )


def test_a_spanish_accounts_statement_is_printed_in_spanish(services, lopez, catalogs):
    from tests.email_catalogs import renderer

    services.emails = renderer(catalogs)
    st = Statement(
        "S-2026-000950",
        "100950",
        date(2026, 11, 1),
        date(2026, 11, 30),
        (line("1", "P1", 4550, diagnosis_codes=("J06.9",)),),
    )
    import_statement(services, spanish_account(), st, notify=False)

    data = render_statement_pdf(services, "100950", "S-2026-000950")
    text = text_of(data)

    assert "Estado de cuenta para José Núñez Cuenta 100950" in text
    assert "Fecha de emisión 1 nov 2026" in text
    assert "Fecha de vencimiento 30 nov 2026" in text
    assert "Para qué fue cada cargo" in text
    assert "Fecha Paciente Proveedor Servicio Cargo Pagó el seguro Ajuste Usted debe" in text
    assert "Iñaki Núñez" in text and "(diagnóstico J06.9)" in text
    assert "A pagar a más tardar el 30 nov 2026 $45.50" in text
    assert "Su parte de este estado de cuenta $45.50" in text
    assert "Saldo a pagar en la cuenta $45.50" in text
    assert "Saldo de la cuenta por antigüedad, al 28 nov 2026" in text
    assert "Al corriente" in text and "1-30 días de atraso" in text
    assert "Cómo pagar" in text
    assert (
        "¿Preguntas? Llame al (555) 010-0123 (de lunes a viernes, de 8:30 a. m. a 5:00 p. m.)"
        in text
    )
    assert "Página 1 de 1" in text
    for english in ("Statement for", "How to pay", "Amount due", "Questions", "Page 1"):
        assert english not in text, english
    assert "1970" not in text and "2012" not in text  # no dates of birth
    assert PdfReader(io.BytesIO(data)).trailer["/Root"]["/Lang"] == "es-US"

    # The English account beside it is printed in English from the same services.
    english = text_of(render_statement_pdf(services, "100234", STATEMENT))
    assert "How to pay" in english and "Cómo pagar" not in english


def test_a_spanish_statement_prints_the_practices_spanish_descriptions(services, catalogs):
    """The practice's description_es where it sent one; else the English description, said
    to be in English. An English statement prints the English ones only."""
    from tests.email_catalogs import renderer

    services.emails = renderer(catalogs)
    lines = (
        line("1", "P1", 3000, description_es="Consulta, paciente establecido"),
        line("2", "P1", 2000, description="Flu shot"),
    )
    st = Statement("S-2026-000951", "100950", date(2026, 11, 1), date(2026, 11, 30), lines)
    import_statement(services, spanish_account(), st, notify=False)

    text = text_of(render_statement_pdf(services, "100950", "S-2026-000951"))

    assert "CPT 99213: Consulta, paciente establecido" in text
    assert "Office visit" not in text
    assert "CPT 99213: Flu shot (en inglés)" in text

    english = Account(
        "100951", Guarantor("Ann", "Lee", date(1970, 4, 4)), spanish_account().patients
    )
    same = Statement("S-2026-000952", "100951", date(2026, 11, 1), date(2026, 11, 30), lines)
    import_statement(services, english, same, notify=False)

    printed = text_of(render_statement_pdf(services, "100951", "S-2026-000952"))

    assert "CPT 99213: Office visit, established patient" in printed
    assert "CPT 99213: Flu shot (diagnosis J06.9)" in printed
    assert "inglés" not in printed and "Consulta" not in printed
