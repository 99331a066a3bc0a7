"""Payment plans in the billing console: the plan link e-mailed to a guarantor, a
supervisor's skip of an installment or cancel of a plan (each back to the account page
saying what happened or what is wrong), and the list of every plan by status."""

import re

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for

from portal.domain.errors import InvalidInput
from portal.domain.plans import PlanStatus
from portal.domain.staff import AuditAction, Role
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.staff_plans import (
    STATUS_ORDER,
    cancel_plan_for_staff,
    plan_list,
    send_plan_link,
    skip_installment,
)
from portal.web import current_services
from portal.web.staff_session import address, choice_arg, load_staff_user, staff_required

bp = Blueprint("staff_plans", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)

PLANS_PER_PAGE = 50
# What list_plans' cursor looks like (portal.ports.plans.plan_cursor).
_CURSOR = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00#[A-Za-z0-9_-]{1,64}")


def _to_account(account_number: str):
    return redirect(
        url_for("staff_accounts.account", account_number=account_number, _anchor="plans-heading"),
        code=303,
    )


def _act(account_number: str, action, done):
    """Run one plan action and go back to the account saying what happened or what is
    wrong (nothing changed then)."""
    try:
        result = action()
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        flash(exc.message, "error")
    else:
        flash(done(result), "info")
    return _to_account(account_number)


@bp.post("/accounts/<account_number>/plan-link")
@staff_required()
def plan_link(account_number: str):
    return _act(
        account_number,
        lambda: send_plan_link(current_services(), g.staff.username, account_number, address()),
        lambda to: f"Plan link sent to {to}.",
    )


@bp.post("/accounts/<account_number>/plans/<plan_id>/skip")
@staff_required(Role.SUPERVISOR)
def skip(account_number: str, plan_id: str):
    number = request.form.get("installment", "")[:10]
    return _act(
        account_number,
        lambda: skip_installment(
            current_services(),
            g.staff.username,
            account_number,
            plan_id,
            number,
            request.form.get("reason", ""),
            address(),
        ),
        lambda plan: (
            f"Installment {number.strip()} of plan {plan.plan_id} skipped: it will not be charged."
        ),
    )


@bp.post("/accounts/<account_number>/plans/<plan_id>/cancel")
@staff_required(Role.SUPERVISOR)
def cancel(account_number: str, plan_id: str):
    return _act(
        account_number,
        lambda: cancel_plan_for_staff(
            current_services(),
            g.staff.username,
            account_number,
            plan_id,
            request.form.get("reason", ""),
            address(),
        ),
        lambda plan: f"Plan {plan.plan_id} canceled: no more charges will be made.",
    )


@bp.get("/plans")
@staff_required()
def plans():
    errors: list[str] = []
    status = choice_arg("status", {s.value for s in PlanStatus}, errors)
    before = request.args.get("before", "").strip() or None
    if before is not None and not _CURSOR.fullmatch(before):
        errors.append("before: not a page of this list; start again from the first page.")
        before = None
    found = plan_list(
        current_services(), PlanStatus(status) if status else None, before, PLANS_PER_PAGE
    )
    audit(
        current_services(),
        g.staff.username,
        AuditAction.VIEW_REPORT,
        subject=f"plans status={status}" if status else "plans",
        address=address(),
    )
    page = render_template(
        "staff/plans.html", found=found, statuses=STATUS_ORDER, status=status or "", errors=errors
    )
    return page, (400 if errors else 200)
