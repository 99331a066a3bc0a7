"""Setting up a payment plan on the patient's pages, with the sandbox's saving page: the
offer, the schedule and its authorization, the card saved, the plan's page, canceling; bad
choices named; another account's plan never shown."""

import re
from datetime import date

import pytest

from portal.domain.plans import PlanStatus
from portal.domain.viewers import Viewer
from portal.services.plans import status_of
from portal.services.statements import import_statement
from tests.conftest import csrf_token, lopez_account, statement
from tests.integration.conftest import eml_files, path_of, read_eml, sign_in

GOOD_CARD = "4242424242424242"


@pytest.fixture
def planner(client, services, lopez):
    """Account 100234 with $600.00 more due: $695.50 in all (a plan of up to 12 months)."""
    import_statement(
        services,
        lopez_account(),
        statement("S-2026-000300", (60_000,), date(2026, 11, 20), date(2026, 12, 20)),
        notify=False,
    )
    sign_in(client)
    return client


def post_form(client, path: str, page_path: str, **fields):
    token = csrf_token(client.get(page_path).get_data(as_text=True))
    return client.post(path, data={**fields, "csrf_token": token})


def review(client, **choice):
    return post_form(client, "/plans/new", "/plans/new", step="review", **choice)


def agree_to(client, page: str, **choice):
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', page).group(1)
    return post_form(
        client, "/plans/new", "/plans/new", step="agree", agree="yes", digest=digest, **choice
    )


def save_card(client, location: str, card: str = GOOD_CARD):
    page = client.get(path_of(location))
    assert page.status_code == 200
    token = csrf_token(page.get_data(as_text=True))
    return client.post(
        path_of(location),
        data={
            "method": "card",
            "card_number": card,
            "expiry": "12/30",
            "cvc": "123",
            "postal_code": "10001",
            "csrf_token": token,
        },
    )


def set_up_plan(client, months: str = "3", day: str = "1") -> None:
    """The whole way: the schedule, agreed, a card saved, back at the portal."""
    html = review(client, months=months, installment="", day=day).get_data(as_text=True)
    to_setup = agree_to(client, html, months=months, installment="", day=day)
    back = save_card(client, to_setup.headers["Location"])
    assert client.get(path_of(back.headers["Location"])).status_code == 303


def test_the_account_page_offers_to_pay_over_time(planner):
    page = planner.get("/account").get_data(as_text=True)
    assert 'href="/plans/new"' in page
    offer = planner.get("/plans/new").get_data(as_text=True)
    assert "$695.50" in offer and "12 months" in offer and "13 months" not in offer


def test_from_the_offer_to_a_running_plan(planner, services, outbox):
    page = review(planner, months="6", installment="", day="15")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    schedule = re.findall(r"<li><span>([^<]+)</span> <strong>\$([0-9.,]+)</strong>", html)
    assert len(schedule) == 6
    assert sum(round(float(a.replace(",", "")) * 100) for _, a in schedule) == 69_550
    assert "no interest and no fee" in html.lower() and "cancel" in html.lower()

    unticked = post_form(planner, "/plans/new", "/plans/new", step="agree", months="6", day="15")
    assert unticked.status_code == 422
    assert "Tick the box to agree" in unticked.get_data(as_text=True)

    to_setup = agree_to(planner, html, months="6", installment="", day="15")
    assert to_setup.status_code == 303
    assert path_of(to_setup.headers["Location"]).startswith("/sandbox/setup/")

    back = save_card(planner, to_setup.headers["Location"])
    assert back.status_code == 303 and "/saved?session_id=" in back.headers["Location"]
    done = planner.get(path_of(back.headers["Location"]))
    assert done.status_code == 303
    plan_page = planner.get(path_of(done.headers["Location"])).get_data(as_text=True)
    assert "Visa ending in 4242" in plan_page and "$695.50" in plan_page

    [plan] = services.store.account_plans("100234")
    assert plan.method is not None and plan.method.last4 == "4242"
    assert plan.agreements[0].address and plan.agreements[0].version
    assert status_of(services, plan) is PlanStatus.CURRENT
    copies = [read_eml(p) for p in eml_files(outbox)]
    assert [m["X-Portal-Message-Kind"] for m in copies] == ["plan-agreement"]
    text = copies[0].get_body(("plain",)).get_content()
    assert "5. April 15, 2027: $115.91" in text and "6. May 15, 2027: $115.95" in text

    again = planner.get("/plans/new").get_data(as_text=True)
    assert "already has a payment plan" in again and plan.plan_id in again


@pytest.mark.parametrize(
    ("choice", "field", "message"),
    [
        ({"months": "1", "day": "1"}, "months", "Choose from 2 to 12 months"),
        ({"months": "13", "day": "1"}, "months", "Choose from 2 to 12 months"),
        ({"months": "six", "day": "1"}, "months", "Choose from 2 to 12 months"),
        ({"months": "3", "installment": "100", "day": "1"}, "months", "not both"),
        ({"installment": "10.00", "day": "1"}, "installment", "smallest monthly amount"),
        ({"installment": "700", "day": "1"}, "installment", "pay it now instead"),
        ({"months": "3", "day": "32"}, "day", "from 1 to 31"),
        ({"months": "3", "day": ""}, "day", "from 1 to 31"),
        ({"day": "5"}, "months", "Choose a number of months or a monthly amount"),
    ],
)
def test_a_choice_that_is_not_offered_is_named_and_stores_nothing(
    planner, services, choice, field, message
):
    response = review(planner, **{"months": "", "installment": "", **choice})
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert message in html and f'href="#{field}"' in html
    assert services.store.account_plans("100234") == []


def test_a_changed_balance_shows_the_new_schedule_before_agreeing(planner, services):
    html = review(planner, months="3", installment="", day="1").get_data(as_text=True)
    import_statement(
        services,
        lopez_account(),
        statement("S-2026-000301", (1_000,), date(2026, 11, 25), date(2026, 12, 25)),
        notify=False,
    )
    response = agree_to(planner, html, months="3", installment="", day="1")
    assert response.status_code == 409
    assert "review it again" in response.get_data(as_text=True)
    assert services.store.account_plans("100234") == []


def test_another_accounts_plan_and_a_patient_viewer_see_nothing(planner, services, client):
    viewer = Viewer.guarantor()
    from portal.domain.plan_terms import text_digest
    from portal.services.plans import agree, propose

    proposal = propose(services, "100234", viewer, months="3", day="1")
    plan = agree(services, "100234", viewer, proposal, text_digest(proposal.text), "10.0.0.1")
    assert planner.get(f"/plans/{plan.plan_id}").status_code == 200
    assert planner.get("/plans/plan_doesnotexist").status_code == 404

    other = client.application.test_client()
    sign_in(other, last_name="Lopez", date_of_birth="2015-06-02")  # the patient Ana
    assert other.get(f"/plans/{plan.plan_id}").status_code == 404
    offer = other.get("/plans/new").get_data(as_text=True)
    assert "Only the account&#39;s guarantor" in offer or "Only the account's guarantor" in offer


def test_the_patient_cancels_the_plan(planner, services):
    html = review(planner, months="3", installment="", day="1").get_data(as_text=True)
    location = agree_to(planner, html, months="3", installment="", day="1").headers["Location"]
    save_card(planner, location)
    [plan] = services.store.account_plans("100234")
    page = f"/plans/{plan.plan_id}"

    unconfirmed = post_form(planner, f"{page}/cancel", page)
    assert unconfirmed.status_code == 303
    assert services.store.get_plan(plan.plan_id).canceled_at is None

    post_form(planner, f"{page}/cancel", page, confirm="yes")
    stored = services.store.get_plan(plan.plan_id)
    assert stored.canceled_at is not None and stored.next_on is None
    assert status_of(services, stored) is PlanStatus.CANCELED


def test_a_new_statement_is_added_to_the_plan_when_the_patient_agrees(planner, services, outbox):
    set_up_plan(planner)
    [plan] = services.store.account_plans("100234")
    page = f"/plans/{plan.plan_id}"
    assert "A new balance" not in planner.get(page).get_data(as_text=True)

    import_statement(
        services,
        lopez_account(),
        statement("S-2026-000302", (3_000,), date(2026, 11, 25), date(2026, 12, 25)),
        notify=False,
    )
    shown = planner.get(page).get_data(as_text=True)
    assert "A new balance of $30.00" in shown and f"{page}/add" in shown

    review_page = planner.get(f"{page}/add").get_data(as_text=True)
    amounts = re.findall(r"<li><span>[^<]+</span> <strong>\$([0-9.,]+)</strong>", review_page)
    assert sum(round(float(a.replace(",", "")) * 100) for a in amounts) == 69_550 + 3_000
    unticked = post_form(planner, f"{page}/add", f"{page}/add")
    assert unticked.status_code == 422
    digest = re.search(r'name="digest" value="([0-9a-f]{64})"', review_page).group(1)
    done = post_form(planner, f"{page}/add", f"{page}/add", agree="yes", digest=digest)
    assert done.status_code == 303

    stored = services.store.get_plan(plan.plan_id)
    assert sum(i.amount_cents for i in stored.installments) == 69_550 + 3_000
    assert len(stored.agreements) == 2
    assert [i.number for i in stored.installments] == [4, 5, 6]
    assert "A new balance" not in planner.get(page).get_data(as_text=True)
    kinds = [read_eml(p)["X-Portal-Message-Kind"] for p in eml_files(outbox)]
    assert kinds == ["plan-agreement", "plan-agreement"]
