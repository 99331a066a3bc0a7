"""A credit given back by check: supervisors record the check the practice wrote."""

from flask import Blueprint, flash, g, redirect, request, url_for

from portal.domain.staff import Role
from portal.services.errors import InvalidInput, NotFound
from portal.services.refunds import refund_credit_by_check
from portal.web import current_services
from portal.web.staff_session import address, load_staff_user, staff_required

bp = Blueprint("staff_credit", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.post("/accounts/<account_number>/credit-refund")
@staff_required(Role.SUPERVISOR)
def refund_by_check(account_number: str):
    try:
        result = refund_credit_by_check(
            current_services(),
            g.staff.username,
            account_number,
            request.form.get("amount", "")[:20],
            request.form.get("check_number", "")[:40],
            address(),
        )
    except NotFound:
        flash("No such account.", "error")
        return redirect(url_for("staff.dashboard"), code=303)
    except InvalidInput as exc:
        flash(f"Check refund not recorded: {exc.message}", "error")
    else:
        flash(
            "Recorded the check; the patient is e-mailed about the refund."
            if result.posted
            else "That check was recorded before; nothing changed.",
            "info",
        )
    return redirect(url_for("staff_accounts.account", account_number=account_number), code=303)
