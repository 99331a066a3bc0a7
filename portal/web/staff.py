"""The billing console's front door: sign-in with TOTP, sign-out, password, the dashboard,
search, and staff users."""

from datetime import timedelta

from flask import (
    Blueprint,
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

from portal.domain.errors import InvalidInput
from portal.domain.staff import AuditAction, Role
from portal.services.audit import audit
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
from portal.web import current_services
from portal.web.forms import (
    PasswordForm,
    StaffCodeForm,
    StaffLoginForm,
    StaffUserForm,
)
from portal.web.staff_session import (
    address,
    field_error,
    load_staff_user,
    now,
    staff_required,
    time_since,
)

bp = Blueprint("staff", __name__, url_prefix="/staff")

CODE_STEP_LIMIT = timedelta(minutes=5)
SIGN_IN_FAILED = "The username, password or code is not right."
LOCKED = "Too many unsuccessful attempts: sign-in is locked for 15 minutes."
bp.before_request(load_staff_user)


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
                current_services(), form.username.data or "", form.password.data or "", address()
            )
        except SignInLocked:
            error, status = LOCKED, 429
        except SignInFailed:
            error, status = SIGN_IN_FAILED, 401
        else:
            session.clear()
            session["staff_pending"] = username
            session["staff_pending_at"] = now().isoformat()
            return redirect(url_for("staff.code"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template("staff/login.html", form=form, error=error), status


@bp.route("/login/code", methods=["GET", "POST"])
def code():
    username = session.get("staff_pending")
    if not username or time_since("staff_pending_at") > CODE_STEP_LIMIT:
        session.pop("staff_pending", None)
        return redirect(url_for("staff.login"))
    form = StaffCodeForm()
    error, status = None, 200
    if form.validate_on_submit():
        try:
            user = check_code_step(current_services(), username, form.code.data or "", address())
        except SignInLocked:
            error, status = LOCKED, 429
        except SignInFailed:
            error, status = SIGN_IN_FAILED, 401
        else:
            session.clear()
            session.permanent = True
            session["staff_user"] = user.username
            session["staff_epoch"] = user.session_epoch
            session["staff_seen_at"] = now().isoformat()
            return redirect(url_for("staff.dashboard"), code=303)
    elif form.is_submitted():
        status = 422
    return render_template("staff/code.html", form=form, error=error), status


@bp.post("/logout")
def logout():
    if "account_number" in session:
        abort(403)
    if g.staff is not None:
        sign_out(current_services(), g.staff.username, address())
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
                current_services(),
                g.staff.username,
                form.current_password.data or "",
                form.new_password.data or "",
                address(),
            )
        except SignInLocked:
            session.clear()
            flash(LOCKED, "error")
            return redirect(url_for("staff.login"), code=303)
        except InvalidInput as exc:
            field_error(form, exc)
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
    board = build_dashboard(current_services())
    audit(
        current_services(),
        g.staff.username,
        AuditAction.VIEW_PAYMENTS,
        subject="dashboard",
        address=address(),
    )
    return render_template("staff/dashboard.html", board=board)


@bp.get("/search")
@staff_required()
def search():
    query = request.args.get("q", "").strip()[:100]
    results = current_services().store.search_accounts(query) if query else []
    if query:
        audit(
            current_services(),
            g.staff.username,
            AuditAction.SEARCH,
            subject=query,
            address=address(),
        )
    if len(results) == 1 and results[0].account_number == query:
        return redirect(url_for("staff_accounts.account", account_number=query))
    return render_template("staff/search.html", query=query, results=results)


@bp.route("/users", methods=["GET", "POST"])
@staff_required(Role.ADMIN)
def users():
    """Staff users; a new user's authenticator QR code is shown once, in this response."""
    form = StaffUserForm()
    setup, status = None, 200
    if form.validate_on_submit():
        try:
            setup = add_staff_user(
                current_services(),
                form.username.data or "",
                form.role.data,
                form.password.data or "",
            )
        except InvalidInput as exc:
            field_error(form, exc)
            status = 422
        else:
            audit(
                current_services(),
                g.staff.username,
                AuditAction.ADD_STAFF_USER,
                subject=f"{setup.user.username} ({setup.user.role})",
                address=address(),
            )
            form = StaffUserForm(formdata=None)
    elif form.is_submitted():
        status = 422
    qr = None
    if setup:
        import segno  # only this page draws QR codes: keep it out of the cold start

        qr = Markup(segno.make(setup.provisioning_uri).svg_inline(scale=5))
    page = render_template(
        "staff/users.html",
        form=form,
        users=current_services().store.staff_users(),
        setup=setup,
        qr=qr,
    )
    return page, status
