"""The JSON API: the health check, its OpenAPI document, and (with `Authorization: Bearer
<api key>`) statement imports and account reads. Every answer, errors too, is JSON: an
unknown path under /api/ or a method a path does not take, a store that does not answer
and an unexpected error included."""

from datetime import UTC, datetime
from functools import wraps

from flask import Blueprint, Response, current_app, g, jsonify, request
from werkzeug.exceptions import MethodNotAllowed
from werkzeug.exceptions import NotFound as RouteNotFound

from portal.domain.api_keys import ApiKey
from portal.domain.errors import InvalidInput
from portal.domain.staff import AuditAction
from portal.ports.store import StoreError
from portal.services.accounts import account_view
from portal.services.api_keys import authenticate
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.imports import ImportFileError, ImportSummary, import_records, parse_json
from portal.services.money_events import events_page, read_limit
from portal.services.remittances import import_remittance_file
from portal.web import current_services
from portal.web.api_limits import (
    MAX_BODY_BYTES,
    MAX_BODY_MB,
    MAX_ERRORS_SHOWN,
    MAX_STATEMENTS,
    MAX_TEXT,
)
from portal.web.openapi import DOCUMENT_PATH, document_json

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz():
    try:
        current_services().store.ping()
    except StoreError:
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


@bp.get(DOCUMENT_PATH)
def openapi():
    """The OpenAPI 3 document of this API (public: it describes, it reveals nothing)."""
    return Response(document_json(), mimetype="application/json")


def error(status: int, message: str, **headers: str):
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def _is_api_path(path: str) -> bool:
    return path == "/healthz" or path == "/api" or path.startswith("/api/")


@bp.before_app_request
def api_routing_errors():
    """A path under /api/ that matches no route, or a method the path does not take: JSON,
    not the patient pages' HTML (routing failed, so no blueprint handler would see it)."""
    exc = request.routing_exception
    if exc is None or not _is_api_path(request.path):
        return None
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(sorted(exc.valid_methods or ()))
        return error(405, f"{request.method} is not allowed here; use {allowed}.", Allow=allowed)
    if isinstance(exc, RouteNotFound):
        return error(404, f"There is no {request.path} in the API.")
    return None


@bp.errorhandler(StoreError)
def store_unavailable(exc):
    current_app.logger.error("API: the store did not answer: %s", exc)
    return error(503, "The store did not answer; try again later.")


@bp.errorhandler(500)
def internal_error(exc):
    return error(500, "Something went wrong on our side; nothing was changed.")


def key_required(view):
    """Answer 401 unless the request carries an active key; the key is `g.api_key`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        found = (
            authenticate(current_services(), key.strip()) if scheme.lower() == "bearer" else None
        )
        if found is None:
            return error(
                401,
                "A valid API key is needed: send Authorization: Bearer <key>.",
                **{"WWW-Authenticate": 'Bearer realm="portal"'},
            )
        g.api_key = found
        return view(*args, **kwargs)

    return wrapper


def actor(key: ApiKey) -> str:
    return f"api:{key.name}"


@bp.errorhandler(413)
def too_large(exc):
    return error(413, f"The body is over {MAX_BODY_MB} MB.")


@bp.post("/api/v1/statements")
@key_required
def statements():
    """Import `{"statements": [...]}`: each statement all or nothing, the rest go on."""
    if request.mimetype != "application/json":
        return error(415, "Send the statements as application/json.")
    request.max_content_length = MAX_BODY_BYTES  # the API's own limit, not the app's
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return too_large(None)
    try:
        records = parse_json(request.get_data(cache=False))  # 413 past the limit
    except ImportFileError as exc:
        return error(400, str(exc))
    if len(records) > MAX_STATEMENTS:
        return error(
            400,
            f"Send at most {MAX_STATEMENTS} statements in one request; this one has "
            f"{len(records)}. Nothing was imported.",
        )
    summary = import_records(
        current_services(), records, actor(g.api_key), address=request.remote_addr or ""
    )
    return jsonify(_summary_json(summary))


@bp.post("/api/v1/remittances")
@key_required
def remittances():
    """Import an X12 835 file (the body, `application/edi-x12`): refused whole (422, with
    each segment and rule) or posted; a JSON summary either way."""
    if request.mimetype != "application/edi-x12":
        return error(415, "Send the 835 file as application/edi-x12.")
    request.max_content_length = MAX_BODY_BYTES
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return too_large(None)
    summary = import_remittance_file(
        current_services(),
        request.get_data(cache=False),
        actor(g.api_key),
        address=request.remote_addr or "",
    )
    body = summary.as_json()
    body["errors"] = body["errors"][:MAX_ERRORS_SHOWN]
    for e in body["errors"]:
        e["message"] = _cut(e["message"])
    return jsonify(body), (422 if summary.refused else 200)


def _summary_json(summary: ImportSummary) -> dict:
    """The summary, with each rejection's problems listed up to MAX_ERRORS_SHOWN and texts
    cut to MAX_TEXT characters: a small body of bad statements must not make an answer
    hundreds of times its size (an answer over 6 MB cannot leave Lambda at all)."""
    rejected = []
    for rejection in summary.rejected:
        errors = [
            {"field": _cut(field), "message": _cut(message)}
            for field, message in rejection.errors[:MAX_ERRORS_SHOWN]
        ]
        more = len(rejection.errors) - MAX_ERRORS_SHOWN
        if more > 0:
            errors.append(
                {
                    "field": "statement",
                    "message": f"{more} more problems are not listed: fix these and send "
                    "the statement again.",
                }
            )
        rejected.append({"statement_id": _cut(rejection.statement_id), "errors": errors})
    return {"imported": summary.imported, "unchanged": summary.unchanged, "rejected": rejected}


def _cut(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "\u2026"


@bp.get("/api/v1/accounts/<account_number>")
@key_required
def account(account_number: str):
    svc = current_services()
    try:
        view = account_view(svc, account_number)
    except NotFound:
        return error(404, f"No account {account_number}.")
    audit(
        svc,
        actor(g.api_key),
        AuditAction.VIEW_ACCOUNT,
        account_number,
        address=request.remote_addr or "",
    )
    return jsonify(
        account_number=view.account.account_number,
        balance_cents=view.balances.account_balance_cents,
        statements=[
            {
                "statement_id": s.statement.statement_id,
                "statement_date": s.statement.statement_date.isoformat(),
                "due_date": s.statement.due_date.isoformat(),
                "total_cents": s.statement.total_cents,
                "balance_cents": s.balance_cents,
                "status": s.status,
            }
            for s in view.statements
        ],
        payments=[
            {
                "payment_id": p.payment_id,
                "amount_cents": p.amount_cents,
                "status": p.status.value,
                "method": p.method,
                "created_at": _utc(p.created_at),
                "posted_at": _utc(p.posted_at),
                "refunded_cents": p.refunded_cents,
            }
            for p in view.payments
        ],
    )


def _utc(at: datetime | None) -> str | None:
    return at.astimezone(UTC).isoformat() if at is not None else None


@bp.get("/api/v1/payments")
@key_required
def payments():
    """Money events after `since` (an opaque cursor), in order; `next` reads on."""
    svc = current_services()
    try:
        limit = read_limit(request.args.get("limit"))
        page, cursor = events_page(svc, request.args.get("since"), limit)
    except InvalidInput as exc:
        return error(400, f"{exc.field}: {exc.message}")
    audit(
        svc,
        actor(g.api_key),
        AuditAction.VIEW_MONEY_EVENTS,
        subject=f"{len(page.events)} events to {page.position}",
        address=request.remote_addr or "",
    )
    return jsonify(events=[e.to_json() for e in page.events], next=cursor)
