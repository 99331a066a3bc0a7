"""Payment plans in the billing console (issue 16, "Staff"): the account page's plans with
their schedule and every try, the plan link e-mailed to the guarantor, a supervisor's skip
of an installment (which the charge run then leaves alone) and cancel of a plan, the list
of every plan by status, and the plans in the monthly summary. Each view and change is
audited; bad input is named and changes nothing; associates cannot skip or cancel."""

import html
import re
from dataclasses import replace
from datetime import date, datetime, timedelta

import pytest

import portal.services.staff_plans as staff_plans_service
import portal.web.staff_plans as staff_plans_web
from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.aging import practice_midnight
from portal.domain.money import format_cents as money
from portal.domain.plans import (
    Attempt,
    Installment,
    Outcome,
    Plan,
    PlanKind,
    PlanStatus,
    SavedMethod,
)
from portal.domain.staff import AuditAction
from portal.services.accounts import account_view
from portal.services.plans import (
    cancel_plan,
    status_of,
)
from portal.services.statements import import_statement
from tests.conftest import NOW, lopez_account, statement
from tests.integration.conftest import eml_files, path_of, read_eml, sign_in
from tests.integration.staff_helpers import (
    audit_since,
    flashes,
    last_audit_id,
    make_staff,
    post_form,
    staff_sign_in,
)
from tests.plan_helpers import GOOD_CARD, counts, run_on, set_up_plan

ACCOUNT = "100234"
PAGE = f"/staff/accounts/{ACCOUNT}"
GOOD, ALWAYS_DECLINED = "4242424242424242", "4000000000000341"
OWED = 69_550  # $695.50 with the $600.00 statement below


@pytest.fixture
def owing(services, lopez):
    """Account 100234 owing $695.50: a plan of up to 12 months is offered."""
    import_statement(
        services,
        lopez_account(),
        statement("S-2026-000300", (60_000,), date(2026, 11, 20), date(2026, 12, 20)),
        notify=False,
    )
    return lopez


def staff_client(app, services, username: str, role: str):
    make_staff(services, username, role)
    client = app.test_client()
    staff_sign_in(client, services, username)
    return client


@pytest.fixture
def associate(app, services, owing):
    return staff_client(app, services, "alice", "associate")


@pytest.fixture
def supervisor(app, services, owing):
    return staff_client(app, services, "sue", "supervisor")


def resume(client, services, username: str) -> None:
    """Sign in again after the clock moved on (the staff session ended while idle)."""
    staff_sign_in(client, services, username)


def page_of(client, path: str = PAGE) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def plan_article(html: str, plan_id: str) -> str:
    start = html.index(f'data-plan="{plan_id}"')
    return html[start : html.index("</article>", start)]


def after(client, response, path: str = PAGE) -> list[str]:
    """The messages the page shows after a form went back to it."""
    assert response.status_code == 303, response.get_data(as_text=True)
    assert path_of(response.headers["Location"]) == path
    return flashes(page_of(client, path))


def skip(
    client, plan_id: str, installment, reason="Hardship, agreed on the phone", account=ACCOUNT
):
    data = {"installment": str(installment), "reason": reason}
    return post_form(client, f"/staff/accounts/{account}/plans/{plan_id}/skip", data)


def cancel(client, plan_id: str, reason="Asked to stop on the phone", account=ACCOUNT):
    return post_form(
        client, f"/staff/accounts/{account}/plans/{plan_id}/cancel", {"reason": reason}
    )


def audited(services, since: int, action: AuditAction) -> list:
    return [e for e in audit_since(services, since) if e.action is action]


READS = (AuditAction.VIEW_PAYMENTS, AuditAction.VIEW_ACCOUNT)  # the pages the tests read


def changes_since(services, since: int) -> list:
    """The audited changes after `since` (not the views of the pages read for a token)."""
    return [e for e in audit_since(services, since) if e.action not in READS]


# -- the account page ------------------------------------------------------------------------


def set_up(services, card: str = GOOD_CARD, **kwargs) -> Plan:
    return set_up_plan(services, ACCOUNT, card=card, **kwargs)


def test_the_account_page_lists_the_plans_newest_first_with_schedule_and_every_try(
    associate, services, monkeypatch
):
    first = set_up(services, GOOD)
    assert counts(run_on(services, date(2026, 12, 1))) == (1, 0, 0, 0)
    cancel_plan(services, first.plan_id, None, "Canceled by the patient.")
    services.clock._at = practice_midnight(date(2026, 12, 2), services.settings.tz)
    second = set_up(services, ALWAYS_DECLINED, months="4", day=5)
    for day in (5, 8):
        assert counts(run_on(services, date(2026, 12, day))) == (0, 1, 0, 0)
    first = services.store.get_plan(first.plan_id)
    second = services.store.get_plan(second.plan_id)
    resume(associate, services, "alice")

    reads = []
    original = services.store.account_plans
    monkeypatch.setattr(
        services.store, "account_plans", lambda number: reads.append(number) or original(number)
    )
    before = last_audit_id(services)
    html = page_of(associate)

    assert reads == [ACCOUNT]  # one read of the account's plans
    assert [(e.action, e.account_number) for e in audit_since(services, before)] == [
        (AuditAction.VIEW_ACCOUNT, ACCOUNT)
    ]
    section = html[html.index('id="plans-heading"') :]
    assert section.index(second.plan_id) < section.index(first.plan_id)  # newest first

    newer = plan_article(html, second.plan_id)
    assert f'data-testid="plan-status-{second.plan_id}">past-due<' in newer
    assert f'data-testid="plan-method-{second.plan_id}">Visa ending in 0341<' in newer
    assert "0000000341" not in html and "4000000000000341" not in html
    states = re.findall(r'data-testid="installment-state">([^<]+)<', newer)
    assert states[0].startswith("will be tried again") and states[1:] == [
        "next",
        "upcoming",
        "upcoming",
    ]
    rows = re.findall(r'<tr data-attempt="([\d-]+)">(.*?)</tr>', newer)
    assert [number for number, _ in rows] == ["1-1", "1-2"]
    for (_, row), attempt, day in zip(
        rows, second.attempts, ("Dec 5, 2026", "Dec 8, 2026"), strict=True
    ):
        assert (
            day in row
            and "soft decline" in row
            and money(second.installments[0].amount_cents) in row
        )
        assert attempt.reference and attempt.reference in row
        assert attempt.message and attempt.message in row

    older = plan_article(html, first.plan_id)
    assert f'data-testid="plan-status-{first.plan_id}">canceled<' in older
    assert "Canceled by the patient." in older
    [(_, row)] = re.findall(r'<tr data-attempt="([\d-]+)">(.*?)</tr>', older)
    assert (
        "Dec 1, 2026" in row
        and "succeeded" in row
        and money(first.installments[0].amount_cents) in row
    )
    assert first.attempts[0].reference in row
    # Associates see the plans but get no skip or cancel forms.
    assert "/skip" not in html and "/plans/" + second.plan_id + "/cancel" not in html


def test_supervisors_get_skip_and_cancel_forms_for_a_running_plan_only(supervisor, services):
    running = set_up(services)
    html = page_of(supervisor)
    article = plan_article(html, running.plan_id)
    assert f"/plans/{running.plan_id}/skip" in article
    assert f"/plans/{running.plan_id}/cancel" in article
    assert re.findall(r'<option value="(\d+)">', article) == ["1", "2", "3"]

    cancel_plan(services, running.plan_id, None, "Canceled by the patient.")
    article = plan_article(page_of(supervisor), running.plan_id)
    assert "/skip" not in article and "/cancel" not in article


def test_an_account_without_plans_says_so(associate):
    html = page_of(associate)
    assert "No payment plans." in html


# -- the plan link ----------------------------------------------------------------------------


def test_a_plan_link_is_emailed_once_per_click_and_audited(associate, services, outbox):
    before = last_audit_id(services)
    html = page_of(associate)
    assert "E-mail a plan link to maria@example.com" in html

    response = post_form(associate, f"{PAGE}/plan-link", {})

    assert "Plan link sent to maria@example.com." in after(associate, response)
    [path] = eml_files(outbox)
    message = read_eml(path)
    assert message["X-Portal-Message-Kind"] == "reminder"
    assert message["To"] == "maria@example.com"
    assert message["Subject"].startswith("Set up a payment plan with ")
    assert message["List-Unsubscribe"] is None
    for part in ("plain", "html"):
        body = message.get_body((part,)).get_content()
        assert "http://portal.test/pay" in body and "Pay over time" in body
        assert "$695.50" in body and ACCOUNT in body
        for secret in ("1984", "03/12", "99213", "J06.9", "Office visit", "2015", "2018"):
            assert secret not in body, secret
    [entry] = audited(services, before, AuditAction.SEND_PLAN_LINK)
    assert (entry.actor, entry.account_number, entry.subject) == (
        "alice",
        ACCOUNT,
        "maria@example.com",
    )
    assert [m.kind for m in services.store.mail_log(ACCOUNT)] == ["reminder"]

    post_form(associate, f"{PAGE}/plan-link", {})
    assert len(eml_files(outbox)) == 2
    assert len(audited(services, before, AuditAction.SEND_PLAN_LINK)) == 2


def test_no_plan_link_without_an_email_address(app, services, outbox):
    account = Account(
        "100555",
        Guarantor("Noel", "Post", date(1970, 1, 1), email=""),
        (Patient("P1", "Noel", "Post", date(1970, 1, 1)),),
    )
    import_statement(
        services,
        account,
        statement("S-2026-555000", (30_000,), account_number="100555"),
        notify=False,
    )
    client = staff_client(app, services, "alice", "associate")
    html = page_of(client, "/staff/accounts/100555")
    assert "No plan link can be sent: The account has no e-mail address." in html
    before = last_audit_id(services)

    response = post_form(client, "/staff/accounts/100555/plan-link", {})

    [message] = after(client, response, "/staff/accounts/100555")
    assert "Account 100555 has no e-mail address" in message
    assert eml_files(outbox) == []
    assert audited(services, before, AuditAction.SEND_PLAN_LINK) == []


@pytest.mark.parametrize("why", ["balance under the minimum", "a plan running"])
def test_no_plan_link_when_no_plan_is_offered(app, services, lopez, outbox, why):
    client = staff_client(app, services, "alice", "associate")
    if why == "a plan running":
        import_statement(
            services,
            lopez_account(),
            statement("S-2026-000300", (60_000,), date(2026, 11, 20), date(2026, 12, 20)),
            notify=False,
        )
        set_up(services)
        expected = "This account already has a payment plan."
    else:
        expected = "A payment plan is offered for balances of $100.00 or more."
    sent_before = len(eml_files(outbox))
    before = last_audit_id(services)
    assert expected[:30] in page_of(client)

    [message] = after(client, post_form(client, f"{PAGE}/plan-link", {}))

    assert message == f"No plan link sent: {expected}"
    assert len(eml_files(outbox)) == sent_before
    assert audited(services, before, AuditAction.SEND_PLAN_LINK) == []


def test_the_plan_link_needs_the_csrf_token_and_a_staff_session(app, associate, services, outbox):
    refused = associate.post(f"{PAGE}/plan-link", data={})
    assert refused.status_code == 400
    patient = app.test_client()
    sign_in(patient)
    assert post_form(patient, f"{PAGE}/plan-link", {}, token_page="/account").status_code == 403
    assert eml_files(outbox) == []


# -- skipping an installment ------------------------------------------------------------------


def test_a_skipped_installment_is_not_charged_by_the_charge_run(supervisor, services):
    plan = set_up(services)
    before = last_audit_id(services)

    response = skip(supervisor, plan.plan_id, 2, "Hardship: job loss")

    [message] = after(supervisor, response)
    assert message == f"Installment 2 of plan {plan.plan_id} skipped: it will not be charged."
    stored = services.store.get_plan(plan.plan_id)
    assert stored.skipped == (2,) and stored.version == plan.version + 1
    [entry] = audited(services, before, AuditAction.SKIP_INSTALLMENT)
    assert (entry.actor, entry.account_number) == ("sue", ACCOUNT)
    assert entry.subject == f"{plan.plan_id} installment 2: Hardship: job loss"
    states = re.findall(
        r'data-testid="installment-state">([^<]+)<', plan_article(page_of(supervisor), plan.plan_id)
    )
    assert states == ["next", "skipped", "upcoming"]

    assert counts(run_on(services, date(2026, 12, 1))) == (1, 0, 0, 0)
    assert counts(run_on(services, date(2027, 1, 1))) == (0, 0, 0, 0)
    assert counts(run_on(services, date(2027, 1, 8))) == (0, 0, 0, 0)
    assert counts(run_on(services, date(2027, 2, 1))) == (1, 0, 0, 0)

    stored = services.store.get_plan(plan.plan_id)
    assert [a.installment for a in stored.attempts] == [1, 3]
    assert status_of(services, stored) is PlanStatus.PAID_OFF and stored.next_on is None
    assert account_view(services, ACCOUNT).due_cents == OWED - sum(
        i.amount_cents for i in plan.installments if i.number != 2
    )


def test_a_skipped_missed_installment_no_longer_counts_toward_default(supervisor, services):
    plan = set_up(services, ALWAYS_DECLINED)
    for day in (1, 4, 8):
        run_on(services, date(2026, 12, day))
    assert status_of(services, services.store.get_plan(plan.plan_id)) is PlanStatus.PAST_DUE
    resume(supervisor, services, "sue")

    assert skip(supervisor, plan.plan_id, 1).status_code == 303

    assert status_of(services, services.store.get_plan(plan.plan_id)) is PlanStatus.CURRENT
    for day in (1, 4, 8):
        assert counts(run_on(services, date(2027, 1, day)))[3] == 0
    stored = services.store.get_plan(plan.plan_id)
    # Installment 2 missed too: one miss counted, not two; without the skip it defaults
    # here (tests/contract/test_plan_charges.py).
    assert stored.defaulted_at is None and stored.active
    assert status_of(services, stored) is PlanStatus.PAST_DUE
    assert services.store.escalations(account_number=ACCOUNT) == []


def test_a_lost_race_is_read_again_and_the_skip_kept(supervisor, services, monkeypatch):
    plan = set_up(services)
    save = services.store.save_plan
    raced = []

    def save_after_another(changed):
        if not raced:  # someone saved the plan between our read and our write
            raced.append(save(replace(services.store.get_plan(changed.plan_id), day=1)))
        return save(changed)

    monkeypatch.setattr(services.store, "save_plan", save_after_another)
    assert skip(supervisor, plan.plan_id, 3).status_code == 303
    assert raced and services.store.get_plan(plan.plan_id).skipped == (3,)


def other_account_plan(services) -> Plan:
    """A plan of account 100777 (the smith fixture)."""
    plan = Plan(
        "plan_elsewhere",
        "100777",
        PlanKind.INSTALLMENTS,
        1,
        NOW,
        (Installment(1, NOW.date(), 5000),),
    )
    assert services.store.add_plan(plan)
    return plan


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no reason", "Give the reason for skipping the installment."),
        ("blank reason", "Give the reason for skipping the installment."),
        ("not a number", "Choose the installment to skip by its number."),
        ("no such installment", "has no installment 7 (it has 1, 2, 3)."),
        ("unknown plan", "Account 100234 has no plan 'plan_nosuch'."),
        ("another account's plan", "Account 100234 has no plan 'plan_elsewhere'."),
        ("already paid", "Installment 1 is already paid."),
        ("already skipped", "Installment 2 is already skipped."),
        ("canceled plan", "was canceled on 2026-11-28: nothing is left to skip."),
        ("paid-off plan", "is paid off: nothing is left to skip."),
    ],
)
def test_a_bad_skip_is_named_and_changes_nothing(supervisor, services, smith, case, message):
    plan = set_up(services)
    other = other_account_plan(services)
    target, installment, reason = plan.plan_id, "2", "Hardship"
    if case == "no reason":
        reason = ""
    elif case == "blank reason":
        reason = "   "
    elif case == "not a number":
        installment = "two"
    elif case == "no such installment":
        installment = "7"
    elif case == "unknown plan":
        target = "plan_nosuch"
    elif case == "another account's plan":
        target = other.plan_id
    elif case == "already paid":
        run_on(services, date(2026, 12, 1))
        resume(supervisor, services, "sue")
        installment = "1"
    elif case == "already skipped":
        assert skip(supervisor, plan.plan_id, 2).status_code == 303
    elif case == "canceled plan":
        cancel_plan(services, plan.plan_id, None, "Canceled by the patient.")
    elif case == "paid-off plan":
        for day in (date(2026, 12, 1), date(2027, 1, 1), date(2027, 2, 1)):
            run_on(services, day)
        resume(supervisor, services, "sue")
        installment = "3"
    snapshot = (services.store.get_plan(plan.plan_id), services.store.get_plan(other.plan_id))
    before = last_audit_id(services)

    response = skip(supervisor, target, installment, reason)

    [shown] = [m for m in after(supervisor, response) if "skipped:" not in m]
    assert message in shown
    assert (services.store.get_plan(plan.plan_id), services.store.get_plan(other.plan_id)) == (
        snapshot
    )
    assert changes_since(services, before) == []


# -- canceling a plan -------------------------------------------------------------------------


def test_a_supervisor_cancels_a_plan_with_a_reason(supervisor, services):
    plan = set_up(services)
    before = last_audit_id(services)

    [message] = after(supervisor, cancel(supervisor, plan.plan_id, "Moving to a payment in full"))

    assert message == f"Plan {plan.plan_id} canceled: no more charges will be made."
    stored = services.store.get_plan(plan.plan_id)
    assert stored.canceled_at == NOW and stored.cancel_reason == "Moving to a payment in full"
    assert stored.next_on is None
    [entry] = audited(services, before, AuditAction.CANCEL_PLAN)
    assert (entry.actor, entry.account_number, entry.subject) == ("sue", ACCOUNT, plan.plan_id)
    assert counts(run_on(services, date(2026, 12, 1))) == (0, 0, 0, 0)
    assert services.store.get_plan(plan.plan_id).attempts == ()


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("no reason", "Give the reason for canceling the plan."),
        ("unknown plan", "Account 100234 has no plan 'plan_nosuch'."),
        ("another account's plan", "Account 100234 has no plan 'plan_elsewhere'."),
        ("canceled plan", "was canceled on 2026-11-28: there is nothing to cancel."),
        ("defaulted plan", "defaulted on 2027-01-08: there is nothing to cancel."),
    ],
)
def test_a_bad_cancel_is_named_and_changes_nothing(supervisor, services, smith, case, message):
    plan = set_up(services, ALWAYS_DECLINED)
    other = other_account_plan(services)
    target, reason = plan.plan_id, "Asked to stop"
    if case == "no reason":
        reason = " "
    elif case == "unknown plan":
        target = "plan_nosuch"
    elif case == "another account's plan":
        target = other.plan_id
    elif case == "canceled plan":
        cancel_plan(services, plan.plan_id, None, "Canceled by the patient.")
    elif case == "defaulted plan":
        for day in (1, 4, 8):
            run_on(services, date(2026, 12, day))
            run_on(services, date(2027, 1, day))
        assert services.store.get_plan(plan.plan_id).defaulted_at is not None
        resume(supervisor, services, "sue")
    snapshot = (services.store.get_plan(plan.plan_id), services.store.get_plan(other.plan_id))
    before = last_audit_id(services)

    [shown] = after(supervisor, cancel(supervisor, target, reason))

    assert message in shown
    assert (services.store.get_plan(plan.plan_id), services.store.get_plan(other.plan_id)) == (
        snapshot
    )
    assert changes_since(services, before) == []


def test_associates_cannot_skip_or_cancel(associate, services):
    plan = set_up(services)
    before = last_audit_id(services)
    assert skip(associate, plan.plan_id, 2).status_code == 403
    assert cancel(associate, plan.plan_id).status_code == 403
    assert services.store.get_plan(plan.plan_id) == plan
    assert changes_since(services, before) == []


def test_an_unknown_account_is_404(supervisor, services):
    plan = set_up(services)
    assert skip(supervisor, plan.plan_id, 2, account="999999").status_code == 404
    assert cancel(supervisor, plan.plan_id, account="999999").status_code == 404
    assert post_form(supervisor, "/staff/accounts/999999/plan-link", {}).status_code == 404
    assert services.store.get_plan(plan.plan_id) == plan


# -- the list of plans -------------------------------------------------------------------------

CARD = SavedMethod("pm_1", "cus_1", "card", "visa", "4242")


def stored_plan(n: int, kind: str) -> Plan:
    """Plan n of account 100234 in a given state, created n minutes after NOW - 1 day."""
    today = NOW.date()
    installments = (
        Installment(1, today - timedelta(days=60), 10_000),
        Installment(2, today - timedelta(days=30), 10_000),
        Installment(3, today + timedelta(days=3), 10_001),
    )

    def tried(number: int, outcome: Outcome) -> Attempt:
        due = installments[number - 1].due_on
        return Attempt(number, 1, due, outcome, f"pay_{n}_{number}", f"ref_{n}_{number}", "")

    attempts = {
        "current": (tried(1, Outcome.SUCCEEDED), tried(2, Outcome.SUCCEEDED)),
        "past-due": (tried(1, Outcome.SUCCEEDED), tried(2, Outcome.SOFT_DECLINE)),
        "defaulted": (tried(1, Outcome.HARD_DECLINE), tried(2, Outcome.HARD_DECLINE)),
        "paid-off": tuple(tried(i, Outcome.SUCCEEDED) for i in (1, 2, 3)),
        "canceled": (tried(1, Outcome.SUCCEEDED),),
    }[kind]
    created = NOW - timedelta(days=1) + timedelta(minutes=n)
    return Plan(
        f"plan_list_{n:02d}",
        ACCOUNT,
        PlanKind.INSTALLMENTS,
        today.day,
        created,
        installments,
        method=CARD,
        attempts=attempts,
        canceled_at=NOW if kind == "canceled" else None,
        defaulted_at=NOW if kind == "defaulted" else None,
    )


KINDS = ["current", "past-due", "current", "defaulted", "paid-off", "canceled", "current"]


@pytest.fixture
def many_plans(services, owing):
    plans = [stored_plan(n, kind) for n, kind in enumerate(KINDS, start=1)]
    for plan in plans:
        assert services.store.add_plan(plan)
    return plans


def totals_row(html: str, status: str) -> list[str]:
    row = re.search(rf'<tr data-status="{status}">(.*?)</tr>', html).group(1)
    return re.findall(r'<td class="num">([^<]+)</td>', row)


def listed(html: str) -> list[str]:
    return re.findall(r'<tr data-plan="([\w-]+)">', html)


def test_the_plan_list_counts_and_totals_by_status(associate, services, many_plans):
    before = last_audit_id(services)
    html = page_of(associate, "/staff/plans")
    assert [(e.action, e.subject, e.actor) for e in audit_since(services, before)] == [
        (AuditAction.VIEW_REPORT, "plans", "alice")
    ]
    assert totals_row(html, "current") == ["3", "$900.03", "$600.00", "$300.03"]
    assert totals_row(html, "past-due") == ["1", "$300.01", "$100.00", "$200.01"]
    assert totals_row(html, "defaulted") == ["1", "$300.01", "$0.00", "$300.01"]
    assert totals_row(html, "paid-off") == ["1", "$300.01", "$300.01", "$0.00"]
    assert totals_row(html, "canceled") == ["1", "$300.01", "$100.00", "$200.01"]
    assert totals_row(html, "all") == ["7", "$2,100.07", "$1,100.01", "$1,000.06"]
    assert listed(html) == [p.plan_id for p in reversed(many_plans)]
    assert 'href="/staff/plans"' in page_of(associate, "/staff/")  # in the navigation


def test_the_plan_list_filters_by_status_and_pages_with_the_cursor(
    associate, services, many_plans, monkeypatch
):
    monkeypatch.setattr(staff_plans_web, "PLANS_PER_PAGE", 2)
    monkeypatch.setattr(staff_plans_service, "LIST_BATCH", 3)  # the store read in batches
    current = [
        p.plan_id
        for p in reversed(many_plans)
        if p.plan_id in ("plan_list_01", "plan_list_03", "plan_list_07")
    ]

    first = page_of(associate, "/staff/plans?status=current")
    assert listed(first) == current[:2]
    assert totals_row(first, "all")[0] == "7"  # the totals are of every plan
    link = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "status=current" in link and "before=" in link
    second = page_of(associate, link)
    assert listed(second) == current[2:]
    assert 'rel="next"' not in second

    everything, path = [], "/staff/plans"
    while path:
        html = page_of(associate, path)
        everything += listed(html)
        found = re.search(r'rel="next" href="([^"]+)"', html)
        path = found.group(1).replace("&amp;", "&") if found else None
    assert everything == [p.plan_id for p in reversed(many_plans)]
    subjects = [e.subject for e in services.store.audit_entries(actor="alice", limit=20)]
    assert "plans status=current" in subjects


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=late", "status: 'late' is not one of canceled, current, defaulted"),
        ("before=yesterday", "before: not a page of this list"),
    ],
)
def test_a_bad_plan_list_filter_is_400_and_named(associate, many_plans, query, message):
    response = associate.get(f"/staff/plans?{query}")
    assert response.status_code == 400
    assert message in html.unescape(response.get_data(as_text=True))


# -- the monthly summary ---------------------------------------------------------------------


def monthly(client, month: str) -> str:
    return page_of(client, f"/staff/reports/monthly?month={month}")


def by_testid(html: str, name: str) -> str:
    return re.search(rf'data-testid="{name}">([^<]+)<', html).group(1)


def test_the_monthly_summary_counts_plans_and_the_installments_charged(app, services, owing):
    boss = staff_client(app, services, "sue", "supervisor")
    plan = set_up(services)
    run_on(services, date(2026, 12, 1))
    run_on(services, date(2027, 1, 1))
    services.clock._at = datetime.fromisoformat("2027-01-20T15:00:00+00:00")
    resume(boss, services, "sue")
    each = plan.installments[0].amount_cents

    november = monthly(boss, "2026-11")
    assert by_testid(november, "plan-installments") == "$0.00 in 0 payments"
    assert by_testid(november, "plans-current") == "1"
    december = monthly(boss, "2026-12")
    assert by_testid(december, "plan-installments") == f"${each / 100:,.2f} in 1 payment"
    assert by_testid(december, "plans-current") == "1"
    january = monthly(boss, "2027-01")
    assert by_testid(january, "plan-installments") == f"${each / 100:,.2f} in 1 payment"

    cancel_plan(services, plan.plan_id, "sue", "Paid the rest by check.")
    january = monthly(boss, "2027-01")
    assert (
        by_testid(january, "plans-canceled") == "1" and by_testid(january, "plans-current") == "0"
    )
    assert by_testid(monthly(boss, "2026-12"), "plans-current") == "1"  # as it was then
