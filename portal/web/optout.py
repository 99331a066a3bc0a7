"""One-click opt-out of payment reminders, from the link in (or the header of) a reminder.

GET shows a page with a button; POST stops the reminders. Mail clients POST
`List-Unsubscribe=One-Click` to the same address without a CSRF token (RFC 8058), so this
view is exempt from CSRF: the unguessable token in the address is what authorises the change.
"""

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.services.errors import NotFound
from portal.services.notices import opt_out_account, opt_out_of_reminders
from portal.web import current_services

bp = Blueprint("optout", __name__)

NOT_VALID = _l(
    "This link to stop payment reminders is not valid: it may have been cut short or changed. "
    "Open the link from the e-mail again, or contact the billing office."
)


@bp.route("/reminders/stop/<token>", methods=["GET", "POST"])
def stop(token: str):
    if request.method == "GET":
        account_number = opt_out_account(current_services(), token)
        if account_number is None or current_services().store.get_account(account_number) is None:
            return _not_valid()
        return render_template("patient/optout.html", token=token, stopped=False)
    try:
        opt_out_of_reminders(current_services(), token)
    except NotFound:
        return _not_valid()
    return render_template("patient/optout.html", token=token, stopped=True)


def _not_valid():
    page = render_template("error.html", title=_("Not a valid link"), message=NOT_VALID)
    return page, 404
