"""The aging report shows 100 accounts a page, oldest balances first; totals cover all."""

import re
from datetime import date, timedelta

from portal.domain.accounts import Account, Guarantor, Patient
from tests.conftest import NOW, statement
from tests.integration.staff_helpers import make_staff, staff_sign_in

ACCOUNTS = 150


def seed_accounts(services) -> None:
    for n in range(ACCOUNTS):
        number = f"{700000 + n}"
        person = Guarantor("Pat", f"Name{n}", date(1980, 1, 1))
        account = Account(number, person, (Patient("P1", "Pat", f"Name{n}", date(1980, 1, 1)),))
        due = date(2026, 11, 1) - timedelta(days=n)  # a later number is older
        services.store.import_statement(
            account,
            statement(f"S-{number}", (1000,), due - timedelta(days=30), due, number),
            NOW,
        )


def rows(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/staff/accounts/(\d+)">', html)


def test_pages_of_one_hundred_oldest_first_with_totals_over_all(client, services):
    seed_accounts(services)
    make_staff(services)
    staff_sign_in(client, services)

    first = client.get("/staff/reports/aging").get_data(as_text=True)
    second = client.get("/staff/reports/aging?page=2").get_data(as_text=True)

    assert len(rows(first)) == 100 and len(rows(second)) == 50
    assert rows(first)[0] == f"{700000 + ACCOUNTS - 1}"  # the oldest balance leads
    assert set(rows(first)).isdisjoint(rows(second))
    for html in (first, second):
        assert 'data-testid="aging-total">$1,500.00<' in html
    assert 'rel="next"' in first and 'rel="prev"' not in first
    assert 'rel="prev"' in second and 'rel="next"' not in second

    csv_lines = client.get("/staff/reports/aging?format=csv").get_data(as_text=True).splitlines()
    assert len(csv_lines) == 1 + ACCOUNTS + 1  # header, every account, totals

    beyond = client.get("/staff/reports/aging?page=99").get_data(as_text=True)
    assert rows(beyond) == rows(second)  # the last page
    assert client.get("/staff/reports/aging?page=abc").status_code == 400
