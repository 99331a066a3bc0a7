"""Patients' questions and requests for help, for staff (issue 17): the open cases by due
date, a case with its messages, assigning it, replying or asking for more, resolving it
with an outcome, and the report of cases by reason and outcome per month (also as CSV).
Every view and every action is in the audit log."""

import uuid
from collections.abc import Callable

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from portal.domain.cases import (
    INCOME_BANDS,
    OUTCOME_LABELS,
    REASON_LABELS,
    STATUS_LABELS,
    Outcome,
)
from portal.domain.errors import InvalidInput
from portal.domain.staff import Role
from portal.services.cases import (
    assign_case,
    case_report_months,
    open_case_queue,
    resolve_case,
    staff_case,
    staff_reply,
)
from portal.services.errors import NotFound
from portal.web import current_services
from portal.web.forms import CaseAssignForm, CaseResolveForm, StaffCaseReplyForm
from portal.web.staff_reports import _audit_report, _csv, _month_arg, _wants_csv
from portal.web.staff_session import (
    address,
    field_error,
    load_staff_user,
    staff_required,
    today,
)

bp = Blueprint("staff_cases", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/cases")
@staff_required()
def cases():
    found = open_case_queue(current_services(), g.staff.username, address())
    mine = request.args.get("owner", "").strip().lower()
    if mine:
        found = [c for c in found if c.owner == ("" if mine == "unassigned" else mine)]
    return render_template(
        "staff/cases.html",
        cases=found,
        owner=mine,
        today=today(),
        reasons=REASON_LABELS,
        statuses=STATUS_LABELS,
    )


def _page(case_id: str, forms: dict | None = None, status: int = 200):
    services = current_services()
    try:
        case = staff_case(services, g.staff.username, case_id, address())
    except NotFound:
        abort(404)
    forms = forms or {}
    reply = forms.get("reply") or StaffCaseReplyForm(formdata=None)
    assign = forms.get("assign") or CaseAssignForm(formdata=None, owner=case.owner)
    resolve = forms.get("resolve") or CaseResolveForm(formdata=None)
    for form in (reply, resolve):
        if not form.request_key.data:
            form.request_key.data = uuid.uuid4().hex
    records = services.store.account_records(case.account_number)
    statements = [s.statement_id for s in records.statements] if records else []
    resolve.statement_id.choices = [SelectChoice(s, s) for s in statements]
    if case.statement_id and not resolve.statement_id.data:
        resolve.statement_id.data = case.statement_id
    if not g.staff.role.allows(Role.SUPERVISOR):
        resolve.outcome.choices = [
            SelectChoice(o.value, OUTCOME_LABELS[o])
            for o in Outcome
            if o is not Outcome.ASSISTANCE_DISCOUNT
        ]
    return (
        render_template(
            "staff/case.html",
            case=case,
            reply_form=reply,
            assign_form=assign,
            resolve_form=resolve,
            reasons=REASON_LABELS,
            statuses=STATUS_LABELS,
            outcomes=OUTCOME_LABELS,
            income_bands=INCOME_BANDS,
            today=today(),
        ),
        status,
    )


@bp.get("/cases/<case_id>")
@staff_required()
def case(case_id: str):
    return _page(case_id)


@bp.post("/cases/<case_id>/assign")
@staff_required()
def assign(case_id: str):
    form = CaseAssignForm()
    return _act(
        case_id,
        form,
        "assign",
        lambda: assign_case(
            current_services(), g.staff.username, case_id, form.owner.data or "", address()
        ),
        f"Case {case_id} assigned.",
    )


@bp.post("/cases/<case_id>/reply")
@staff_required()
def reply(case_id: str):
    form = StaffCaseReplyForm()
    return _act(
        case_id,
        form,
        "reply",
        lambda: staff_reply(
            current_services(),
            g.staff.username,
            case_id,
            form.kind.data,
            form.text.data,
            form.request_key.data,
            address(),
        ),
        "Sent. The patient is e-mailed that there is a reply to read.",
    )


@bp.post("/cases/<case_id>/resolve")
@staff_required()
def resolve(case_id: str):
    form = CaseResolveForm()
    form.statement_id.validate_choice = False  # the service checks the statement is the account's
    return _act(
        case_id,
        form,
        "resolve",
        lambda: resolve_case(
            current_services(),
            g.staff.username,
            g.staff.role,
            case_id,
            form.outcome.data,
            form.explanation.data,
            form.amount.data,
            form.ledger_reason.data,
            form.statement_id.data,
            form.request_key.data,
            address(),
        ),
        f"Case {case_id} resolved; its hold is released.",
    )


def _act(case_id: str, form, section: str, action: Callable[[], object], done: str):
    """A case form posted: the action when the form is valid, then back to the case with
    `done` said; else the case page again with the form's problems (422)."""
    if form.validate():
        try:
            action()
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            field_error(form, exc)
        else:
            flash(done, "info")
            return redirect(url_for("staff_cases.case", case_id=case_id), code=303)
    return _page(case_id, {section: form}, 422)


@bp.get("/reports/cases")
@staff_required()
def report():
    errors: list[str] = []
    month = _month_arg(errors)
    rows = case_report_months(current_services(), month)
    _audit_report(f"cases to {month:%Y-%m}")
    if _wants_csv(errors):
        return _csv(
            f"cases-{month:%Y-%m}.csv",
            ["month", "reason", "outcome", "cases", "median_hours_to_first_answer"],
            [
                [
                    r.month,
                    r.reason.value,
                    r.outcome,
                    str(r.cases),
                    ""
                    if r.median_hours_to_first_answer is None
                    else f"{r.median_hours_to_first_answer:.1f}",
                ]
                for r in rows
            ],
        )
    page = render_template(
        "staff/case_report.html",
        rows=rows,
        month=month,
        errors=errors,
        reasons=REASON_LABELS,
        outcomes={o.value: OUTCOME_LABELS[o] for o in Outcome} | {"open": "Still open"},
    )
    return page, (400 if errors else 200)
