"""The sandbox gateway's stand-ins for a hosted checkout page and for the processor's page
that saves a payment method (local default only)."""

from flask import Blueprint, abort, redirect, render_template, request

from portal.domain.aging import practice_date
from portal.ports.payments import SESSION_PLACEHOLDER
from portal.ports.sandbox import (
    TEST_CARDS,
    TEST_ROUTING_NUMBER,
    CardDeclined,
    SandboxCheckout,
    SandboxSession,
    SandboxSetup,
    SandboxSetupSession,
    UnknownSession,
)
from portal.services.errors import PaymentNotFound
from portal.services.payments import apply_gateway_event
from portal.web import current_services
from portal.web.forms import BankAccountForm, CardForm
from portal.web.language import gettext
from portal.web.service_words import in_page_language

bp = Blueprint("sandbox", __name__, url_prefix="/sandbox")


def _sandbox() -> SandboxCheckout:
    """The sandbox's checkout; 404 where the card gateway is a real one."""
    gateway = current_services().payments
    if not isinstance(gateway, SandboxCheckout):
        abort(404)
    return gateway


def _open(session_id: str) -> SandboxSession:
    try:
        return _sandbox().open_session(session_id)
    except UnknownSession:
        abort(404)


@bp.route("/checkout/<session_id>", methods=["GET", "POST"])
def checkout(session_id: str):
    checkout_session = _open(session_id)
    svc = current_services()
    payment = svc.store.get_payment(checkout_session.payment_id)
    if payment is None:
        abort(404)
    if payment.posted_at is not None:
        return redirect(checkout_session.success_url, code=303)
    form = CardForm()
    error, status = None, 200
    if form.validate_on_submit():
        if _expired(form.expiry.data or ""):
            form.expiry.errors = [gettext("This card has expired.")]
            status = 422
        else:
            try:
                event = _sandbox().charge(checkout_session, form.card_number.data or "")
            except CardDeclined as exc:
                error, status = in_page_language(exc.message), 402
            else:
                try:
                    apply_gateway_event(svc, event)
                except PaymentNotFound:
                    abort(404)
                return redirect(checkout_session.success_url, code=303)
    elif form.is_submitted():
        status = 422
    return (
        render_template(
            "sandbox/checkout.html",
            checkout=checkout_session,
            form=form,
            error=error,
            test_cards=TEST_CARDS,
        ),
        status,
    )


@bp.post("/checkout/<session_id>/cancel")
def cancel(session_id: str):
    checkout_session = _open(session_id)
    apply_gateway_event(current_services(), _sandbox().cancel(checkout_session))
    return redirect(checkout_session.cancel_url, code=303)


def _setup_page() -> SandboxSetup:
    gateway = current_services().payments
    if not isinstance(gateway, SandboxSetup):
        abort(404)
    return gateway


def _open_setup(session_id: str) -> SandboxSetupSession:
    try:
        return _setup_page().open_setup(session_id)
    except UnknownSession:
        abort(404)


@bp.route("/setup/<session_id>", methods=["GET", "POST"])
def setup(session_id: str):
    """Save a test card or the test bank account for later charges; back to the portal
    with the completed session's id in place of {CHECKOUT_SESSION_ID}."""
    setup_session = _open_setup(session_id)
    card, bank = CardForm(), BankAccountForm()
    chosen = request.form.get("method") if request.method == "POST" else None
    error, status = None, 200
    completed = None
    if chosen == "card" and card.validate_on_submit():
        if _expired(card.expiry.data or ""):
            card.expiry.errors = [gettext("This card has expired.")]
            status = 422
        else:
            try:
                completed = _setup_page().save_card(setup_session, card.card_number.data or "")
            except CardDeclined as exc:
                error, status = in_page_language(exc.message), 402
    elif chosen == "bank_account" and bank.validate_on_submit():
        try:
            completed = _setup_page().save_bank_account(
                setup_session, bank.routing_number.data or "", bank.account_number.data or ""
            )
        except CardDeclined as exc:
            error, status = in_page_language(exc.message), 402
    elif request.method == "POST":
        if chosen not in ("card", "bank_account"):
            error = gettext("Choose a card or a bank account to save.")
        status = 422
    if completed is not None:
        return redirect(setup_session.success_url.replace(SESSION_PLACEHOLDER, completed), code=303)
    return (
        render_template(
            "sandbox/setup.html",
            setup=setup_session,
            card=card,
            bank=bank,
            error=error,
            routing_number=TEST_ROUTING_NUMBER,
        ),
        status,
    )


def _expired(expiry: str) -> bool:
    month, year = (int(part) for part in expiry.replace(" ", "").split("/"))
    today = practice_date(current_services().clock.now(), current_services().settings.tz)
    return (2000 + year, month) < (today.year, today.month)
