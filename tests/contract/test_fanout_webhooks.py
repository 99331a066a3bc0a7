"""Outbound webhooks fanned out (issue 19), on every store, with a real SQS (moto's server
over HTTP) and a local receiver: `functions.webhooks.handler` makes the deliveries of new
money events and queues those due in batches of event ids, `functions.workers.handler`
POSTs them, and each event reaches the receiver once whether two workers take the same
batch at once (a delivery is taken by a lease before its POST), a worker dies after taking
one (it is POSTed after the lease) or a batch comes back after it was done."""

import dataclasses
import json
import threading
from collections import Counter

import pytest

import functions.reminders
import functions.webhooks
import functions.workers
from portal.adapters.sqs_queue import SqsWorkQueue
from portal.adapters.webhook_sender import HttpWebhookSender
from portal.bootstrap import build_services
from portal.domain.outbound import EVENT_ID_HEADER, LEASE, DeliveryState
from portal.services.fanout import WEBHOOKS, BadBatch, Batch, read_batch
from portal.services.outbound_webhooks import deliver_webhooks
from tests.conftest import NOW
from tests.contract.test_fanout import queues, receive_all, sqs, work
from tests.contract.test_outbound_webhooks import SECRET, pay, receiver
from tests.contract.test_store_contract import run_together, seed
from tests.webhook_receiver import Receiver

__all__ = ["queues", "receiver", "sqs"]  # fixtures

PAYMENTS = 5


@pytest.fixture
def fanned(store, settings, clock, queues, sqs, receiver: Receiver, monkeypatch):
    """Five payments (five money events); the services as the Lambda container keeps them,
    with the work queue, batches of 2 and the receiver."""
    work_url, _ = queues
    settings = dataclasses.replace(
        settings,
        work_queue_url=work_url,
        work_batch_size=2,
        outbound_webhook_url=receiver.url,
        outbound_webhook_secret=SECRET,
    )
    services = dataclasses.replace(
        build_services(settings, clock=clock),
        store=store,
        work_queue=SqsWorkQueue(work_url, sqs),
        webhooks=HttpWebhookSender(receiver.url, timeout=2.0),
    )
    seed(store)
    for n in range(PAYMENTS):
        pay(store, f"pay_{n}", 100 + n)
    monkeypatch.setattr(functions.reminders, "_container", services)
    return services


def posted(receiver: Receiver) -> Counter:
    return Counter(g.headers[EVENT_ID_HEADER] for g in receiver.received)


def test_the_planner_queues_the_deliveries_due_and_the_workers_post_each_once(
    fanned, queues, sqs, receiver: Receiver, capsys
):
    work_url, _ = queues
    assert functions.webhooks.handler({}, None) == {
        "queued": PAYMENTS,
        "delivered": 0,
        "retrying": 0,
        "failed": 0,
        "queued_batches": 3,
        "queued_deliveries": PAYMENTS,
    }
    assert receiver.received == []  # the planner POSTs nothing
    records = receive_all(sqs, work_url)
    batches = [read_batch(r["body"]) for r in records]
    assert [b.job for b in batches] == [WEBHOOKS] * 3
    assert [b.size for b in batches] == [2, 2, 1]

    assert work(sqs, work_url, records) == {"batchItemFailures": []}

    assert len(posted(receiver)) == PAYMENTS and set(posted(receiver).values()) == {1}
    amounts = [json.loads(g.body)["amount_cents"] for g in receiver.received]
    assert sorted(amounts) == sorted(-(100 + n) for n in range(PAYMENTS))
    for event_id in posted(receiver):
        delivery = fanned.store.get_delivery(event_id)
        assert (delivery.state, delivery.attempts) == (DeliveryState.DELIVERED, 1)
    lines = [json.loads(t) for t in capsys.readouterr().out.splitlines() if "webhooks" in t]
    assert lines[0]["job"] == "webhooks" and lines[0]["queued_deliveries"] == PAYMENTS
    assert [line["job"] for line in lines[1:]] == ["webhooks-batch"] * 3
    assert sum(line["delivered"] for line in lines[1:]) == PAYMENTS
    # Nothing is left for the planner's next run or for the one-process run.
    assert functions.webhooks.handler({}, None)["queued_batches"] == 0
    alone = dataclasses.replace(fanned, work_queue=None)
    assert deliver_webhooks(alone).delivered == 0
    assert len(receiver.received) == PAYMENTS


def test_two_workers_taking_the_same_batches_at_once_post_each_event_exactly_once(
    fanned, queues, sqs, receiver: Receiver, monkeypatch
):
    """SQS hands every batch to two workers at once, and both read the first delivery
    (pending, due) before either takes it: the lease lets one of them POST it."""
    work_url, _ = queues
    functions.webhooks.handler({}, None)
    records = receive_all(sqs, work_url)
    first = read_batch(records[0]["body"]).event_ids[0]
    both_read = threading.Barrier(2)
    real_get = fanned.store.get_delivery

    def get_then_wait(event_id):
        found = real_get(event_id)
        if event_id == first:
            both_read.wait(timeout=20)
        return found

    monkeypatch.setattr(fanned.store, "get_delivery", get_then_wait)
    answers = run_together(
        [lambda: functions.workers.handler({"Records": records}, None) for _ in range(2)]
    )

    assert answers == [{"batchItemFailures": []}] * 2
    assert len(posted(receiver)) == PAYMENTS
    assert set(posted(receiver).values()) == {1}
    assert {real_get(event_id).attempts for event_id in posted(receiver)} == {1}


class Killed(BaseException):
    """The worker's process is gone."""


def test_a_worker_killed_after_taking_a_delivery_leaves_it_to_be_posted_once_after_the_lease(
    fanned, queues, sqs, receiver: Receiver, monkeypatch
):
    """Killed after taking the batch's second delivery, before its POST: the batch comes
    back and skips both (the first is delivered, the second still taken); once the lease
    is over the next plan queues the second again, and it is POSTed once."""
    work_url, _ = queues
    functions.webhooks.handler({}, None)
    [first, *rest] = receive_all(sqs, work_url)
    taken = read_batch(first["body"]).event_ids[1]
    real_post = fanned.webhooks.post

    def post_or_die(body, headers):
        if headers[EVENT_ID_HEADER] == taken:
            raise Killed
        real_post(body, headers)

    with monkeypatch.context() as dying:
        dying.setattr(fanned.webhooks, "post", post_or_die)
        with pytest.raises(Killed):
            functions.workers.handler({"Records": [first]}, None)
    sqs.change_message_visibility(
        QueueUrl=work_url, ReceiptHandle=first["receiptHandle"], VisibilityTimeout=0
    )
    [again] = receive_all(sqs, work_url)
    assert again["messageId"] == first["messageId"]
    assert work(sqs, work_url, [again, *rest]) == {"batchItemFailures": []}
    assert taken not in posted(receiver) and len(posted(receiver)) == PAYMENTS - 1
    assert functions.webhooks.handler({}, None)["queued_deliveries"] == 0  # still taken

    fanned.clock.advance(seconds=LEASE.total_seconds() + 1)
    assert functions.webhooks.handler({}, None)["queued_deliveries"] == 1
    assert work(sqs, work_url, receive_all(sqs, work_url)) == {"batchItemFailures": []}

    assert len(posted(receiver)) == PAYMENTS and set(posted(receiver).values()) == {1}
    assert fanned.store.get_delivery(taken).state is DeliveryState.DELIVERED


def test_without_a_receiver_the_planner_queues_nothing(fanned, queues, sqs):
    work_url, _ = queues
    functions.reminders._container = dataclasses.replace(fanned, webhooks=None)
    answer = functions.webhooks.handler({}, None)
    assert (answer["queued"], answer["queued_batches"]) == (0, 0)
    assert receive_all(sqs, work_url) == []


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"job": "webhooks", "day": "2026-12-01", "events": []}', "1 to 1000"),
        ('{"job": "webhooks", "day": "2026-12-01"}', "1 to 1000"),
        ('{"job": "webhooks", "day": "2026-12-01", "events": [7]}', "event ids"),
        ('{"job": "webhooks", "day": "2026-12-01", "events": [""]}', "event ids"),
    ],
)
def test_a_webhooks_message_that_is_not_a_batch_is_refused_saying_why(body, problem):
    with pytest.raises(BadBatch, match=problem):
        read_batch(body)


def test_a_webhooks_batch_reads_back_as_it_was_written():
    batch = Batch(WEBHOOKS, NOW.date(), event_ids=("ev_1", "ev_2"))
    assert read_batch(batch.body()) == batch
