"""Supervisor and associate work in the console: adjustments and write-offs, resending
receipts, the escalation queue, the audit log page, and the aging and monthly reports."""

import csv
import io
import itertools
import re
from collections import Counter
from datetime import UTC, date, datetime
from urllib.parse import urlsplit

import pytest

from portal.domain.accounts import Account, Guarantor, Patient
from portal.domain.ledger import EntryKind
from portal.domain.payments import PaymentStatus
from portal.domain.staff import AuditAction, EscalationKind
from portal.ports.mail import PermanentMailError, TransientMailError
from portal.ports.payments import EventKind, GatewayEvent
from portal.services.payments import apply_gateway_event
from portal.services.staff_actions import post_manual_payment
from portal.services.statements import import_statement
from tests.conftest import csrf_token, statement
from tests.integration.conftest import (
    eml_files,
    open_checkout,
    path_of,
    pay,
    read_eml,
    sign_in,
)
from tests.integration.staff_helpers import (
    DESK_ADDRESS,
    audit_since,
    by_testid,
    cents,
    flashes,
    last_audit_id,
    make_staff,
    post_form,
    records,
    redirects_to,
    request_key_of,
    staff_sign_in,
    statement_balances,
    submit_password,
    text,
)

ACCOUNT = "/staff/accounts/100234"
QUEUE = "/staff/escalations"
UNTOUCHED = {"S-2026-000100": 3000, "S-2026-000123": 6550}


# -- who is signed in ------------------------------------------------------------------------


@pytest.fixture
def alice(services):
    return make_staff(services, "alice", "associate")


@pytest.fixture
def sam(services):
    return make_staff(services, "sam", "supervisor")


@pytest.fixture
def ada(services):
    return make_staff(services, "ada", "admin")


def staff_client(app, services, username: str):
    """A client signed in as `username` from the billing office's desk."""
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = DESK_ADDRESS
    staff_sign_in(client, services, username)
    return client


@pytest.fixture
def desk(app, services, lopez, alice):
    """An associate (alice)."""
    return staff_client(app, services, "alice")


@pytest.fixture
def boss(app, services, lopez, sam):
    """A supervisor (sam)."""
    return staff_client(app, services, "sam")


@pytest.fixture
def admin(app, services, lopez, ada):
    """An administrator (ada)."""
    return staff_client(app, services, "ada")


@pytest.fixture
def no_email(services):
    """Account 100555: a guarantor without an e-mail address, $30.00 due."""
    account = Account(
        account_number="100555",
        guarantor=Guarantor("Rosa", "Diaz", date(1979, 2, 2), email=""),
        patients=(Patient("P1", "Rosa", "Diaz", date(1979, 2, 2)),),
    )
    import_statement(services, account, statement("S-2026-000300", account_number="100555"))
    return account


# -- reading pages ---------------------------------------------------------------------------


def page(client, path: str, **query) -> str:
    response = client.get(path, query_string=query)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def error_of(html: str, name: str) -> str:
    """The error shown under a form field (its id may carry a form prefix)."""
    match = re.search(
        rf'<p class="field-error" id="(?:[\w-]+-)?{name}-error">(.*?)</p>', html, re.DOTALL
    )
    assert match, f"no error for {name} on the page"
    return text(match.group(1))


def error_summary(html: str) -> str:
    match = re.search(
        r'<div class="error-summary" role="alert"[^>]*id="error-summary">(.*?)</div>',
        html,
        re.DOTALL,
    )
    assert match, "no error summary"
    return text(match.group(1))


def queue_items(html: str) -> list[dict]:
    """The escalation cards of a page, in order."""
    items = []
    for card in re.findall(r'<li class="card escalation">(.*?)</li>', html, re.DOTALL):
        head = re.search(r"<strong>#(\d+) ([^<]+)</strong>", card)
        account = re.search(r">account (\d+)</a>", card)
        paragraphs = re.findall(r"<p[^>]*>(.*?)</p>", card, re.DOTALL)
        assert head and account and len(paragraphs) >= 3, card
        items.append(
            {
                "id": int(head.group(1)),
                "label": text(head.group(2)),
                "account": account.group(1),
                "reason": text(paragraphs[1]),
                "meta": " ".join(text(paragraphs[2]).split()),
            }
        )
    return items


def queue(client, **query) -> list[dict]:
    return queue_items(page(client, QUEUE, **query))


def table_rows(html: str) -> list[list[str]]:
    """The body rows of the page's (first) data table, as cell texts."""
    start = html.index("<tbody>")
    body = html[start : html.index("</tbody>", start)]
    return [
        [text(c) for c in re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.DOTALL)]
        for row in re.findall(r"<tr>(.*?)</tr>", body, re.DOTALL)
    ]


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response.status_code
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers.get("Content-Disposition", "")
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def audited(services, start: int, action: AuditAction) -> list[tuple]:
    return [
        (e.actor, e.account_number, e.subject, e.address)
        for e in audit_since(services, start)
        if e.action is action
    ]


# -- actions -----------------------------------------------------------------------------------


def adjust(client, number: str = "100234", **fields: str):
    data = {
        "statement_id": "S-2026-000100",
        "kind": "write_off",
        "amount": "10.00",
        "reason": "Small balance write-off approved",
    }
    data.update(fields)
    return post_form(client, f"/staff/accounts/{number}/adjustments", data)


def escalate(client, kind: str = "other", reason: str = "Asks for a payment plan", number="100234"):
    return post_form(
        client, f"/staff/accounts/{number}/escalations", {"kind": kind, "reason": reason}
    )


def update_item(client, item_id: int, owner: str = "", promise: str = "", back: str | None = None):
    data = {"owner": owner, "promise_to_pay_on": promise}
    if back is not None:
        data["back"] = back
    return post_form(client, f"/staff/escalations/{item_id}", data)


def resolve_item(client, item_id: int, resolution: str = "Called back", back: str | None = None):
    data = {"resolution": resolution}
    if back is not None:
        data["back"] = back
    return post_form(client, f"/staff/escalations/{item_id}/resolve", data)


def resend(client, payment_id: str):
    return post_form(client, f"/staff/payments/{payment_id}/resend", {})


def post_check(client, amount: str = "40.00", number: str = "1001"):
    html = page(client, ACCOUNT)
    data = {
        "method": "check",
        "amount": amount,
        "check_number": number,
        "request_key": request_key_of(html),
        "csrf_token": csrf_token(html),
    }
    response = client.post(f"{ACCOUNT}/payments", data=data)
    assert redirects_to(response, ACCOUNT), response.get_data(as_text=True)


def reverse(client, payment_id: str, reason: str = "Posted to the wrong account"):
    response = post_form(client, f"/staff/payments/{payment_id}/reverse", {"reason": reason})
    assert redirects_to(response, ACCOUNT), response.status_code


def open_items(services, kind: EscalationKind | None = None) -> list:
    return [e for e in services.store.escalations() if kind is None or e.kind is kind]


def the_item(services) -> int:
    (item,) = services.store.escalations()
    return item.escalation_id


def pending_card_payment(app, services) -> str:
    """A patient opens a checkout for $20.00 and leaves it: a pending card payment."""
    patient = app.test_client()
    sign_in(patient)
    open_checkout(patient, "20.00")
    (payment,) = records(services).payments
    assert payment.status is PaymentStatus.PENDING
    assert payment.method == "card"
    return payment.payment_id


def declined(payment_id: str) -> GatewayEvent:
    return GatewayEvent(
        kind=EventKind.PAYMENT_FAILED,
        payment_id=payment_id,
        reference="sbx_pi_declined0000000000000000",
        message="Card declined",
    )


# == adjustments and write-offs ================================================================


def test_a_write_off_lowers_the_statement_and_is_kept_in_the_ledger(boss, services):
    start = last_audit_id(services)

    response = adjust(boss, amount="10.00", reason="Small balance write-off approved")

    assert redirects_to(response, ACCOUNT), response.get_data(as_text=True)
    html = page(boss, ACCOUNT)
    assert "Write-off of $10.00 posted." in flashes(html)
    assert by_testid(html, "balance-due") == "$85.50"
    assert by_testid(html, "ledger-total") == "$85.50"
    assert statement_balances(services) == {"S-2026-000100": 2000, "S-2026-000123": 6550}

    (entry,) = [e for e in records(services).entries if e.kind is EntryKind.WRITE_OFF]
    assert entry.amount_cents == -1000
    assert entry.statement_id == "S-2026-000100"
    assert entry.memo == "Small balance write-off approved"
    ledger = html[html.index('id="ledger-heading"') :]
    row = re.search(r"<td>write off</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", ledger)
    assert row, "no write-off row in the ledger table"
    assert row.groups() == ("S-2026-000100", "Small balance write-off approved")

    assert audited(services, start, AuditAction.POST_ADJUSTMENT) == [
        ("sam", "100234", "S-2026-000100", DESK_ADDRESS)
    ]


def test_a_contractual_adjustment_is_posted_as_an_adjustment(boss, services):
    response = adjust(boss, statement_id="S-2026-000123", kind="adjustment", amount="5.50")

    assert redirects_to(response, ACCOUNT)
    html = page(boss, ACCOUNT)
    assert "Adjustment of $5.50 posted." in flashes(html)
    assert by_testid(html, "balance-due") == "$90.00"
    assert statement_balances(services) == {"S-2026-000100": 3000, "S-2026-000123": 6000}
    assert not [e for e in records(services).entries if e.kind is EntryKind.WRITE_OFF]


@pytest.mark.parametrize("amount", ["30.01", "40.00", "95.50"])
def test_an_adjustment_above_the_statements_balance_is_refused(boss, services, amount):
    entries = records(services).entries

    response = adjust(boss, statement_id="S-2026-000100", amount=amount)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    message = error_of(html, "amount")
    assert "more than the statement's balance" in message
    assert "$30.00" in message
    assert by_testid(html, "balance-due") == "$95.50"
    assert records(services).entries == entries
    assert statement_balances(services) == UNTOUCHED
    actions = {e.action for e in services.store.audit_entries()}
    assert AuditAction.POST_ADJUSTMENT not in actions


def test_the_whole_statement_balance_can_be_written_off(boss, services):
    assert redirects_to(adjust(boss, amount="30.00"), ACCOUNT)
    assert statement_balances(services) == {"S-2026-000100": 0, "S-2026-000123": 6550}
    assert by_testid(page(boss, ACCOUNT), "balance-due") == "$65.50"


@pytest.mark.parametrize("reason", ["", "   "])
def test_an_adjustment_needs_a_reason(boss, services, reason):
    entries = records(services).entries

    response = adjust(boss, reason=reason)

    assert response.status_code == 422
    assert "reason" in error_of(response.get_data(as_text=True), "reason").lower()
    assert records(services).entries == entries
    assert statement_balances(services) == UNTOUCHED


@pytest.mark.parametrize(
    ("amount", "message"),
    [("0", "more than $0.00"), ("-5", "cannot be negative"), ("ten", "dollars and cents")],
)
def test_an_adjustment_needs_a_positive_amount(boss, services, amount, message):
    response = adjust(boss, amount=amount)

    assert response.status_code == 422
    assert message in error_of(response.get_data(as_text=True), "amount")
    assert statement_balances(services) == UNTOUCHED


def test_a_statement_of_another_account_is_refused(boss, services, smith):
    lopez_entries = records(services).entries
    smith_entries = records(services, "100777").entries

    response = adjust(boss, statement_id="S-2026-000200", amount="5.00")

    assert response.status_code == 422
    assert error_of(response.get_data(as_text=True), "statement_id")
    assert records(services).entries == lopez_entries
    assert records(services, "100777").entries == smith_entries
    assert statement_balances(services, "100777") == {"S-2026-000200": 3000}
    actions = {e.action for e in services.store.audit_entries()}
    assert AuditAction.POST_ADJUSTMENT not in actions


def test_an_associate_cannot_post_an_adjustment(desk, services):
    assert 'id="adjust-heading"' not in page(desk, ACCOUNT)
    entries = records(services).entries

    response = adjust(desk)

    assert response.status_code == 403
    assert records(services).entries == entries
    assert statement_balances(services) == UNTOUCHED


def test_the_supervisors_account_page_has_unique_element_ids(boss):
    """Labels and the error summary's links find a field by its id: each id once."""
    html = page(boss, ACCOUNT)
    assert 'id="adjust-heading"' in html
    ids = Counter(re.findall(r'\bid="([^"]+)"', html))
    assert [name for name, count in ids.items() if count > 1] == []


# == resending a receipt =======================================================================


def manual_payment(client, services) -> str:
    post_check(client, "40.00")
    (payment,) = records(services).payments
    return payment.payment_id


def sandbox_payment(client, services) -> str:
    patient = client.application.test_client()
    sign_in(patient)
    paid = pay(patient, open_checkout(patient, "20.00"))
    assert paid.status_code == 303
    (payment,) = records(services).payments
    assert payment.status is PaymentStatus.SUCCEEDED
    return payment.payment_id


@pytest.mark.parametrize("make_payment", [manual_payment, sandbox_payment], ids=["check", "card"])
def test_resending_a_receipt_sends_one_more_email(desk, services, outbox, make_payment):
    payment_id = make_payment(desk, services)
    assert len(eml_files(outbox)) == 1
    assert f"/staff/payments/{payment_id}/resend" in page(desk, ACCOUNT)
    start = last_audit_id(services)

    response = resend(desk, payment_id)

    assert redirects_to(response, ACCOUNT)
    assert "Receipt sent again to maria@example.com." in flashes(page(desk, ACCOUNT))
    sent = eml_files(outbox)
    assert len(sent) == 2
    for path in sent:
        message = read_eml(path)
        assert message["To"] == "maria@example.com"
        assert message["X-Portal-Message-Kind"] == "receipt"
        assert payment_id in message.get_body(("plain",)).get_content()
    assert audited(services, start, AuditAction.RESEND_RECEIPT) == [
        ("alice", "100234", payment_id, DESK_ADDRESS)
    ]


class RefusingMailer:
    def __init__(self, error: Exception):
        self.error = error

    def send(self, message) -> None:
        raise self.error


@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (
            PermanentMailError("550 mailbox unavailable"),
            "The mail server refused the receipt; see the mail log.",
        ),
        (
            TransientMailError("451 try later"),
            "The receipt could not be sent just now; try again later.",
        ),
    ],
    ids=["refused", "not-now"],
)
def test_a_receipt_the_mail_server_will_not_take_is_reported_not_a_crash(
    desk, services, outbox, monkeypatch, error, shown
):
    payment_id = manual_payment(desk, services)
    monkeypatch.setattr(services, "mailer", RefusingMailer(error))
    start = last_audit_id(services)

    response = resend(desk, payment_id)

    assert redirects_to(response, ACCOUNT)
    assert shown in flashes(page(desk, ACCOUNT))
    assert len(eml_files(outbox)) == 1  # only the receipt sent when it was posted
    latest = services.store.mail_log("100234")[0]
    assert (latest.kind, latest.outcome) == (
        "receipt",
        "refused" if isinstance(error, PermanentMailError) else "failed",
    )
    assert audited(services, start, AuditAction.RESEND_RECEIPT) == [
        ("alice", "100234", payment_id, DESK_ADDRESS)
    ]


def test_a_pending_payment_has_no_receipt_to_resend(app, desk, services, outbox):
    payment_id = pending_card_payment(app, services)

    response = resend(desk, payment_id)

    assert redirects_to(response, ACCOUNT)
    assert "Only a posted payment has a receipt." in flashes(page(desk, ACCOUNT))
    assert eml_files(outbox) == []
    actions = {e.action for e in services.store.audit_entries()}
    assert AuditAction.RESEND_RECEIPT not in actions


def test_a_reversed_payment_gets_no_receipt_again(desk, services, outbox):
    """A reversed posting was never money received: no "Thank you, we received" e-mail."""
    payment_id = manual_payment(desk, services)
    reverse(desk, payment_id)
    assert services.store.get_payment(payment_id).status is PaymentStatus.REVERSED

    response = resend(desk, payment_id)

    assert redirects_to(response, ACCOUNT)
    assert len(eml_files(outbox)) == 1  # only the receipt sent when it was posted
    actions = {e.action for e in services.store.audit_entries()}
    assert AuditAction.RESEND_RECEIPT not in actions


def test_an_account_without_email_gets_a_message_not_an_email(desk, services, outbox, no_email):
    result = post_manual_payment(
        services, "alice", "100555", "cash", "10.00", "", "ab" * 16, DESK_ADDRESS
    )
    assert result.posted
    assert eml_files(outbox) == []

    response = resend(desk, result.payment.payment_id)

    assert redirects_to(response, "/staff/accounts/100555")
    html = page(desk, "/staff/accounts/100555")
    assert "The account has no e-mail address." in flashes(html)
    assert eml_files(outbox) == []
    actions = {e.action for e in services.store.audit_entries()}
    assert AuditAction.RESEND_RECEIPT not in actions


def test_resending_an_unknown_payment_is_404(desk, outbox):
    assert resend(desk, "pay_000000000000000000000000").status_code == 404
    assert eml_files(outbox) == []


# == the escalation queue ======================================================================


def test_an_escalation_from_the_account_page_appears_in_the_queue(desk, services):
    start = last_audit_id(services)

    response = escalate(desk, "other", "Asks for a payment plan")

    assert redirects_to(response, ACCOUNT)
    html = page(desk, ACCOUNT)
    assert "Added to the escalation queue." in flashes(html)
    (on_account,) = queue_items(html)
    (item,) = queue(desk)
    assert item == on_account
    assert item["label"] == "Needs a supervisor"
    assert item["account"] == "100234"
    assert item["reason"] == "Asks for a payment plan"
    assert "by alice" in item["meta"]
    assert "owner nobody yet" in item["meta"]
    (stored,) = services.store.escalations()
    assert (stored.kind, stored.opened_by, stored.opened_at) == (
        EscalationKind.OTHER,
        "alice",
        services.clock.now(),
    )
    assert audited(services, start, AuditAction.OPEN_ESCALATION) == [
        ("alice", "100234", "other", DESK_ADDRESS)
    ]


def test_other_matters_can_be_raised_more_than_once(desk, services):
    escalate(desk, "other", "First question")
    escalate(desk, "other", "Second question")
    assert [i["reason"] for i in queue(desk)] == ["First question", "Second question"]


def test_an_escalation_needs_details(desk, services):
    response = escalate(desk, "other", "")

    assert response.status_code == 422
    assert error_of(response.get_data(as_text=True), "reason")
    assert services.store.escalations() == []


def test_staff_cannot_open_a_failed_payment_item_by_hand(desk, services):
    response = escalate(desk, "failed_payment", "Made up")
    assert response.status_code == 422
    assert services.store.escalations() == []


def test_an_account_has_one_open_dispute(desk, services):
    start = last_audit_id(services)
    assert redirects_to(escalate(desk, "dispute", "Says the visit was covered"), ACCOUNT)

    again = escalate(desk, "dispute", "Calls again about the same visit")

    assert redirects_to(again, ACCOUNT)
    assert "This account already has an open dispute." in flashes(page(desk, ACCOUNT))
    (item,) = queue(desk)
    assert item["label"] == "Disputed balance"
    assert item["reason"] == "Says the visit was covered"
    assert len(open_items(services, EscalationKind.DISPUTE)) == 1
    assert len(audited(services, start, AuditAction.OPEN_ESCALATION)) == 1

    # Once resolved, a new dispute can be raised.
    resolve_item(desk, item["id"], "Insurance reprocessed the claim")
    assert redirects_to(escalate(desk, "dispute", "A new dispute"), ACCOUNT)
    assert [i["reason"] for i in queue(desk)] == ["A new dispute"]


def test_assigning_an_owner_and_a_promise_date(desk, services, sam):
    escalate(desk)
    item_id = the_item(services)
    start = last_audit_id(services)

    response = update_item(desk, item_id, "Sam", "2026-12-15")

    assert redirects_to(response, QUEUE)
    html = page(desk, QUEUE)
    assert f"Item #{item_id} updated." in flashes(html)
    (item,) = queue_items(html)
    assert "owner sam" in item["meta"]
    assert "promise to pay by Dec 15, 2026" in item["meta"]
    stored = services.store.get_escalation(item_id)
    assert (stored.owner, stored.promise_to_pay_on) == ("sam", date(2026, 12, 15))
    assert audited(services, start, AuditAction.UPDATE_ESCALATION) == [
        ("alice", "100234", f"#{item_id} owner=sam promise=2026-12-15", DESK_ADDRESS)
    ]


@pytest.mark.parametrize(
    ("owner", "promise", "message"),
    [
        ("nobody", "", "There is no staff user 'nobody'."),
        ("sam", "next friday", "Check the owner and the date."),
    ],
    ids=["unknown owner", "not a date"],
)
def test_a_bad_update_changes_nothing(desk, services, sam, owner, promise, message):
    escalate(desk)
    item_id = the_item(services)
    before = services.store.get_escalation(item_id)
    start = last_audit_id(services)

    response = update_item(desk, item_id, owner, promise)

    assert redirects_to(response, QUEUE)
    html = page(desk, QUEUE)
    assert message in flashes(html)
    assert services.store.get_escalation(item_id) == before
    assert "owner nobody yet" in queue_items(html)[0]["meta"]
    assert audited(services, start, AuditAction.UPDATE_ESCALATION) == []


def test_the_queue_filters_by_owner(desk, services, sam):
    for reason in ("For alice", "For nobody", "For sam"):
        escalate(desk, "other", reason)
    ids = {e.reason: e.escalation_id for e in services.store.escalations()}
    update_item(desk, ids["For alice"], "alice")
    update_item(desk, ids["For sam"], "sam")

    html = page(desk, QUEUE)
    assert f'href="{QUEUE}?owner=alice"' in html  # the "Mine" link
    assert [i["reason"] for i in queue_items(html)] == ["For alice", "For nobody", "For sam"]
    assert [i["reason"] for i in queue(desk, owner="alice")] == ["For alice"]
    assert [i["reason"] for i in queue(desk, owner="SAM")] == ["For sam"]
    assert [i["reason"] for i in queue(desk, owner="unassigned")] == ["For nobody"]
    assert queue(desk, owner="ada") == []
    assert "1 open item," in page(desk, QUEUE, owner="alice")


def test_the_queue_filters_by_age(app, desk, services):
    escalate(desk, "other", "Opened ten days ago")
    services.clock.advance(days=10)
    desk = staff_client(app, services, "alice")  # the old session has idled out
    escalate(desk, "other", "Opened today")

    def reasons(**query) -> list[str]:
        return [i["reason"] for i in queue(desk, **query)]

    assert reasons() == ["Opened ten days ago", "Opened today"]
    assert reasons(older_than="0") == ["Opened ten days ago", "Opened today"]
    assert reasons(older_than="7") == ["Opened ten days ago"]
    assert reasons(older_than="10") == ["Opened ten days ago"]
    assert reasons(older_than="11") == []
    assert reasons(older_than="7", owner="unassigned") == ["Opened ten days ago"]


@pytest.mark.parametrize("older_than", ["abc", "7d", "-1", "1.5", "seven", "²"])
def test_a_non_numeric_age_filter_is_400_with_a_message(desk, services, older_than):
    escalate(desk)

    response = desk.get(QUEUE, query_string={"older_than": older_than})

    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert "older_than: a number of days, like 7." in error_summary(html)


def test_a_huge_age_filter_is_not_a_server_error(desk, services):
    escalate(desk)

    response = desk.get(QUEUE, query_string={"older_than": "1000000"})

    assert response.status_code in (200, 400)
    if response.status_code == 200:
        assert queue_items(response.get_data(as_text=True)) == []


def test_resolving_an_item_takes_it_off_the_queue(desk, services):
    escalate(desk, "other", "Asks for a payment plan")
    item_id = the_item(services)
    start = last_audit_id(services)

    response = resolve_item(desk, item_id, "Set up a 3-month plan")

    assert redirects_to(response, QUEUE)
    html = page(desk, QUEUE)
    assert f"Item #{item_id} resolved." in flashes(html)
    assert queue_items(html) == []
    assert queue_items(page(desk, ACCOUNT)) == []
    stored = services.store.get_escalation(item_id)
    assert not stored.is_open
    assert (stored.resolved_by, stored.resolution) == ("alice", "Set up a 3-month plan")
    assert audited(services, start, AuditAction.RESOLVE_ESCALATION) == [
        ("alice", "100234", f"#{item_id}", DESK_ADDRESS)
    ]

    again = resolve_item(desk, item_id, "Twice")
    assert redirects_to(again, QUEUE)
    assert "This item is already resolved." in flashes(page(desk, QUEUE))
    again = update_item(desk, item_id, "alice")
    assert redirects_to(again, QUEUE)
    assert "This item is already resolved." in flashes(page(desk, QUEUE))
    assert services.store.get_escalation(item_id) == stored
    assert len(audited(services, start, AuditAction.RESOLVE_ESCALATION)) == 1
    assert audited(services, start, AuditAction.UPDATE_ESCALATION) == []


@pytest.mark.parametrize("resolution", ["", "   "])
def test_resolving_needs_a_resolution(desk, services, resolution):
    escalate(desk)
    item_id = the_item(services)

    response = resolve_item(desk, item_id, resolution)

    assert redirects_to(response, QUEUE)
    assert "Say how it was resolved." in flashes(page(desk, QUEUE))
    assert services.store.get_escalation(item_id).is_open


def test_an_unknown_item_is_404(desk, services):
    assert update_item(desk, 999, "alice").status_code == 404
    assert resolve_item(desk, 999, "Done").status_code == 404


@pytest.mark.parametrize(
    ("back", "expected"),
    [
        ("/staff/accounts/100234", "/staff/accounts/100234"),
        ("/staff/escalations?owner=alice", "/staff/escalations?owner=alice"),
        ("https://evil.example/", QUEUE),
        ("https://evil.example/staff/", QUEUE),
        ("//evil.example/staff/", QUEUE),
        ("/staff//evil.example/", QUEUE),
        ("/account", QUEUE),
        ("javascript:alert(1)", QUEUE),
        (None, QUEUE),
    ],
)
@pytest.mark.parametrize("action", ["update", "resolve"])
def test_queue_actions_only_go_back_to_staff_pages(desk, services, action, back, expected):
    escalate(desk)
    item_id = the_item(services)

    if action == "update":
        response = update_item(desk, item_id, "alice", back=back)
    else:
        response = resolve_item(desk, item_id, "Done", back=back)

    assert response.status_code == 303
    location = response.headers["Location"]
    assert urlsplit(location).netloc in ("", "localhost")
    assert path_of(location) == expected
    assert "evil" not in location


def test_the_queue_cards_send_the_form_back_to_the_page_they_are_on(desk, services):
    escalate(desk)
    account_html = page(desk, ACCOUNT)
    assert 'name="back" value="/staff/accounts/100234"' in account_html
    queue_html = page(desk, QUEUE, owner="unassigned")
    assert 'name="back" value="/staff/escalations?owner=unassigned"' in queue_html


def test_a_failed_card_payment_opens_one_item(app, desk, services):
    payment_id = pending_card_payment(app, services)
    start = last_audit_id(services)
    event = declined(payment_id)

    closed = apply_gateway_event(services, event)
    apply_gateway_event(services, event)

    assert closed.status is PaymentStatus.FAILED
    (item,) = open_items(services)
    assert item.kind is EscalationKind.FAILED_PAYMENT
    assert item.account_number == "100234"
    assert item.opened_by == "system"
    assert payment_id in item.reason
    assert "Card declined" in item.reason
    (card,) = queue(desk)
    assert card["label"] == "Failed payment"
    assert card["id"] == item.escalation_id
    assert "Card declined" in card["reason"]
    assert audited(services, start, AuditAction.OPEN_ESCALATION) == [
        ("system", "100234", "failed_payment", "")
    ]


def test_a_replayed_failure_does_not_reopen_a_resolved_item(app, desk, services):
    """Gateways deliver an event more than once; a failed payment is worked once."""
    payment_id = pending_card_payment(app, services)
    event = declined(payment_id)
    apply_gateway_event(services, event)
    item_id = the_item(services)
    resolve_item(desk, item_id, "Patient paid with another card")
    assert open_items(services) == []

    apply_gateway_event(services, event)

    assert open_items(services) == []
    assert queue(desk) == []


def test_a_canceled_checkout_opens_no_item(app, services, lopez):
    payment_id = pending_card_payment(app, services)
    apply_gateway_event(
        services,
        GatewayEvent(kind=EventKind.CHECKOUT_CANCELED, payment_id=payment_id, reference="x"),
    )
    assert services.store.get_payment(payment_id).status is PaymentStatus.CANCELED
    assert open_items(services) == []


def test_the_dashboard_counts_the_open_items(app, desk, services):
    def shown() -> int:
        return int(by_testid(page(desk, "/staff/"), "open-escalations"))

    assert shown() == 0
    escalate(desk, "other", "One")
    escalate(desk, "dispute", "Two")
    apply_gateway_event(services, declined(pending_card_payment(app, services)))
    assert shown() == 3 == len(open_items(services)) == len(queue(desk))
    assert "3 open items," in page(desk, QUEUE)

    resolve_item(desk, open_items(services, EscalationKind.OTHER)[0].escalation_id, "Done")
    assert shown() == 2 == len(open_items(services)) == len(queue(desk))


def test_every_queue_action_is_audited(desk, services, sam):
    start = last_audit_id(services)

    page(desk, QUEUE)
    escalate(desk, "refund_request", "Wants the credit back")
    item_id = the_item(services)
    update_item(desk, item_id, "sam", "")
    resolve_item(desk, item_id, "Refund approved")

    trail = [
        (e.actor, e.action, e.account_number, e.subject, e.address)
        for e in audit_since(services, start)
        if e.action
        in (
            AuditAction.VIEW_ESCALATIONS,
            AuditAction.OPEN_ESCALATION,
            AuditAction.UPDATE_ESCALATION,
            AuditAction.RESOLVE_ESCALATION,
        )
    ]
    assert trail == [
        ("alice", AuditAction.VIEW_ESCALATIONS, None, "", DESK_ADDRESS),
        ("alice", AuditAction.OPEN_ESCALATION, "100234", "refund_request", DESK_ADDRESS),
        (
            "alice",
            AuditAction.UPDATE_ESCALATION,
            "100234",
            f"#{item_id} owner=sam promise=-",
            DESK_ADDRESS,
        ),
        ("alice", AuditAction.RESOLVE_ESCALATION, "100234", f"#{item_id}", DESK_ADDRESS),
    ]


# == the audit log page ========================================================================


@pytest.mark.parametrize("who", ["associate", "supervisor"])
def test_only_an_admin_sees_the_audit_log(app, services, lopez, alice, sam, who):
    client = staff_client(app, services, "alice" if who == "associate" else "sam")
    assert 'href="/staff/audit"' not in page(client, "/staff/")
    start = last_audit_id(services)

    for query in ({}, {"format": "csv"}, {"actor": "alice"}):
        assert client.get("/staff/audit", query_string=query).status_code == 403

    assert audited(services, start, AuditAction.VIEW_AUDIT_LOG) == []


@pytest.fixture
def busy_day(app, services, lopez, smith, alice, sam):
    """Alice looks at 100234 and 100777; Sam looks at 100234 and writes off $5.00."""
    desk = staff_client(app, services, "alice")
    page(desk, ACCOUNT)
    page(desk, "/staff/accounts/100777")
    boss = staff_client(app, services, "sam")
    page(boss, ACCOUNT)
    assert redirects_to(adjust(boss, amount="5.00"), ACCOUNT)


def audit_table(html: str) -> list[list[str]]:
    return [row for row in table_rows(html) if row != ["No entries."]]


def test_the_audit_log_lists_every_entry_newest_first(admin, services, busy_day):
    entries = services.store.audit_entries(limit=1000)

    rows = audit_table(page(admin, "/staff/audit"))

    assert len(rows) == len(entries)
    assert [(r[1], r[2], r[3], r[4], r[5]) for r in rows] == [
        (e.actor, e.action.value.replace("_", " "), e.account_number or "", e.subject, e.address)
        for e in entries
    ]


def test_the_audit_log_filters_by_actor(admin, services, busy_day):
    expected = services.store.audit_entries(actor="alice", limit=1000)
    assert expected

    rows = audit_table(page(admin, "/staff/audit", actor="Alice"))

    assert len(rows) == len(expected)
    assert {r[1] for r in rows} == {"alice"}
    assert "view account" in {r[2] for r in rows}


def test_the_audit_log_filters_by_account(admin, services, busy_day):
    expected = services.store.audit_entries(account_number="100777", limit=1000)
    assert expected

    rows = audit_table(page(admin, "/staff/audit", account="100777"))

    assert len(rows) == len(expected)
    assert {r[3] for r in rows} == {"100777"}
    both = audit_table(page(admin, "/staff/audit", account="100234", actor="sam"))
    assert {(r[1], r[3]) for r in both} == {("sam", "100234")}
    assert {r[2] for r in both} >= {"view account", "post adjustment"}


def test_the_audit_log_as_csv(admin, services, busy_day):
    entries = services.store.audit_entries(limit=1000)

    response = admin.get("/staff/audit", query_string={"format": "csv"})

    rows = csv_rows(response)
    assert rows[0] == ["at", "actor", "action", "account_number", "subject", "address"]
    assert rows[1:] == [
        [
            e.at.isoformat(),
            e.actor,
            e.action.value,
            e.account_number or "",
            e.subject,
            e.address,
        ]
        for e in entries
    ]

    expected = services.store.audit_entries(actor="sam", limit=1000)
    filtered = csv_rows(admin.get("/staff/audit", query_string={"format": "csv", "actor": "sam"}))
    assert len(filtered) == 1 + len(expected)
    assert [row[2] for row in filtered[1:]] == [e.action.value for e in expected]
    assert {row[1] for row in filtered[1:]} == {"sam"}


def test_viewing_the_audit_log_is_audited(admin, services, busy_day):
    start = last_audit_id(services)

    page(admin, "/staff/audit")
    page(admin, "/staff/audit", actor="alice")
    page(admin, "/staff/audit", account="100234")
    admin.get("/staff/audit", query_string={"format": "csv"})

    assert audited(services, start, AuditAction.VIEW_AUDIT_LOG) == [
        ("ada", None, "actor=*", DESK_ADDRESS),
        ("ada", None, "actor=alice", DESK_ADDRESS),
        ("ada", "100234", "actor=*", DESK_ADDRESS),
        ("ada", None, "actor=*", DESK_ADDRESS),
    ]
    # The next view shows the earlier one.
    rows = audit_table(page(admin, "/staff/audit", actor="ada"))
    assert rows[0][2] == "view audit log"


def test_the_audit_csv_cannot_carry_a_spreadsheet_formula(app, admin, services):
    """Anyone can type a "username" on the sign-in page, and it is logged as the actor."""
    attacker = app.test_client()
    submit_password(attacker, '=HYPERLINK("http://x.example")', "whatever")
    assert any(e.actor.startswith("=") for e in services.store.audit_entries())

    rows = csv_rows(admin.get("/staff/audit", query_string={"format": "csv"}))

    for row in rows[1:]:
        for cell in row:
            assert not cell.startswith(("=", "+", "@", "\t", "\r")), row


# == reports: aging ============================================================================


def buckets_on(html: str) -> dict[str, int]:
    names = ("current", "1-30", "31-60", "61-90", "91-120", "over 120")
    return {name: cents(by_testid(html, f"bucket-{name}") or "") for name in names}


def test_the_aging_report_with_todays_date(desk):
    html = page(desk, "/staff/reports/aging")

    assert "Aging as of Nov 28, 2026" in html
    # S-2026-000123 ($65.50) is due 2026-11-30: current.
    # S-2026-000100 ($30.00) was due 2026-09-30: 59 days past due.
    assert buckets_on(html) == {
        "current": 6550,
        "1-30": 0,
        "31-60": 3000,
        "61-90": 0,
        "91-120": 0,
        "over 120": 0,
    }
    assert by_testid(html, "aging-total") == "$95.50"
    (row,) = table_rows(html)
    assert row[0].startswith("100234")
    assert "Maria Lopez" in row[0]
    assert row[1:] == ["$65.50", "", "$30.00", "", "", "", "$95.50"]


def test_the_aging_report_as_of_a_later_date(desk):
    html = page(desk, "/staff/reports/aging", as_of="2026-12-31")

    assert "Aging as of Dec 31, 2026" in html
    # S-2026-000123: 31 days past due; S-2026-000100: 92 days past due.
    assert buckets_on(html) == {
        "current": 0,
        "1-30": 0,
        "31-60": 6550,
        "61-90": 0,
        "91-120": 3000,
        "over 120": 0,
    }
    assert by_testid(html, "aging-total") == "$95.50"


def test_the_aging_report_follows_payments_and_write_offs(boss, services):
    post_check(boss, "40.00")  # pays S-2026-000100 in full and $10.00 of S-2026-000123
    assert redirects_to(adjust(boss, statement_id="S-2026-000123", amount="5.50"), ACCOUNT)

    html = page(boss, "/staff/reports/aging")

    assert buckets_on(html)["31-60"] == 0
    assert buckets_on(html)["current"] == 5000
    assert by_testid(html, "aging-total") == "$50.00"


def plain(*amounts: int) -> list[str]:
    return [f"{a // 100}.{a % 100:02d}" for a in amounts]


def test_the_aging_csv_matches_the_page(desk, services, smith):
    html = page(desk, "/staff/reports/aging", as_of="2026-12-31")

    rows = csv_rows(
        desk.get("/staff/reports/aging", query_string={"as_of": "2026-12-31", "format": "csv"})
    )

    assert rows[0] == [
        "account_number",
        "guarantor",
        "current",
        "1-30",
        "31-60",
        "61-90",
        "91-120",
        "over 120",
        "total",
    ]
    body = {row[0]: row for row in rows[1:-1]}
    assert body == {
        "100234": ["100234", "Maria Lopez", *plain(0, 0, 6550, 0, 3000, 0, 9550)],
        "100777": ["100777", "John Smith", *plain(0, 0, 3000, 0, 0, 0, 3000)],
    }
    assert [row[0] for row in rows[1:-1]] == ["100234", "100777"]  # oldest balances first
    totals = rows[-1]
    assert totals == ["total", "", *plain(0, 0, 9550, 0, 3000, 0, 12550)]
    for column in range(2, 9):
        assert sum(cents("$" + row[column]) for row in rows[1:-1]) == cents("$" + totals[column])
    on_page = buckets_on(html)
    assert [cents("$" + v) for v in totals[2:8]] == list(on_page.values())
    assert by_testid(html, "aging-total") == "$125.50"


@pytest.mark.parametrize("as_of", ["2026-13-01", "31/12/2026"])
@pytest.mark.parametrize("fmt", ["html", "csv"])
def test_a_bad_aging_date_is_400(desk, as_of, fmt):
    query = {"as_of": as_of} if fmt == "html" else {"as_of": as_of, "format": "csv"}

    response = desk.get("/staff/reports/aging", query_string=query)

    assert response.status_code == 400
    if fmt == "html":
        assert "as_of: use a date like 2026-11-28." in error_summary(
            response.get_data(as_text=True)
        )


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/staff/reports/aging", {"as_of": "9999-12-31"}),
        ("/staff/reports/aging", {"as_of": "0001-01-01"}),
        ("/staff/reports/monthly", {"month": "0001-01"}),
        ("/staff/reports/monthly", {"month": "9999-12"}),
    ],
    ids=["aging 9999", "aging 0001", "monthly 0001", "monthly 9999"],
)
def test_out_of_range_report_dates_are_not_a_server_error(boss, path, query):
    response = boss.get(path, query_string=query)
    assert response.status_code in (200, 400)


# == reports: the monthly summary ==============================================================

FIGURES = {
    "Receivable at the start": "beginning",
    "Charges billed": "charges",
    "Insurance payments": "insurance",
    "Contractual adjustments": "adjustments",
    "Patient payments (net of reversals)": "patient",
    "Refunds": "refunds",
    "Write-offs": "write_offs",
    "Receivable at the end": "ending",
}


def summary_on(html: str) -> dict[str, int]:
    """The monthly summary's figures as the page shows them (sign words left off)."""
    found = {}
    for label, value in re.findall(r"<dt>(.*?)</dt><dd[^>]*>(.*?)</dd>", html, re.DOTALL):
        if text(label) in FIGURES:
            found[FIGURES[text(label)]] = cents(text(value).lstrip("+\u2212"))
    assert set(found) == set(FIGURES.values()), found
    return found


def balances_to_the_cent(f: dict[str, int]) -> bool:
    return (
        f["beginning"]
        + f["charges"]
        - f["insurance"]
        - f["adjustments"]
        - f["patient"]
        + f["refunds"]
        - f["write_offs"]
        == f["ending"]
    )


def november(client) -> dict[str, int]:
    html = page(client, "/staff/reports/monthly", month="2026-11")
    assert "Monthly summary, Nov 2026" in html
    figures = summary_on(html)
    assert balances_to_the_cent(figures), figures
    return figures


def test_the_monthly_summary_matches_the_statements(boss, services):
    sent = [services.store.get_statement(s) for s in ("S-2026-000100", "S-2026-000123")]

    figures = november(boss)

    assert figures["charges"] == sum(s.charges_cents for s in sent) == 56050
    assert figures["insurance"] == sum(s.insurance_paid_cents for s in sent) == 36000
    assert figures["adjustments"] == sum(s.adjustments_cents for s in sent) == 10500
    assert figures["beginning"] == 0
    assert (figures["patient"], figures["refunds"], figures["write_offs"]) == (0, 0, 0)
    assert figures["ending"] == 9550


def test_a_posted_check_and_its_reversal_in_the_monthly_summary(boss, services):
    before = november(boss)

    post_check(boss, "40.00")
    after_check = november(boss)

    assert after_check["patient"] == before["patient"] + 4000
    assert after_check["ending"] == before["ending"] - 4000
    assert {k: v for k, v in after_check.items() if k not in ("patient", "ending")} == {
        k: v for k, v in before.items() if k not in ("patient", "ending")
    }

    (payment,) = records(services).payments
    reverse(boss, payment.payment_id)

    assert november(boss) == before


def test_a_payment_late_on_the_last_evening_counts_in_that_month(app, services, lopez, sam):
    # 22:00 on Monday 2026-11-30 in New York is already December in UTC.
    services.clock.set(datetime(2026, 12, 1, 3, 0, tzinfo=UTC))
    result = post_manual_payment(
        services, "sam", "100234", "cash", "25.00", "", "cd" * 16, DESK_ADDRESS
    )
    assert result.posted
    boss = staff_client(app, services, "sam")

    figures = november(boss)
    assert figures["patient"] == 2500
    assert figures["ending"] == 7050
    december = summary_on(page(boss, "/staff/reports/monthly", month="2026-12"))
    assert december["beginning"] == 7050
    assert december["patient"] == 0


def test_a_write_off_in_the_monthly_summary(boss, services):
    before = november(boss)

    assert redirects_to(adjust(boss, amount="10.00"), ACCOUNT)

    after = november(boss)
    assert after["write_offs"] == before["write_offs"] + 1000
    assert after["ending"] == before["ending"] - 1000
    assert after["adjustments"] == before["adjustments"]


def test_the_monthly_csv_has_twelve_months(boss, services):
    post_check(boss, "40.00")
    figures = november(boss)

    rows = csv_rows(
        boss.get("/staff/reports/monthly", query_string={"month": "2026-11", "format": "csv"})
    )

    assert rows[0] == [
        "month",
        "beginning_receivable",
        "charges",
        "insurance_payments",
        "adjustments",
        "patient_payments",
        "refunds",
        "write_offs",
        "ending_receivable",
    ]
    months = rows[1:]
    assert len(months) == 12
    assert [m[0] for m in months] == [
        "2025-12",
        *(f"2026-{n:02d}" for n in range(1, 12)),
    ]
    assert all(m[1:] == ["0.00"] * 8 for m in months[:-1])
    last = [cents("$" + v) for v in months[-1][1:]]
    assert last == [
        figures["beginning"],
        figures["charges"],
        figures["insurance"],
        figures["adjustments"],
        figures["patient"],
        figures["refunds"],
        figures["write_offs"],
        figures["ending"],
    ]
    for month in months:
        values = dict(zip(FIGURES.values(), (cents("$" + v) for v in month[1:]), strict=True))
        assert balances_to_the_cent(values), month
    # One month's ending is the next month's beginning.
    for earlier, later in itertools.pairwise(months):
        assert earlier[8] == later[1]


def test_the_monthly_summary_crosses_a_year_end(boss):
    rows = csv_rows(
        boss.get("/staff/reports/monthly", query_string={"month": "2027-01", "format": "csv"})
    )
    assert [r[0] for r in rows[1:]][-3:] == ["2026-11", "2026-12", "2027-01"]
    assert rows[-1][8] == "95.50"  # nothing posted since: the receivable carries over


@pytest.mark.parametrize("month", ["November", "2026-13"])
@pytest.mark.parametrize("fmt", ["html", "csv"])
def test_a_bad_month_is_400(boss, month, fmt):
    query = {"month": month} if fmt == "html" else {"month": month, "format": "csv"}

    response = boss.get("/staff/reports/monthly", query_string=query)

    assert response.status_code == 400
    if fmt == "html":
        html = response.get_data(as_text=True)
        assert "month: use a month like 2026-11." in error_summary(html)


def test_an_associate_cannot_see_the_monthly_summary(desk, services):
    assert 'href="/staff/reports/monthly"' not in page(desk, "/staff/")
    start = last_audit_id(services)
    for query in ({}, {"month": "2026-11"}, {"month": "2026-11", "format": "csv"}):
        assert desk.get("/staff/reports/monthly", query_string=query).status_code == 403
    assert audited(services, start, AuditAction.VIEW_REPORT) == []


def test_every_report_view_is_audited(boss, services):
    start = last_audit_id(services)

    page(boss, "/staff/reports/aging")
    page(boss, "/staff/reports/aging", as_of="2026-12-31")
    boss.get("/staff/reports/aging", query_string={"as_of": "2026-12-31", "format": "csv"})
    page(boss, "/staff/reports/monthly", month="2026-11")
    boss.get("/staff/reports/monthly", query_string={"month": "2026-10", "format": "csv"})

    assert audited(services, start, AuditAction.VIEW_REPORT) == [
        ("sam", None, "aging as of 2026-11-28", DESK_ADDRESS),
        ("sam", None, "aging as of 2026-12-31", DESK_ADDRESS),
        ("sam", None, "aging as of 2026-12-31", DESK_ADDRESS),
        ("sam", None, "monthly summary 2026-11", DESK_ADDRESS),
        ("sam", None, "monthly summary 2026-10", DESK_ADDRESS),
    ]
