"""The supervisors' page of outbound webhook deliveries given up on (tried for a day), each
with a button that tries it again (audited)."""

from flask import Blueprint, flash, g, redirect, render_template, url_for

from portal.domain.staff import Role
from portal.services.errors import NotFound
from portal.services.outbound_webhooks import failed_deliveries, retry_delivery
from portal.web import current_services
from portal.web.staff_session import address, load_staff_user, staff_required

bp = Blueprint("staff_webhooks", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/webhooks")
@staff_required(Role.SUPERVISOR)
def webhooks():
    svc = current_services()
    return render_template(
        "staff/webhooks.html",
        deliveries=failed_deliveries(svc, g.staff.username, address()),
        configured=svc.webhooks is not None,
    )


@bp.post("/webhooks/<event_id>/retry")
@staff_required(Role.SUPERVISOR)
def retry(event_id: str):
    try:
        retried = retry_delivery(current_services(), event_id, g.staff.username, address())
    except NotFound:
        flash(f"There is no webhook delivery for event {event_id}.", "error")
        return redirect(url_for("staff_webhooks.webhooks"), 303)
    if retried:
        flash(f"Event {event_id} will be sent again within 5 minutes.", "info")
    else:
        flash(f"Event {event_id} is not a failed delivery (any more); nothing changed.", "error")
    return redirect(url_for("staff_webhooks.webhooks"), 303)
