"""The daily deposit report: money received per practice day, by method."""

import csv
import io
from datetime import UTC, datetime

from portal.clock import FixedClock
from portal.services.staff_actions import post_manual_payment, reverse_manual_payment
from tests.integration.staff_helpers import make_staff, staff_sign_in


def post(services, method: str, amount: str, key: str, check_number: str = "") -> str:
    result = post_manual_payment(
        services, "alice", "100234", method, amount, check_number, key * 32, "127.0.0.1"
    )
    return result.payment.payment_id


def rows(response) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_deposits_group_by_practice_day_and_method(services, client, lopez, clock: FixedClock):
    make_staff(services)
    # 02:30 UTC on Nov 27 is still Nov 26 in New York.
    clock.set(datetime(2026, 11, 27, 2, 30, tzinfo=UTC))
    post(services, "check", "20.00", "a", "501")
    clock.set(datetime(2026, 11, 27, 15, 0, tzinfo=UTC))
    post(services, "cash", "5.00", "b")
    bounced = post(services, "check", "7.50", "c", "502")
    clock.set(datetime(2026, 11, 28, 15, 0, tzinfo=UTC))
    reverse_manual_payment(services, "alice", bounced, "Check bounced", "127.0.0.1")
    post(services, "card_desk", "12.25", "d")

    staff_sign_in(client, services)
    page = client.get("/staff/reports/deposits?from=2026-11-20&to=2026-11-28")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'data-testid="deposit-2026-11-26">$20.00<' in html
    # The bounced check still counts on the day it came in; the page says what became of it.
    assert 'data-testid="deposit-2026-11-27">$12.50<' in html
    assert "#502 $7.50 (account 100234), reversed" in html
    assert 'data-testid="deposit-2026-11-28">$12.25<' in html

    report = rows(client.get("/staff/reports/deposits?from=2026-11-20&to=2026-11-28&format=csv"))
    assert report == [
        {"day": "2026-11-26", "card": "0.00", "check": "20.00", "cash": "0.00",
         "card_desk": "0.00", "total": "20.00"},
        {"day": "2026-11-27", "card": "0.00", "check": "7.50", "cash": "5.00",
         "card_desk": "0.00", "total": "12.50"},
        {"day": "2026-11-28", "card": "0.00", "check": "0.00", "cash": "0.00",
         "card_desk": "12.25", "total": "12.25"},
    ]  # fmt: skip

    audit = services.store.audit_entries(actor="alice", limit=2)
    assert [e.action.value for e in audit] == ["view_report", "view_report"]
    assert audit[0].subject == "deposits 2026-11-20..2026-11-28"


def test_deposits_refuse_bad_dates(services, client, lopez):
    make_staff(services)
    staff_sign_in(client, services)
    response = client.get("/staff/reports/deposits?from=yesterday")
    assert response.status_code == 400
    assert "from: use a date like 2026-11-28." in response.get_data(as_text=True)
    response = client.get("/staff/reports/deposits?from=2026-11-28&to=2026-11-01")
    assert response.status_code == 400
    assert "The start date is after the end date." in response.get_data(as_text=True)
