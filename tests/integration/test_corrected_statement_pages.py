"""A corrected statement on the patient's page ("corrected statement" and what changed, in
English and Spanish, only the lines the person may see) and every version for staff."""

from dataclasses import replace
from datetime import date

from portal.domain.staff import AuditAction
from portal.services.statements import import_statement
from tests.conftest import line, lopez_account
from tests.integration.conftest import newer_statement, sign_in
from tests.integration.staff_helpers import audit_since, last_audit_id, make_staff, staff_sign_in

SID = "S-2026-000123"


def corrected() -> object:
    """Version 2 of S-2026-000123 (both lines Ana's): line 1 now $15.50 (was $45.50), line
    2 removed, a new line for José added."""
    first = newer_statement()
    lines = (
        line("1", owed=1550),
        line("3", patient_id="P2", owed=700, service_date=date(2026, 10, 20)),
    )
    return replace(first, lines=lines, version=2)


def correct(services) -> None:
    import_statement(services, lopez_account(), corrected(), notify=False)


def test_the_guarantor_sees_corrected_statement_and_what_changed(services, lopez, client):
    correct(services)
    sign_in(client)

    page = client.get(f"/statements/{SID}").get_data(as_text=True)

    assert 'data-testid="corrected"' in page
    assert "Corrected statement" in page
    assert "Your share was $65.50; it is now $22.50." in page
    assert "you owed $45.50, now $15.50" in page
    assert "Removed:" in page and "(was $20.00)" in page
    assert "Added:" in page and "you owe $7.00" in page


def test_in_spanish(services, lopez, client):
    correct(services)
    sign_in(client)
    client.get(f"/language/es?next=/statements/{SID}")

    page = client.get(f"/statements/{SID}").get_data(as_text=True)

    assert "Estado de cuenta corregido" in page
    assert "Qué cambió" in page
    assert "usted debía" in page


def test_a_patient_sees_only_their_own_lines_changes(services, lopez, client):
    correct(services)
    sign_in(client, last_name="Lopez", date_of_birth="2015-06-02")  # Ana, patient P1: not José

    page = client.get(f"/statements/{SID}").get_data(as_text=True)

    assert "Corrected statement" in page
    assert "you owed $45.50, now $15.50" in page
    assert "(was $20.00)" in page
    assert "Added:" not in page  # José's line
    assert "Your share was" not in page


def test_a_first_version_shows_no_correction(services, lopez, client):
    sign_in(client)
    page = client.get(f"/statements/{SID}").get_data(as_text=True)
    assert 'data-testid="corrected"' not in page


def test_staff_see_every_version_and_the_view_is_audited(services, lopez, client):
    correct(services)
    make_staff(services, "amy", "associate")
    staff_sign_in(client, services, "amy")
    account_page = client.get("/staff/accounts/100234").get_data(as_text=True)
    since = last_audit_id(services)

    page = client.get(f"/staff/accounts/100234/statements/{SID}/versions")

    assert f"/staff/accounts/100234/statements/{SID}/versions" in account_page
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert html.index('data-testid="version-2"') < html.index('data-testid="version-1"')
    assert "Version 2 (current)" in html
    (entry,) = audit_since(services, since)
    assert (entry.actor, entry.action, entry.subject) == (
        "amy",
        AuditAction.VIEW_STATEMENT,
        f"{SID} (every version)",
    )
    assert client.get(f"/staff/accounts/100777/statements/{SID}/versions").status_code == 404


def test_the_pdf_of_a_corrected_statement_says_so(services, lopez):
    from portal.services.statement_pdf import render_statement_pdf
    from tests.integration.test_statement_pdf import text_of

    before = text_of(render_statement_pdf(services, "100234", SID))
    correct(services)
    after = text_of(render_statement_pdf(services, "100234", SID))

    assert "Corrected statement" not in before
    assert "Corrected statement" in after
