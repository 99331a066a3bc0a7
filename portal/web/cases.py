"""Patients' questions and requests for help (issue 17), for the signed-in person: question a
statement or one of its lines, ask for financial help, read the practice's replies and
answer them. Only whoever asked sees a case; anyone else gets a 404, as for a case that
does not exist. The URLs carry only opaque ids, never what was asked."""

import uuid
from collections.abc import Callable

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _

from portal.domain.aging import practice_date
from portal.domain.cases import (
    INCOME_BANDS,
    OUTCOME_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    Case,
    Reason,
)
from portal.domain.errors import InvalidInput
from portal.services.cases import (
    ask_question,
    patient_case,
    patient_reply,
    request_assistance,
)
from portal.services.errors import NotFound
from portal.web import current_services
from portal.web.forms import AssistanceForm, CaseReplyForm, QuestionForm
from portal.web.patient import patient_required, signed_in_page, signed_in_viewer
from portal.web.service_words import in_page_language

bp = Blueprint("cases", __name__)


def _new_key(form) -> None:
    if not form.request_key.data:
        form.request_key.data = uuid.uuid4().hex


def _field_error(form, exc: InvalidInput) -> None:
    """Show a service's refusal, in the page's language, on the field it names (the error
    summary links to it)."""
    name = exc.field if exc.field in form._fields and exc.field != "csrf_token" else None
    target = form[name] if name else next(iter(f for f in form if f.type != "CSRFTokenField"))
    target.errors = [*list(target.errors or []), in_page_language(exc.message)]


def _send(form, action: Callable[[], Case], done: str):
    """A patient's case form sent: the action when the form is valid, then the case's page
    with `done` said; None when the form is to be shown again with its problems."""
    if not form.validate():
        return None
    try:
        case = action()
    except NotFound:
        abort(404)
    except InvalidInput as exc:
        _field_error(form, exc)
        return None
    flash(done, "info")
    return redirect(url_for("cases.case", case_id=case.case_id), code=303)


@bp.route("/statements/<statement_id>/question", methods=["GET", "POST"])
@patient_required
def question(account_number: str, statement_id: str):
    view = signed_in_page(account_number, statement_id)
    if view is None:
        return redirect(url_for("patient.lookup"))
    item = next((s for s in view.statements if s.statement.statement_id == statement_id), None)
    if item is None:
        abort(404)
    form = QuestionForm()
    _new_key(form)
    status = 200
    if form.is_submitted():
        status = 422
        sent = _send(
            form,
            lambda: ask_question(
                current_services(),
                account_number,
                signed_in_viewer(),
                statement_id,
                form.line_id.data,
                form.reason.data,
                form.message.data,
                form.request_key.data,
            ),
            _(
                "Your question was sent. We will not send reminders about this "
                "statement while we look into it."
            ),
        )
        if sent is not None:
            return sent
    elif not form.line_id.data:
        form.line_id.data = _line_asked_about(item)
    line = next(
        (li for li in item.lines if li.item is not None and li.item.line_id == form.line_id.data),
        None,
    )
    return (
        render_template("cases/question.html", item=item, form=form, line=line),
        status,
    )


def _line_asked_about(item) -> str:
    wanted = request.args.get("line", "")[:40]
    return wanted if any(li.in_full and li.item.line_id == wanted for li in item.lines) else ""


@bp.route("/account/help", methods=["GET", "POST"])
@patient_required
def help_paying(account_number: str):
    viewer = signed_in_viewer()
    form = AssistanceForm()
    _new_key(form)
    services = current_services()
    status = 200
    if form.is_submitted():
        status = 422
        sent = _send(
            form,
            lambda: request_assistance(
                services,
                account_number,
                viewer,
                form.household_size.data,
                form.income_band.data,
                form.what_happened.data,
                form.request_key.data,
            ),
            _("Your request for help was sent."),
        )
        if sent is not None:
            return sent
    return (
        render_template(
            "cases/help.html",
            form=form,
            guarantor=viewer.is_guarantor,
            hold_days=services.settings.assistance_hold_days,
            answer_days=services.settings.case_answer_days,
        ),
        status,
    )


def _case_page(account_number: str, case_id: str, form: CaseReplyForm, status: int = 200):
    services = current_services()
    try:
        case = patient_case(services, account_number, signed_in_viewer(), case_id)
    except NotFound:
        abort(404)
    _new_key(form)
    return (
        render_template(
            "cases/case.html",
            case=case,
            form=form,
            reasons=REASON_LABELS,
            statuses=STATUS_LABELS,
            outcomes=OUTCOME_LABELS,
            income_bands=INCOME_BANDS,
            Reason=Reason,
            hold_until=(
                practice_date(case.hold_until, services.settings.tz) if case.hold_until else None
            ),
        ),
        status,
    )


@bp.get("/account/cases/<case_id>")
@patient_required
def case(account_number: str, case_id: str):
    return _case_page(account_number, case_id, CaseReplyForm(formdata=None))


@bp.post("/account/cases/<case_id>/reply")
@patient_required
def reply(account_number: str, case_id: str):
    form = CaseReplyForm()
    sent = _send(
        form,
        lambda: patient_reply(
            current_services(),
            account_number,
            signed_in_viewer(),
            case_id,
            form.message.data,
            form.request_key.data,
        ),
        _("Your reply was sent."),
    )
    if sent is not None:
        return sent
    return _case_page(account_number, case_id, form, 422)
