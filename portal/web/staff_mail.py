"""Staff: the e-mail addresses SES reported as undeliverable (a permanent bounce or a
complaint), the accounts whose mail went to them, and a button to mark one corrected so
mail goes to it again (any staff role; both the list and the change are audited)."""

from flask import Blueprint, flash, g, redirect, render_template, url_for

from portal.domain.staff import Role
from portal.services.mail_feedback import mark_corrected, undeliverable_list
from portal.web import current_services
from portal.web.forms import AddressCorrectedForm
from portal.web.staff_session import address, load_staff_user, staff_required

bp = Blueprint("staff_mail", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/mail/undeliverable")
@staff_required(Role.ASSOCIATE)
def undeliverable():
    reports = undeliverable_list(current_services(), g.staff.username, address())
    return render_template(
        "staff/undeliverable.html", reports=reports, form=AddressCorrectedForm(formdata=None)
    )


@bp.post("/mail/undeliverable/corrected")
@staff_required(Role.ASSOCIATE)
def corrected():
    form = AddressCorrectedForm()
    if not form.validate_on_submit():
        flash("Choose an address from the list to mark corrected.", "error")
    elif mark_corrected(current_services(), g.staff.username, form.address.data or "", address()):
        flash("Marked corrected: e-mail goes to that address again.", "info")
    else:
        flash("That address is not on the list (marked corrected already?).", "error")
    return redirect(url_for("staff_mail.undeliverable"), 303)
