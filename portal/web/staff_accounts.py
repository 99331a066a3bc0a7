"""A guarantor account in the billing console: everything about it, and the changes staff
make (payments, reversals, adjustments, notes, escalations). Every view and change is audited."""

import secrets
from typing import Any

from flask import (
    Blueprint,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from wtforms.fields.choices import SelectChoice  # type: ignore[attr-defined]  # stubs lag 3.3

from portal.domain.cases import REASON_LABELS, STATUS_LABELS
from portal.domain.errors import InvalidInput
from portal.domain.money import format_cents
from portal.domain.payments import MANUAL_METHODS, PaymentStatus
from portal.domain.staff import ESCALATION_LABELS, AuditAction, EscalationKind, Role
from portal.services.accounts import account_view
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.mail_feedback import undeliverable_for
from portal.services.paging import newest_first
from portal.services.refunds import refund_payment, refundable_cents
from portal.services.reminders import reminder_status
from portal.services.staff_actions import (
    add_note,
    open_escalation,
    post_adjustment,
    post_manual_payment,
    resend_receipt,
    reverse_manual_payment,
)
from portal.services.staff_plans import plan_link_refusal, staff_plan_views
from portal.web import current_services
from portal.web.forms import (
    AdjustmentForm,
    EscalateForm,
    ManualPaymentForm,
    NoteForm,
    RefundForm,
    ResolveForm,
    ReverseForm,
)
from portal.web.patient import pdf_response
from portal.web.staff_session import (
    address,
    field_error,
    load_staff_user,
    staff_required,
)

bp = Blueprint("staff_accounts", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/accounts/<account_number>")
@staff_required()
def account(account_number: str):
    return _account_page(account_number)


@bp.get("/accounts/<account_number>/statements/<statement_id>.pdf")
@staff_required()
def statement_pdf(account_number: str, statement_id: str):
    """The statement's PDF, as the patient gets it; the view is audited."""
    svc = current_services()
    try:
        from portal.services.statement_pdf import render_statement_pdf  # fpdf2 loads on first use

        data = render_statement_pdf(svc, account_number, statement_id)
    except NotFound:
        abort(404)
    audit(
        svc,
        g.staff.username,
        AuditAction.VIEW_STATEMENT,
        account_number,
        subject=statement_id,
        address=address(),
    )
    return pdf_response(data, statement_id)


@bp.get("/accounts/<account_number>/statements/<statement_id>/versions")
@staff_required()
def statement_versions(account_number: str, statement_id: str):
    """Every version of a statement, the current one first (the view is audited)."""
    svc = current_services()
    current = svc.store.get_statement(statement_id)
    if current is None or current.account_number != account_number:
        abort(404)
    audit(
        svc,
        g.staff.username,
        AuditAction.VIEW_STATEMENT,
        account_number,
        subject=f"{statement_id} (every version)",
        address=address(),
    )
    versions = [current, *reversed(svc.store.statement_versions(statement_id))]
    return render_template(
        "staff/statement_versions.html", account_number=account_number, versions=versions
    )


def _to_account(account_number: str):
    return redirect(url_for("staff_accounts.account", account_number=account_number), code=303)


def _with_statement_choices(form: AdjustmentForm, view, shown=None) -> AdjustmentForm:
    """Adjustments apply to one of the account's open statements. The page offers those
    among the statements it shows (`shown`), and the one already chosen."""
    offered = None if shown is None else {s.statement.statement_id for s in shown}
    if offered is not None:
        offered.add(form.statement_id.data)
    form.statement_id.choices = [
        SelectChoice(
            item.statement.statement_id,
            f"{item.statement.statement_id} ({format_cents(item.balance_cents)} open)",
        )
        for item in view.open_statements
        if offered is None or item.statement.statement_id in offered
    ]
    return form


STATEMENTS_PER_PAGE = 50
ENTRIES_PER_PAGE = 100


def _page_arg(name: str, errors: list[str]) -> int:
    text = request.args.get(name, "1").strip()
    if text.isascii() and text.isdigit() and 0 < len(text) < 7 and int(text) > 0:
        return int(text)
    errors.append(f"{name}: a page number, like 2.")
    return 1


def _account_page(account_number: str, status: int = 200, **forms):
    svc = current_services()
    errors: list[str] = []
    statements_page = _page_arg("statements_page", errors)
    ledger_page = _page_arg("ledger_page", errors)
    try:
        view = account_view(svc, account_number)
    except NotFound:
        abort(404)
    audit(svc, g.staff.username, AuditAction.VIEW_ACCOUNT, account_number, address=address())
    statements = newest_first(view.statements, statements_page, STATEMENTS_PER_PAGE)
    ledger = newest_first(view.entries, ledger_page, ENTRIES_PER_PAGE)

    def page_url(anchor: str, **numbers: int) -> str:
        """This page with other page numbers (a first page is left out of the address)."""
        pages = {"statements_page": statements.number, "ledger_page": ledger.number, **numbers}
        # Any: url_for's keyword-only options would not take a dict of ints.
        args: dict[str, Any] = {name: n for name, n in pages.items() if n > 1}
        return url_for(
            "staff_accounts.account", account_number=account_number, _anchor=anchor, **args
        )

    plans = svc.store.account_plans(account_number)
    payment_form = forms.get("payment_form") or ManualPaymentForm(formdata=None)
    if not payment_form.request_key.data:
        payment_form.request_key.data = secrets.token_hex(16)
    return (
        render_template(
            "staff/account.html",
            view=view,
            notes=svc.store.notes(account_number),
            history=svc.store.audit_entries(account_number=account_number, limit=20),
            payment_form=payment_form,
            note_form=forms.get("note_form") or NoteForm(formdata=None),
            adjustment_form=_with_statement_choices(
                forms.get("adjustment_form") or AdjustmentForm(formdata=None),
                view,
                shown=statements.items,
            ),
            statements=statements,
            ledger=ledger,
            page_url=page_url,
            page_errors=errors,
            escalate_form=forms.get("escalate_form") or EscalateForm(formdata=None),
            resolve_form=ResolveForm(formdata=None),
            refundable={
                p.payment_id: cents
                for p in view.payments
                if p.gateway != "manual" and (cents := refundable_cents(svc, p.payment_id))
            },
            refund_key=secrets.token_hex(16),
            escalations=svc.store.escalations(account_number=account_number),
            cases=[c for c in svc.store.account_cases(account_number) if c.is_open],
            case_reasons=REASON_LABELS,
            case_statuses=STATUS_LABELS,
            mail_log=svc.store.mail_log(account_number, limit=20),
            sms_consent=svc.store.sms_consent(account_number),
            undeliverable=undeliverable_for(svc, view.account.guarantor.email),
            reminders=reminder_status(svc, view),
            plans=staff_plan_views(svc, plans, view.payments),
            plan_link_refusal=plan_link_refusal(svc, view, plans),
            labels=ESCALATION_LABELS,
            Status=PaymentStatus,
            Role=Role,
        ),
        400 if errors and status == 200 else status,
    )


def _from_form(account_number: str, form_name: str, form, action, done):
    """One account action from one of the page's forms: run it and go back to the account
    saying what happened, or show the page again (422) with the problem on its field."""
    if form.validate_on_submit():
        try:
            result = action(form)
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            field_error(form, exc)
        else:
            flash(done(result), "info")
            return _to_account(account_number)
    return _account_page(account_number, 422, **{form_name: form})


@bp.post("/accounts/<account_number>/payments")
@staff_required()
def post_payment(account_number: str):
    return _from_form(
        account_number,
        "payment_form",
        ManualPaymentForm(),
        lambda form: post_manual_payment(
            current_services(),
            g.staff.username,
            account_number,
            form.method.data,
            form.amount.data,
            form.check_number.data,
            form.request_key.data,
            address(),
        ),
        _posted,
    )


def _posted(result) -> str:
    if not result.posted:
        return "That payment was already posted; nothing changed."
    payment = result.payment
    method = MANUAL_METHODS[payment.method].lower()
    return f"Posted {format_cents(payment.amount_cents)} ({method})."


@bp.post("/payments/<payment_id>/reverse")
@staff_required()
def reverse_payment(payment_id: str):
    payment = current_services().store.get_payment(payment_id)
    if payment is None:
        abort(404)
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            result = reverse_manual_payment(
                current_services(), g.staff.username, payment_id, form.reason.data or "", address()
            )
        except InvalidInput as exc:
            flash(exc.message, "error")
        else:
            if result.posted:
                flash(f"Reversed {format_cents(payment.amount_cents)}.", "info")
            else:
                flash("That payment was already reversed; nothing changed.", "info")
    else:
        flash("Say why the payment is reversed.", "error")
    return _to_account(payment.account_number)


@bp.post("/payments/<payment_id>/refund")
@staff_required(Role.SUPERVISOR)
def refund(payment_id: str):
    payment = current_services().store.get_payment(payment_id)
    if payment is None:
        abort(404)
    form = RefundForm()
    if form.validate_on_submit():
        try:
            result = refund_payment(
                current_services(),
                g.staff.username,
                payment_id,
                form.amount.data or "",
                form.request_key.data or secrets.token_hex(16),
                address(),
            )
        except InvalidInput as exc:
            flash(f"Refund not made: {exc.message}", "error")
        else:
            flash(
                f"Refunded; {format_cents(result.payment.refunded_cents)} of this payment is "
                "now refunded in all."
                if result.posted
                else "That refund was already made; nothing changed.",
                "info",
            )
    else:
        flash("Enter the amount to refund.", "error")
    return _to_account(payment.account_number)


@bp.post("/accounts/<account_number>/notes")
@staff_required()
def note(account_number: str):
    return _from_form(
        account_number,
        "note_form",
        NoteForm(),
        lambda form: add_note(
            current_services(),
            g.staff.username,
            account_number,
            form.text.data,
            form.promise_to_pay_on.data,
            address(),
        ),
        lambda _: "Note saved.",
    )


@bp.post("/accounts/<account_number>/adjustments")
@staff_required(Role.SUPERVISOR)
def adjustment(account_number: str):
    try:
        form = _with_statement_choices(
            AdjustmentForm(), account_view(current_services(), account_number)
        )
    except NotFound:
        abort(404)
    return _from_form(
        account_number,
        "adjustment_form",
        form,
        lambda form: post_adjustment(
            current_services(),
            g.staff.username,
            account_number,
            form.statement_id.data,
            form.kind.data,
            form.amount.data,
            form.reason.data,
            address(),
        ),
        _adjusted,
    )


def _adjusted(entry) -> str:
    what = "Write-off" if entry.kind.value == "write_off" else "Adjustment"
    return f"{what} of {format_cents(-entry.amount_cents)} posted."


@bp.post("/payments/<payment_id>/resend")
@staff_required()
def resend(payment_id: str):
    payment = current_services().store.get_payment(payment_id)
    if payment is None:
        abort(404)
    try:
        to = resend_receipt(current_services(), g.staff.username, payment_id, address())
    except InvalidInput as exc:
        flash(exc.message, "error")
    else:
        flash(f"Receipt sent again to {to}.", "info")
    return _to_account(payment.account_number)


@bp.post("/accounts/<account_number>/escalations")
@staff_required()
def escalate(account_number: str):
    return _from_form(
        account_number,
        "escalate_form",
        EscalateForm(),
        lambda form: open_escalation(
            current_services(),
            g.staff.username,
            account_number,
            EscalationKind(form.kind.data),
            form.reason.data,
            address(),
        ),
        lambda item: (
            "This account already has an open dispute."
            if item is None
            else "Added to the escalation queue."
        ),
    )
