"""The sandbox gateway's stand-in for a hosted checkout page (local default only)."""

from flask import Blueprint, abort, redirect, render_template

from portal.domain.aging import practice_date
from portal.ports.sandbox import (
    TEST_CARDS,
    CardDeclined,
    SandboxCheckout,
    SandboxSession,
    UnknownSession,
)
from portal.services.errors import PaymentNotFound
from portal.services.payments import apply_gateway_event
from portal.web import current_services
from portal.web.forms import CardForm

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
            form.expiry.errors = ["This card has expired."]
            status = 422
        else:
            try:
                event = _sandbox().charge(checkout_session, form.card_number.data or "")
            except CardDeclined as exc:
                error, status = exc.message, 402
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


def _expired(expiry: str) -> bool:
    month, year = (int(part) for part in expiry.replace(" ", "").split("/"))
    today = practice_date(current_services().clock.now(), current_services().settings.tz)
    return (2000 + year, month) < (today.year, today.month)
