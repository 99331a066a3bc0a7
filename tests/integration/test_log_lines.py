"""One JSON log line per request (portal/web/request_log.py): the request id (also sent back
as X-Request-Id), the method, the route rule rather than the path asked for, the status, the
milliseconds and the store calls; nothing about the person."""

import json
from types import SimpleNamespace

import pytest

from portal import create_app
from tests.integration.conftest import sign_in

FIELDS = {"request_id", "method", "route", "status", "ms", "store_calls"}


def request_lines(out: str) -> list[dict]:
    lines = [json.loads(text) for text in out.splitlines() if text.startswith("{")]
    return [line for line in lines if "route" in line]


def test_each_request_writes_one_line_with_its_route_not_its_path(client, lopez, capsys):
    sign_in(client)
    capsys.readouterr()
    response = client.get("/statements/S-2026-000123")
    assert response.status_code == 200

    out = capsys.readouterr().out
    [line] = request_lines(out)
    assert set(line) == FIELDS
    assert line["route"] == "/statements/<statement_id>"
    assert line["method"] == "GET" and line["status"] == 200
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert isinstance(line["ms"], int) and line["ms"] >= 0
    assert line["store_calls"] >= 1  # the session's account and the statement were read
    for private in ("S-2026-000123", "100234", "Lopez", "Maria", "1984", "99213", "J06.9"):
        assert private not in out


def test_store_calls_are_counted_per_request(client, lopez, capsys):
    client.get("/static/portal.css")
    client.get("/pay")
    sign_in(client)
    lines = request_lines(capsys.readouterr().out)
    by_route = {(line["method"], line["route"]): line for line in lines}
    assert by_route[("GET", "/static/<path:filename>")]["store_calls"] == 0
    assert by_route[("POST", "/pay")]["store_calls"] >= 1
    assert len({line["request_id"] for line in lines}) == len(lines)


def test_an_unknown_path_is_logged_without_it(client, capsys):
    assert client.get("/no/such/page/100234").status_code == 404
    [line] = request_lines(capsys.readouterr().out)
    assert line["route"] is None and line["status"] == 404
    assert "100234" not in json.dumps(line)


def test_lambdas_request_id_is_used_when_zappa_passes_the_context(client, capsys):
    context = SimpleNamespace(aws_request_id="c0ffee00-1111-2222-3333-444455556666")
    response = client.get("/pay", environ_base={"lambda.context": context})
    [line] = request_lines(capsys.readouterr().out)
    assert line["request_id"] == context.aws_request_id == response.headers["X-Request-Id"]


@pytest.mark.parametrize("propagate", [False, True])
def test_a_request_that_raises_is_logged_once_as_500(services, capsys, propagate):
    app = create_app(services=services)
    app.config["PROPAGATE_EXCEPTIONS"] = propagate

    def broken(thing: str):
        raise RuntimeError("a bug")

    app.add_url_rule("/broken/<thing>", "broken", broken)
    client = app.test_client()
    if propagate:
        with pytest.raises(RuntimeError, match="a bug"):
            client.get("/broken/x")
    else:
        assert client.get("/broken/x").status_code == 500
    [line] = request_lines(capsys.readouterr().out)
    assert line["route"] == "/broken/<thing>" and line["status"] == 500
