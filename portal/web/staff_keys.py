"""The admin page of API keys: list them and revoke one (keys are made with
`portal api-keys create NAME`, which shows the key once)."""

from flask import Blueprint, flash, g, redirect, render_template, url_for

from portal.domain.staff import Role
from portal.services.api_keys import revoke_api_key
from portal.web import current_services
from portal.web.staff_session import address, load_staff_user, staff_required

bp = Blueprint("staff_keys", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/api-keys")
@staff_required(Role.ADMIN)
def api_keys():
    return render_template("staff/api_keys.html", keys=current_services().store.api_keys())


@bp.post("/api-keys/<name>/revoke")
@staff_required(Role.ADMIN)
def revoke(name: str):
    if revoke_api_key(current_services(), name, g.staff.username, address()):
        flash(f"Revoked API key {name}: it stopped working now.", "info")
    else:
        flash(f"There is no active API key named {name}.", "error")
    return redirect(url_for("staff_keys.api_keys"), 303)
