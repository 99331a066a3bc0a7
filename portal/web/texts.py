"""The guarantor's billing texts (issue 22): agree to them at a mobile number (a text
confirms it at once), or stop them. Only the guarantor: the texts are about paying."""

from flask import Blueprint, flash, redirect, render_template, url_for
from flask_babel import gettext as _

from portal.domain.phones import normalize_phone
from portal.services.texting import active_consent, opt_in, opt_out
from portal.web import current_services
from portal.web.forms import TextsForm
from portal.web.patient import patient_required, signed_in_viewer

bp = Blueprint("texts", __name__)


@bp.route("/account/texts", methods=["GET", "POST"])
@patient_required
def texts(account_number: str):
    guarantor = signed_in_viewer().is_guarantor
    services = current_services()
    form = TextsForm()
    status = 200
    if guarantor and form.is_submitted():
        status = 422
        if form.validate() and not normalize_phone(form.phone.data or ""):
            form.phone.errors = [
                _("Enter a mobile number with its area code, for example 555-555-0123.")
            ]
        elif not form.errors:
            opt_in(services, account_number, form.phone.data or "", form.time_zone.data or "")
            flash(_("Billing texts are on. We sent a text to confirm."), "info")
            return redirect(url_for("texts.texts"), code=303)
    consent = active_consent(services, account_number) if guarantor else None
    if guarantor and not form.is_submitted():
        account = services.store.get_account(account_number)
        form.phone.data = account.guarantor.phone if account else ""
    return render_template(
        "patient/texts.html", form=form, consent=consent, guarantor=guarantor
    ), status


@bp.post("/account/texts/stop")
@patient_required
def stop(account_number: str):
    if signed_in_viewer().is_guarantor:
        opt_out(current_services(), account_number)
        flash(_("Billing texts are off. We will not text you."), "info")
    return redirect(url_for("texts.texts"), code=303)
