"""One-click opt-out of payment reminders, from the link in (or the header of) a reminder.

GET shows a page with a button; POST stops the reminders. Mail clients POST
`List-Unsubscribe=One-Click` to the same address without a CSRF token (RFC 8058), so this
view is exempt from CSRF: the signed token in the address is what authorises the change.
"""

from flask import Blueprint, abort, render_template, request

from portal.services.notices import opt_out_account
from portal.web import services

bp = Blueprint("optout", __name__)


@bp.route("/reminders/stop/<token>", methods=["GET", "POST"])
def stop(token: str):
    account_number = opt_out_account(services(), token)
    if account_number is None:
        abort(404)
    if request.method == "GET":
        if services().store.get_account(account_number) is None:
            abort(404)
        return render_template("patient/optout.html", token=token, stopped=False)
    try:
        services().store.opt_out_of_reminders(account_number, services().clock.now())
    except KeyError:
        abort(404)
    return render_template("patient/optout.html", token=token, stopped=True)
