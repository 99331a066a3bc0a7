"""Patient pages: Quick Pay lookup, account, statement, paying, and the receipt."""

import re
from datetime import datetime
from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from portal.domain.aging import practice_date
from portal.domain.cases import REASON_LABELS, STATUS_LABELS
from portal.domain.corrections import Correction, line_changes
from portal.domain.errors import InvalidInput
from portal.domain.insurer_words import insurer_notes
from portal.domain.money import format_cents
from portal.domain.payments import PaymentStatus
from portal.domain.statements import Statement
from portal.domain.timeline import phrase_words
from portal.domain.viewers import Viewer
from portal.ports.payments import GatewayError
from portal.services.accounts import AccountView, account_view, patient_page
from portal.services.cases import patient_cases
from portal.services.errors import LookupFailed, LookupLocked, NotFound
from portal.services.lookup import find_viewer
from portal.services.mail_feedback import undeliverable_for
from portal.services.pay_links import linked_account
from portal.services.payments import reconcile_checkout, start_payment
from portal.services.web_sessions import end_web_session, open_web_session
from portal.web import IDLE_LIMIT, current_services, seen_again
from portal.web.forms import AmountForm, LookupForm
from portal.web.language import CHOSEN, PREFERRED, page_language

bp = Blueprint("patient", __name__)

LOOKUP_FAILED = _l(
    "We could not find an account with those details. Check them against your statement "
    "and try again."
)
LOCKED = _l(
    "Too many unsuccessful attempts. For your security, look-ups are paused for "
    "15 minutes. You can also call the billing office."
)
SESSION_KEYS = ("account_number", "seen_at", "sid", "viewer", PREFERRED)
UNREADABLE = _l(
    "We could not read what was sent: it was not plain text (UTF-8). Type the details from "
    "your statement again."
)
# A url-encoded form that is not UTF-8 is refused by the app before any view; a multipart
# field's bad bytes become U+FFFD. No Quick Pay field can hold U+FFFD or a control
# character, so such a form is refused as unreadable (400) before any lookup is counted.
_UNREADABLE = re.compile(r"[\ufffd\x00-\x1f\x7f-\x9f\u2028\u2029]")
LOOKUP_FIELDS = ("account_number", "last_name", "date_of_birth")


def end_patient_session() -> None:
    """End the session on the server too, so a copy of the cookie stops working."""
    if "sid" in session:
        end_web_session(current_services(), session["sid"])
    for key in SESSION_KEYS:
        session.pop(key, None)


# Pages that read the browser session together with the account they show (one store
# read): their views check the session themselves (keep_patient_session).
SESSION_READ_BY_VIEW = frozenset({"patient.account", "patient.statement"})


@bp.before_app_request
def expire_idle_session() -> None:
    """Sessions end after 15 minutes without a request (on the services' clock)."""
    if "account_number" not in session or request.endpoint == "static":
        return
    if request.endpoint in SESSION_READ_BY_VIEW and request.method in ("GET", "HEAD"):
        return
    now = current_services().clock.now()
    keep_patient_session(
        current_services().store.web_session_subject(session.get("sid", ""), now), now
    )


def keep_patient_session(subject: str | None, now: datetime) -> bool:
    """True when the signed-in session goes on (whom the server's record of it is for is
    `subject`); else it is ended here and False."""
    seen = datetime.fromisoformat(session.get("seen_at", "1970-01-01T00:00:00+00:00"))
    viewer = Viewer.from_session(session.get("viewer"))
    # The signed cookie and the server's record must both say who signed in; a session from
    # before the server recorded it names nobody and ends (the person looks up again).
    if viewer is None or subject != viewer.subject(session["account_number"]):
        end_patient_session()
        return False
    if now - seen > IDLE_LIMIT:
        end_patient_session()
        flash(_("For your privacy, your session ended after 15 minutes without activity."), "info")
        return False
    if seen_again(seen, now):
        session["seen_at"] = now.isoformat()
    return True


def patient_required(view):
    @wraps(view)
    def wrapper(*args, **kwargs):
        if "account_number" not in session:
            return redirect(url_for("patient.lookup"))
        return view(session["account_number"], *args, **kwargs)

    return wrapper


def signed_in_viewer() -> Viewer:
    """Who signed in: checked against the server's session record before every request
    (expire_idle_session), so it is the guarantor or the patients the lookup matched."""
    viewer = Viewer.from_session(session.get("viewer"))
    if viewer is None:  # not reached behind patient_required; never fall back to more
        abort(404)
    return viewer


@bp.route("/pay", methods=["GET", "POST"])
def lookup():
    form = LookupForm()
    error = None
    status = 200
    if form.is_submitted() and any(
        _UNREADABLE.search(value) for name in LOOKUP_FIELDS for value in request.form.getlist(name)
    ):
        return render_template("patient/lookup.html", form=form, error=UNREADABLE), 400
    if form.validate_on_submit():
        try:
            number, viewer = find_viewer(
                current_services(),
                form.account_number.data or "",
                form.last_name.data or "",
                form.date_of_birth.data,
                request.remote_addr or "unknown",
            )
        except LookupLocked:
            error = LOCKED
            status = 429
        except LookupFailed:
            error = LOOKUP_FAILED
            status = 401
        else:
            chosen = session.get(CHOSEN)  # the language switched to before signing in stays
            session.clear()
            if chosen:
                session[CHOSEN] = chosen
            session.permanent = True
            session["sid"] = open_web_session(current_services(), viewer.subject(number))
            session["account_number"] = number
            session["viewer"] = viewer.to_session()
            session["seen_at"] = current_services().clock.now().isoformat()
            return redirect(url_for("patient.account"), code=303)
    elif form.is_submitted():
        status = 422
        if form.date_of_birth.errors and form.date_of_birth.raw_data:
            form.date_of_birth.errors = [_("Enter the date of birth as YYYY-MM-DD.")]
    return render_template("patient/lookup.html", form=form, error=error), status


LINK_NOT_VALID = _l(
    "This link can no longer be used. Enter the details from your statement below, or ask "
    "the billing office for a new link."
)


@bp.get("/pay/<token>")
def pay_link(token: str):
    """A pay link (text or e-mail): Quick Pay with the account number filled in. The last
    name and date of birth are still asked for, and checked with the same lockout."""
    services = current_services()
    number = linked_account(services, token)
    form = LookupForm(formdata=None)
    if number is None:
        return render_template("patient/lookup.html", form=form, error=LINK_NOT_VALID), 404
    form.account_number.data = number
    if services.store.lookup_locked_until(f"account:{number}", services.clock.now()):
        return render_template("patient/lookup.html", form=form, error=LOCKED), 429
    return render_template("patient/lookup.html", form=form, error=None, from_link=True)


def signed_in_page(account_number: str, statement_id: str | None = None) -> AccountView | None:
    """The account as the signed-in person may see it on their page, read with the browser
    session in one store read; None when the session has ended (the view sends the person
    to Quick Pay, as patient_required does)."""
    viewer = Viewer.from_session(session.get("viewer"))
    now = current_services().clock.now()
    if viewer is None:  # names nobody: ends without a read
        keep_patient_session(None, now)
        return None
    subject, view = patient_page(
        current_services(), account_number, session.get("sid", ""), viewer, statement_id
    )
    if not keep_patient_session(subject, now):
        return None
    if view is None:
        raise NotFound(account_number)
    remember_account_language(view)
    return view


def remember_account_language(view: AccountView) -> None:
    """The account's language, kept in the session for its pages (the first page after
    signing in reads the account anyway): it sets the pages' language unless the person
    chose one with the switch."""
    preferred = view.account.guarantor.preferred_language
    if session.get(PREFERRED) != preferred:
        session[PREFERRED] = preferred


@bp.get("/account")
@patient_required
def account(account_number: str):
    view = signed_in_page(account_number)
    if view is None:
        return redirect(url_for("patient.lookup"))
    return render_template(
        "patient/account.html",
        view=view,
        form=AmountForm(),
        email_undeliverable=view.viewer.is_guarantor and view.email_undeliverable,
        **_cases(view),
    )


def _account_page(account_number: str, form: AmountForm, status: int):
    view = account_view(current_services(), account_number, signed_in_viewer())
    return render_template(
        "patient/account.html",
        view=view,
        form=form,
        email_undeliverable=email_undeliverable(view),
        **_cases(view),
    ), status


def email_undeliverable(view: AccountView) -> bool:
    """The guarantor's e-mail address takes no mail (SES reported it): the page asks them
    to give the office another (shown to the guarantor only: it is their address). The
    account page has it from its one read; this reads it for the page shown again."""
    if not view.viewer.is_guarantor or not view.account.guarantor.email:
        return False
    return undeliverable_for(current_services(), view.account.guarantor.email) is not None


def _cases(view: AccountView) -> dict:
    """The signed-in person's questions and requests for help, for the account page."""
    cases = patient_cases(current_services(), view.account.account_number, view.viewer)
    return {"cases": cases, "case_reasons": REASON_LABELS, "case_statuses": STATUS_LABELS}


@bp.get("/statements/<statement_id>")
@patient_required
def statement(account_number: str, statement_id: str):
    view = signed_in_page(account_number, statement_id)
    if view is None:
        return redirect(url_for("patient.lookup"))
    item = next((s for s in view.statements if s.statement.statement_id == statement_id), None)
    if item is None:
        abort(404)
    shown = {line.item.line_id for line in item.lines if line.item is not None}
    notes = [
        phrase_words(phrase, tuple(values.items()), format_cents)
        for phrase, values in insurer_notes(view.entries, statement_id, shown)
    ]
    return render_template(
        "patient/statement.html",
        view=view,
        item=item,
        form=AmountForm(),
        correction=correction_shown(item.statement),
        insurer_notes=notes,
    )


def correction_shown(statement: Statement) -> Correction | None:
    """What a corrected statement changed, as the signed-in person may see it (the lines of
    their own patients only, unless they are the guarantor)."""
    if statement.version == 1:
        return None
    versions = current_services().store.statement_versions(statement.statement_id)
    if not versions:
        return None
    viewer = Viewer.from_session(session.get("viewer")) or Viewer.patients(())
    previous = versions[-1]
    changes = [
        c
        for c in line_changes(previous, statement)
        if all(viewer.sees_in_full(line.patient_id) for line in (c.before, c.after) if line)
    ]
    return Correction(previous, changes, viewer.is_guarantor)


def pdf_response(data: bytes, statement_id: str) -> Response:
    """A statement's PDF shown inline, never cached."""
    filename = re.sub(r"[^A-Za-z0-9._-]", "_", statement_id)
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="statement-{filename}.pdf"'
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/statements/<statement_id>.pdf")
@patient_required
def statement_pdf(account_number: str, statement_id: str):
    """The statement page as a PDF, with its access rule: only the signed-in account's
    statements (404 for any other, the Quick Pay page without a session). The URL carries
    only the opaque statement id."""
    try:
        from portal.services.statement_pdf import render_statement_pdf  # fpdf2 loads on first use

        data = render_statement_pdf(
            current_services(), account_number, statement_id, signed_in_viewer()
        )
    except NotFound:
        abort(404)
    return pdf_response(data, statement_id)


@bp.post("/payments")
@patient_required
def create_payment(account_number: str):
    form = AmountForm.from_form(request.form)
    if form.error is None:
        try:
            checkout = start_payment(
                current_services(), account_number, form.amount, language=page_language()
            )
        except InvalidInput as exc:
            form.error = exc.message
        except GatewayError as exc:
            form.error = exc.message
            return _account_page(account_number, form, status=502)
        else:
            return redirect(checkout.url, code=303)
    return _account_page(account_number, form, status=422)


@bp.get("/payments/<payment_id>")
def payment(payment_id: str):
    svc = current_services()
    found = svc.store.get_payment(payment_id)
    if found is None:
        abort(404)
    if request.args.get("session_id"):
        found = reconcile_checkout(svc, found, request.args["session_id"])
    owner = session.get("account_number") == found.account_number
    view = account_view(svc, found.account_number, signed_in_viewer()) if owner else None
    return render_template(
        "patient/payment.html",
        payment=found,
        view=view,
        applied=view.applied_to(payment_id) if view else [],
        canceled=request.args.get("canceled") == "1",
        paid_on=practice_date(found.posted_at, svc.settings.tz) if found.posted_at else None,
        Status=PaymentStatus,
    )


@bp.post("/signout")
def signout():
    end_patient_session()
    flash(_("You are signed out."), "info")
    return redirect(url_for("patient.lookup"), code=303)
