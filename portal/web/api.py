"""The JSON API: the health check, and (with `Authorization: Bearer <api key>`) statement
imports and account reads. Every answer, errors too, is JSON."""

from datetime import UTC, datetime
from functools import wraps

from flask import Blueprint, current_app, g, jsonify, request

from portal.adapters.store import StoreError
from portal.domain.api_keys import ApiKey
from portal.domain.staff import AuditAction
from portal.services.accounts import account_view
from portal.services.api_keys import authenticate
from portal.services.audit import audit
from portal.services.errors import NotFound
from portal.services.imports import ImportFileError, import_records, parse_json
from portal.web import services

bp = Blueprint("api", __name__)


@bp.get("/healthz")
def healthz():
    try:
        services().store.ping()
    except StoreError:
        return jsonify(status="unavailable"), 503
    return jsonify(status="ok")


def error(status: int, message: str, **headers: str):
    response = jsonify(error=message)
    response.status_code = status
    response.headers.update(headers)
    return response


def key_required(view):
    """Answer 401 unless the request carries an active key; the key is `g.api_key`."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, key = request.headers.get("Authorization", "").partition(" ")
        found = authenticate(services(), key.strip()) if scheme.lower() == "bearer" else None
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
    limit = current_app.config["MAX_CONTENT_LENGTH"] // (1024 * 1024)
    return error(413, f"The body is over {limit} MB.")


@bp.post("/api/v1/statements")
@key_required
def statements():
    """Import `{"statements": [...]}`: each statement all or nothing, the rest go on."""
    if request.mimetype != "application/json":
        return error(415, "Send the statements as application/json.")
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    if request.content_length is not None and request.content_length > limit:
        return too_large(None)
    try:
        records = parse_json(request.get_data(cache=False))  # 413 past the limit
    except ImportFileError as exc:
        return error(400, str(exc))
    summary = import_records(
        services(), records, actor(g.api_key), address=request.remote_addr or ""
    )
    return jsonify(summary.to_json())


@bp.get("/api/v1/accounts/<account_number>")
@key_required
def account(account_number: str):
    svc = services()
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
