"""The billing associates' console: sign-in with TOTP, find accounts, post and reverse
payments, notes, payment lists. Every view of an account and every change is audited."""

import csv
import io
import re
import secrets
from datetime import date, datetime, timedelta
from functools import wraps

import segno
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    g,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from markupsafe import Markup
from wtforms.fields.choices import SelectChoice

from portal.domain.aging import BUCKETS, practice_date
from portal.domain.errors import InvalidInput
from portal.domain.money import cents_to_plain, format_cents
from portal.domain.payments import MANUAL_METHODS, PaymentStatus
from portal.domain.staff import ESCALATION_LABELS, AuditAction, EscalationKind, Role
from portal.services.accounts import account_view
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.reports import aging_report, deposit_report, last_twelve_months
from portal.services.staff_actions import (
    add_note,
    open_escalation,
    post_adjustment,
    post_manual_payment,
    resend_receipt,
    resolve_escalation,
    reverse_manual_payment,
    update_escalation,
)
from portal.services.staff_auth import (
    SignInFailed,
    SignInLocked,
    add_staff_user,
    change_password,
    check_code_step,
    check_password_step,
    sign_out,
)
from portal.services.staff_views import dashboard as build_dashboard
from portal.services.staff_views import list_payments
from portal.web import services
from portal.web.charts import bar_chart
from portal.web.forms import (
    AdjustmentForm,
    EscalateForm,
    EscalationUpdateForm,
    ManualPaymentForm,
    NoteForm,
    PasswordForm,
    ResolveForm,
    ReverseForm,
    StaffCodeForm,
    StaffLoginForm,
    StaffUserForm,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")

IDLE_LIMIT = timedelta(minutes=15)
CODE_STEP_LIMIT = timedelta(minutes=5)
SIGN_IN_FAILED = "The username, password or code is not right."
LOCKED = "Too many unsuccessful attempts: this user is locked for 15 minutes."


def _address() -> str:
    return request.remote_addr or "unknown"


def _now() -> datetime:
    return services().clock.now()


def _seconds_since(key: str) -> timedelta:
    return _now() - datetime.fromisoformat(session.get(key, "1970-01-01T00:00:00+00:00"))


@bp.before_request
def load_staff_user() -> None:
    """The signed-in staff user, unless idle too long or signed out everywhere since."""
    g.staff = None
    username = session.get("staff_user")
    if not username:
        return
    user = services().store.get_staff_user(username)
    if (
        user is None
        or user.session_epoch != session.get("staff_epoch")
        or _seconds_since("staff_seen_at") > IDLE_LIMIT
    ):
        session.clear()
        flash("Your staff session ended. Please sign in again.", "info")
        return
    session["staff_seen_at"] = _now().isoformat()
    g.staff = user


def staff_required(role: Role = Role.ASSOCIATE):
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if "account_number" in session:
                abort(403)  # a patient's session never opens a staff page
            if g.staff is None:
                return redirect(url_for("staff.login"))
            if not g.staff.role.allows(role):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


@bp.app_context_processor
def staff_context() -> dict:
    return {"staff": g.get("staff")}


# -- sign-in -----------------------------------------------------------------------------


@bp.route("/login", methods=["GET", "POST"])
def login():
    form = StaffLoginForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            username = check_password_step(
                services(), form.username.data, form.password.data, _address()
            )
        except SignInLocked:
            error, status = LOCKED, 429
        except SignInFailed:
            error, status = SIGN_IN_FAILED, 401
        else:
            session.clear()
            session["staff_pending"] = username
            session["staff_pending_at"] = _now().isoformat()
            return redirect(url_for("staff.code"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template("staff/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    username = session.get("staff_pending")
    if not username or _seconds_since("staff_pending_at") > CODE_STEP_LIMIT:
        session.pop("staff_pending", None)
        return redirect(url_for("staff.login"))
    form = StaffCodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            user = check_code_step(services(), username, form.code.data, _address())
        except SignInLocked:
            error, status = LOCKED, 429
        except SignInFailed:
            error, status = SIGN_IN_FAILED, 401
        else:
            session.clear()
            session.permanent = True
            session["staff_user"] = user.username
            session["staff_epoch"] = user.session_epoch
            session["staff_seen_at"] = _now().isoformat()
            return redirect(url_for("staff.dashboard"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template("staff/code.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    if "account_number" in session:
        abort(403)
    if g.staff is not None:
        sign_out(services(), g.staff.username, _address())
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("staff.login"), code=303)


@bp.route("/password", methods=["GET", "POST"])
@staff_required()
def password():
    form = PasswordForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = change_password(
                services(),
                g.staff.username,
                form.current_password.data,
                form.new_password.data,
                _address(),
            )
        except SignInLocked:
            session.clear()
            flash(LOCKED, "error")
            return redirect(url_for("staff.login"), code=303)
        except InvalidInput as exc:
            _field_error(form, exc)
            status = 422
        else:
            session["staff_epoch"] = user.session_epoch  # this session stays, others end
            flash("Password changed. Every other session of yours has been signed out.", "info")
            return redirect(url_for("staff.dashboard"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template("staff/password.html", form=form), status


# -- work pages ----------------------------------------------------------------------------


@bp.get("/")
@staff_required()
def dashboard():
    return render_template("staff/dashboard.html", board=build_dashboard(services()))


@bp.get("/search")
@staff_required()
def search():
    query = request.args.get("q", "").strip()[:100]
    results = services().store.search_accounts(query) if query else []
    if query:
        audit(services(), g.staff.username, AuditAction.SEARCH, subject=query, address=_address())
    if len(results) == 1 and results[0].account_number == query:
        return redirect(url_for("staff.account", account_number=query))
    return render_template("staff/search.html", query=query, results=results)


@bp.get("/accounts/<account_number>")
@staff_required()
def account(account_number: str):
    return _account_page(account_number)


def _with_statement_choices(form: AdjustmentForm, view) -> AdjustmentForm:
    """Adjustments apply to one of the account's open statements."""
    form.statement_id.choices = [
        SelectChoice(
            item.statement.statement_id,
            f"{item.statement.statement_id} ({format_cents(item.balance_cents)} open)",
        )
        for item in view.open_statements
    ]
    return form


def _account_page(account_number: str, status: int = 200, **forms):
    svc = services()
    try:
        view = account_view(svc, account_number)
    except NotFound:
        abort(404)
    audit(svc, g.staff.username, AuditAction.VIEW_ACCOUNT, account_number, address=_address())
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
            adjustment_form=forms.get("adjustment_form")
            or _with_statement_choices(AdjustmentForm(formdata=None), view),
            escalate_form=forms.get("escalate_form") or EscalateForm(formdata=None),
            resolve_form=ResolveForm(formdata=None),
            escalations=svc.store.escalations(account_number=account_number),
            labels=ESCALATION_LABELS,
            Status=PaymentStatus,
        ),
        status,
    )


@bp.post("/accounts/<account_number>/payments")
@staff_required()
def post_payment(account_number: str):
    form = ManualPaymentForm()
    if form.validate_on_submit():
        try:
            result = post_manual_payment(
                services(),
                g.staff.username,
                account_number,
                form.method.data,
                form.amount.data,
                form.check_number.data,
                form.request_key.data,
                _address(),
            )
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            _field_error(form, exc)
        else:
            payment = result.payment
            if result.posted:
                method = MANUAL_METHODS[payment.method].lower()
                flash(f"Posted {format_cents(payment.amount_cents)} ({method}).", "info")
            else:
                flash("That payment was already posted; nothing changed.", "info")
            return redirect(url_for("staff.account", account_number=account_number), code=303)
    return _account_page(account_number, 422, payment_form=form)


@bp.post("/payments/<payment_id>/reverse")
@staff_required()
def reverse_payment(payment_id: str):
    payment = services().store.get_payment(payment_id)
    if payment is None:
        abort(404)
    form = ReverseForm()
    if form.validate_on_submit():
        try:
            result = reverse_manual_payment(
                services(), g.staff.username, payment_id, form.reason.data, _address()
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
    return redirect(url_for("staff.account", account_number=payment.account_number), code=303)


@bp.post("/accounts/<account_number>/notes")
@staff_required()
def note(account_number: str):
    form = NoteForm()
    if form.validate_on_submit():
        try:
            add_note(
                services(),
                g.staff.username,
                account_number,
                form.text.data,
                form.promise_to_pay_on.data,
                _address(),
            )
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            _field_error(form, exc)
        else:
            flash("Note saved.", "info")
            return redirect(url_for("staff.account", account_number=account_number), code=303)
    return _account_page(account_number, 422, note_form=form)


@bp.post("/accounts/<account_number>/adjustments")
@staff_required(Role.SUPERVISOR)
def adjustment(account_number: str):
    try:
        form = _with_statement_choices(AdjustmentForm(), account_view(services(), account_number))
    except NotFound:
        abort(404)
    if form.validate_on_submit():
        try:
            entry = post_adjustment(
                services(),
                g.staff.username,
                account_number,
                form.statement_id.data,
                form.kind.data,
                form.amount.data,
                form.reason.data,
                _address(),
            )
        except InvalidInput as exc:
            _field_error(form, exc)
        else:
            what = "Write-off" if entry.kind.value == "write_off" else "Adjustment"
            flash(f"{what} of {format_cents(-entry.amount_cents)} posted.", "info")
            return redirect(url_for("staff.account", account_number=account_number), code=303)
    return _account_page(account_number, 422, adjustment_form=form)


@bp.post("/payments/<payment_id>/resend")
@staff_required()
def resend(payment_id: str):
    payment = services().store.get_payment(payment_id)
    if payment is None:
        abort(404)
    try:
        to = resend_receipt(services(), g.staff.username, payment_id, _address())
    except InvalidInput as exc:
        flash(exc.message, "error")
    else:
        flash(f"Receipt sent again to {to}.", "info")
    return redirect(url_for("staff.account", account_number=payment.account_number), code=303)


@bp.post("/accounts/<account_number>/escalations")
@staff_required()
def escalate(account_number: str):
    form = EscalateForm()
    if form.validate_on_submit():
        try:
            item = open_escalation(
                services(),
                g.staff.username,
                account_number,
                EscalationKind(form.kind.data),
                form.reason.data,
                _address(),
            )
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            _field_error(form, exc)
        else:
            if item is None:
                flash("This account already has an open dispute.", "info")
            else:
                flash("Added to the escalation queue.", "info")
            return redirect(url_for("staff.account", account_number=account_number), code=303)
    return _account_page(account_number, 422, escalate_form=form)


@bp.get("/escalations")
@staff_required()
def escalations():
    owner = request.args.get("owner", "").strip().lower()
    errors: list[str] = []
    min_age = request.args.get("older_than", "").strip()
    if min_age and not (re.fullmatch(r"[0-9]{1,5}", min_age) and int(min_age) <= 36500):
        errors.append("older_than: a number of days, like 7.")
        min_age = ""
    items = services().store.escalations(
        owner=("" if owner == "unassigned" else owner) if owner else None
    )
    if min_age:
        cutoff = _now() - timedelta(days=int(min_age))
        items = [i for i in items if i.opened_at <= cutoff]
    audit(services(), g.staff.username, AuditAction.VIEW_ESCALATIONS, address=_address())
    page = render_template(
        "staff/escalations.html",
        items=items,
        owner=owner,
        older_than=min_age,
        errors=errors,
        labels=ESCALATION_LABELS,
        update_form=EscalationUpdateForm(formdata=None),
        resolve_form=ResolveForm(formdata=None),
    )
    return page, (400 if errors else 200)


@bp.post("/escalations/<int:escalation_id>")
@staff_required()
def update_escalation_item(escalation_id: int):
    form = EscalationUpdateForm()
    if form.validate_on_submit():
        try:
            update_escalation(
                services(),
                g.staff.username,
                escalation_id,
                form.owner.data,
                form.promise_to_pay_on.data,
                _address(),
            )
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            flash(exc.message, "error")
        else:
            flash(f"Item #{escalation_id} updated.", "info")
    else:
        flash("Check the owner and the date.", "error")
    return redirect(_back(), code=303)


@bp.post("/escalations/<int:escalation_id>/resolve")
@staff_required()
def resolve(escalation_id: int):
    form = ResolveForm()
    if form.validate_on_submit():
        try:
            resolve_escalation(
                services(), g.staff.username, escalation_id, form.resolution.data, _address()
            )
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            flash(exc.message, "error")
        else:
            flash(f"Item #{escalation_id} resolved.", "info")
    else:
        flash("Say how it was resolved.", "error")
    return redirect(_back(), code=303)


@bp.get("/audit")
@staff_required(Role.ADMIN)
def audit_log():
    actor = request.args.get("actor", "").strip().lower() or None
    account_number = request.args.get("account", "").strip() or None
    entries = services().store.audit_entries(account_number=account_number, actor=actor, limit=1000)
    audit(
        services(),
        g.staff.username,
        AuditAction.VIEW_AUDIT_LOG,
        account_number,
        f"actor={actor or '*'}",
        _address(),
    )
    if _wants_csv([]):
        return _csv(
            "audit-log.csv",
            ["at", "actor", "action", "account_number", "subject", "address"],
            [
                [
                    e.at.isoformat(),
                    e.actor,
                    e.action.value,
                    e.account_number or "",
                    e.subject,
                    e.address,
                ]
                for e in entries
            ],
        )
    return render_template(
        "staff/audit.html", entries=entries, actor=actor or "", account=account_number or ""
    )


@bp.get("/payments")
@staff_required()
def payments():
    today = _today()
    errors: list[str] = []
    since = _date_arg("from", today - timedelta(days=6), errors)
    until = _date_arg("to", today, errors)
    if since > until:
        errors.append("The start date is after the end date.")
        since = until
    status = _choice_arg("status", {s.value for s in PaymentStatus}, errors)
    method = _choice_arg("method", {"card", *MANUAL_METHODS}, errors)
    found = list_payments(
        services(), since, until, PaymentStatus(status) if status else None, method
    )
    audit(
        services(),
        g.staff.username,
        AuditAction.VIEW_PAYMENTS,
        subject=f"{since}..{until} {status or ''} {method or ''}".strip(),
        address=_address(),
    )
    return render_template(
        "staff/payments.html",
        found=found,
        errors=errors,
        status=status or "",
        method=method or "",
        statuses=[s.value for s in PaymentStatus],
    ), (400 if errors else 200)


@bp.route("/users", methods=["GET", "POST"])
@staff_required(Role.ADMIN)
def users():
    """Staff users; a new user's authenticator QR code is shown once, in this response."""
    form = StaffUserForm()
    setup, status = None, 200
    if form.validate_on_submit():
        try:
            setup = add_staff_user(
                services(), form.username.data, form.role.data, form.password.data
            )
        except InvalidInput as exc:
            _field_error(form, exc)
            status = 422
        else:
            audit(
                services(),
                g.staff.username,
                AuditAction.ADD_STAFF_USER,
                subject=f"{setup.user.username} ({setup.user.role})",
                address=_address(),
            )
            form = StaffUserForm(formdata=None)
    elif form.is_submitted():
        status = 422
    qr = Markup(segno.make(setup.provisioning_uri).svg_inline(scale=5)) if setup else None
    page = render_template(
        "staff/users.html", form=form, users=services().store.staff_users(), setup=setup, qr=qr
    )
    return page, status


# -- reports -------------------------------------------------------------------------------


@bp.get("/reports/aging")
@staff_required()
def aging():
    errors: list[str] = []
    as_of = _date_arg("as_of", _today(), errors)
    report = aging_report(services(), as_of)
    _audit_report(f"aging as of {as_of}")
    if _wants_csv(errors):
        header = ["account_number", "guarantor", *BUCKETS, "total"]
        rows = [
            [r.account_number, r.guarantor_name, *_plain([*r.buckets.values(), r.total_cents])]
            for r in report.rows
        ]
        rows.append(["total", "", *_plain([*report.totals.values(), report.total_cents])])
        return _csv(f"aging-{as_of}.csv", header, rows)
    chart = bar_chart(
        f"Outstanding balances by days past due, as of {as_of}",
        [name if name == "current" else f"{name} days" for name in BUCKETS],
        {"Balance": list(report.totals.values())},
    )
    page = render_template("staff/aging.html", report=report, chart=chart, errors=errors)
    return page, (400 if errors else 200)


@bp.get("/reports/monthly")
@staff_required(Role.SUPERVISOR)
def monthly():
    errors: list[str] = []
    month = _month_arg(errors)
    months = last_twelve_months(services(), month)
    _audit_report(f"monthly summary {month:%Y-%m}")
    if _wants_csv(errors):
        header = [
            "month",
            "beginning_receivable",
            "charges",
            "insurance_payments",
            "adjustments",
            "patient_payments",
            "refunds",
            "write_offs",
            "ending_receivable",
        ]
        rows = [
            [
                f"{m.month:%Y-%m}",
                *_plain(
                    [
                        m.beginning_cents,
                        m.charges_cents,
                        m.insurance_payments_cents,
                        m.adjustments_cents,
                        m.patient_payments_cents,
                        m.refunds_cents,
                        m.write_offs_cents,
                        m.ending_cents,
                    ]
                ),
            ]
            for m in months
        ]
        return _csv(f"monthly-summary-{month:%Y-%m}.csv", header, rows)
    chart = bar_chart(
        "Charges billed and patient payments, last 12 months",
        [f"{m.month:%b}" for m in months],
        {
            "Charges billed": [m.charges_cents for m in months],
            "Patient payments": [m.patient_payments_cents for m in months],
        },
    )
    page = render_template(
        "staff/monthly.html", summary=months[-1], months=months, chart=chart, errors=errors
    )
    return page, (400 if errors else 200)


@bp.get("/reports/deposits")
@staff_required()
def deposits():
    errors: list[str] = []
    today = _today()
    since = _date_arg("from", today - timedelta(days=6), errors)
    until = _date_arg("to", today, errors)
    if since > until:
        errors.append("The start date is after the end date.")
        since = until
    days = deposit_report(services(), since, until)
    _audit_report(f"deposits {since}..{until}")
    methods = ["card", *MANUAL_METHODS]
    if _wants_csv(errors):
        rows = [
            [d.day.isoformat(), *_plain([d.total(m) for m in methods]), cents_to_plain(d.total())]
            for d in days
        ]
        return _csv(f"deposits-{since}-{until}.csv", ["day", *methods, "total"], rows)
    page = render_template(
        "staff/deposits.html",
        days=days,
        since=since,
        until=until,
        methods=methods,
        errors=errors,
    )
    return page, (400 if errors else 200)


def _today() -> date:
    return practice_date(_now(), services().settings.tz)


def _audit_report(subject: str) -> None:
    audit(
        services(), g.staff.username, AuditAction.VIEW_REPORT, subject=subject, address=_address()
    )


def _month_arg(errors: list[str]) -> date:
    text = request.args.get("month", "").strip()
    if text:
        try:
            month = date.fromisoformat(f"{text}-01")
        except ValueError:
            errors.append("month: use a month like 2026-11.")
        else:
            if FIRST_YEAR < month.year <= LAST_YEAR:
                return month
            errors.append(f"month: use a month between {FIRST_YEAR + 1} and {LAST_YEAR}.")
    return _today().replace(day=1)


_NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _inert(cell: str) -> str:
    """A cell a spreadsheet will not run as a formula (names and subjects come from users)."""
    if cell[:1] in ("=", "+", "@", "\t", "\r") or (cell[:1] == "-" and not _NUMBER.fullmatch(cell)):
        return "'" + cell
    return cell


def _wants_csv(errors: list[str]) -> bool:
    """A CSV download, unless the filters were wrong: then the page says what is wrong."""
    return request.args.get("format") == "csv" and not errors


def _plain(values) -> list[str]:
    return [cents_to_plain(v) for v in values]


def _csv(filename: str, header: list[str], rows: list[list[str]]) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(header)
    writer.writerows([_inert(cell) for cell in row] for row in rows)
    return Response(
        out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


# Dates a billing report can be about; outside them the calendar arithmetic would overflow.
FIRST_YEAR, LAST_YEAR = 1900, 2199


def _date_arg(name: str, default: date, errors: list[str]) -> date:
    text = request.args.get(name, "").strip()
    if not text:
        return default
    try:
        value = date.fromisoformat(text)
    except ValueError:
        errors.append(f"{name}: use a date like 2026-11-28.")
        return default
    if not FIRST_YEAR <= value.year <= LAST_YEAR:
        errors.append(f"{name}: use a date between {FIRST_YEAR} and {LAST_YEAR}.")
        return default
    return value


def _choice_arg(name: str, allowed: set[str], errors: list[str]) -> str | None:
    value = request.args.get(name, "").strip()
    if not value:
        return None
    if value not in allowed:
        errors.append(f"{name}: {value!r} is not one of {', '.join(sorted(allowed))}.")
        return None
    return value


def _back() -> str:
    """Where a queue action returns to: a staff page named by the form, else the queue."""
    back = request.form.get("back", "")
    if back.startswith("/staff/") and "//" not in back:
        return back
    return url_for("staff.escalations")


def _field_error(form, exc: InvalidInput) -> None:
    field = getattr(form, exc.field, None)
    if field is not None and hasattr(field, "errors"):
        field.errors = [*field.errors, exc.message]
    else:
        flash(exc.message, "error")
