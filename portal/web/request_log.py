"""One JSON log line per request (portal/services/log_lines.py): its id, the method, the
route rule that answered (`/statements/<statement_id>`, never the path asked for, which may
carry an account number or a token), the status, the milliseconds and the store calls.

The id is Lambda's request id when the request came through Zappa, else a new one; the
response carries it as `X-Request-Id`, so a person reporting a problem can quote it."""

import time
import uuid

from flask import Flask, Response, g, request

from portal.ports import store_calls
from portal.services.log_lines import elapsed_ms, emit


def init_app(app: Flask) -> None:
    """Register first, so the line is started before any other before_request may answer."""
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_unfinished)


def request_id() -> str:
    context = request.environ.get("lambda.context")
    given = getattr(context, "aws_request_id", None)
    return given if isinstance(given, str) and given else uuid.uuid4().hex


def _start() -> None:
    g.log_started = time.perf_counter()
    g.log_request_id = request_id()
    g.log_written = False
    store_calls.begin()


def _finish(response: Response) -> Response:
    if "log_started" in g:
        response.headers["X-Request-Id"] = g.log_request_id
        _write(response.status_code)
    return response


def _unfinished(error: BaseException | None) -> None:
    """A request that ended in an exception no handler answered (its 500 went out from
    outside the app) still gets its line."""
    if "log_started" in g and not g.log_written:
        _write(500)


def _write(status: int) -> None:
    g.log_written = True
    rule = request.url_rule
    emit(
        {
            "request_id": g.log_request_id,
            "method": request.method,
            "route": rule.rule if rule is not None else None,
            "status": status,
            "ms": elapsed_ms(g.log_started),
            "store_calls": store_calls.current(),
        }
    )
