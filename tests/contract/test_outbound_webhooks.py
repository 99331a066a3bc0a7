"""Outbound webhooks on every store, against a local receiver that fails, times out and
succeeds: one signed POST per money event, tried again with backoff for a day (at least
once; the same event id every time), then listed for staff and tried again by hand."""

import dataclasses
import json

import pytest

from portal.adapters.webhook_sender import HttpWebhookSender
from portal.bootstrap import build_services
from portal.clock import FixedClock
from portal.config import Settings
from portal.domain.outbound import (
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    DeliveryState,
    verify_signature,
)
from portal.domain.staff import AuditAction
from portal.ports.store import Store
from portal.services import ledger as posting
from portal.services.context import Services
from portal.services.outbound_webhooks import (
    deliver_webhooks,
    failed_deliveries,
    retry_delivery,
)
from tests.conftest import NOW
from tests.contract.test_store_contract import pending, run_together, seed
from tests.webhook_receiver import Receiver, webhook_receiver

SECRET = "whsec-local-0123456789"


@pytest.fixture
def receiver():
    with webhook_receiver() as found:
        yield found


@pytest.fixture
def services(store: Store, tmp_path, receiver: Receiver) -> Services:
    settings = Settings.from_env(
        {
            "PORTAL_SQLITE_PATH": str(tmp_path / "unused.sqlite3"),
            "PORTAL_OUTBOX_DIR": str(tmp_path / "outbox"),
            "PORTAL_SECRET_KEY": "test-secret-key-0123456789abcdef",
            "PORTAL_OUTBOUND_WEBHOOK_URL": receiver.url,
            "PORTAL_OUTBOUND_WEBHOOK_SECRET": SECRET,
        }
    )
    built = build_services(settings, clock=FixedClock(NOW))
    return dataclasses.replace(
        built, store=store, webhooks=HttpWebhookSender(receiver.url, timeout=2.0)
    )


def pay(store: Store, payment_id: str, cents: int) -> None:
    store.create_payment(pending(payment_id, cents))
    posting.post_payment(store, payment_id, f"ch_{payment_id}", cents, NOW)


def test_each_event_is_posted_once_signed_with_its_id(services: Services, receiver: Receiver):
    seed(services.store)
    pay(services.store, "pay_1", 1000)
    pay(services.store, "pay_2", 250)

    first = deliver_webhooks(services)
    again = deliver_webhooks(services)

    assert (first.queued, first.delivered, first.retrying, first.failed) == (2, 2, 0, 0)
    assert again.counts() == {"queued": 0, "delivered": 0, "retrying": 0, "failed": 0}
    assert len(receiver.received) == 2
    for got in receiver.received:
        event = json.loads(got.body)
        assert got.headers[EVENT_ID_HEADER] == event["event_id"]
        assert got.headers["Content-Type"] == "application/json"
        assert verify_signature(SECRET, got.headers[SIGNATURE_HEADER], got.body)
        assert not verify_signature("another-secret-0000", got.headers[SIGNATURE_HEADER], got.body)
        assert not verify_signature(SECRET, got.headers[SIGNATURE_HEADER], got.body + b" ")
    amounts = [json.loads(g.body)["amount_cents"] for g in receiver.received]
    assert amounts == [-1000, -250]


def test_a_failure_and_a_timeout_are_tried_again_later_then_delivered(
    services: Services, receiver: Receiver
):
    clock = services.clock
    assert isinstance(clock, FixedClock)
    seed(services.store)
    pay(services.store, "pay_1", 1000)
    receiver.plan = ["fail", "timeout"]

    failed_once = deliver_webhooks(services)
    too_soon = deliver_webhooks(services)
    clock.advance(minutes=1)
    timed_out = deliver_webhooks(services)
    clock.advance(minutes=4)
    too_soon_again = deliver_webhooks(services)
    clock.advance(minutes=1)
    delivered = deliver_webhooks(services)

    assert (failed_once.retrying, too_soon.retrying, too_soon.delivered) == (1, 0, 0)
    assert timed_out.retrying == 1
    assert too_soon_again.delivered == 0
    assert delivered.delivered == 1
    assert [g.behaviour for g in receiver.received] == ["fail", "timeout", "ok"]
    assert len({g.headers[EVENT_ID_HEADER] for g in receiver.received}) == 1
    (event_id,) = {g.headers[EVENT_ID_HEADER] for g in receiver.received}
    found = services.store.get_delivery(event_id)
    assert found is not None
    assert (found.state, found.attempts) == (DeliveryState.DELIVERED, 3)
    assert found.last_error.startswith("no answer within")


def test_after_a_day_of_failures_staff_see_it_and_try_it_again(
    services: Services, receiver: Receiver
):
    clock = services.clock
    assert isinstance(clock, FixedClock)
    seed(services.store)
    pay(services.store, "pay_1", 1000)
    receiver.plan = ["fail"] * 100

    for _ in range(40):
        deliver_webhooks(services)
        clock.advance(hours=1)
    tries = len(receiver.received)

    failed = failed_deliveries(services, "sam", "10.0.0.1")
    assert [d.state for d in failed] == [DeliveryState.FAILED]
    assert 8 <= tries <= 12  # backoff: 1, 5, 15, 30 minutes, 1, 2, 4, 8 hours ... a day
    assert failed[0].last_error == "the receiver answered 500"
    assert failed[0].attempts == tries
    deliver_webhooks(services)
    assert len(receiver.received) == tries  # given up: no more tries by itself

    receiver.plan = []
    assert retry_delivery(services, failed[0].event_id, "sam", "10.0.0.1") is True
    assert retry_delivery(services, failed[0].event_id, "sam", "10.0.0.1") is False
    run = deliver_webhooks(services)

    assert run.delivered == 1
    assert failed_deliveries(services, "sam") == []
    actions = [e.action for e in services.store.audit_entries(actor="sam")]
    assert AuditAction.RETRY_WEBHOOK in actions
    assert AuditAction.VIEW_WEBHOOK_FAILURES in actions


def test_two_runs_at_once_post_every_event_once_and_record_each_once(
    services: Services, receiver: Receiver
):
    seed(services.store)
    for n in range(6):
        pay(services.store, f"pay_{n}", 100 + n)

    runs = run_together([lambda: deliver_webhooks(services), lambda: deliver_webhooks(services)])

    sent = {g.headers[EVENT_ID_HEADER] for g in receiver.received}
    assert len(sent) == 6
    assert len(receiver.received) == 6  # each taken by one run before its POST
    assert sum(r.delivered for r in runs) == 6  # type: ignore[attr-defined]
    assert sum(r.queued for r in runs) >= 6  # type: ignore[attr-defined]


def test_nothing_goes_out_without_a_receiver(services: Services, receiver: Receiver):
    seed(services.store)
    pay(services.store, "pay_1", 1000)

    run = deliver_webhooks(dataclasses.replace(services, webhooks=None))

    assert run.counts() == {"queued": 0, "delivered": 0, "retrying": 0, "failed": 0}
    assert receiver.received == []


def test_the_scheduled_function_delivers_and_logs_one_line(
    services: Services, receiver: Receiver, monkeypatch, capsys
):
    import functions.reminders
    import functions.webhooks

    monkeypatch.setattr(functions.reminders, "_container", services)
    seed(services.store)
    pay(services.store, "pay_1", 1000)

    counts = functions.webhooks.handler({}, None)

    assert counts == {"queued": 1, "delivered": 1, "retrying": 0, "failed": 0}
    (line,) = capsys.readouterr().out.splitlines()
    assert json.loads(line) == {"job": "webhooks", **counts}
    assert len(receiver.received) == 1


def test_a_run_stops_starting_posts_when_its_time_is_up(services: Services, receiver: Receiver):
    clock = services.clock
    assert isinstance(clock, FixedClock)
    seed(services.store)
    for n in range(5):
        pay(services.store, f"pay_{n}", 100 + n)
    sender = services.webhooks
    assert sender is not None

    class Slow:
        def post(self, body: bytes, headers: dict[str, str]) -> None:
            sender.post(body, headers)
            clock.advance(seconds=6)  # each POST takes 6 s of the run's 15

    slow = dataclasses.replace(services, webhooks=Slow())
    first = deliver_webhooks(slow)
    rest = deliver_webhooks(slow)

    assert (first.queued, first.delivered) == (5, 3)  # at 0, 6 and 12 s; not at 18 s
    assert rest.delivered == 2
    assert len({g.headers[EVENT_ID_HEADER] for g in receiver.received}) == 5
