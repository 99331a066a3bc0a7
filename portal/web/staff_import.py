"""Importing statements from a file in the billing console (supervisors: an import changes
balances). The same service as `portal import`; one audit entry per upload."""

import io
from collections.abc import Iterable

from flask import Blueprint, g, render_template, request

from portal.domain.staff import Role
from portal.services.imports import (
    ImportFileError,
    import_records,
    iter_csv,
    parse_json,
    utf8_problem,
)
from portal.web import current_services
from portal.web.staff_session import address, load_staff_user, staff_required
from portal.web.uploads import read_upload

bp = Blueprint("staff_import", __name__, url_prefix="/staff")
bp.before_request(load_staff_user)


@bp.get("/import")
@staff_required(Role.SUPERVISOR)
def import_page():
    return render_template("staff/import.html", summary=None, error=None, filename=None)


@bp.post("/import")
@staff_required(Role.SUPERVISOR)
def import_file():
    dry_run = request.form.get("dry_run") == "1"
    summary = None
    filename, data, error = read_upload(
        "Choose a CSV or JSON file to import.",
        "The file is larger than 5 MB: split it into smaller files.",
        suffixes=(".csv", ".json"),
    )
    if data is not None:
        try:
            if filename.lower().endswith(".json"):
                records: Iterable[dict] = parse_json(data)
            else:
                problem = utf8_problem(io.BytesIO(data))
                if problem:
                    raise ImportFileError(problem)
                records = iter_csv(io.BytesIO(data))
            summary = import_records(
                current_services(), records, g.staff.username, dry_run, address=address()
            )
        except ImportFileError as exc:
            error = str(exc)
    status = 422 if error or (summary and summary.rejected) else 200
    return (
        render_template("staff/import.html", summary=summary, error=error, filename=filename),
        status,
    )
