"""A pay link sent from the staff account page, by text or e-mail (issue 22)."""

from flask import Blueprint, abort, flash, g, redirect, request, url_for

from portal.domain.errors import InvalidInput
from portal.services.errors import NotFound
from portal.services.staff_pay_links import send_pay_link
from portal.web import current_services
from portal.web.staff_session import address, load_staff_user, staff_required

bp = Blueprint("staff_pay_links", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.post("/accounts/<account_number>/pay-link")
@staff_required()
def pay_link(account_number: str):
    channel = request.form.get("channel", "")[:10]
    try:
        to = send_pay_link(current_services(), g.staff.username, account_number, channel, address())
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        flash(exc.message, "error")
    else:
        flash(f"Pay link sent by {'text' if channel == 'text' else 'e-mail'} to {to}.", "info")
    return redirect(
        url_for(
            "staff_accounts.account", account_number=account_number, _anchor="pay-link-heading"
        ),
        code=303,
    )
