"""Insurance remittances in the billing console: the upload (supervisors: an import posts
money), the remittance report (per payment: payer, check or EFT, posted, unmatched,
provider adjustments; CSV) and the associates' work items. The upload goes through the
same service as `portal remittances import` and the API."""

from datetime import timedelta

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from portal.domain.aging import practice_midnight
from portal.domain.insurer_words import code_words
from portal.domain.money import cents_to_plain
from portal.domain.remittance_posting import KIND_LABELS
from portal.domain.staff import AuditAction, Role
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.remittances import (
    MAX_FILE_BYTES,
    import_remittance_file,
    open_work_items,
    resolve_work_item,
)
from portal.web import current_services
from portal.web.staff_reports import _csv, _wants_csv
from portal.web.staff_session import address, load_staff_user, period_args, staff_required
from portal.web.uploads import read_upload

bp = Blueprint("staff_remittances", __name__, url_prefix="/staff/remittances")
bp.before_request(load_staff_user)

NOTE_LIMIT = 500


@bp.get("/import")
@staff_required(Role.SUPERVISOR)
def import_page():
    return render_template("staff/remittance_import.html", summary=None, error=None, filename="")


@bp.post("/import")
@staff_required(Role.SUPERVISOR)
def import_file():
    dry_run = request.form.get("dry_run") == "1"
    summary = None
    filename, data, error = read_upload(
        "Choose an 835 file to import.",
        "The file is larger than 5 MB: ask the payer for smaller files.",
        max_bytes=MAX_FILE_BYTES,
    )
    if data is not None:
        summary = import_remittance_file(
            current_services(), data, g.staff.username, dry_run, address=address()
        )
    status = 422 if error or (summary and summary.refused) else 200
    page = render_template(
        "staff/remittance_import.html",
        summary=summary,
        error=error,
        filename=filename,
        dry_run=dry_run,
    )
    return page, status


@bp.get("")
@staff_required()
def report():
    errors: list[str] = []
    since, until = period_args(30, errors)
    tz = current_services().settings.tz
    records = current_services().store.remittances_imported(
        practice_midnight(since, tz), practice_midnight(until + timedelta(days=1), tz)
    )
    audit(
        current_services(),
        g.staff.username,
        AuditAction.VIEW_REPORT,
        subject=f"remittances {since}..{until}",
        address=address(),
    )
    if _wants_csv(errors):
        header = [
            "imported_at",
            "file",
            "payer_id",
            "payer",
            "trace_number",
            "method",
            "paid_on",
            "amount",
            "claims",
            "posted",
            "unmatched",
            "provider_adjustments",
            "open_work_items",
            "finished",
        ]
        rows = [
            [
                r.imported_at.isoformat(),
                r.interchange,
                r.payer_id,
                r.payer_name,
                r.trace_number,
                r.method,
                r.paid_on.isoformat() if r.paid_on else "",
                cents_to_plain(r.amount_cents),
                str(r.claims),
                cents_to_plain(r.posted_cents),
                cents_to_plain(r.unmatched_cents),
                cents_to_plain(r.provider_adjusted_cents),
                str(r.open_items),
                "yes" if r.finished else "no",
            ]
            for r in records
        ]
        return _csv(f"remittances-{since}-{until}.csv", header, rows)
    page = render_template(
        "staff/remittances.html", records=records, since=since, until=until, errors=errors
    )
    return page, (400 if errors else 200)


@bp.get("/work")
@staff_required()
def work_items():
    items = open_work_items(current_services(), g.staff.username, address())
    return render_template(
        "staff/remittance_work.html", items=items, labels=KIND_LABELS, code_words=code_words
    )


@bp.post("/work/<remittance_id>/<path:item_id>")
@staff_required()
def resolve(remittance_id: str, item_id: str):
    note = request.form.get("note", "").strip()[:NOTE_LIMIT]
    try:
        resolve_work_item(
            current_services(), remittance_id, item_id, g.staff.username, note, address()
        )
    except NotFound as exc:
        flash(str(exc), "error")
        return redirect(url_for("staff_remittances.work_items")), 303
    flash(f"Work item {item_id} resolved.", "success")
    return redirect(url_for("staff_remittances.work_items")), 303
