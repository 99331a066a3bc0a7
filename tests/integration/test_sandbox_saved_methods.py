"""Saved payment methods on the sandbox gateway: its setup page through the Flask test client
(CSRF on), the methods it saves, and what off-session charges of them come to."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from itsdangerous import URLSafeSerializer

from portal.domain.payments import PaymentStatus
from portal.domain.plans import Outcome, SavedMethod
from portal.ports.payments import (
    ChargeResult,
    CheckoutRequest,
    GatewayError,
    OffSessionCharge,
    SetupRequest,
)
from tests.integration.conftest import open_checkout, path_of, pay, token_from

PLAN = "plan_7f3a"
BACK = "http://127.0.0.1:5000/plans/plan_7f3a/method"
SUCCESS = BACK + "?session_id={CHECKOUT_SESSION_ID}"
ROUTING = "110000000"


# -- helpers ---------------------------------------------------------------------------


def open_setup(services, purpose_id: str = PLAN, customer_id: str | None = None) -> str:
    """A setup session for the plan: the path of its page."""
    session = services.payments.create_setup(
        SetupRequest(purpose_id, SUCCESS, BACK, customer_id=customer_id)
    )
    assert session.url == f"{services.settings.base_url}/sandbox/setup/{session.session_id}"
    return urlsplit(session.url).path


def card_form(client, page: str, card: str, expiry: str = "12/30") -> dict:
    token = token_from(client, page)
    return {
        "method": "card",
        "card_number": card,
        "expiry": expiry,
        "cvc": "123",
        "csrf_token": token,
    }


def bank_form(client, page: str, account: str, routing: str = ROUTING) -> dict:
    token = token_from(client, page)
    return {
        "method": "bank_account",
        "routing_number": routing,
        "account_number": account,
        "csrf_token": token,
    }


def returned_session(response) -> str:
    """The completed session's id the page sent the patient back to the portal with."""
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(BACK + "?session_id=cs_sbx_setup_"), location
    [session_id] = parse_qs(urlsplit(location).query)["session_id"]
    return session_id


def save_card(client, services, card: str) -> SavedMethod:
    page = open_setup(services)
    session_id = returned_session(client.post(page, data=card_form(client, page, card)))
    method = services.payments.setup_outcome(session_id, PLAN)
    assert method is not None
    return method


def save_bank_account(client, services, account: str) -> SavedMethod:
    page = open_setup(services)
    response = client.post(page, data=bank_form(client, page, account))
    method = services.payments.setup_outcome(returned_session(response), PLAN)
    assert method is not None
    return method


def charge(services, method: SavedMethod, key: str = "plan-plan_7f3a-1-1", cents: int = 2500):
    return services.payments.charge_saved(
        OffSessionCharge("pay_0001", method, cents, "Payment plan installment 1 of 4", key)
    )


def alert(html: str) -> str:
    match = re.search(
        r'<div class="error-summary" role="alert" id="setup-error"><p>(.*?)</p>', html
    )
    assert match, "no alert on the page"
    return match.group(1)


def tampered(token: str) -> str:
    """The same token with one character of its signature changed."""
    return token[:-1] + ("A" if token[-1] != "A" else "B")


# -- the page --------------------------------------------------------------------------


def test_the_setup_page_labels_every_field_and_shows_the_test_numbers(client, services):
    page = client.get(open_setup(services))

    assert page.status_code == 200
    html = page.get_data(as_text=True)
    for field, label in (
        ("card_number", "Card number"),
        ("expiry", "Expiry (MM/YY)"),
        ("cvc", "CVC"),
        ("routing_number", "Routing number"),
        ("account_number", "Account number"),
    ):
        assert re.search(rf'<label[^>]* for="{field}"[^>]*>{re.escape(label)}</label>', html), field
        assert re.search(rf'<input[^>]* id="{field}"', html), field
    assert html.count('name="csrf_token"') == 2
    for number in ("4242 4242 4242 4242", "4000 0025 0000 3155", "4000 0000 0000 0341"):
        assert number in html
    for number in ("110000000", "000123456789", "000222222227", "000111111113"):
        assert number in html
    assert f'href="{BACK}"' in html  # cancel goes back


@pytest.mark.parametrize(
    ("card", "last4"),
    [("4242424242424242", "4242"), ("4000 0025 0000 3155", "3155"), ("4000000000000341", "0341")],
)
def test_a_saved_card_comes_back_as_its_brand_and_last_four_only(client, services, card, last4):
    method = save_card(client, services, card)

    assert (method.kind, method.brand, method.last4) == ("card", "visa", last4)
    assert method.label == f"Visa ending in {last4}"
    assert method.customer_id.startswith("cus_sbx_")
    # Not the full number, even inside the signed token.
    digits = card.replace(" ", "")
    _, payload = URLSafeSerializer("any key").loads_unsafe(method.method_id.removeprefix("pm_sbx_"))
    assert digits not in method.method_id and digits not in str(payload)


@pytest.mark.parametrize(
    ("account", "last4"),
    [("000123456789", "6789"), ("000222222227", "2227"), ("000111111113", "1113")],
)
def test_a_saved_bank_account_is_its_bank_and_last_four(client, services, account, last4):
    method = save_bank_account(client, services, account)

    assert (method.kind, method.last4) == ("us_bank_account", last4)
    assert method.label == f"Bank account ending in {last4}"
    assert account not in method.method_id


def test_the_customer_given_is_the_one_the_method_is_saved_for(client, services):
    first = save_card(client, services, "4242424242424242")
    page = open_setup(services, customer_id=first.customer_id)

    session_id = returned_session(
        client.post(page, data=card_form(client, page, "4000000000000341"))
    )

    changed = services.payments.setup_outcome(session_id, PLAN)
    assert changed.customer_id == first.customer_id
    assert changed.method_id != first.method_id


def test_a_card_declined_at_setup_saves_nothing(client, services):
    page = open_setup(services)

    response = client.post(page, data=card_form(client, page, "4000000000000002"))

    assert response.status_code == 402
    assert alert(response.get_data(as_text=True)) == "Your card was declined."
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("form", "message"),
    [
        (
            {"card": "4000000000009995"},
            "This is a test page: use one of the test card numbers shown.",
        ),
        (
            {"bank": "000999999999"},
            "This is a test page: use the test routing and account numbers shown.",
        ),
        (
            {"bank": "000123456789", "routing": "021000021"},
            "This is a test page: use the test routing and account numbers shown.",
        ),
    ],
)
def test_numbers_that_are_not_test_numbers_are_refused_by_name(client, services, form, message):
    page = open_setup(services)
    if "card" in form:
        data = card_form(client, page, form["card"])
    else:
        data = bank_form(client, page, form["bank"], form.get("routing", ROUTING))

    response = client.post(page, data=data)

    assert response.status_code == 402
    assert alert(response.get_data(as_text=True)) == message


@pytest.mark.parametrize(
    ("method", "fields", "field", "message"),
    [
        ("card", {"card_number": "4242"}, "card_number", "Enter the card number, digits only."),
        ("card", {"expiry": "13/30"}, "expiry", "Enter the expiry as MM/YY."),
        ("card", {"expiry": "10/26"}, "expiry", "This card has expired."),
        ("card", {"cvc": ""}, "cvc", "Enter the security code."),
        (
            "bank_account",
            {"routing_number": "1100"},
            "routing_number",
            "The routing number is 9 digits.",
        ),
        ("bank_account", {"account_number": ""}, "account_number", "Enter the account number."),
    ],
)
def test_a_bad_field_is_named_and_linked_from_the_summary(
    client, services, method, fields, field, message
):
    page = open_setup(services)
    if method == "card":
        data = {**card_form(client, page, "4242424242424242"), **fields}
    else:
        data = {**bank_form(client, page, "000123456789"), **fields}

    response = client.post(page, data=data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'<a href="#{field}">{message}</a>' in html
    assert f'<p class="field-error" id="{field}-error">{message}</p>' in html
    [tag] = re.findall(rf'<input[^>]* id="{field}"[^>]*>', html)
    assert f'aria-describedby="{field}-error"' in tag and 'aria-invalid="true"' in tag


def test_a_post_that_chooses_no_method_is_refused(client, services):
    page = open_setup(services)
    token = token_from(client, page)

    response = client.post(page, data={"csrf_token": token, "card_number": "4242424242424242"})

    assert response.status_code == 422
    assert alert(response.get_data(as_text=True)) == "Choose a card or a bank account to save."


def test_a_tampered_or_unknown_setup_page_is_not_found(client, services):
    page = open_setup(services)
    session_id = page.rsplit("/", 1)[1]
    form = card_form(client, page, "4242424242424242")
    completed = returned_session(client.post(page, data=form))
    checkout = services.payments.create_checkout(
        CheckoutRequest("pay_0001", 2500, "Payment toward statement S-1", BACK, BACK)
    ).session_id

    for bad in (tampered(session_id), "cs_sbx_setup_garbage", "cs_sbx_setup_", completed, checkout):
        assert client.get(f"/sandbox/setup/{bad}").status_code == 404, bad
        assert client.post(f"/sandbox/setup/{bad}", data=form).status_code == 404, bad


# -- the setup's outcome -----------------------------------------------------------------


def test_an_open_setup_has_no_outcome_yet(services):
    session_id = open_setup(services).rsplit("/", 1)[1]

    assert services.payments.setup_outcome(session_id) is None
    assert services.payments.setup_outcome(session_id, PLAN) is None


def test_a_setup_for_another_plan_is_refused(client, services):
    page = open_setup(services)
    completed = returned_session(
        client.post(page, data=card_form(client, page, "4242424242424242"))
    )

    for session_id in (page.rsplit("/", 1)[1], completed):
        with pytest.raises(GatewayError) as refused:
            services.payments.setup_outcome(session_id, "plan_other")
        assert (
            refused.value.message
            == "This payment method was saved for another plan; please start again."
        )


@pytest.mark.parametrize(
    "session_id",
    ["cs_sbx_setup_garbage", "cs_test_123", "", "cs_sbx_x.y.z", "tampered"],
)
def test_a_session_the_sandbox_did_not_issue_is_a_clear_error(services, session_id):
    if session_id == "tampered":
        session_id = tampered(open_setup(services).rsplit("/", 1)[1])

    with pytest.raises(GatewayError) as refused:
        services.payments.setup_outcome(session_id)

    assert refused.value.message == (
        "We could not find this page for saving a payment method; please start again."
    )


# -- charges -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("card", "outcome", "message"),
    [
        ("4242424242424242", Outcome.SUCCEEDED, ""),
        (
            "4000002500003155",
            Outcome.NEEDS_AUTHENTICATION,
            "Your bank asks you to confirm this payment yourself, so nothing was charged. "
            "Please pay it on the portal.",
        ),
        ("4000000000000341", Outcome.SOFT_DECLINE, "Your card was declined."),
    ],
)
def test_each_saved_card_charges_as_stripes_test_card_does(
    client, services, card, outcome, message
):
    method = save_card(client, services, card)

    result = charge(services, method)

    assert result == ChargeResult(outcome, result.reference, 2500, message)
    assert result.reference.startswith("pi_sbx_")
    assert services.payments.charge_status(result.reference) == result


def test_the_same_key_is_the_same_charge_and_another_key_another(client, services):
    method = save_card(client, services, "4242424242424242")

    first = charge(services, method, key="plan-plan_7f3a-1-1")
    again = charge(services, method, key="plan-plan_7f3a-1-1")
    other = charge(services, method, key="plan-plan_7f3a-1-2")

    assert again == first
    assert other.reference != first.reference
    assert other.outcome is Outcome.SUCCEEDED


@pytest.mark.parametrize(
    ("account", "settled", "message"),
    [
        ("000123456789", Outcome.SUCCEEDED, ""),
        (
            "000222222227",
            Outcome.SOFT_DECLINE,
            "Your bank returned the payment: the account did not have enough money.",
        ),
        (
            "000111111113",
            Outcome.HARD_DECLINE,
            "Your bank returned the payment: the account is closed. Please choose another "
            "payment method.",
        ),
    ],
)
def test_a_bank_debit_processes_then_settles_as_its_test_account_does(
    client, services, account, settled, message
):
    method = save_bank_account(client, services, account)

    debit = charge(services, method, cents=4200)

    assert debit.outcome is Outcome.PROCESSING
    assert debit.amount_cents == 4200
    assert "few business days" in debit.message
    assert charge(services, method, cents=4200) == debit
    assert services.payments.charge_status(debit.reference) == ChargeResult(
        settled, debit.reference, 4200, message
    )


def test_a_method_the_sandbox_did_not_issue_is_refused(client, services):
    method = save_card(client, services, "4242424242424242")
    forged = SavedMethod(tampered(method.method_id), method.customer_id, "card", "visa", "4242")
    made_up = SavedMethod("pm_sbx_garbage", method.customer_id, "card", "visa", "4242")
    someone_elses = SavedMethod(method.method_id, "cus_sbx_other", "card", "visa", "4242")

    for bad, reason in (
        (forged, "This saved payment method is not one the sandbox issued."),
        (made_up, "This saved payment method is not one the sandbox issued."),
        (someone_elses, "This saved payment method does not belong to this customer."),
    ):
        with pytest.raises(GatewayError) as refused:
            charge(services, bad)
        assert refused.value.message == reason


def test_a_reference_the_sandbox_did_not_make_is_a_clear_error(client, services):
    result = charge(services, save_card(client, services, "4242424242424242"))

    for bad in (tampered(result.reference), "pi_sbx_garbage", "pi_test_123"):
        with pytest.raises(GatewayError) as refused:
            services.payments.charge_status(bad)
        assert refused.value.message == "The sandbox made no charge with this reference."


def test_a_charge_needs_a_positive_amount(client, services):
    method = save_card(client, services, "4242424242424242")

    with pytest.raises(ValueError):
        charge(services, method, cents=0)


# -- the one-time checkout page keeps its cards --------------------------------------------


@pytest.mark.parametrize("card", ["4000002500003155", "4000000000000341"])
def test_the_cards_that_fail_off_session_pay_at_the_checkout(patient, services, card):
    """With the patient at the checkout, the bank's confirmation is theirs to give."""
    checkout = open_checkout(patient, "25.00")
    page = patient.get(checkout).get_data(as_text=True)
    assert "4000 0025 0000 3155" in page and "4000 0000 0000 0341" in page

    paid = pay(patient, checkout, card)

    assert paid.status_code == 303
    payment_id = path_of(paid.headers["Location"]).rsplit("/", 1)[1]
    assert services.store.get_payment(payment_id).status is PaymentStatus.SUCCEEDED


def test_a_success_url_without_the_placeholder_gets_the_session_id(client, services):
    session = services.payments.create_setup(SetupRequest(PLAN, f"{BACK}?step=2", BACK))
    page = urlsplit(session.url).path

    response = client.post(page, data=card_form(client, page, "4242424242424242"))

    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith(f"{BACK}?step=2&session_id=cs_sbx_setup_")
    [session_id] = parse_qs(urlsplit(location).query)["session_id"]
    assert services.payments.setup_outcome(session_id, PLAN).last4 == "4242"
