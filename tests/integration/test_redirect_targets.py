"""Redirect targets a form names (the escalation queue's `back`) are followed only when they are
a plain path on this site; anything else goes to the safe default, never to a 500."""

from urllib.parse import urlsplit

import pytest

from tests.integration.staff_helpers import (
    DESK_ADDRESS,
    flashes,
    make_staff,
    post_form,
    staff_sign_in,
)

QUEUE = "/staff/escalations"
ACCOUNT = "/staff/accounts/100234"

HOSTILE = [
    "/staff/accounts/100234\r\nSet-Cookie: owned=1",
    "/staff/accounts/100234\nLocation: https://evil.example/",
    "/staff/accounts/100234\r",
    "/staff/accounts/100234%0d%0aSet-Cookie:%20owned=1",
    "/staff/accounts/100234%0ASet-Cookie:%20owned=1",
    "/staff/accounts/100234\x00",
    "/staff/accounts/100234%00",
    "/staff/accounts/100234\t",
    "/staff/accounts/100234\x85",
    "//evil.example",
    "//evil.example/staff/",
    "https://evil.example",
    "https://evil.example/staff/",
    "/\\evil.example",
    "/staff/\\\\evil.example",
    "/staff/%5C%5Cevil.example",
    "/\\/evil.example/staff/",
    "/staff/../account",
    "/staff/%2e%2e/account",
    " /staff/accounts/100234",
]


@pytest.fixture
def desk(app, services, lopez):
    make_staff(services, "alice", "associate")
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = DESK_ADDRESS
    staff_sign_in(client, services, "alice")
    return client


@pytest.fixture
def item_id(desk, services) -> int:
    response = post_form(
        desk, f"{ACCOUNT}/escalations", {"kind": "other", "reason": "Asks for a payment plan"}
    )
    assert response.status_code == 303
    (item,) = services.store.escalations()
    return item.escalation_id


def act(client, action: str, item_id: int, back: str):
    if action == "update":
        path, data = f"/staff/escalations/{item_id}", {"owner": "alice", "promise_to_pay_on": ""}
    else:
        path, data = f"/staff/escalations/{item_id}/resolve", {"resolution": "Called"}
    return post_form(client, path, {**data, "back": back})


@pytest.mark.parametrize("back", HOSTILE)
@pytest.mark.parametrize("action", ["update", "resolve"])
def test_a_hostile_back_goes_to_the_queue(desk, services, item_id, action, back):
    response = act(desk, action, item_id, back)

    assert response.status_code == 303
    location = response.headers["Location"]
    assert urlsplit(location).netloc in ("", "localhost")
    assert urlsplit(location).path == QUEUE
    assert "evil" not in location and "owned" not in location
    assert not any("owned" in cookie for cookie in response.headers.getlist("Set-Cookie"))
    # The action itself still happened, and says so on the queue.
    flash = f"Item #{item_id} {'updated' if action == 'update' else 'resolved'}."
    assert flash in flashes(desk.get(QUEUE).get_data(as_text=True))


@pytest.mark.parametrize(
    "back", [ACCOUNT, "/staff/escalations?owner=alice", "/staff/escalations?older_than=7"]
)
@pytest.mark.parametrize("action", ["update", "resolve"])
def test_a_local_staff_page_is_still_where_the_action_returns(desk, item_id, action, back):
    response = act(desk, action, item_id, back)

    assert response.status_code == 303
    parts = urlsplit(response.headers["Location"])
    assert parts.netloc in ("", "localhost")
    assert parts.path + (f"?{parts.query}" if parts.query else "") == back
