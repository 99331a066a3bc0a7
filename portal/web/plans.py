"""Payment plans, for the signed-in guarantor: choose a schedule, agree to it, save a card or
bank account on the processor's page, then see, change or cancel the plan."""

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.domain.errors import InvalidInput
from portal.domain.payments import installment_payment_id
from portal.domain.plan_terms import text_digest
from portal.ports.payments import GatewayError
from portal.services.errors import NotFound
from portal.services.payments import start_payment
from portal.services.plan_payments import payable_installment
from portal.services.plans import (
    Proposal,
    account_plan,
    agree,
    agree_addition,
    cancel_plan,
    finish_method_setup,
    plan_offer,
    plan_view,
    propose,
    propose_addition,
    propose_autopay,
    start_method_setup,
    unplanned_cents,
)
from portal.web import current_services
from portal.web.language import page_language
from portal.web.patient import patient_required, signed_in_viewer
from portal.web.service_words import in_page_language

bp = Blueprint("plans", __name__)

CHOICE_FIELDS = ("months", "installment", "day")
AUTOPAY = "autopay"


def _choice() -> dict[str, str]:
    if request.form.get("kind") == AUTOPAY:
        return {"kind": AUTOPAY}
    return {name: request.form.get(name, "").strip()[:20] for name in CHOICE_FIELDS}


@bp.route("/plans/new", methods=["GET", "POST"])
@patient_required
def new_plan(account_number: str):
    services, viewer = current_services(), signed_in_viewer()
    offer = plan_offer(services, account_number, viewer)
    autopay = request.form.get("kind") == AUTOPAY
    if request.method == "GET" or not (offer.offered or autopay):
        return render_template("plans/new.html", offer=offer, choice={}, errors=[])
    choice = _choice()
    try:
        if autopay:
            proposal = propose_autopay(services, account_number, viewer)
        else:
            proposal = propose(services, account_number, viewer, **choice)
    except InvalidInput as exc:
        errors = [(exc.field, exc.message)]
        return render_template("plans/new.html", offer=offer, choice=choice, errors=errors), 422
    if request.form.get("step") != "agree":
        return _review(proposal, choice, [])
    if request.form.get("agree") != "yes":
        return _review(proposal, choice, [("agree", _("Tick the box to agree, or go back."))], 422)
    try:
        plan = agree(
            services,
            account_number,
            viewer,
            proposal,
            request.form.get("digest", ""),
            request.remote_addr or "unknown",
        )
    except InvalidInput as exc:
        return _review(proposal, choice, [(exc.field, exc.message)], 409)
    return _to_setup(plan)


def _review(proposal: Proposal, choice: dict[str, str], errors: list, status: int = 200):
    return (
        render_template(
            "plans/review.html",
            proposal=proposal,
            choice=choice,
            digest=text_digest(proposal.text),
            errors=errors,
        ),
        status,
    )


def _to_setup(plan):
    try:
        url = start_method_setup(current_services(), plan, language=page_language())
    except GatewayError as exc:
        flash(
            _(
                "%(problem)s Your plan is saved: try again from its page.",
                problem=in_page_language(exc.message),
            ),
            "error",
        )
        return redirect(url_for("plans.plan", plan_id=plan.plan_id), code=303)
    return redirect(url, code=303)


@bp.get("/plans/<plan_id>/saved")
@patient_required
def method_saved(account_number: str, plan_id: str):
    services = current_services()
    plan = _plan_or_404(account_number, plan_id)
    try:
        finish_method_setup(services, plan.plan_id, request.args.get("session_id", "")[:2000])
    except InvalidInput as exc:
        flash(in_page_language(exc.message), "error")
    else:
        flash(_("Your payment plan is set up. We will e-mail you before each charge."), "success")
    return redirect(url_for("plans.plan", plan_id=plan.plan_id), code=303)


@bp.get("/plans/<plan_id>")
@patient_required
def plan(account_number: str, plan_id: str):
    services = current_services()
    found = _plan_or_404(account_number, plan_id)
    return render_template(
        "plans/plan.html",
        view=plan_view(services, found),
        unplanned_cents=unplanned_cents(services, found),
    )


@bp.route("/plans/<plan_id>/add", methods=["GET", "POST"])
@patient_required
def add_to_plan(account_number: str, plan_id: str):
    """A statement that came after the plan: its balance added to the rest of the plan
    (re-spread over the same dates, agreed again), or paid separately."""
    services = current_services()
    found = _plan_or_404(account_number, plan_id)
    try:
        proposal = propose_addition(services, found)
    except InvalidInput as exc:
        flash(in_page_language(exc.message), "info")
        return redirect(url_for("plans.plan", plan_id=found.plan_id), code=303)
    errors: list = []
    status = 200
    if request.method == "POST":
        if request.form.get("agree") != "yes":
            errors, status = [("agree", _("Tick the box to agree, or go back."))], 422
        else:
            try:
                agree_addition(
                    services,
                    found.plan_id,
                    proposal,
                    request.form.get("digest", ""),
                    request.remote_addr or "unknown",
                )
            except InvalidInput as exc:
                errors, status = [(exc.field, exc.message)], 409
            else:
                flash(_("The new balance is added to your plan."), "success")
                return redirect(url_for("plans.plan", plan_id=found.plan_id), code=303)
    page = render_template(
        "plans/add.html",
        plan=found,
        proposal=proposal,
        digest=text_digest(proposal.text),
        extra_cents=unplanned_cents(services, found),
        errors=errors,
    )
    return page, status


@bp.post("/plans/<plan_id>/method")
@patient_required
def change_method(account_number: str, plan_id: str):
    found = _plan_or_404(account_number, plan_id)
    if not found.active:
        abort(409)
    return _to_setup(found)


@bp.post("/plans/<plan_id>/cancel")
@patient_required
def cancel(account_number: str, plan_id: str):
    found = _plan_or_404(account_number, plan_id)
    if request.form.get("confirm") != "yes":
        flash(_("Tick the box to confirm that you want to cancel the plan."), "error")
        return redirect(url_for("plans.plan", plan_id=found.plan_id), code=303)
    cancel_plan(current_services(), found.plan_id, None, "Canceled by the patient.")
    flash(_("Your plan is canceled: no more charges will be made."), "info")
    return redirect(url_for("plans.plan", plan_id=found.plan_id), code=303)


@bp.route("/plans/<plan_id>/installments/<int:number>/pay", methods=["GET", "POST"])
@patient_required
def pay_installment(account_number: str, plan_id: str, number: int):
    """An installment the bank asked the patient to confirm: paid on the hosted checkout
    page, and then counted for the installment (services/plan_payments.py)."""
    services = current_services()
    found = _plan_or_404(account_number, plan_id)
    back = redirect(url_for("plans.plan", plan_id=found.plan_id), code=303)
    try:
        installment = payable_installment(services, found, number)
    except InvalidInput as exc:
        flash(in_page_language(exc.message), "info")
        return back
    if request.method == "GET":
        return render_template("plans/pay.html", plan=found, installment=installment)
    cents = installment.amount_cents
    try:
        checkout = start_payment(
            services,
            account_number,
            f"{cents // 100}.{cents % 100:02d}",
            payment_id=installment_payment_id(found.plan_id, installment.number),
            language=page_language(),
        )
    except (InvalidInput, GatewayError) as exc:
        flash(in_page_language(exc.message), "error")
        return back
    return redirect(checkout.url, code=303)


def _plan_or_404(account_number: str, plan_id: str):
    """The account's plan, for its guarantor only (who agreed to it)."""
    if len(plan_id) > 64 or not signed_in_viewer().is_guarantor:
        abort(404)
    try:
        return account_plan(current_services(), account_number, plan_id)
    except NotFound:
        abort(404)
