"""The escalation queue: accounts that need a person, with owner, promise date and resolution."""

import re
from datetime import timedelta

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

from portal.domain.cases import REASON_LABELS, STATUS_LABELS
from portal.domain.errors import InvalidInput
from portal.domain.staff import ESCALATION_LABELS, AuditAction
from portal.services.audit import audit
from portal.services.cases import open_case_queue
from portal.services.errors import NotFound
from portal.services.staff_actions import (
    resolve_escalation,
    update_escalation,
)
from portal.web import current_services
from portal.web.forms import (
    EscalationUpdateForm,
    ResolveForm,
)
from portal.web.redirects import local_path
from portal.web.staff_session import (
    address,
    load_staff_user,
    now,
    staff_required,
    today,
)

bp = Blueprint("staff_queue", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/escalations")
@staff_required()
def escalations():
    owner = request.args.get("owner", "").strip().lower()
    errors: list[str] = []
    min_age = request.args.get("older_than", "").strip()
    if min_age and not (re.fullmatch(r"[0-9]{1,5}", min_age) and int(min_age) <= 36500):
        errors.append("older_than: a number of days, like 7.")
        min_age = ""
    items = current_services().store.escalations(
        owner=("" if owner == "unassigned" else owner) if owner else None
    )
    if min_age:
        cutoff = now() - timedelta(days=int(min_age))
        items = [i for i in items if i.opened_at <= cutoff]
    audit(current_services(), g.staff.username, AuditAction.VIEW_ESCALATIONS, address=address())
    cases = open_case_queue(current_services(), g.staff.username, address())
    if owner:
        cases = [c for c in cases if c.owner == ("" if owner == "unassigned" else owner)]
    page = render_template(
        "staff/escalations.html",
        items=items,
        owner=owner,
        older_than=min_age,
        errors=errors,
        labels=ESCALATION_LABELS,
        update_form=EscalationUpdateForm(formdata=None),
        resolve_form=ResolveForm(formdata=None),
        cases=cases,
        case_reasons=REASON_LABELS,
        case_statuses=STATUS_LABELS,
        today=today(),
    )
    return page, (400 if errors else 200)


@bp.post("/escalations/<int:escalation_id>")
@staff_required()
def update_escalation_item(escalation_id: int):
    return _on_item(
        EscalationUpdateForm(),
        lambda form: update_escalation(
            current_services(),
            g.staff.username,
            escalation_id,
            form.owner.data,
            form.promise_to_pay_on.data,
            address(),
        ),
        done=f"Item #{escalation_id} updated.",
        incomplete="Check the owner and the date.",
    )


@bp.post("/escalations/<int:escalation_id>/resolve")
@staff_required()
def resolve(escalation_id: int):
    return _on_item(
        ResolveForm(),
        lambda form: resolve_escalation(
            current_services(), g.staff.username, escalation_id, form.resolution.data, address()
        ),
        done=f"Item #{escalation_id} resolved.",
        incomplete="Say how it was resolved.",
    )


def _on_item(form, action, done: str, incomplete: str):
    """Act on one queue item from its form, then go back where the form was, saying how it went."""
    if not form.validate_on_submit():
        flash(incomplete, "error")
    else:
        try:
            action(form)
        except NotFound:
            abort(404)
        except InvalidInput as exc:
            flash(exc.message, "error")
        else:
            flash(done, "info")
    return redirect(back_to_queue(), code=303)


def back_to_queue() -> str:
    """Where a queue action returns to: a staff page named by the form, else the queue."""
    return local_path(
        request.form.get("back"), url_for("staff_queue.escalations"), prefix="/staff/"
    )
