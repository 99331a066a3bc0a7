"""The supervisors' page of webhook deliveries given up on, and its retry button, against a
local receiver: listed after a day of failures, tried again by the next run, audited."""

import dataclasses

import pytest

from portal import create_app
from portal.adapters.webhook_sender import HttpWebhookSender
from portal.domain.outbound import EVENT_ID_HEADER
from portal.domain.staff import AuditAction
from portal.services.outbound_webhooks import deliver_webhooks
from portal.services.staff_actions import post_manual_payment
from tests.integration.staff_helpers import (
    audit_since,
    flashes,
    last_audit_id,
    make_staff,
    post_form,
    staff_sign_in,
)
from tests.webhook_receiver import webhook_receiver


@pytest.fixture
def receiver():
    with webhook_receiver() as found:
        yield found


@pytest.fixture
def wired(services, receiver):
    """The services with a receiver (the secret set as the setting would)."""
    settings = dataclasses.replace(
        services.settings,
        outbound_webhook_url=receiver.url,
        outbound_webhook_secret="whsec-page-0123456789",
    )
    return dataclasses.replace(
        services, settings=settings, webhooks=HttpWebhookSender(receiver.url, timeout=2.0)
    )


@pytest.fixture
def page_client(wired):
    app = create_app(services=wired)
    app.config["TESTING"] = True
    return app.test_client()


def test_a_failed_delivery_is_listed_and_tried_again_from_the_page(
    wired, lopez, receiver, clock, page_client
):
    post_manual_payment(wired, "setup", "100234", "cash", "5.00", "", "c" * 32, "127.0.0.1")
    receiver.plan = ["fail"] * 50
    for _ in range(30):
        deliver_webhooks(wired)
        clock.advance(hours=1)
    (event_id,) = {g.headers[EVENT_ID_HEADER] for g in receiver.received}
    make_staff(wired, "sue", "supervisor")
    staff_sign_in(page_client, wired, "sue")
    since = last_audit_id(wired)

    page = page_client.get("/staff/webhooks").get_data(as_text=True)

    assert f'data-testid="delivery-{event_id}"' in page
    assert "the receiver answered 500" in page
    assert "$-5.00" in page or "-$5.00" in page
    receiver.plan = []
    answer = post_form(page_client, f"/staff/webhooks/{event_id}/retry", {}, "/staff/webhooks")
    assert answer.status_code == 303
    after = page_client.get("/staff/webhooks").get_data(as_text=True)
    assert flashes(after) == [f"Event {event_id} will be sent again within 5 minutes."]
    assert f'data-testid="delivery-{event_id}"' not in after
    assert deliver_webhooks(wired).delivered == 1
    assert receiver.received[-1].behaviour == "ok"
    again = post_form(page_client, f"/staff/webhooks/{event_id}/retry", {}, "/staff/webhooks")
    assert again.status_code == 303
    shown = page_client.get("/staff/webhooks").get_data(as_text=True)
    assert "is not a failed delivery" in flashes(shown)[0]
    actions = [(e.actor, e.action) for e in audit_since(wired, since)]
    assert ("sue", AuditAction.VIEW_WEBHOOK_FAILURES) in actions
    assert actions.count(("sue", AuditAction.RETRY_WEBHOOK)) == 1


def test_the_page_says_when_no_receiver_is_set(services, client):
    make_staff(services, "sue", "supervisor")
    staff_sign_in(client, services, "sue")

    page = client.get("/staff/webhooks").get_data(as_text=True)

    assert "No practice system address is set" in page
    assert "No failed deliveries." in page
